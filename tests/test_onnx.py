"""ONNX export: onnxruntime reproduces predict_proba / predict (float32)."""

import numpy as np
import pytest

onnxruntime = pytest.importorskip("onnxruntime")  # the `onnx` extra

from fastnn import MLPClassifier, MLPRegressor  # noqa: E402
from fastnn.activations import (  # noqa: E402
    ACTIVATIONS,
    ELU,
    Gaussian,
    HardTanh,
    LeakyReLU,
    PiecewiseLinear,
    Sigmoid,
)
from fastnn.onnx import to_onnx  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ACTIVATION_VALUES = [
    *sorted(ACTIVATIONS),
    Sigmoid(beta=2.5),
    PiecewiseLinear(-0.5, 2),
    Gaussian(0.3, 1.5),
    LeakyReLU(0.2),
    ELU(0.5),
    HardTanh(-0.5, 2.0),
    ["gelu", "tanh"],
]
TASKS = [
    "multiclass",
    "binary",
    "strings",
    "multilabel",
    "regression",
    "poisson",
    "gamma",
    "quantile",
]


def _session(model):
    onx = model if not hasattr(model, "SerializeToString") else model
    return onnxruntime.InferenceSession(onx.SerializeToString())


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("activation", ACTIVATION_VALUES, ids=str)
def test_onnxruntime_reproduces_the_model(activation, task):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    kwargs = dict(
        hidden_layer_sizes=(6, 5), activation=activation, max_iter=5, random_state=0
    )
    if task == "multiclass":
        model = MLPClassifier(**kwargs).fit(X, rng.randint(3, size=60))
    elif task == "binary":
        model = MLPClassifier(**kwargs).fit(X, rng.randint(2, size=60))
    elif task == "strings":
        model = MLPClassifier(**kwargs).fit(
            X, np.array(list("abc"))[rng.randint(3, size=60)]
        )
    elif task == "multilabel":
        model = MLPClassifier(**kwargs).fit(X, rng.randint(2, size=(60, 3)))
    elif task == "regression":
        model = MLPRegressor(**kwargs).fit(X, X[:, :2] @ [[1, 0], [-1, 2]])
    elif task == "poisson":
        model = MLPRegressor(loss="poisson", **kwargs).fit(X, rng.poisson(2, size=60))
    elif task == "gamma":  # exp output, like Poisson
        model = MLPRegressor(loss="gamma", **kwargs).fit(X, rng.gamma(2, size=60))
    else:
        model = MLPRegressor(loss="quantile", quantile=0.9, **kwargs).fit(X, X[:, 0])
    if isinstance(model, MLPClassifier):
        session = _session(to_onnx(model, X, options={"zipmap": False}))
        label, proba = session.run(None, {"X": X})
        np.testing.assert_allclose(proba, model.predict_proba(X), atol=1e-5)
        np.testing.assert_array_equal(
            np.asarray(label).astype(str), np.asarray(model.predict(X)).astype(str)
        )
    else:
        (pred,) = _session(to_onnx(model, X)).run(None, {"X": X})
        expected = model.predict(X).reshape(len(X), -1)
        np.testing.assert_allclose(pred, expected, atol=1e-5, rtol=1e-5)
