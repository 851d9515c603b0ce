"""Safe persistence with skops.io: every kind of fitted model round-trips.

A model loaded with exactly the types ``get_untrusted_types`` lists (all of
them fastnn's own, and those the documentation lists) must predict the same bits
and continue training (``partial_fit``, ``warm_start``) exactly as the model
that was saved.
"""

import math
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.datasets import load_digits, make_regression

from fastnn import MLPClassifier, MLPRegressor, activations
from fastnn._optimizers import AdamState, AdamWState, SGDState

sio = pytest.importorskip("skops.io")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# The user guide's page on saving models lists the types to trust.
PERSISTENCE_PAGE = (
    Path(__file__).resolve().parent.parent / "docs" / "user_guide" / "persistence.md"
)

# Every type of fastnn a fitted model can hold.
FASTNN_TYPES = {
    f"{cls.__module__}.{cls.__qualname__}"
    for cls in (
        MLPClassifier,
        MLPRegressor,
        AdamState,
        AdamWState,
        SGDState,
        *activations.ACTIVATIONS.values(),
    )
}

ALL_ACTIVATIONS = [
    activations.Identity(),
    activations.Sigmoid(beta=1.5),
    activations.Tanh(),
    activations.ReLU(),
    activations.PiecewiseLinear(x_min=-2.0, x_max=2.0),
    activations.Gaussian(mu=0.1, sigma=2.0),
    activations.UnitStep(),
    activations.LeakyReLU(slope=0.2),
    activations.ELU(alpha=0.5),
    activations.Softplus(),
    activations.GELU(),
    activations.SiLU(),
]


def _digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


def _regression(n_targets=1):
    X, y = make_regression(
        n_samples=200, n_features=8, n_targets=n_targets, noise=0.1, random_state=0
    )
    return X, y / 100.0


def _multilabel():
    X, y = _digits()
    return X, np.column_stack([y % 2, y > 4, y == 3]).astype(int)


def _sparse():
    rng = np.random.RandomState(0)
    X = sp.random(200, 40, density=0.1, format="csr", random_state=rng)
    return X, (np.asarray(X.sum(axis=1)).ravel() > 2).astype(int)


def _partial_fit_in_progress():
    X, y = _digits()
    model = MLPClassifier(hidden_layer_sizes=(12,), solver="sgd", random_state=0)
    model.partial_fit(X[:100], y[:100], classes=np.unique(y))
    model.partial_fit(X[100:], y[100:])
    return model, X, y


def _fitted(make_model, make_data):
    def build():
        X, y = make_data()
        return make_model().fit(X, y), X, y

    return build


# (id, builder returning (model, X, y), whether partial_fit may continue it)
CASES = [
    (
        "classifier-adam-dropout-class-weight",
        _fitted(
            lambda: MLPClassifier(
                hidden_layer_sizes=(16, 8),
                dropout=[0.2, 0.1],
                class_weight={0: 2.0, 3: 0.5},
                max_iter=4,
                random_state=0,
            ),
            _digits,
        ),
        True,
    ),
    (
        "classifier-sgd-nesterov-balanced-early-stopping",
        _fitted(
            lambda: MLPClassifier(
                hidden_layer_sizes=(10,),
                solver="sgd",
                learning_rate="adaptive",
                class_weight="balanced",
                early_stopping=True,
                max_iter=6,
                random_state=np.random.RandomState(3),
            ),
            _digits,
        ),
        False,  # partial_fit refuses early_stopping and 'balanced'
    ),
    (
        "classifier-multilabel-lbfgs-squared-error",
        _fitted(
            lambda: MLPClassifier(
                hidden_layer_sizes=(8,),
                solver="lbfgs",
                loss="squared_error",
                max_iter=15,
                random_state=0,
            ),
            _multilabel,
        ),
        False,  # partial_fit is for stochastic solvers
    ),
    (
        "classifier-sparse-sgd-invscaling",
        _fitted(
            lambda: MLPClassifier(
                hidden_layer_sizes=(6,),
                solver="sgd",
                learning_rate="invscaling",
                max_iter=4,
                random_state=0,
            ),
            _sparse,
        ),
        True,
    ),
    ("classifier-partial-fit-in-progress", _partial_fit_in_progress, True),
    (
        "regressor-every-activation-object",
        _fitted(
            lambda: MLPRegressor(
                hidden_layer_sizes=(4,) * len(ALL_ACTIVATIONS),
                activation=ALL_ACTIVATIONS,
                max_iter=3,
                random_state=0,
            ),
            _regression,
        ),
        True,
    ),
    (
        "regressor-adamw",
        _fitted(
            lambda: MLPRegressor(
                hidden_layer_sizes=(6,),
                solver="adamw",
                weight_decay=0.05,
                max_iter=3,
                random_state=0,
            ),
            _regression,
        ),
        True,
    ),
    (
        "regressor-float32-multioutput-huber-dropout",
        _fitted(
            lambda: MLPRegressor(
                hidden_layer_sizes=(10,),
                activation=activations.ELU(alpha=0.7),
                loss="huber",
                dropout=0.25,
                max_iter=4,
                random_state=1,
            ),
            lambda: tuple(a.astype(np.float32) for a in _regression(n_targets=2)),
        ),
        True,
    ),
    (
        "regressor-poisson-early-stopping",
        _fitted(
            lambda: MLPRegressor(
                hidden_layer_sizes=(5,),
                loss="poisson",
                early_stopping=True,
                max_iter=5,
                random_state=0,
            ),
            lambda: (_regression()[0], np.abs(_regression()[1])),
        ),
        False,
    ),
    (
        "regressor-quantile",
        _fitted(
            lambda: MLPRegressor(
                hidden_layer_sizes=(5,),
                loss="quantile",
                quantile=0.9,
                max_iter=5,
                random_state=0,
            ),
            _regression,
        ),
        True,
    ),
    (
        "regressor-gamma-lbfgs",
        _fitted(
            lambda: MLPRegressor(
                hidden_layer_sizes=(5,),
                loss="gamma",
                solver="lbfgs",
                max_iter=5,
                random_state=0,
            ),
            lambda: (_regression()[0], np.abs(_regression()[1]) + 0.1),
        ),
        False,
    ),
]


