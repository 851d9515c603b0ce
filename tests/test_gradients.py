"""Backpropagation against central finite differences (float64)."""

import numpy as np
import pytest
import scipy.sparse as sp
from _reference import HIDDEN_ACTIVATIONS, OUTPUT_FOR_LOSS, network_loss
from numpy.testing import assert_allclose

from fastnn import _engine
from fastnn._network import EngineSpec

# Every engine loss (test_losses checks the reference covers them all).
LOSSES = list(OUTPUT_FOR_LOSS)
# The loss parameter: Huber's delta, the pinball loss's quantile.
HUBER_DELTA = 0.8


def _problem(loss, hidden_sizes, rng, n=23, n_features=5, n_outputs=3):
    X = rng.normal(size=(n, n_features))
    if loss in ("log_loss", "proba_squared_error_softmax"):
        Y = np.eye(n_outputs)[rng.randint(n_outputs, size=n)]
    elif loss in ("binary_log_loss", "proba_squared_error"):
        Y = rng.randint(2, size=(n, n_outputs)).astype(float)
    elif loss == "poisson":
        Y = rng.poisson(1.5, size=(n, n_outputs)).astype(float)
    elif loss == "gamma":
        Y = rng.gamma(2.0, size=(n, n_outputs))
    else:
        Y = rng.normal(size=(n, n_outputs))
    units = [n_features, *hidden_sizes, n_outputs]
    n_params = sum(a * b for a, b in zip(units[:-1], units[1:])) + sum(units[1:])
    params = rng.uniform(-0.5, 0.5, n_params)
    sw = rng.uniform(0.2, 3.0, n)
    return X, Y, sw, units, params


def _specs(hidden, output, units):
    """Engine activation specs: one hidden activation, then the output's."""
    if isinstance(hidden, str):
        hidden = (hidden, 1.0, 0.0)
    return [tuple(hidden)] * (len(units) - 2) + [(output, 1.0, 0.0)]


def _central_differences(f, x, h=1e-6):
    grad = np.empty_like(x)
    for i in range(x.size):
        step = np.zeros_like(x)
        step[i] = h
        grad[i] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


@pytest.mark.parametrize(
    "hidden_sizes", [(4,), (4, 3), (4, 3, 3)], ids=["1-hidden", "2-hidden", "3-hidden"]
)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize(
    "hidden", HIDDEN_ACTIVATIONS, ids=lambda s: f"{s[0]}({s[1]},{s[2]})"
)
def test_loss_gradient_matches_finite_differences(hidden, loss, hidden_sizes):
    rng = np.random.RandomState(0)
    X, Y, sw, units, params = _problem(loss, hidden_sizes, rng)
    alpha = 0.3
    # batch_size < n_samples: the full-batch gradient is accumulated over
    # chunks, which this exercises too.
    spec = EngineSpec(
        units, _specs(hidden, OUTPUT_FOR_LOSS[loss], units), loss, HUBER_DELTA
    )
    trainer = _engine.Trainer(spec, params, 7, 2)
    grad = np.empty_like(params)
    loss_value = trainer.loss_gradient(_engine.InputMatrix(X), Y, sw, alpha, grad)

    def reference(p, average_outputs=True):
        return network_loss(
            p, units, X, Y, sw, hidden, loss, alpha, average_outputs, HUBER_DELTA
        )

    assert_allclose(loss_value, reference(params), rtol=1e-12)
    # scikit-learn's squared-error gradient is that of the sum over outputs
    # (its reported loss is the mean); fastnn reproduces both.
    expected = _central_differences(
        lambda p: reference(p, average_outputs=False), params.copy()
    )
    assert np.max(np.abs(grad - expected)) <= 1e-7 * max(1.0, np.abs(expected).max())


def test_gradient_is_independent_of_the_chunk_size():
    rng = np.random.RandomState(1)
    X, Y, sw, units, params = _problem("log_loss", (6,), rng, n=50)
    results = []
    for chunk in (1, 7, 50):
        spec = EngineSpec(units, _specs("tanh", "softmax", units), "log_loss")
        trainer = _engine.Trainer(spec, params, chunk, 1)
        grad = np.empty_like(params)
        loss = trainer.loss_gradient(_engine.InputMatrix(X), Y, sw, 0.1, grad)
        results.append((loss, grad))
    for loss, grad in results[1:]:
        assert_allclose(loss, results[0][0], rtol=1e-13)
        assert_allclose(grad, results[0][1], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("hidden_sizes", [(4,), ()], ids=["1-hidden", "0-hidden"])
def test_sparse_input_gives_the_dense_gradient(fmt, hidden_sizes):
    rng = np.random.RandomState(3)
    X, Y, sw, units, params = _problem("log_loss", hidden_sizes, rng, n=40)
    X[rng.uniform(size=X.shape) < 0.6] = 0.0
    X_in = sp.csr_matrix(X) if fmt == "csr" else X
    spec = EngineSpec(units, _specs("relu", "softmax", units), "log_loss")
    trainer = _engine.Trainer(spec, params, 16, 2)
    grad = np.empty_like(params)
    loss = trainer.loss_gradient(_engine.InputMatrix(X_in), Y, sw, 0.2, grad)
    expected = _central_differences(
        lambda p: network_loss(p, units, X, Y, sw, "relu", "log_loss", 0.2),
        params.copy(),
    )
    assert_allclose(
        loss, network_loss(params, units, X, Y, sw, "relu", "log_loss", 0.2)
    )
    assert np.max(np.abs(grad - expected)) <= 1e-7 * max(1.0, np.abs(expected).max())


def test_one_activation_per_layer():
    rng = np.random.RandomState(2)
    X, Y, sw, units, params = _problem("squared_error", (5, 4, 3), rng)
    hidden = [("gelu", 0.0, 0.0), ("piecewise_linear", -2.0, 2.0), ("elu", 0.5, 0.0)]
    specs = [*hidden, ("identity", 1.0, 0.0)]
    trainer = _engine.Trainer(EngineSpec(units, specs, "squared_error"), params, 9, 2)
    grad = np.empty_like(params)
    loss = trainer.loss_gradient(_engine.InputMatrix(X), Y, sw, 0.1, grad)

    def reference(p, average_outputs=True):
        return network_loss(
            p, units, X, Y, sw, hidden, "squared_error", 0.1, average_outputs
        )

    assert_allclose(loss, reference(params), rtol=1e-12)
    expected = _central_differences(lambda p: reference(p, False), params.copy())
    assert np.max(np.abs(grad - expected)) <= 1e-7 * max(1.0, np.abs(expected).max())
