"""Export fitted fastnn models to ONNX.

Needs the ``onnx`` extra (``pip install "fastnn-mlp[onnx]"``: onnx, skl2onnx,
onnxruntime).  :func:`to_onnx` registers converters for fastnn's estimators
with skl2onnx — every activation fastnn has, with its parameters and one per
layer — so fastnn models also convert inside pipelines with
:func:`skl2onnx.to_onnx`.  Classifiers produce skl2onnx's usual outputs (label
and probabilities, a ZipMap unless ``options={"zipmap": False}``);
regressors a ``(n_samples, n_outputs)`` tensor.
"""

from __future__ import annotations

import numpy as np

from ._classifier import MLPClassifier
from ._regressor import MLPRegressor
from .activations import ACTIVATION_CLASSES

__all__ = ["register_converters", "to_onnx"]


def to_onnx(estimator, X, *, options=None, target_opset=None):
    """Convert a fitted fastnn estimator to an ONNX model.

    Parameters
    ----------
    estimator : fitted MLPClassifier or MLPRegressor, or a pipeline of them
        The model to convert.
    X : ndarray of shape (n_samples, n_features)
        A sample input; its dtype (float32 or float64) sets the model's.
    options : dict, default=None
        skl2onnx conversion options, e.g. ``{"zipmap": False}``.
    target_opset : int, default=None
        ONNX opset; skl2onnx's latest supported when None.

    Returns
    -------
    model : onnx.ModelProto

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from fastnn import MLPClassifier
    >>> from fastnn.onnx import to_onnx
    >>> X = np.random.RandomState(0).normal(size=(50, 3)).astype(np.float32)
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = MLPClassifier(hidden_layer_sizes=(5,), activation="gelu",
    ...                     max_iter=5, random_state=0).fit(X, y)
    >>> onx = to_onnx(clf, X, options={"zipmap": False})
    >>> session = ort.InferenceSession(onx.SerializeToString())
    >>> label, proba = session.run(None, {"X": X[:3]})
    >>> bool(np.allclose(proba, clf.predict_proba(X[:3]), atol=1e-5))
    True
    """
    import skl2onnx

    register_converters()
    return skl2onnx.to_onnx(estimator, X, options=options, target_opset=target_opset)


def register_converters() -> None:
    """Teach skl2onnx to convert fastnn's estimators (idempotent).

    :func:`to_onnx` calls it; call it yourself before converting a pipeline
    that contains fastnn estimators with :func:`skl2onnx.to_onnx`.

    Examples
    --------
    >>> import numpy as np
    >>> import skl2onnx
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from fastnn import MLPRegressor
    >>> from fastnn.onnx import register_converters
    >>> X = np.random.RandomState(0).normal(size=(40, 3)).astype(np.float32)
    >>> pipe = make_pipeline(StandardScaler(), MLPRegressor(
    ...     hidden_layer_sizes=(4,), max_iter=3, random_state=0)).fit(X, X[:, 0])
    >>> register_converters()
    >>> onx = skl2onnx.to_onnx(pipe, X)
    >>> [o.name for o in onx.graph.output]
    ['variable']
    """
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
    )

    def classifier_shape(operator) -> None:
        from skl2onnx.common.data_types import Int64TensorType

        calculate_linear_classifier_output_shapes(operator)
        model = operator.raw_operator
        if model._label_binarizer.y_type_.startswith("multilabel"):
            # One 0/1 label per output, not one class per sample.
            n_rows = operator.inputs[0].get_first_dimension()
            operator.outputs[0].type = Int64TensorType([n_rows, model.n_outputs_])

    update_registered_converter(
        MLPClassifier,
        "FastnnMLPClassifier",
        classifier_shape,
        _convert_classifier,
        options={"zipmap": [True, False, "columns"], "nocl": [True, False]},
    )
    update_registered_converter(
        MLPRegressor, "FastnnMLPRegressor", _regressor_shape, _convert_regressor
    )


def _regressor_shape(operator) -> None:
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    input_type = operator.inputs[0].type
    cls = (
        DoubleTensorType
        if isinstance(input_type, DoubleTensorType)
        else FloatTensorType
    )
    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = cls([n_rows, operator.raw_operator.n_outputs_])


