"""Finite-difference check of the backpropagated parameter gradients."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_is_fitted,
)

from . import _engine, _network
from ._threads import engine_threads


def check_gradients(
    estimator,
    X,
    y,
    *,
    sample_weight=None,
    epsilon: float = 1e-6,
    max_parameters: int | None = 500,
    random_state=0,
) -> float:
    """Compare backpropagation with central finite differences.

    Evaluates, at a fitted estimator's current weights and in float64, the
    gradient of its training objective (loss plus L2 penalty, as ``fit``
    optimises it) by fastnn's backward kernels and by central differences
    of the objective, and returns the worst disagreement.

    Parameters
    ----------
    estimator : fitted MLPClassifier or MLPRegressor
        The model whose weights and settings (activations, loss, alpha) are
        checked; it is not modified.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Input data.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.
    epsilon : float, default=1e-6
        Step of the central differences.
    max_parameters : int or None, default=500
        Check at most this many parameters, drawn at random (each costs two
        evaluations of the objective); None checks all.
    random_state : int, RandomState instance or None, default=0
        Draws the checked parameters.

    Returns
    -------
    error : float
        ``max |g_backprop - g_fd| / max(|g_backprop|, |g_fd|)`` over the
        checked parameters (maxima over entries; 0 when both vanish).
        Around 1e-8 or less means the gradients agree; the unit step's
        surrogate gradient, for one, does not.

    Raises
    ------
    ValueError
        When the objective or a gradient is not finite at these weights:
        nothing can then be said of the gradients.

    Examples
    --------
    >>> import numpy as np
    >>> from fastnn import MLPClassifier, check_gradients
    >>> rng = np.random.RandomState(0)
    >>> X, y = rng.normal(size=(60, 4)), rng.randint(3, size=60)
    >>> clf = MLPClassifier(hidden_layer_sizes=(8,), activation="tanh",
    ...                     max_iter=5, random_state=0).fit(X, y)
    >>> bool(check_gradients(clf, X, y) < 1e-6)
    True
    """
    check_is_fitted(estimator)
    X = _network.checked_validation(
        X, lambda X: check_array(X, accept_sparse=["csr", "csc"], dtype=np.float64)
    )
    if X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} is "
            f"expecting {estimator.n_features_in_} features as input."
        )
    X = X.tocsr() if sp.issparse(X) else X
    n_samples = X.shape[0]
    Y = estimator._encode_targets(y, n_samples, np.float64)
    sw = _check_sample_weight(sample_weight, X, dtype=np.float64)
    params, units, specs = _network.snapshot(estimator, X.shape[1], np.float64)
    # The L2 penalty reads the coefficients, which come first.
    n_coef = _network.param_slices(units)[1][0].start
    alpha = float(estimator.alpha)
    loss = estimator._loss()

    with engine_threads() as n_threads:
        trainer = estimator._engine_spec(units, specs).trainer(
            params, min(n_samples, _network.EVALUATION_ROWS), n_threads
        )
        X_in = _engine.InputMatrix(X)
        backprop = np.empty_like(params)
        loss_value = trainer.loss_gradient(X_in, Y, sw, alpha, backprop)

        def objective() -> float:
            value = trainer.evaluate_loss(X_in, Y, sw, alpha)
            if loss.averages_outputs:
                # scikit-learn reports the squared error averaged over the
                # outputs but descends the gradient of its sum.
                penalty = 0.5 * alpha * np.dot(params[:n_coef], params[:n_coef])
                penalty /= sw.sum()
                value = (value - penalty) * Y.shape[1] + penalty
            return value

        indices = np.arange(params.size)
        if max_parameters is not None and params.size > max_parameters:
            rng = check_random_state(random_state)
            indices = np.sort(rng.choice(params.size, max_parameters, replace=False))
        numeric = np.empty(indices.size)
        for n, i in enumerate(indices):
            original = params[i]
            params[i] = original + epsilon
            upper = objective()
            params[i] = original - epsilon
            lower = objective()
            params[i] = original
            numeric[n] = (upper - lower) / (2 * epsilon)

    analytic = backprop[indices]
    if not (np.isfinite(loss_value) and np.isfinite(analytic).all()):
        raise ValueError(
            "The objective is not finite at the estimator's weights "
            f"(loss={loss_value}): gradients cannot be compared."
        )
    if not np.isfinite(numeric).all():
        raise ValueError(
            "The objective is not finite within epsilon of the estimator's "
            f"weights (epsilon={epsilon}): gradients cannot be compared."
        )
    scale = max(np.abs(analytic).max(), np.abs(numeric).max())
    return float(np.abs(analytic - numeric).max() / scale) if scale > 0 else 0.0
