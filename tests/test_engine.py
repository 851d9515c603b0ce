"""The engine's entry points: arguments checked against the trainer, and
every GEMM block count giving scikit-learn's results at any thread count."""

import inspect
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.neural_network as sk
from numpy.testing import assert_allclose, assert_array_equal
from threadpoolctl import threadpool_limits

from fastnn import MLPClassifier, MLPRegressor, _engine
from fastnn._network import EngineSpec

UNITS = [5, 4, 3]
N_PARAMS = 5 * 4 + 4 * 3 + 4 + 3
ACTS = [("tanh", 0.0, 0.0), ("softmax", 0.0, 0.0)]

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _trainer(dtype=np.float64, **kwargs):
    params = np.zeros(N_PARAMS, dtype=dtype)
    return _engine.Trainer(EngineSpec(UNITS, ACTS, "log_loss"), params, 8, 1, **kwargs)


def _optimizer(name="adam", dtype=np.float64, n_arrays=None):
    code = _engine.OPTIMIZER_CODES[name]
    if n_arrays is None:
        n_arrays = _engine.optimizer_state_arrays(code)
    arrays = tuple(np.zeros(N_PARAMS, dtype=dtype) for _ in range(n_arrays))
    return _engine.Optimizer(code, arrays, learning_rate=0.1)


def _data(dtype=np.float64, n=10):
    X = np.ones((n, UNITS[0]), dtype=dtype)
    Y = np.zeros((n, UNITS[-1]), dtype=dtype)
    return _engine.InputMatrix(X), Y, np.ones(n, dtype=dtype)


def test_an_input_of_the_other_dtype_is_refused():
    trainer = _trainer(np.float32)
    X, Y, sw = _data(np.float64)
    with pytest.raises(TypeError, match="X is float64, the trainer is float32"):
        trainer.run_epoch(X, Y, sw, np.arange(10), _optimizer(), 0.0)
    with pytest.raises(TypeError, match="X is float64, the trainer is float32"):
        trainer.evaluate_loss(X, Y, sw, 0.0)
    X32 = _engine.InputMatrix(np.ones((10, 5), dtype=np.float32))
    with pytest.raises(TypeError, match="Y is float64, the trainer is float32"):
        trainer.loss_gradient(X32, Y, sw.astype(np.float32), 0.0, np.empty(N_PARAMS))
    with pytest.raises(TypeError, match="sample_weight is float64"):
        trainer.evaluate_loss(X32, Y.astype(np.float32), sw, 0.0)
    with pytest.raises(TypeError, match="grad_out is float64"):
        trainer.loss_gradient(
            X32, Y.astype(np.float32), sw.astype(np.float32), 0.0, np.empty(N_PARAMS)
        )
    with pytest.raises(TypeError, match="X is float64, params are float32"):
        _engine.forward(X, np.zeros(N_PARAMS, np.float32), UNITS, ACTS, 1)


def test_shapes_that_do_not_fit_the_network_are_refused():
    trainer = _trainer()
    X, Y, sw = _data()
    wide = _engine.InputMatrix(np.ones((10, 6)))
    with pytest.raises(ValueError, match="X has 6 features, the network takes 5"):
        trainer.evaluate_loss(wide, Y, sw, 0.0)
    with pytest.raises(ValueError, match="X has 6 features, the network takes 5"):
        _engine.forward(wide, np.zeros(N_PARAMS), UNITS, ACTS, 1)
    with pytest.raises(ValueError, match=r"Y has shape \(10, 2\), expected \(10, 3\)"):
        trainer.evaluate_loss(X, Y[:, :2], sw, 0.0)
    with pytest.raises(ValueError, match="sample_weight has shape"):
        trainer.evaluate_loss(X, Y, sw[:9], 0.0)
    with pytest.raises(ValueError, match="grad_out has shape"):
        trainer.loss_gradient(X, Y, sw, 0.0, np.empty(N_PARAMS + 1))
    with pytest.raises(ValueError, match="the row order holds a row X does not have"):
        trainer.run_epoch(X, Y, sw, np.arange(11), _optimizer(), 0.0)
    with pytest.raises(ValueError, match="optimizer state does not match"):
        _optimizer("sgd", n_arrays=2)
    with pytest.raises(ValueError, match="params has 40 values"):
        _engine.forward(X, np.zeros(N_PARAMS + 1), UNITS, ACTS, 1)
    with pytest.raises(TypeError, match="InputMatrix"):
        trainer.evaluate_loss(np.ones((10, 5)), Y, sw, 0.0)


def test_a_trainer_refuses_parameters_that_do_not_fit():
    with pytest.raises(ValueError, match="params has 40 values"):
        _engine.Trainer(
            EngineSpec(UNITS, ACTS, "log_loss"), np.zeros(N_PARAMS + 1), 8, 1
        )
    X, Y, sw = _data()
    with pytest.raises(TypeError, match="optimizer state is float32"):
        _trainer().run_epoch(
            X, Y, sw, np.arange(10), _optimizer("sgd", np.float32), 0.0
        )
    with pytest.raises(TypeError, match="params must be float32 or float64"):
        _engine.Trainer(
            EngineSpec(UNITS, ACTS, "log_loss"), np.zeros(N_PARAMS, int), 8, 1
        )
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        _engine.Trainer(EngineSpec(UNITS, ACTS, "hinge"), np.zeros(N_PARAMS), 8, 1)
    with pytest.raises(TypeError, match="float32 or float64 input"):
        _engine.InputMatrix(np.ones((3, 5), dtype=np.int64))
    # Another compressed format's indices mean something else.
    for other in (sp.csc_matrix, sp.bsr_matrix):
        with pytest.raises(TypeError, match="as CSR only, got (csc|bsr)"):
            _engine.InputMatrix(other(np.ones((3, 5))))


