"""Activations as estimator parameters: names, objects, one per layer."""

import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from fastnn import MLPClassifier, MLPRegressor, _engine
from fastnn._network import EngineSpec
from fastnn.activations import (
    ACTIVATION_CLASSES,
    ACTIVATIONS,
    ELU,
    GELU,
    Activation,
    Gaussian,
    HardTanh,
    LeakyReLU,
    PiecewiseLinear,
    Sigmoid,
    UnitStep,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_named_activation_trains(digits, name):
    X, y = digits
    model = MLPClassifier(
        hidden_layer_sizes=(32,),
        activation=name,
        max_iter=60,
        learning_rate_init=0.01,
        random_state=0,
    ).fit(X, y)
    assert np.isfinite(model.loss_curve_).all()
    assert model.loss_curve_[-1] < model.loss_curve_[0]
    assert model.score(X, y) > 0.5


def test_sigmoid_with_unit_steepness_is_sklearns_logistic(digits):
    X, y = digits
    kwargs = dict(hidden_layer_sizes=(16,), max_iter=5, random_state=0)
    a = MLPClassifier(activation="logistic", **kwargs).fit(X, y)
    b = MLPClassifier(activation=Sigmoid(beta=1.0), **kwargs).fit(X, y)
    c = MLPClassifier(activation=Sigmoid(beta=3.0), **kwargs).fit(X, y)
    for p, q in zip(a.coefs_, b.coefs_):
        assert_array_equal(p, q)
    assert not np.allclose(a.coefs_[0], c.coefs_[0])


def test_one_activation_per_hidden_layer(digits):
    X, y = digits
    model = MLPRegressor(
        hidden_layer_sizes=(16, 8, 4),
        activation=["tanh", GELU(), LeakyReLU(slope=0.1)],
        max_iter=20,
        random_state=0,
    ).fit(X, y)
    assert np.isfinite(model.predict(X)).all()
    with pytest.raises(ValueError, match="one activation per hidden layer"):
        MLPRegressor(hidden_layer_sizes=(16, 8), activation=["tanh"]).fit(X, y)
    with pytest.raises(ValueError, match="Unknown activation 'softsign'"):
        MLPRegressor(hidden_layer_sizes=(16,), activation=["softsign"]).fit(X, y)


@pytest.mark.parametrize(
    "activation, parameter",
    [
        (Sigmoid(beta=0), "beta"),
        (Gaussian(sigma=-1), "sigma"),
        (LeakyReLU(slope=-0.1), "slope"),
        (ELU(alpha=0), "alpha"),
    ],
)
def test_invalid_activation_parameters_are_rejected(digits, activation, parameter):
    X, y = digits
    with pytest.raises(InvalidParameterError, match=parameter):
        MLPClassifier(activation=activation, max_iter=1).fit(X, y)


def test_hard_tanh_aliases_and_defaults_train_the_same_model(digits):
    X, y = digits
    kwargs = dict(hidden_layer_sizes=(16,), max_iter=5, random_state=0)
    models = [
        MLPClassifier(activation=a, **kwargs).fit(X, y)
        for a in ("hard_tanh", "hardtanh", HardTanh(), HardTanh(-1.0, 1.0))
    ]
    for other in models[1:]:
        for p, q in zip(models[0].coefs_, other.coefs_):
            assert_array_equal(p, q)
    wider = MLPClassifier(activation=HardTanh(-2.0, 2.0), **kwargs).fit(X, y)
    assert not np.array_equal(models[0].coefs_[0], wider.coefs_[0])


def test_hard_tanh_on_0_1_is_the_unit_ramp(digits):
    # Two kernels, one function: clip(x, 0, 1) is the piecewise linear unit
    # with x_min = 0, x_max = 1, forward and backward, to the bit.
    X, y = digits
    kwargs = dict(hidden_layer_sizes=(16, 8), max_iter=5, random_state=0)
    a = MLPClassifier(activation=HardTanh(0.0, 1.0), **kwargs).fit(X, y)
    b = MLPClassifier(activation=PiecewiseLinear(0.0, 1.0), **kwargs).fit(X, y)
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert_array_equal(p, q)


def test_every_engine_code_has_one_activation_class():
    # The C enum is the list of kernels; each needs its Python class (with
    # its ONNX lowering), and the engine's names are derived from both.
    assert sorted(ACTIVATION_CLASSES) == sorted(_engine.ACTIVATION_CODES)
    for name, cls in ACTIVATION_CLASSES.items():
        assert cls.name == name
        assert cls.code == _engine.ACTIVATION_CODES[name]
        if name != "identity":
            assert cls.onnx is not Activation.onnx, name
    assert set(ACTIVATIONS) - {"sigmoid", "hardtanh"} == {
        n for n, c in ACTIVATION_CLASSES.items() if c.hidden
    }
    needs = {n for n, c in ACTIVATION_CLASSES.items() if c().needs_preactivation}
    assert needs == {"gaussian", "unit_step", "gelu", "silu"}


def test_unknown_activation_codes_are_refused_by_the_engine():
    Z = np.zeros((2, 3))
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        _engine.bias_activation(Z, np.zeros(3), "swish")
    params = np.zeros(3 * 2 + 2 * 1 + 2 + 1)
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        _engine.Trainer(
            EngineSpec(
                [3, 2, 1], [("swish", 0, 0), ("identity", 0, 0)], "squared_error"
            ),
            params,
            4,
            1,
        )


@pytest.mark.parametrize(
    "activation, message",
    [
        (PiecewiseLinear(1, 0), "PiecewiseLinear needs x_min < x_max"),
        (HardTanh(1, 1), "HardTanh needs min_val < max_val"),
    ],
)
def test_ranges_must_increase(digits, activation, message):
    X, y = digits
    with pytest.raises(ValueError, match=message):
        MLPClassifier(activation=activation, max_iter=1).fit(X, y)


def test_activation_parameters_clone_pickle_and_set(digits):
    X, y = digits
    model = MLPClassifier(
        activation=Gaussian(mu=0.2, sigma=2.0), max_iter=3, random_state=0
    )
    params = model.get_params(deep=True)
    assert params["activation__sigma"] == 2.0
    model.set_params(activation__sigma=1.5)
    assert model.activation.sigma == 1.5
    cloned = clone(model)
    assert cloned.activation is not model.activation
    assert cloned.activation.get_params() == model.activation.get_params()
    model.fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    assert_array_equal(restored.predict_proba(X), model.predict_proba(X))


def test_grid_search_over_activation_parameters_in_a_pipeline(digits):
    X, y = digits
    pipe = make_pipeline(
        StandardScaler(),
        MLPClassifier(
            hidden_layer_sizes=(16,), activation=Sigmoid(), max_iter=30, random_state=0
        ),
    )
    grid = {"mlpclassifier__activation__beta": [0.5, 2.0]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(pipe, grid, cv=2).fit(X, y)
    assert search.best_params_["mlpclassifier__activation__beta"] in (0.5, 2.0)
    assert len(search.cv_results_["mean_test_score"]) == 2
    best = search.best_estimator_[-1]
    assert (
        best.activation.beta == search.best_params_["mlpclassifier__activation__beta"]
    )


def test_unit_step_trains_through_its_surrogate_gradient(digits):
    X, y = digits
    model = MLPClassifier(
        hidden_layer_sizes=(64,),
        activation=UnitStep(),
        max_iter=100,
        learning_rate_init=0.01,
        random_state=0,
    )
    model.fit(X, y)
    hidden = (X @ model.coefs_[0] + model.intercepts_[0]) >= 0
    # The hidden units are binary and the network learned through them.
    assert model.score(X, y) > 0.8
    assert 0 < hidden.mean() < 1
    assert_allclose(model.predict_proba(X).sum(axis=1), 1.0)