class _Graph:
    """Adds nodes and constants for one converter call, with unique names."""

    def __init__(self, scope, container, dtype):
        from skl2onnx.proto import onnx_proto

        self.scope, self.container = scope, container
        self.np_dtype = dtype
        self.proto = (
            onnx_proto.TensorProto.DOUBLE
            if dtype == np.float64
            else onnx_proto.TensorProto.FLOAT
        )

    def const(self, value, shape=None) -> str:
        value = np.asarray(value, dtype=self.np_dtype)
        name = self.scope.get_unique_variable_name("c")
        shape = list(value.shape) if shape is None else shape
        self.container.add_initializer(name, self.proto, shape, value.ravel())
        return name

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        out = self.scope.get_unique_variable_name(op_type.lower())
        self.container.add_node(
            op_type,
            inputs,
            out,
            name=self.scope.get_unique_operator_name(op_type),
            **attrs,
        )
        return out


def _activation(g: _Graph, x: str, name: str, p0: float, p1: float) -> str:
    """ONNX nodes computing fastnn's activation ``name`` of ``x``."""
    if name not in ACTIVATION_CLASSES:
        raise ValueError(f"no ONNX conversion for activation {name!r}")
    return ACTIVATION_CLASSES[name].onnx(g, x, p0, p1)


def _outputs(scope, operator, container) -> tuple[_Graph, str]:
    """Cast the input and run the network: the output layer's activations."""
    model = operator.raw_operator
    dtype = model.coefs_[0].dtype
    g = _Graph(scope, container, dtype)
    a = g.op("Cast", [operator.inputs[0].full_name], to=g.proto)
    for (w, b), (name, p0, p1) in zip(
        zip(model.coefs_, model.intercepts_), model._activation_specs()
    ):
        z = g.op("Add", [g.op("MatMul", [a, g.const(w)]), g.const(b, [1, b.size])])
        a = _activation(g, z, name, p0, p1)
    return g, a


def _convert_regressor(scope, operator, container) -> None:
    g, out = _outputs(scope, operator, container)
    container.add_node(
        "Identity",
        [out],
        operator.outputs[0].full_name,
        name=scope.get_unique_operator_name("Identity"),
    )


def _convert_classifier(scope, operator, container) -> None:
    from skl2onnx.proto import onnx_proto

    model = operator.raw_operator
    g, out = _outputs(scope, operator, container)
    label_name, proba_name = (o.full_name for o in operator.outputs[:2])
    multilabel = model._label_binarizer.y_type_.startswith("multilabel")
    if model.n_outputs_ == 1:
        # One logistic output: the probabilities of both classes.
        proba = g.op("Concat", [g.op("Sub", [g.const(1.0, []), out]), out], axis=1)
    else:
        proba = out
    container.add_node(
        "Identity", [proba], proba_name, name=scope.get_unique_operator_name("Identity")
    )
    if multilabel:
        above = g.op("Greater", [out, g.const(0.5, [])])
        container.add_node(
            "Cast",
            [above],
            label_name,
            to=onnx_proto.TensorProto.INT64,
            name=scope.get_unique_operator_name("Cast"),
        )
        return
    classes = model.classes_
    if np.issubdtype(classes.dtype, np.number) or classes.dtype == np.bool_:
        class_type = onnx_proto.TensorProto.INT64
        classes = classes.astype(np.int64)
    else:
        class_type = onnx_proto.TensorProto.STRING
        classes = np.array([str(c).encode("utf-8") for c in classes])
    classes_name = scope.get_unique_variable_name("classes")
    container.add_initializer(classes_name, class_type, classes.shape, classes)
    index = g.op("ArgMax", [proba], axis=1)
    picked = scope.get_unique_variable_name("picked")
    container.add_node(
        "ArrayFeatureExtractor",
        [classes_name, index],
        picked,
        op_domain="ai.onnx.ml",
        name=scope.get_unique_operator_name("AFE"),
    )
    shape = scope.get_unique_variable_name("shape")
    container.add_initializer(shape, onnx_proto.TensorProto.INT64, [1], [-1])
    container.add_node(
        "Reshape",
        [picked, shape],
        label_name,
        name=scope.get_unique_operator_name("Reshape"),
    )
