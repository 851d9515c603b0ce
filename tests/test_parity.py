"""Same data, parameters and seed as scikit-learn give the same model."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import neural_network as sk
from sklearn.exceptions import ConvergenceWarning

import fastnn
from fastnn._engine import _kernels, _layers

ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
TASKS = ["binary", "multiclass", "multilabel", "regression", "multioutput"]
RTOL = 1e-7
# Entries that are mathematically tiny carry absolute rounding noise only.
ATOL = 1e-12


@pytest.fixture(autouse=True, params=["blas", _kernels.BEST_GEMM_LEVEL])
def products(request):
    """Every parity test on both of training's product paths: BLAS and the
    engine's own kernels (the portable one where the CPU has no tuned one)."""
    previous = _layers._set_products(request.param)
    yield request.param
    _layers._set_products(previous)


def make_task(task: str, n_samples: int = 150, seed: int = 0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, 6))
    W = rng.normal(size=(6, 3))
    scores = X @ W + 0.3 * rng.normal(size=(n_samples, 3))
    if task == "binary":
        return X, np.where(scores[:, 0] > 0, "yes", "no")
    if task == "multiclass":
        return X, scores.argmax(axis=1) + 10
    if task == "multilabel":
        return X, (scores > 0).astype(int)
    if task == "regression":
        return X, scores[:, 0]
    if task == "poisson":
        return X, rng.poisson(np.exp(0.3 * scores[:, 0]))
    return X, scores


def pair(task: str, **params):
    if task in ("binary", "multiclass", "multilabel"):
        return sk.MLPClassifier(**params), fastnn.MLPClassifier(**params)
    return sk.MLPRegressor(**params), fastnn.MLPRegressor(**params)


def fit_both(task, X, y, fit_params=None, **params):
    ref, ours = pair(task, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref.fit(X, y, **(fit_params or {}))
        ours.fit(X, y, **(fit_params or {}))
    return ref, ours


def assert_same_model(ref, ours, rtol=RTOL):
    assert len(ref.coefs_) == len(ours.coefs_)
    for a, b in zip(ref.coefs_ + ref.intercepts_, ours.coefs_ + ours.intercepts_):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert_allclose(b, a, rtol=rtol, atol=ATOL)
    for name in ("n_iter_", "t_", "n_layers_", "n_outputs_", "out_activation_"):
        assert getattr(ours, name) == getattr(ref, name), name
    if hasattr(ref, "loss_curve_"):
        assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=rtol)
    assert_allclose(ours.loss_, ref.loss_, rtol=rtol)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("task", TASKS)
def test_initial_weights_equal_sklearn(monkeypatch, task, activation):
    # Skipping the solver leaves the freshly initialised weights in coefs_.
    monkeypatch.setattr(sk.MLPClassifier, "_fit_stochastic", lambda *a, **k: None)
    monkeypatch.setattr(sk.MLPRegressor, "_fit_stochastic", lambda *a, **k: None)
    monkeypatch.setattr(fastnn.MLPClassifier, "_fit_stochastic", lambda *a, **k: None)
    monkeypatch.setattr(fastnn.MLPRegressor, "_fit_stochastic", lambda *a, **k: None)
    X, y = make_task(task)
    ref, ours = pair(
        task, hidden_layer_sizes=(7, 5), activation=activation, random_state=3
    )
    ref.fit(X, y)
    ours.fit(X, y)
    for a, b in zip(ref.coefs_ + ref.intercepts_, ours.coefs_ + ours.intercepts_):
        assert_array_equal(b, a)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("task", TASKS)
def test_five_epochs_match_sklearn(task, activation, solver):
    X, y = make_task(task)
    ref, ours = fit_both(
        task,
        X,
        y,
        hidden_layer_sizes=(10, 8),
        activation=activation,
        solver=solver,
        learning_rate_init=0.01,
        batch_size=32,
        max_iter=5,
        random_state=0,
    )
    assert_same_model(ref, ours)
    if task in ("binary", "multiclass", "multilabel"):
        assert_array_equal(ours.predict(X), ref.predict(X))
        assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=1e-9)
    else:
        assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="sgd", nesterovs_momentum=False),
        dict(solver="sgd", momentum=0.0),
        dict(solver="sgd", learning_rate="invscaling", power_t=0.3),
        dict(solver="sgd", learning_rate="adaptive", tol=10.0, n_iter_no_change=1),
        dict(solver="adam", shuffle=False),
        dict(solver="adam", alpha=0.5, beta_1=0.5, beta_2=0.9, epsilon=1e-6),
        dict(solver="adam", batch_size=1000),
        dict(solver="adam", early_stopping=True, validation_fraction=0.2),
    ],
    ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()),
)
def test_solver_options_match_sklearn(params):
    X, y = make_task("multiclass")
    kwargs = dict(
        hidden_layer_sizes=(9,),
        learning_rate_init=0.01,
        batch_size=16,
        max_iter=6,
        random_state=1,
    )
    kwargs.update(params)
    if kwargs["batch_size"] > len(y):
        # Both clip the batch to the data, and both say so.
        with pytest.warns(UserWarning, match="batch_size") as record:
            ref, ours = fit_both("multiclass", X, y, **kwargs)
        assert sum("clipped" in str(w.message) for w in record) == 2
    else:
        ref, ours = fit_both("multiclass", X, y, **kwargs)
    assert_same_model(ref, ours)
    if params.get("early_stopping"):
        assert_allclose(ours.validation_scores_, ref.validation_scores_)
        assert ours.best_validation_score_ == ref.best_validation_score_


