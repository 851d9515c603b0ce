"""Input sensitivities summarised the way scikit-learn reports importances.

The per-sample gradients come from the model's own ``input_gradient`` (the
engine's backward kernels); this module only carries them back through the
linear steps of a pipeline and summarises them over the samples.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import is_classifier
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    RobustScaler,
    StandardScaler,
)
from sklearn.utils import Bunch
from sklearn.utils._param_validation import StrOptions, validate_params
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from .._base import BaseMultilayerPerceptron

# Elementwise per-sample transforms of the gradient g; the summary over
# samples is always the (weighted) mean and standard deviation of these.
_REDUCE = {
    "mean_abs": np.abs,
    "mean": lambda g: g,
    "mean_squared": np.square,
}

_LINEAR_STEPS = "StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler, PCA"


def _step_jacobian(name: str, step) -> np.ndarray | None:
    """d(step output)/d(step input): a diagonal as 1-D, a matrix as 2-D.

    None for an identity step.  Raises for a step that is not an affine map
    of its input.
    """
    if step is None or step == "passthrough":
        return None
    # MaxAbsScaler has no clip before scikit-learn 1.8.
    if isinstance(step, (MinMaxScaler, MaxAbsScaler)) and getattr(step, "clip", False):
        raise ValueError(
            f"Cannot differentiate through step {name!r}: "
            f"{type(step).__name__}(clip=True) is not linear outside the "
            "training range."
        )
    if isinstance(step, MinMaxScaler):
        return step.scale_
    if isinstance(step, (StandardScaler, MaxAbsScaler, RobustScaler)):
        # scale_ is None when the step does not scale (with_std=False, ...).
        return None if step.scale_ is None else 1.0 / step.scale_
    if type(step) is PCA:
        jacobian = step.components_
        if step.whiten:
            # PCA clips tiny variances the same way before dividing.
            scale = np.sqrt(step.explained_variance_)
            scale = np.maximum(scale, np.finfo(scale.dtype).eps)
            jacobian = jacobian / scale[:, None]
        return jacobian
    raise ValueError(
        f"Cannot differentiate through step {name!r} "
        f"({type(step).__name__}): input_sensitivity supports pipelines whose "
        f"steps before the model are {_LINEAR_STEPS} or 'passthrough'."
    )


def _split_model(estimator) -> tuple[list, BaseMultilayerPerceptron]:
    """The pipeline's preprocessing steps and its fastnn model."""
    steps = []
    model = estimator
    if isinstance(estimator, Pipeline):
        steps = list(estimator.steps[:-1])
        model = estimator.steps[-1][1]
    if not isinstance(model, BaseMultilayerPerceptron):
        raise TypeError(
            "input_sensitivity needs a fastnn MLPClassifier or MLPRegressor, "
            f"or a Pipeline ending in one; got {type(model).__name__}."
        )
    check_is_fitted(model)
    return steps, model


def _input_gradients(estimator, X, y=None) -> np.ndarray:
    """Per-sample gradients with respect to the estimator's own input.

    ``(n_samples, n_features)`` of each sample's loss with ``y``, else
    ``(n_samples, n_outputs, n_features)`` of the outputs.
    """
    steps, model = _split_model(estimator)
    jacobians = [_step_jacobian(name, step) for name, step in steps]
    Xt = estimator[:-1].transform(X) if steps else X
    gradient = model.input_gradient(Xt, y)
    # Chain rule, from the model back to the pipeline's input.
    for jacobian in reversed(jacobians):
        if jacobian is None:
            continue
        if jacobian.ndim == 1:
            gradient = gradient * jacobian.astype(gradient.dtype, copy=False)
        else:
            gradient = gradient @ jacobian.astype(gradient.dtype, copy=False)
    return gradient


def _summarize(gradient: np.ndarray, sample_weight, reduce: str) -> Bunch:
    """Bunch of the reduced per-sample values, features before samples."""
    values = _REDUCE[reduce](gradient)
    mean = np.average(values, axis=0, weights=sample_weight)
    std = np.sqrt(np.average((values - mean) ** 2, axis=0, weights=sample_weight))
    # (n_samples, [n_outputs,] n_features) -> ([n_outputs,] n_features, n_samples)
    importances = np.ascontiguousarray(np.moveaxis(values, 0, -1))
    return Bunch(importances_mean=mean, importances_std=std, importances=importances)


def _check_inputs(estimator, X, y, sample_weight):
    """Gradients and validated weights; shared by the function and Display.

    The gradients keep their output axis without ``y``, even of size one.
    """
    _split_model(estimator)
    if sample_weight is not None:
        sample_weight = _check_sample_weight(sample_weight, X)
    return _input_gradients(estimator, X, y), sample_weight


