"""Input sensitivities (the paper's dC/da) and the gradient checker."""

import numpy as np
import pytest
import scipy.sparse as sp
from _reference import (
    HIDDEN_ACTIVATIONS,
    OUTPUT_FOR_LOSS,
    network_output,
    row_losses,
)
from numpy.testing import assert_allclose
from test_gradients import HUBER_DELTA, LOSSES, _problem, _specs

from fastnn import MLPClassifier, MLPRegressor, _engine, check_gradients
from fastnn._network import EngineSpec
from fastnn.activations import UnitStep

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

H = 1e-6


def _fd_inputs(f, X):
    """Central differences of f (rows -> per-row values) w.r.t. each input."""
    grads = []
    for j in range(X.shape[1]):
        step = np.zeros_like(X)
        step[:, j] = H
        grads.append((f(X + step) - f(X - step)) / (2 * H))
    return np.stack(grads, axis=-1)


@pytest.mark.parametrize(
    "hidden_sizes", [(4,), (4, 3), (4, 3, 3)], ids=["1-hidden", "2-hidden", "3-hidden"]
)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize(
    "hidden", HIDDEN_ACTIVATIONS, ids=lambda s: f"{s[0]}({s[1]},{s[2]})"
)
def test_input_gradients_match_finite_differences(hidden, loss, hidden_sizes):
    rng = np.random.RandomState(0)
    X, Y, _, units, params = _problem(loss, hidden_sizes, rng, n=6)
    output = OUTPUT_FOR_LOSS[loss]
    spec = EngineSpec(units, _specs(hidden, output, units), loss, HUBER_DELTA)
    trainer = _engine.Trainer(spec, params, 4, 1)
    X_in = _engine.InputMatrix(X)

    # Each sample's own loss (the one training descends: squared error summed
    # over outputs and halved).
    def sample_loss(Xs):
        a = network_output(params, units, Xs, hidden, output)
        scale = 0.5 if loss == "squared_error" else 1.0
        return scale * row_losses(loss, a, Y, HUBER_DELTA)

    got = np.empty((6, 1, X.shape[1]))
    trainer.input_gradient(X_in, Y, got)
    expected = _fd_inputs(sample_loss, X)
    assert np.abs(got[:, 0] - expected).max() <= 1e-7 * max(1, np.abs(expected).max())

    # Every output's gradient.
    got = np.empty((6, units[-1], X.shape[1]))
    trainer.input_gradient(X_in, None, got)
    for k in range(units[-1]):
        expected = _fd_inputs(
            lambda Xs, k=k: network_output(params, units, Xs, hidden, output)[:, k], X
        )
        assert np.abs(got[:, k] - expected).max() <= 1e-7 * max(
            1, np.abs(expected).max()
        )


def test_input_gradient_public_method_shapes_and_values():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 5))
    y = rng.randint(3, size=80)
    clf = MLPClassifier(
        hidden_layer_sizes=(7,), activation="gelu", max_iter=10, random_state=0
    ).fit(X, y)
    jac = clf.input_gradient(X[:4])
    assert jac.shape == (4, 3, 5)
    # Probabilities sum to one, so their sensitivities sum to zero.
    assert_allclose(jac.sum(axis=1), 0, atol=1e-12)
    expected = _fd_inputs(lambda Xs: clf.predict_proba(Xs), X[:4])
    assert_allclose(jac, expected, atol=1e-8)
    g = clf.input_gradient(X[:4], y[:4])
    onehot = np.eye(3)[y[:4]]
    expected = _fd_inputs(
        lambda Xs: -(onehot * np.log(clf.predict_proba(Xs))).sum(axis=1), X[:4]
    )
    assert_allclose(g, expected, atol=1e-8)
    reg = MLPRegressor(hidden_layer_sizes=(6,), max_iter=5, random_state=0).fit(
        X, X[:, :2]
    )
    assert reg.input_gradient(X[:3]).shape == (3, 2, 5)
    assert reg.input_gradient(X[:3], X[:3, :2]).shape == (3, 5)
    with pytest.raises(ValueError, match="outputs"):
        reg.input_gradient(X[:3], X[:3, :3])
    with pytest.raises(TypeError, match="dense"):
        reg.input_gradient(sp.csr_matrix(X[:3]))


@pytest.mark.parametrize(
    "estimator",
    [
        MLPClassifier(hidden_layer_sizes=(6, 4), activation="tanh", alpha=0.1),
        MLPClassifier(hidden_layer_sizes=(6,), activation="silu", loss="squared_error"),
        MLPRegressor(hidden_layer_sizes=(5,), activation="elu"),
        MLPRegressor(loss="huber", hidden_layer_sizes=(5,), activation="softplus"),
        MLPRegressor(hidden_layer_sizes=(5,), activation="logistic"),
    ],
)
def test_check_gradients_passes_for_exact_backprop(estimator):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(50, 4))
    y = rng.randint(3, size=50) if isinstance(estimator, MLPClassifier) else X[:, :2]
    estimator.set_params(max_iter=5, random_state=0).fit(X, y)
    assert check_gradients(estimator, X, y) < 1e-7
    assert check_gradients(estimator, sp.csr_matrix(X), y, max_parameters=20) < 1e-7


def test_check_gradients_flags_a_surrogate_gradient():
    # The unit step trains through a straight-through surrogate, which is not
    # the (zero almost everywhere) true gradient: the checker must see it.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(50, 4))
    y = rng.randint(2, size=50)
    clf = MLPClassifier(
        hidden_layer_sizes=(8, 8), activation=UnitStep(), max_iter=5, random_state=0
    ).fit(X, y)
    assert check_gradients(clf, X, y) > 0.1


def test_validation_loss_curve_tracks_the_held_out_loss():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    clf = MLPClassifier(
        hidden_layer_sizes=(8,),
        early_stopping=True,
        max_iter=15,
        n_iter_no_change=100,
        random_state=0,
    ).fit(X, y)
    assert len(clf.validation_loss_curve_) == len(clf.loss_curve_) == clf.n_iter_
    assert clf.validation_loss_curve_[-1] < clf.validation_loss_curve_[0]
    assert MLPClassifier(max_iter=2).fit(X, y).validation_loss_curve_ is None


def test_sensitivity_and_checker_reject_mismatched_input():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 4))
    y = rng.randint(2, size=30)
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        check_gradients(clf, X[:, :3], y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        check_gradients(clf, X, y[:-1])
    with pytest.raises(ValueError, match="sample_weight"):
        check_gradients(clf, X, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.input_gradient(X, y[:5])
    with pytest.raises(ValueError, match="features"):
        clf.input_gradient(X[:, :2])