def test_stopping_on_training_loss_matches_sklearn():
    X, y = make_task("regression")
    ref, ours = fit_both(
        "regression",
        X,
        y,
        hidden_layer_sizes=(6,),
        learning_rate_init=0.05,
        tol=1e-2,
        n_iter_no_change=2,
        max_iter=200,
        random_state=0,
    )
    assert ref.n_iter_ < 200
    assert_same_model(ref, ours)
    assert ours.best_loss_ == pytest.approx(ref.best_loss_, rel=RTOL)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_sample_weight_matches_sklearn(task):
    X, y = make_task(task)
    sw = np.random.RandomState(5).uniform(0, 3, X.shape[0])
    ref, ours = fit_both(
        task,
        X,
        y,
        fit_params={"sample_weight": sw},
        hidden_layer_sizes=(8,),
        learning_rate_init=0.01,
        max_iter=5,
        random_state=0,
    )
    assert_same_model(ref, ours)


def test_poisson_matches_sklearn():
    X, y = make_task("poisson")
    ref, ours = fit_both(
        "poisson",
        X,
        y,
        loss="poisson",
        hidden_layer_sizes=(8,),
        learning_rate_init=0.01,
        max_iter=5,
        random_state=0,
    )
    assert_same_model(ref, ours)


@pytest.mark.parametrize("task", ["multiclass", "multilabel", "regression"])
def test_lbfgs_matches_sklearn(task):
    X, y = make_task(task)
    ref, ours = fit_both(
        task, X, y, solver="lbfgs", hidden_layer_sizes=(8,), max_iter=15, random_state=0
    )
    # L-BFGS amplifies rounding differences along its line searches more
    # than a few epochs of SGD do.
    assert_same_model(ref, ours, rtol=1e-6)


def test_partial_fit_matches_sklearn():
    X, y = make_task("multiclass")
    classes = np.unique(y)
    ref, ours = pair(
        "multiclass", hidden_layer_sizes=(8,), random_state=0, learning_rate_init=0.01
    )
    for start in range(0, 150, 50):
        ref.partial_fit(X[start : start + 50], y[start : start + 50], classes=classes)
        ours.partial_fit(X[start : start + 50], y[start : start + 50], classes=classes)
    assert_same_model(ref, ours)


def test_warm_start_matches_sklearn():
    X, y = make_task("regression")
    ref, ours = fit_both(
        "regression",
        X,
        y,
        hidden_layer_sizes=(8,),
        max_iter=3,
        warm_start=True,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref.fit(X, y)
        ours.fit(X, y)
    assert_same_model(ref, ours)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_sparse_input_matches_sklearn(task, solver, fmt):
    X, y = make_task(task)
    X[np.random.RandomState(0).uniform(size=X.shape) < 0.5] = 0.0
    X_sparse = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    ref, ours = fit_both(
        task,
        X_sparse,
        y,
        solver=solver,
        hidden_layer_sizes=(8, 5),
        learning_rate_init=0.01,
        batch_size=32,
        max_iter=5,
        random_state=0,
    )
    assert_same_model(ref, ours, rtol=1e-6 if solver == "lbfgs" else RTOL)
    dense = pair(
        task,
        solver=solver,
        hidden_layer_sizes=(8, 5),
        learning_rate_init=0.01,
        batch_size=32,
        max_iter=5,
        random_state=0,
    )[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense.fit(X, y)
    assert_allclose(ours.predict(X_sparse), dense.predict(X), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_wide_sparse_input_matches_sklearn_for_any_thread_count(solver):
    # Wide enough that the first layer's gradient and optimizer step run in
    # blocks, by feature, fused (the path of real sparse data).
    from threadpoolctl import threadpool_limits

    rng = np.random.RandomState(0)
    X = sp.random(300, 2500, density=0.02, format="csr", random_state=rng)
    y = rng.randint(3, size=300)
    params = dict(
        solver=solver,
        hidden_layer_sizes=(16,),
        batch_size=64,
        max_iter=3,
        learning_rate_init=0.01,
        random_state=0,
    )
    ref, ours = fit_both("multiclass", X, y, **params)
    assert_same_model(ref, ours)
    with threadpool_limits(1, user_api="openmp"):
        serial = fit_both("multiclass", X, y, **params)[1]
    for a, b in zip(ours.coefs_ + ours.intercepts_, serial.coefs_ + serial.intercepts_):
        assert_array_equal(a, b)
    assert ours.loss_curve_ == serial.loss_curve_


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="sgd", learning_rate="adaptive", tol=10.0, n_iter_no_change=1),
        dict(solver="adam", early_stopping=True, n_iter_no_change=2, tol=10.0),
        dict(solver="adam", tol=10.0, n_iter_no_change=2),
    ],
)
def test_verbose_output_matches_sklearn(capsys, params):
    X, y = make_task("multiclass")
    ref, ours = pair(
        "multiclass",
        hidden_layer_sizes=(5,),
        max_iter=8,
        verbose=True,
        random_state=0,
        **params,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref.fit(X, y)
        expected = capsys.readouterr().out
        ours.fit(X, y)
        got = capsys.readouterr().out
    assert "Iteration 1, loss = " in got
    assert got == expected