def test_a_matching_call_still_runs():
    trainer = _trainer()
    X, Y, sw = _data()
    Y[:, 0] = 1
    optimizer = _optimizer()
    loss = trainer.run_epoch(X, Y, sw, np.arange(10), optimizer, 0.0)
    assert np.isfinite(loss) and optimizer.step_count == 2


@pytest.fixture(params=[32768, 1])
def unit_floor(request):
    """The default cut of every batch, and the finest."""
    previous = _engine._set_unit_floor(request.param)
    yield request.param
    _engine._set_unit_floor(previous)


def test_unit_floor_setter_refuses_nonpositive_floors():
    for bad in (0, -1):
        with pytest.raises(ValueError, match="must be positive"):
            _engine._set_unit_floor(bad)


def _fits(fit, n_threads_list=(1, 2, 3)):
    models = []
    for n_threads in n_threads_list:
        with threadpool_limits(n_threads, user_api="openmp"):
            models.append(fit())
    for other in models[1:]:
        for a, b in zip(
            models[0].coefs_ + models[0].intercepts_, other.coefs_ + other.intercepts_
        ):
            assert_array_equal(a, b)
    return models[0]


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_every_cut_matches_sklearn_at_any_thread_count(unit_floor, solver):
    # Batches of 512 rows, cut by the default floor or into every panel.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(1100, 24))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int) + (X[:, 3] > 1)
    params = dict(
        hidden_layer_sizes=(40, 24),
        solver=solver,
        batch_size=512,
        max_iter=3,
        random_state=0,
    )
    ours = _fits(lambda: MLPClassifier(**params).fit(X, y))
    ref = sk.MLPClassifier(**params).fit(X, y)
    for a, b in zip(ref.coefs_ + ref.intercepts_, ours.coefs_ + ours.intercepts_):
        assert_allclose(b, a, rtol=1e-9, atol=1e-12)
    assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=1e-9)


@pytest.mark.parametrize("sparse", [False, True])
def test_adamw_gives_the_same_bits_at_any_thread_count(unit_floor, sparse):
    # No scikit-learn reference: test_adamw.py checks the update itself.
    rng = np.random.RandomState(2)
    X = rng.normal(size=(1100, 24))
    if sparse:
        X = sp.csr_matrix(np.where(X > 1, X, 0.0))
    y = (rng.uniform(size=1100) > 0.5).astype(int)
    _fits(
        lambda: MLPClassifier(
            hidden_layer_sizes=(40, 24),
            solver="adamw",
            weight_decay=0.1,
            batch_size=512,
            max_iter=3,
            random_state=0,
        ).fit(X, y)
    )


def test_every_cut_matches_sklearn_on_sparse_input(unit_floor):
    rng = np.random.RandomState(1)
    X = sp.random(700, 300, density=0.05, format="csr", random_state=rng)
    y = X @ rng.normal(size=300)
    params = dict(hidden_layer_sizes=(64,), batch_size=512, max_iter=3, random_state=0)
    ours = _fits(lambda: MLPRegressor(**params).fit(X, y))
    ref = sk.MLPRegressor(**params).fit(X, y)
    for a, b in zip(ref.coefs_ + ref.intercepts_, ours.coefs_ + ours.intercepts_):
        assert_allclose(b, a, rtol=1e-9, atol=1e-12)


def test_every_trainer_is_built_by_the_engine_spec(monkeypatch):
    """One way into the engine: fits, evaluations and gradients all build
    their trainer with EngineSpec.trainer."""
    from fastnn import check_gradients

    built = []
    real = _engine.Trainer

    def spy(*args, **kwargs):
        caller = inspect.stack()[1]
        built.append((caller.function, Path(caller.filename).name))
        return real(*args, **kwargs)

    monkeypatch.setattr(_engine, "Trainer", spy)
    X = np.random.RandomState(0).normal(size=(40, 3))
    y = X[:, 0] > 0
    for solver in ("adam", "lbfgs"):
        MLPClassifier(hidden_layer_sizes=(4,), solver=solver, max_iter=2).fit(X, y)
    reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=2).fit(X, X[:, 1])
    reg.input_gradient(X[:5])
    check_gradients(reg, X[:5], X[:5, 1])
    assert len(built) == 5
    assert set(built) == {("trainer", "_network.py")}


def test_param_slices_are_scikit_learns_pack():
    from sklearn.neural_network._multilayer_perceptron import _pack

    from fastnn import _network

    units = [3, 5, 4, 2]
    rng = np.random.default_rng(0)
    coefs = [rng.normal(size=(a, b)) for a, b in zip(units[:-1], units[1:])]
    intercepts = [rng.normal(size=b) for b in units[1:]]
    flat = _pack(coefs, intercepts)
    coef_slices, intercept_slices = _network.param_slices(units)
    for coef, where in zip(coefs, coef_slices):
        np.testing.assert_array_equal(flat[where].reshape(coef.shape), coef)
    for intercept, where in zip(intercepts, intercept_slices):
        np.testing.assert_array_equal(flat[where], intercept)
    assert intercept_slices[-1].stop == flat.size