@validate_params(
    {
        "estimator": [BaseMultilayerPerceptron, Pipeline],
        "X": ["array-like"],
        "y": ["array-like", None],
        "sample_weight": ["array-like", None],
        "reduce": [StrOptions(set(_REDUCE))],
    },
    prefer_skip_nested_validation=True,
)
def input_sensitivity(
    estimator, X, y=None, *, sample_weight=None, reduce: str = "mean_abs"
) -> Bunch:
    """Sensitivity of the loss, or of each output, to every input feature.

    The gradient of a fitted fastnn model with respect to its input, per
    sample, summarised over the samples like
    :func:`sklearn.inspection.permutation_importance` summarises its
    repeats.  With ``y`` it is the gradient of each sample's own loss (the
    loss training follows, unit weight, no penalty term: ∂C/∂a of the
    input layer); without ``y`` it is the gradient of each
    output of the network.

    Read more in the :doc:`User Guide </user_guide/inspection>`.

    Parameters
    ----------
    estimator : fitted MLPClassifier, MLPRegressor or Pipeline
        A fastnn model, or a fitted :class:`~sklearn.pipeline.Pipeline` whose
        last step is one and whose other steps are StandardScaler,
        MinMaxScaler, MaxAbsScaler, RobustScaler, PCA or ``'passthrough'``:
        affine maps, so the gradients are carried back to the pipeline's
        input by the chain rule.  Any other step raises a ValueError.
    X : array-like of shape (n_samples, n_features)
        Dense input, as the estimator's ``predict`` takes it.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs), \
            default=None
        Targets.  When given, the sensitivity of each sample's loss;
        otherwise of the outputs.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the samples in the mean and standard deviation (the
        gradients themselves are of the unweighted loss).
    reduce : {"mean_abs", "mean", "mean_squared"}, default="mean_abs"
        What is averaged over the samples, for each gradient entry g:

        - ``"mean_abs"``: ``|g|``, how strongly the feature moves the loss or
          output, whatever the direction;
        - ``"mean"``: ``g``, signed, so effects of opposite sign cancel;
        - ``"mean_squared"``: ``g**2``, which weighs large gradients more.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        importances_mean : ndarray of shape (n_features,)
            Weighted mean over the samples of the reduced gradient.
        importances_std : ndarray of shape (n_features,)
            Weighted standard deviation over the samples.
        importances : ndarray of shape (n_features, n_samples)
            The reduced gradient of every sample.

        Without ``y`` a model with several outputs gets one more leading
        axis of size ``n_outputs`` on each array (``importances_mean`` of
        shape (n_outputs, n_features), ...): output ``k`` is the
        probability of ``classes_[k]`` for a multiclass or multilabel
        classifier, column ``k`` of the prediction for a regressor.  Models
        with one output (single-output regressors; binary classifiers,
        whose output is the probability of ``classes_[1]``) keep the
        shapes above.

    See Also
    --------
    SensitivityDisplay : Bar chart or heat map of the sensitivities.
    sklearn.inspection.permutation_importance : Importance of the features
        by shuffling them, for any estimator.

    Examples
    --------
    >>> import numpy as np
    >>> from fastnn import MLPRegressor
    >>> from fastnn.inspection import input_sensitivity
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 4))
    >>> y = X[:, 0] + 2 * X[:, 1]
    >>> reg = MLPRegressor(hidden_layer_sizes=(16,), max_iter=300,
    ...                    random_state=0).fit(X, y)
    >>> result = input_sensitivity(reg, X)
    >>> result.importances.shape
    (4, 200)
    >>> [int(j) for j in result.importances_mean.argsort()[::-1]]
    [1, 0, 2, 3]
    """
    gradient, sample_weight = _check_inputs(estimator, X, y, sample_weight)
    if gradient.ndim == 3 and gradient.shape[1] == 1:
        gradient = gradient[:, 0]
    return _summarize(gradient, sample_weight, reduce)


def _output_index(estimator, target) -> tuple[int, float]:
    """Which output column ``target`` names, and the sign to apply to it.

    A binary classifier has one output, the probability of ``classes_[1]``;
    the probability of ``classes_[0]`` is one minus it, so its gradient is
    the negated gradient.
    """
    _, model = _split_model(estimator)
    if is_classifier(model):
        classes = list(model.classes_)
        if target not in classes:
            raise ValueError(f"target={target!r} is not one of the classes {classes}.")
        index = classes.index(target)
        if model.n_outputs_ == 1:
            return 0, 1.0 if index == 1 else -1.0
        return index, 1.0
    if not isinstance(target, (int, np.integer)) or not (
        0 <= target < model.n_outputs_
    ):
        raise ValueError(
            f"target={target!r} must be an output index in "
            f"[0, {model.n_outputs_ - 1}] for this regressor."
        )
    return int(target), 1.0
