"""Predictions on the engine's kernels: the bits of training's forward pass,
at any row count and any team, and the network a model keeps between calls.
"""

import copy
import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from threadpoolctl import threadpool_limits

from fastnn import MLPClassifier, MLPRegressor, _engine, _network

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module", autouse=True)
def kernels():
    """The CPU's kernels, or the portable one where it has none (whose
    products BLAS runs by default)."""
    previous = _engine.products()
    if previous == "blas":
        _engine._set_products("portable")
    yield
    _engine._set_products(previous)


ROWS = [1, 2, 3, 4, 5, 7, 8, 9, 17, 100, 257]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X, y


def _models(X, y):
    """Fitted models whose output layers differ: softmax, logistic (binary),
    identity (regressor), each with two hidden layers, in both dtypes."""
    out = {}
    for dtype in (np.float64, np.float32):
        Xd = X.astype(dtype)
        common = dict(hidden_layer_sizes=(40, 24), max_iter=5, random_state=0)
        out["softmax", dtype] = MLPClassifier(**common).fit(Xd, y)
        out["logistic", dtype] = MLPClassifier(**common).fit(Xd, y % 2)
        out["identity", dtype] = MLPRegressor(**common).fit(Xd, y / 9.0)
    return out


@pytest.fixture(scope="module")
def models(digits):
    return _models(*digits)


def _training_outputs(model, X):
    """The outputs of training's forward pass over the model's weights."""
    units = [X.shape[1], *(c.shape[1] for c in model.coefs_)]
    params = np.concatenate(
        [c.ravel() for c in model.coefs_] + [b.ravel() for b in model.intercepts_]
    )
    trainer = model._engine_spec(units).trainer(params, X.shape[0], 2)
    Y = np.zeros((X.shape[0], units[-1]), dtype=X.dtype)
    sw = np.ones(X.shape[0], dtype=X.dtype)
    rows = np.arange(X.shape[0], dtype=np.intp)
    return trainer.batch_outputs(_engine.InputMatrix(X), Y, sw, rows)


def _outputs(model, X):
    if isinstance(model, MLPClassifier):
        proba = model.predict_proba(X)
        return proba[:, 1:] if proba.shape[1] == 2 else proba
    return model.predict(X).reshape(len(X), -1)


@pytest.mark.parametrize("kind", ["softmax", "logistic", "identity"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rows", ROWS)
def test_predictions_are_the_bits_of_trainings_forward_pass(
    models, digits, kind, dtype, rows
):
    model = models[kind, dtype]
    X = np.ascontiguousarray(digits[0][:rows], dtype=dtype)
    assert_array_equal(_outputs(model, X), _training_outputs(model, X))


@pytest.mark.parametrize("kind", ["softmax", "identity"])
def test_a_row_has_the_same_bits_in_any_tile_and_any_call(models, digits, kind):
    # 1 to 9 rows run in tiles of 1, 2, 4 and 8 rows; 1,797 rows in chunks
    # shared by the team: every row's outputs are the same bits.
    model = models[kind, np.float32]
    X = digits[0].astype(np.float32)
    whole = _outputs(model, X)
    for rows in range(1, 10):
        for start in (0, 5, 1000):
            part = _outputs(model, X[start : start + rows])
            assert_array_equal(part, whole[start : start + rows])


@pytest.mark.parametrize("layout", ["F", "strided"])
def test_inputs_the_kernels_cannot_read_in_place_give_the_same_bits(
    models, digits, layout
):
    model = models["softmax", np.float64]
    X = digits[0]
    other = np.asfortranarray(X) if layout == "F" else np.repeat(X, 2, axis=1)[:, ::2]
    assert_array_equal(model.predict_proba(other), model.predict_proba(X))
    bad = other.copy(order="K")
    bad[700, 3] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.predict_proba(bad)


def test_the_bits_do_not_depend_on_the_team(models, digits):
    model = models["softmax", np.float32]
    X = np.tile(digits[0].astype(np.float32), (4, 1))
    expected = model.predict_proba(X)
    with threadpool_limits(1, user_api="openmp"):
        assert_array_equal(model.predict_proba(X), expected)
    previous = _engine._emulate_cpus(64)
    try:
        assert_array_equal(model.predict_proba(X), expected)
    finally:
        _engine._emulate_cpus(previous)


def test_a_model_keeps_its_network_until_its_weights_change(digits):
    X, y = digits
    model = MLPClassifier(hidden_layer_sizes=(30,), max_iter=5, random_state=0)
    model.fit(X, y)
    model.predict_proba(X[:2])
    network = _network._PREPARED[model].network
    model.predict(X[:2])
    assert _network._PREPARED[model].network is network
    # Predictions read the fitted parameters in place: no copy per call.
    assert network.params is model.coefs_[0].base

    reference = SkMLPClassifier(hidden_layer_sizes=(30,), max_iter=1)
    reference.fit(X, y)

    def same_as_sklearn():
        reference.coefs_ = [c.copy() for c in model.coefs_]
        reference.intercepts_ = [b.copy() for b in model.intercepts_]
        reference.set_params(activation=model.activation)
        assert_allclose(model.predict_proba(X), reference.predict_proba(X), rtol=1e-12)

    model.coefs_[0][:5] *= -2.0  # in place: seen by the kept network
    same_as_sklearn()
    assert _network._PREPARED[model].network is network
    model.coefs_[1] = model.coefs_[1] * 0.5  # replaced: no longer its view
    same_as_sklearn()
    model.set_params(activation="tanh")
    same_as_sklearn()
    model.fit(X, y)  # a refit makes a new network
    same_as_sklearn()
    assert _network._PREPARED[model].network is not network


def test_the_kept_network_stays_out_of_the_model(digits):
    X, y = digits
    model = MLPClassifier(hidden_layer_sizes=(10,), max_iter=3, random_state=0)
    model.fit(X, y)
    before = set(vars(model))
    expected = model.predict_proba(X)
    assert set(vars(model)) == before
    for restored in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert_array_equal(restored.predict_proba(X), expected)
        # Restored as a fit leaves it: views of one flat array, read in place.
        network = _network.prepared(restored, restored.coefs_, restored.intercepts_)
        assert network is not None and network.params is restored.coefs_[0].base
