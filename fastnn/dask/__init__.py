"""Training and prediction on Dask: one model over a cluster's data.

:func:`fit` trains one L-BFGS model data-parallel, each evaluation summed
over the row blocks where they live; :func:`predict`, :func:`predict_proba`
and :func:`score` evaluate any fitted model block by block on the workers;
:func:`partial_fit_blocks` feeds the blocks of a ``dask.array`` to a
stochastic solver's ``partial_fit`` one at a time.

Needs the ``dask`` extra (``pip install "fastnn[dask]"``).  For
hyper-parameter search on a cluster no helper is needed: fastnn estimators
pickle, import on the workers and honour each worker's thread limits, so
``GridSearchCV`` runs under ``joblib.parallel_config(backend="dask")`` with a
``distributed.Client`` like any scikit-learn estimator.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._fit import fit
from ._predict import predict, predict_proba, score

__all__ = ["fit", "partial_fit_blocks", "predict", "predict_proba", "score"]


def partial_fit_blocks(
    estimator, X, y, *, classes=None, n_epochs: int = 1, **fit_params
):
    """Train with ``partial_fit`` block by block, one block in memory at a time.

    Each row block of ``X`` (with the matching block of ``y``) is computed —
    on the cluster when a ``distributed.Client`` is active — and passed to
    ``estimator.partial_fit``; the blocks are never concatenated.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor with solver 'sgd' or 'adam'
        Trained in place.
    X : dask.array.Array of shape (n_samples, n_features)
        Chunked along rows only (one chunk across the features); chunks
        may be NumPy arrays or SciPy sparse matrices.
    y : dask.array.Array of shape (n_samples,) or (n_samples, n_outputs)
        Chunked along rows like ``X``.
    classes : array-like, default=None
        All class labels, required for a classifier's first call.
    n_epochs : int, default=1
        Passes over all blocks.
    **fit_params : dict
        Passed unchanged to every ``partial_fit`` call.

    Returns
    -------
    estimator : the trained estimator

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from fastnn import MLPClassifier
    >>> from fastnn.dask import partial_fit_blocks
    >>> rng = np.random.RandomState(0)
    >>> X = da.from_array(rng.normal(size=(600, 4)), chunks=(200, 4))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = partial_fit_blocks(MLPClassifier(random_state=0), X, y,
    ...                          classes=[0, 1], n_epochs=2)
    >>> len(clf.loss_curve_)
    6
    """
    if X.numblocks[1] != 1:
        raise ValueError("X must be chunked along rows only (one column block).")
    if X.chunks[0] != y.chunks[0]:
        raise ValueError("X and y must have the same row chunks.")
    is_classifier = hasattr(estimator, "predict_proba")
    for _ in range(n_epochs):
        for i in range(X.numblocks[0]):
            X_block = X.blocks[i].compute()
            if not sp.issparse(X_block):  # SciPy sparse blocks go in as they are
                X_block = np.asarray(X_block)
            y_block = np.asarray(y.blocks[i].compute())
            if (
                is_classifier
                and classes is not None
                and not hasattr(estimator, "classes_")
            ):
                estimator.partial_fit(X_block, y_block, classes=classes, **fit_params)
            else:
                estimator.partial_fit(X_block, y_block, **fit_params)
    return estimator
