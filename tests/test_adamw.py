"""solver='adamw': Adam with decoupled weight decay, against a NumPy
reference of the update, and through partial_fit, warm start and early
stopping."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits, make_regression
from sklearn.utils._param_validation import InvalidParameterError

from fastnn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

BATCH = 16


def _regression():
    X, y = make_regression(n_samples=60, n_features=4, noise=1.0, random_state=0)
    return X, y / 50.0


def _reference_adamw(coefs, intercepts, X, y, n_epochs, p):
    """Weights after ``n_epochs`` of unshuffled minibatch AdamW on a tanh
    network with one hidden layer and squared error, written from
    scikit-learn's MLP gradient and the AdamW update of Loshchilov and
    Hutter (decoupled decay scaled by the learning rate, as in
    torch.optim.AdamW) with scikit-learn's Adam step size
    ``lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``."""
    W = [c.copy() for c in coefs]
    b = [i.copy() for i in intercepts]
    m = [np.zeros_like(a) for a in W + b]
    v = [np.zeros_like(a) for a in W + b]
    lr, b1, b2, eps = p["learning_rate_init"], p["beta_1"], p["beta_2"], p["epsilon"]
    Y = y.reshape(-1, 1)
    t = 0
    for _ in range(n_epochs):
        for start in range(0, X.shape[0], BATCH):
            Xb, Yb = X[start : start + BATCH], Y[start : start + BATCH]
            n = Xb.shape[0]
            hidden = np.tanh(Xb @ W[0] + b[0])
            out = hidden @ W[1] + b[1]
            delta_out = out - Yb
            delta_hidden = (delta_out @ W[1].T) * (1 - hidden**2)
            grads = [
                (Xb.T @ delta_hidden + p["alpha"] * W[0]) / n,
                (hidden.T @ delta_out + p["alpha"] * W[1]) / n,
                delta_hidden.mean(axis=0),
                delta_out.mean(axis=0),
            ]
            t += 1
            lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
            params = W + b
            for k, (theta, g) in enumerate(zip(params, grads)):
                m[k] = b1 * m[k] + (1 - b1) * g
                v[k] = b2 * v[k] + (1 - b2) * g**2
                if k < len(W):  # coefficients decay, intercepts do not
                    theta *= 1 - lr * p["weight_decay"]
                theta -= lr_t * m[k] / (np.sqrt(v[k]) + eps)
    return W, b


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-4)])
def test_adamw_follows_the_reference_update_over_several_epochs(dtype, rtol):
    """Also a warm start: the second fit starts from the first one's
    weights with a fresh optimizer, as scikit-learn's warm starts do."""
    X, y = _regression()
    params = dict(
        learning_rate_init=0.02,
        beta_1=0.8,
        beta_2=0.99,
        epsilon=1e-8,
        alpha=0.05,
        weight_decay=0.3,
    )
    model = MLPRegressor(
        hidden_layer_sizes=(5,),
        activation="tanh",
        solver="adamw",
        batch_size=BATCH,
        shuffle=False,
        max_iter=1,
        warm_start=True,
        random_state=0,
        **params,
    )
    model.fit(X.astype(dtype), y.astype(dtype))
    coefs = [c.astype(np.float64) for c in model.coefs_]
    intercepts = [i.astype(np.float64) for i in model.intercepts_]
    model.set_params(max_iter=3).fit(X.astype(dtype), y.astype(dtype))
    assert model._optimizer.t == 3 * 4  # 60 rows in batches of 16

    W, b = _reference_adamw(coefs, intercepts, X, y, 3, params)
    assert model.coefs_[0].dtype == dtype
    for got, want in zip(model.coefs_ + model.intercepts_, W + b):
        assert_allclose(got, want, rtol=rtol, atol=rtol * 1e-2)
    # The decay is what the reference adds to Adam: without it the
    # weights are elsewhere.
    W_no_decay, _ = _reference_adamw(
        coefs, intercepts, X, y, 3, {**params, "weight_decay": 0.0}
    )
    assert not np.allclose(W_no_decay[0], W[0], rtol=1e-3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adamw_without_weight_decay_trains_adams_model(dtype):
    X, y = _regression()
    X, y = X.astype(dtype), y.astype(dtype)
    adam, adamw = (
        MLPRegressor(
            hidden_layer_sizes=(8,),
            solver=solver,
            weight_decay=0.0,
            max_iter=5,
            random_state=0,
        ).fit(X, y)
        for solver in ("adam", "adamw")
    )
    for a, w in zip(adam.coefs_ + adam.intercepts_, adamw.coefs_ + adamw.intercepts_):
        assert_array_equal(a, w)
    assert adam.loss_curve_ == adamw.loss_curve_


def test_partial_fit_continues_the_adamw_state():
    X, y = _regression()
    settings = dict(
        hidden_layer_sizes=(6,), solver="adamw", weight_decay=0.1, shuffle=False
    )
    fitted = MLPRegressor(max_iter=3, random_state=0, **settings).fit(X, y)
    partial = MLPRegressor(random_state=0, **settings)
    for _ in range(3):
        partial.partial_fit(X, y)
    # Moments and step count carry over between calls: three partial fits
    # are three epochs of one fit.
    assert partial._optimizer.t == fitted._optimizer.t == 3
    for a, b in zip(
        fitted.coefs_ + fitted.intercepts_, partial.coefs_ + partial.intercepts_
    ):
        assert_array_equal(a, b)
    assert partial.loss_curve_ == fitted.loss_curve_


def test_adamw_stops_early_and_keeps_the_best_validated_weights():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    model = MLPClassifier(
        hidden_layer_sizes=(20,),
        solver="adamw",
        weight_decay=0.05,
        learning_rate_init=0.05,
        early_stopping=True,
        n_iter_no_change=3,
        max_iter=200,
        random_state=0,
    ).fit(X[:1200], y[:1200], X_val=X[1200:], y_val=y[1200:])
    assert model.n_iter_ < 200
    best = int(np.argmax(model.validation_scores_))
    assert best < model.n_iter_ - 1  # the last epoch was not the best
    assert model.score(X[1200:], y[1200:]) == model.best_validation_score_


def test_weight_decay_is_validated_like_alpha():
    X, y = _regression()
    with pytest.raises(InvalidParameterError, match="'weight_decay' parameter"):
        MLPRegressor(solver="adamw", weight_decay=-0.1).fit(X, y)
    with pytest.raises(InvalidParameterError, match="'adamw'"):
        MLPRegressor(solver="adamx").fit(X, y)


def test_adamw_matches_torch_when_epsilon_is_negligible():
    """torch.optim.AdamW on the same network, batches and loss, with the
    intercepts in a parameter group without decay.  PyTorch adds epsilon
    after the bias correction and fastnn before it (as scikit-learn's Adam
    does), so epsilon is made negligible for the comparison."""
    torch = pytest.importorskip("torch")
    X, y = _regression()
    params = dict(learning_rate_init=0.02, beta_1=0.8, beta_2=0.99, epsilon=1e-30)
    model = MLPRegressor(
        hidden_layer_sizes=(5,),
        activation="tanh",
        solver="adamw",
        alpha=0.0,
        weight_decay=0.3,
        batch_size=BATCH,
        shuffle=False,
        max_iter=1,
        warm_start=True,
        random_state=0,
        **params,
    ).fit(X, y)
    W = [torch.tensor(c, requires_grad=True) for c in model.coefs_]
    b = [torch.tensor(i, requires_grad=True) for i in model.intercepts_]
    model.set_params(max_iter=3).fit(X, y)

    optimizer = torch.optim.AdamW(
        [{"params": W, "weight_decay": 0.3}, {"params": b, "weight_decay": 0.0}],
        lr=params["learning_rate_init"],
        betas=(params["beta_1"], params["beta_2"]),
        eps=params["epsilon"],
        foreach=False,
    )
    X_t, Y_t = torch.tensor(X), torch.tensor(y.reshape(-1, 1))
    for _ in range(3):
        for start in range(0, X.shape[0], BATCH):
            Xb, Yb = X_t[start : start + BATCH], Y_t[start : start + BATCH]
            out = torch.tanh(Xb @ W[0] + b[0]) @ W[1] + b[1]
            # scikit-learn's squared error: half the mean over the batch.
            loss = ((out - Yb) ** 2).sum() / (2 * Xb.shape[0])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    for got, want in zip(model.coefs_ + model.intercepts_, W + b):
        assert_allclose(got, want.detach().numpy(), rtol=1e-9, atol=1e-12)
