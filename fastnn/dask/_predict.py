"""Lazy prediction and scoring of fitted models over dask collections.

Each row block is predicted by the model's own ``predict`` or
``predict_proba`` where the block lives; the model enters the graph once
(as one delayed object), not once per block.  Scores are reductions over
the blocks, so nothing larger than a block is ever held in one place.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils.validation import check_is_fitted


def predict(estimator, X):
    """Predict block by block where the data lives; returns a lazy array.

    Parameters
    ----------
    estimator : fitted MLPClassifier or MLPRegressor
        Fitted by ``fit``, :func:`fastnn.dask.fit` or ``partial_fit``.
    X : dask.array.Array or dask.dataframe.DataFrame of shape \
            (n_samples, n_features)
        Chunked along rows only.

    Returns
    -------
    y : dask.array.Array of shape (n_samples,) or (n_samples, n_outputs)
        ``estimator.predict`` of every row block, not yet computed.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from fastnn import MLPRegressor
    >>> from fastnn.dask import predict
    >>> X = np.random.RandomState(0).normal(size=(300, 3))
    >>> reg = MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs",
    ...                    random_state=0).fit(X, X[:, 0])
    >>> y = predict(reg, da.from_array(X, chunks=(100, 3)))
    >>> y.chunks
    ((100, 100, 100),)
    >>> bool(np.allclose(y.compute(), reg.predict(X)))
    True
    """
    return _map_rows(estimator, X, "predict")


def predict_proba(estimator, X):
    """Class probabilities block by block; returns a lazy array.

    Parameters
    ----------
    estimator : fitted MLPClassifier
    X : dask.array.Array or dask.dataframe.DataFrame of shape \
            (n_samples, n_features)
        Chunked along rows only.

    Returns
    -------
    proba : dask.array.Array of shape (n_samples, n_classes)
        ``estimator.predict_proba`` of every row block, not yet computed.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from fastnn import MLPClassifier
    >>> from fastnn.dask import predict_proba
    >>> X = np.random.RandomState(0).normal(size=(300, 3))
    >>> clf = MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs",
    ...                     random_state=0).fit(X, X[:, 0] > 0)
    >>> proba = predict_proba(clf, da.from_array(X, chunks=(100, 3)))
    >>> proba.shape
    (300, 2)
    >>> bool(np.allclose(proba.compute(), clf.predict_proba(X)))
    True
    """
    return _map_rows(estimator, X, "predict_proba")


def score(estimator, X, y, sample_weight=None):
    """The estimator's ``score`` over dask collections, as a lazy scalar.

    Accuracy (exact match of every label for multilabel targets) for a
    classifier, R² averaged over the outputs for a regressor, each weighted
    by ``sample_weight`` as scikit-learn weighs them.

    Parameters
    ----------
    estimator : fitted MLPClassifier or MLPRegressor
    X : dask.array.Array or dask.dataframe.DataFrame of shape \
            (n_samples, n_features)
        Chunked along rows only.
    y : dask.array.Array or dask.dataframe.Series of shape (n_samples,) \
            or (n_samples, n_outputs)
        True targets, chunked along rows like ``X``.
    sample_weight : dask.array.Array of shape (n_samples,), default=None
        Chunked along rows like ``X``.

    Returns
    -------
    score : dask.array.Array of shape ()
        Not yet computed; ``float(score.compute())`` is the number.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from fastnn import MLPRegressor
    >>> from fastnn.dask import score
    >>> X = np.random.RandomState(0).normal(size=(300, 3))
    >>> reg = MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs",
    ...                    random_state=0).fit(X, X[:, 0])
    >>> r2 = score(reg, da.from_array(X, chunks=(100, 3)),
    ...            da.from_array(X[:, 0], chunks=100))
    >>> bool(np.isclose(float(r2.compute()), reg.score(X, X[:, 0])))
    True
    """
    import dask.array as da

    y_pred = predict(estimator, X)
    y = _as_array(y)
    if y.ndim == 2 and y.shape[1] == 1 and y_pred.ndim == 1:
        y = y[:, 0]
    weights = None if sample_weight is None else _as_array(sample_weight)
    if is_classifier(estimator):
        correct = y_pred == y
        if correct.ndim == 2:
            correct = correct.all(axis=1)
        if weights is None:
            return correct.mean()
        return (weights * correct).sum() / weights.sum()
    if weights is None:
        weights = da.ones_like(y[:, 0] if y.ndim == 2 else y, dtype=np.float64)
    w = weights[:, None] if y.ndim == 2 else weights
    mean = (w * y).sum(axis=0) / weights.sum()
    numerator = (w * (y - y_pred) ** 2).sum(axis=0)
    denominator = (w * (y - mean) ** 2).sum(axis=0)
    # scikit-learn's force_finite rule: a constant target scores 1 when
    # predicted exactly, 0 otherwise.
    safe = da.where(denominator != 0, denominator, 1.0)
    per_output = da.where(
        denominator != 0,
        1 - numerator / safe,
        da.where(numerator != 0, 0.0, 1.0),
    )
    return per_output.mean()


def _as_array(data):
    import dask.array as da

    if hasattr(data, "to_dask_array"):  # dask DataFrame or Series
        # Partition lengths stay unknown: knowing them means reading every
        # partition now, and again when the result is computed.
        return data.to_dask_array()
    return data if isinstance(data, da.Array) else da.asarray(data)


def _map_rows(estimator, X, method: str):
    import dask
    import dask.array as da

    check_is_fitted(estimator)
    columns = None
    if hasattr(X, "to_dask_array"):
        # Blocks go back to DataFrames so that feature names are checked.
        columns = list(X.columns)
    X = _as_array(X)
    if X.ndim != 2:
        raise ValueError(f"Expected 2D array, got {X.ndim}D array instead.")
    if X.numblocks[1] != 1:
        raise ValueError(
            "X must be chunked along rows only (one block across the columns); "
            f"got column chunks {X.chunks[1]}. Rechunk with X.rechunk({{1: -1}})."
        )
    # One row through the model gives the output's dtype and width.
    probe = _run_block(
        np.zeros((1, X.shape[1]), dtype=X.dtype), estimator, method, columns
    )
    chunks = (X.chunks[0],) if probe.ndim == 1 else (X.chunks[0], (probe.shape[1],))
    return da.map_blocks(
        _run_block,
        X,
        dask.delayed(estimator, pure=True),
        method,
        columns,
        dtype=probe.dtype,
        chunks=chunks,
        drop_axis=1 if probe.ndim == 1 else None,
        meta=np.empty((0,) * probe.ndim, dtype=probe.dtype),
    )


def _run_block(block, estimator, method: str, columns):
    if block.shape[0] == 0:
        # scikit-learn refuses empty input; an empty block predicts nothing.
        return _run_block(
            np.zeros((1, block.shape[1]), block.dtype), estimator, method, columns
        )[:0]
    if columns is not None:
        import pandas as pd

        block = pd.DataFrame(block, columns=columns)
    return getattr(estimator, method)(block)
