"""Stochastic training over the row blocks of dask collections."""

from __future__ import annotations

from numbers import Integral

from sklearn.base import is_classifier
from sklearn.utils._param_validation import Interval, validate_params

from ._fit import check_classes_argument
from ._inputs import check_same_rows, row_blocks


@validate_params(
    {"n_epochs": [Interval(Integral, 1, None, closed="left")]},
    prefer_skip_nested_validation=False,
)
def partial_fit_blocks(
    estimator, X, y, *, classes=None, n_epochs: int = 1, **fit_params
):
    """Train with ``partial_fit`` block by block, one block in memory at a time.

    Each row block of ``X`` (with the matching block of ``y``) is computed —
    on the cluster when a :class:`distributed.Client` is active — and passed to
    ``estimator.partial_fit``; the blocks are never concatenated.  Empty
    blocks are skipped.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor with solver 'sgd' or 'adam'
        Trained in place.
    X : dask.array.Array or dask.dataframe.DataFrame of shape \
            (n_samples, n_features)
        Chunked along rows only (one chunk across the features), with known
        chunk sizes; array chunks may be NumPy arrays or SciPy sparse
        matrices.
    y : dask.array.Array, dask.dataframe.Series or DataFrame of shape \
            (n_samples,) or (n_samples, n_outputs)
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
    import dask

    check_classes_argument(estimator, classes)
    Xb, yb = row_blocks(X, "X", 2), row_blocks(y, "y", None)
    check_same_rows(Xb, y=yb)
    for _ in range(n_epochs):
        for i in range(len(Xb.parts)):
            if Xb.rows is not None and not Xb.rows[i]:
                continue
            # pandas partitions stay pandas (feature names), SciPy sparse
            # blocks stay sparse: partial_fit takes them as they are.
            X_block, y_block = dask.compute(Xb.parts[i], yb.parts[i])
            if X_block.shape[0] != y_block.shape[0]:
                # A DataFrame's partition lengths are known once read.
                rows = (X_block.shape[0], y_block.shape[0])
                raise ValueError(
                    f"X and y must have the same row chunks; row block {i} has "
                    f"{rows[0]} rows of X and {rows[1]} of y."
                )
            if not X_block.shape[0]:
                continue
            if is_classifier(estimator) and not hasattr(estimator, "classes_"):
                estimator.partial_fit(X_block, y_block, classes=classes, **fit_params)
            else:
                estimator.partial_fit(X_block, y_block, **fit_params)
    return estimator