def assert_same_state(a, b, path="model"):
    """Bitwise equality of two objects' whole state, attribute by attribute."""
    assert type(a) is type(b), f"{path}: {type(a)} != {type(b)}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, path
        if a.dtype.kind == "f":
            assert_array_equal(a.view(np.uint8), b.view(np.uint8), err_msg=path)
        else:
            assert_array_equal(a, b, err_msg=path)
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f"{path}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        for key in a:
            assert_same_state(a[key], b[key], f"{path}[{key!r}]")
    elif isinstance(a, np.random.RandomState):
        assert_same_state(a.get_state(), b.get_state(), path)
    elif isinstance(a, float | np.floating):
        assert a == b or (math.isnan(a) and math.isnan(b)), path
    elif hasattr(a, "__dict__"):
        assert_same_state(vars(a), vars(b), path)
    else:
        assert a == b, path


def round_trip(model):
    data = sio.dumps(model)
    untrusted = sio.get_untrusted_types(data=data)
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.loads(data)
    return sio.loads(data, trusted=untrusted), untrusted


@pytest.mark.parametrize(
    "case, build, partial_fit_continues", CASES, ids=[case[0] for case in CASES]
)
def test_skops_round_trip_predicts_and_continues_identically(
    case, build, partial_fit_continues
):
    model, X, y = build()
    loaded, untrusted = round_trip(model)

    assert untrusted and set(untrusted) <= FASTNN_TYPES
    if case == "regressor-every-activation-object":
        assert len(set(untrusted)) == 2 + len(ALL_ACTIVATIONS)
    assert_same_state(model, loaded)
    assert_array_equal(loaded.predict(X), model.predict(X), strict=True)
    if hasattr(model, "predict_proba"):
        assert_array_equal(loaded.predict_proba(X), model.predict_proba(X), strict=True)

    if partial_fit_continues:
        for m in (model, loaded):
            m.partial_fit(X, y)
        assert_same_state(model, loaded)
    for m in (model, loaded):
        m.set_params(warm_start=True, max_iter=2).fit(X, y)
    assert_same_state(model, loaded)
    assert_array_equal(loaded.predict(X), model.predict(X), strict=True)


def test_a_reloaded_model_trains_on_like_the_original_after_a_second_round_trip():
    # The loaded model is itself saved again: nothing is lost on the way.
    model, X, y = _partial_fit_in_progress()
    twice, _ = round_trip(round_trip(model)[0])
    for m in (model, twice):
        m.partial_fit(X, y)
    assert_same_state(model, twice)


def test_docs_list_exactly_fastnns_types_to_trust():
    text = PERSISTENCE_PAGE.read_text(encoding="utf-8")
    section = text.split("# Saving models safely")[1].split("\n## ")[0]
    listed = set(re.findall(r"`(fastnn\.[\w.]+)`", section))
    assert listed == FASTNN_TYPES
