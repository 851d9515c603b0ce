"""Data-parallel L-BFGS on a Dask cluster: one model, data where it lives.

Design
------
The row blocks of ``X``, ``y`` and ``sample_weight`` are checked and encoded
on the workers once (finite values, labels, class weights, the engine's
dtype) and stay there as futures, spread so that no worker holds more than
its share of the rows.  SciPy's L-BFGS-B runs in the client with
the estimator's own options (:meth:`_minimize_lbfgs`, shared with ``fit``);
each of its evaluations sends the flat parameters to the cluster once, runs
the engine's :meth:`Trainer.gradient_sums` once per block where the block
lives (GIL released) and adds the blocks' sums in a tree (eight-way) fixed by
the block indices.  The client gets O(parameters) back and finishes the sums
with :meth:`Trainer.mean_loss_gradient`, the same compiled code that ends a
local evaluation: the chunking changes only rounding, and neither placement
nor recomputation after a lost worker changes anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import is_classifier
from sklearn.exceptions import DataConversionWarning
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import _check_feature_names, _check_n_features

from .._base import _LBFGS_CHUNK_ROWS
from .._callbacks import FitTask
from .._threads import engine_threads
from .._warnings import warn


def fit(estimator, X, y, *, sample_weight=None, classes=None):
    """Train an L-BFGS estimator on data spread over a Dask cluster.

    Every L-BFGS evaluation runs where the data lives: the flat parameters
    are broadcast to the workers, the compiled engine computes each row
    block's loss and gradient sums there, and the sums are added in a tree
    whose shape depends on the block indices only.  The result is the model
    ``estimator.fit`` gives on the concatenated data, up to rounding, for
    any chunking, placement or worker failure.

    Needs a ``distributed.Client`` (the current one is used).

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor with ``solver='lbfgs'``
        Trained in place.  Stochastic solvers train block by block with
        :func:`partial_fit_blocks` instead.
    X : dask.array.Array or dask.dataframe.DataFrame of shape \
            (n_samples, n_features)
        Chunked along rows only.
    y : dask.array.Array, dask.dataframe.Series or DataFrame of shape \
            (n_samples,) or (n_samples, n_outputs)
        Chunked along rows like ``X``.
    sample_weight : dask.array.Array or dask.dataframe.Series of shape \
            (n_samples,), default=None
        Chunked along rows like ``X``.
    classes : array-like, default=None
        A classifier's labels.  Discovered from ``y`` on the cluster when
        not given; labels of ``y`` outside ``classes`` are an error.

    Returns
    -------
    estimator : the fitted estimator

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from distributed import Client
    >>> from fastnn import MLPClassifier
    >>> from fastnn.dask import fit
    >>> client = Client(processes=False, n_workers=2, threads_per_worker=1,
    ...                 dashboard_address=None)
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(600, 4))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
    ...                     max_iter=50, random_state=0)
    >>> clf = fit(clf, da.from_array(X, chunks=(200, 4)),
    ...           da.from_array(y, chunks=200))
    >>> local = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
    ...                       max_iter=50, random_state=0).fit(X, y)
    >>> bool(np.allclose(clf.coefs_[0], local.coefs_[0], rtol=1e-6))
    True
    >>> client.close()
    """
    if estimator.solver != "lbfgs":
        raise ValueError(
            f"fastnn.dask.fit trains solver='lbfgs' estimators; got "
            f"solver={estimator.solver!r}. Train a stochastic solver block by "
            "block with fastnn.dask.partial_fit_blocks."
        )
    estimator._validate_params()
    hidden = estimator._hidden_layer_sizes()
    client = _current_client()
    X, feature_meta = _rows_array(X, "X", 2)
    y, _ = _rows_array(y, "y", None)
    if sample_weight is not None:
        sample_weight, _ = _rows_array(sample_weight, "sample_weight", 1)
    _check_row_chunks(X, y, sample_weight)
    classifier = is_classifier(estimator)
    if y.ndim == 2 and y.shape[1] == 1:
        warn(
            "A column-vector y was passed when a 1d array was expected. Please "
            "change the shape of y to (n_samples, ), for example using ravel().",
            DataConversionWarning,
        )
        y = y[:, 0]
    if not classifier and not np.issubdtype(y.dtype, np.number):
        raise ValueError(f"y must be numeric for a regressor; got dtype {y.dtype}.")

    first_pass = not (estimator.warm_start and hasattr(estimator, "coefs_"))
    _check_feature_names(estimator, feature_meta, reset=first_pass)
    _check_n_features(estimator, X, reset=first_pass)
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    n_outputs = None if classifier else (1 if y.ndim == 1 else y.shape[1])

    blocks = _Blocks(client, X, y, sample_weight)
    try:
        summaries = blocks.summarise(classifier, estimator.loss)
        if classifier:
            _set_classes(estimator, summaries, classes, first_pass, y.ndim == 2)
            n_outputs = len(estimator._label_binarizer.classes_)
            if estimator._label_binarizer.y_type_ == "binary":
                n_outputs = 1
            class_weights = _class_weights(estimator, summaries)
        else:
            class_weights = None
        layer_units = [X.shape[1], *hidden, n_outputs]
        if not first_pass and estimator._layer_units() != layer_units:
            raise ValueError(
                "warm_start needs the layer sizes of the previous fit "
                f"{estimator._layer_units()}; got {layer_units}."
            )
        estimator.n_outputs_ = n_outputs
        estimator._start_fit(layer_units, dtype, first_pass)
        blocks.encode(estimator if classifier else None, class_weights, dtype)
        task = FitTask(estimator, X, y, sample_weight, 0)
        _fit_lbfgs(estimator, blocks, layer_units, dtype)
        task.end()
    finally:
        # Also on Ctrl-C: the persisted blocks are released on the cluster.
        blocks.release()
    if not all(np.isfinite(w).all() for w in estimator.coefs_ + estimator.intercepts_):
        raise ValueError(
            "Solver produced non-finite parameter weights. The input data may"
            " contain large values and need to be preprocessed."
        )
    return estimator


def _current_client():
    try:
        from distributed import default_client
    except ImportError as exc:  # pragma: no cover - the dask extra is missing
        raise ImportError(
            'fastnn.dask.fit needs distributed: pip install "fastnn[dask]"'
        ) from exc
    try:
        return default_client()
    except ValueError as exc:
        raise ValueError(
            "fastnn.dask.fit needs a distributed.Client; start one (for "
            "example Client(), a LocalCluster) before calling it."
        ) from exc


def _rows_array(data, name: str, ndim: int | None):
    """A dask array with known row chunks, and what feature names need."""
    import dask.array as da

    meta = None
    if hasattr(data, "to_dask_array"):  # dask DataFrame or Series
        meta = getattr(data, "_meta", None)
        data = data.to_dask_array(lengths=True)
    if not isinstance(data, da.Array):
        raise TypeError(
            f"{name} must be a dask array or dask DataFrame/Series; got "
            f"{type(data).__name__}. Use estimator.fit for in-memory data."
        )
    if ndim is not None and data.ndim != ndim:
        raise ValueError(
            f"Expected {ndim}D array for {name}, got {data.ndim}D array instead."
        )
    if data.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1D or 2D; got {data.ndim}D.")
    if any(np.isnan(c) for c in data.chunks[0]):
        raise ValueError(f"{name} has unknown row chunk sizes.")
    if data.ndim == 2 and data.numblocks[1] != 1:
        raise ValueError(
            f"{name} must be chunked along rows only (one block across the "
            f"columns); got column chunks {data.chunks[1]}. Rechunk with "
            f"{name}.rechunk({{1: -1}})."
        )
    if name == "X" and not (
        np.issubdtype(data.dtype, np.floating) or np.issubdtype(data.dtype, np.integer)
    ):
        raise ValueError(f"X must be numeric; got dtype {data.dtype}.")
    return data, (data if meta is None else meta)


def _check_row_chunks(X, y, sample_weight) -> None:
    if X.shape[0] == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape=(0, {X.shape[1]})) while a "
            "minimum of 1 is required."
        )
    for name, other in (("y", y), ("sample_weight", sample_weight)):
        if other is not None and other.chunks[0] != X.chunks[0]:
            raise ValueError(
                f"X and {name} must have the same row chunks; got "
                f"{X.chunks[0]} and {other.chunks[0]}."
            )


@dataclass
class _Summary:
    """What the client needs to know about one row block."""

    n_rows: int
    bad: str | None  # the first problem found, or None
    labels: list  # per output column: (unique labels, counts); classifiers
    label_rows: np.ndarray | None  # distinct rows of a 2-D classifier target


def _summarise_block(Xb, yb, swb, classifier: bool, loss: str) -> _Summary:
    if not np.isfinite(Xb).all():
        return _Summary(len(Xb), "X contains NaN or infinity", [], None)
    if swb is not None and not np.isfinite(swb).all():
        return _Summary(len(Xb), "sample_weight contains NaN or infinity", [], None)
    if not classifier:
        if not np.isfinite(yb).all():
            return _Summary(len(Xb), "y contains NaN or infinity", [], None)
        if loss == "poisson" and np.any(yb < 0):
            return _Summary(
                len(Xb),
                "Some value(s) of y are negative which is not allowed for "
                "loss='poisson'",
                [],
                None,
            )
        return _Summary(len(Xb), None, [], None)
    columns = yb.reshape(len(yb), -1).T
    labels = [np.unique(c, return_counts=True) for c in columns]
    rows = np.unique(yb, axis=0) if yb.ndim == 2 and len(yb) else None
    return _Summary(len(Xb), None, labels, rows)


@dataclass
class _Block:
    """One row block in the engine's form, kept on a worker."""

    X: np.ndarray
    Y: np.ndarray
    sample_weight: np.ndarray


def _encode_block(Xb, yb, swb, estimator, class_weights, dtype) -> _Block:
    Xb = np.asarray(Xb)
    if Xb.dtype != dtype or not (Xb.flags.c_contiguous or Xb.flags.f_contiguous):
        Xb = np.ascontiguousarray(Xb, dtype=dtype)
    if estimator is not None:
        Y = estimator._binarize(yb, dtype)
    else:
        Y = np.ascontiguousarray(np.reshape(yb, (len(yb), -1)), dtype=dtype)
    sw = np.ones(len(Xb), dtype=dtype) if swb is None else np.asarray(swb, dtype)
    if class_weights is not None:
        columns = np.reshape(yb, (len(yb), -1)).T
        per_output = [
            weights[np.searchsorted(labels, column)]
            for (labels, weights), column in zip(class_weights, columns)
        ]
        weight = np.prod(per_output, axis=0, dtype=np.float64).astype(dtype)
        sw = weight if swb is None else weight * sw
    return _Block(Xb, np.ascontiguousarray(Y), np.ascontiguousarray(sw))


class _Blocks:
    """The row blocks of one fit on the cluster, as futures."""

    def __init__(self, client, X, y, sample_weight) -> None:
        self.client = client
        self.row_starts = np.concatenate([[0], np.cumsum(X.chunks[0])])
        n = X.numblocks[0]
        self.raw = [
            X.to_delayed().ravel(),
            y.to_delayed().ravel(),
            [None] * n if sample_weight is None else sample_weight.to_delayed(),
        ]
        self.X_f = self.y_f = self.sw_f = None
        self.futures = []
        self.workers: list = []

    def _block_name(self, i: int) -> str:
        return f"row block {i} (rows {self.row_starts[i]} to {self.row_starts[i + 1]})"

    def summarise(self, classifier: bool, loss: str) -> list[_Summary]:
        """Persist the raw blocks and check them; errors name the first bad block."""
        X_parts, y_parts, sw_parts = self.raw
        self.X_f = self.client.compute(list(X_parts))
        self.y_f = self.client.compute(list(y_parts))
        self.sw_f = [None if p is None else self.client.compute(p) for p in sw_parts]
        summaries = self.client.gather(
            [
                self.client.submit(
                    _summarise_block, xb, yb, swb, classifier, loss, pure=False
                )
                for xb, yb, swb in zip(self.X_f, self.y_f, self.sw_f)
            ]
        )
        for i, summary in enumerate(summaries):
            if summary.bad is not None:
                raise ValueError(f"Input {summary.bad} in {self._block_name(i)}.")
        return summaries

    def encode(self, estimator, class_weights, dtype) -> None:
        """Put every block in the engine's form; the raw blocks are let go."""
        self.workers = self._balanced_placement()
        self.futures = [
            _submit_on(
                self.client,
                worker,
                _encode_block,
                xb,
                yb,
                swb,
                estimator,
                class_weights,
                dtype,
            )
            for xb, yb, swb, worker in zip(self.X_f, self.y_f, self.sw_f, self.workers)
        ]
        self.X_f = self.y_f = self.sw_f = None

    def _balanced_placement(self) -> list:
        """A worker for each block: where it is, unless that worker has more
        than its share of the rows.

        Every evaluation waits for the busiest worker, and the scheduler may
        have put five blocks of eight on one of two workers; moving the
        excess once evens the work of every evaluation after it.
        """
        workers = sorted(self.client.scheduler_info()["workers"])
        if len(workers) < 2:
            return [None] * len(self.X_f)
        holders = self.client.who_has(self.X_f)
        rows = np.diff(self.row_starts)
        share = rows.sum() / len(workers)
        load = dict.fromkeys(workers, 0)
        placement: list = [None] * len(rows)
        for i, future in enumerate(self.X_f):
            for worker in holders.get(future.key, ()):
                if worker in load and load[worker] + rows[i] / 2 <= share:
                    placement[i] = worker
                    load[worker] += rows[i]
                    break
        for i in np.argsort(-rows, kind="stable"):
            if placement[i] is None:
                worker = min(workers, key=load.__getitem__)
                placement[i] = worker
                load[worker] += rows[i]
        return placement

    def release(self) -> None:
        held = list(self.futures)
        for group in (self.X_f, self.y_f, self.sw_f):
            held.extend(f for f in group or () if f is not None)
        self.futures = []
        self.X_f = self.y_f = self.sw_f = None
        if held:
            self.client.cancel(held)


def _set_classes(estimator, summaries, classes, first_pass: bool, two_d: bool):
    found = [s for s in summaries if s.n_rows]
    if two_d:
        # A 2-D target: the binarizer learns its type from the distinct rows.
        rows = np.unique(np.concatenate([s.label_rows for s in found]), axis=0)
        check_classification_targets(rows)
        labels_seen, fit_on = unique_labels(rows), rows
    else:
        labels_seen = np.unique(np.concatenate([s.labels[0][0] for s in found]))
        check_classification_targets(labels_seen)
        fit_on = labels_seen
    if classes is not None:
        classes = np.unique(np.asarray(classes))
        if len(np.setdiff1d(labels_seen, classes)):
            raise ValueError(
                f"`y` has labels not in `classes`: `classes` is {classes}, `y` "
                f"has {labels_seen}."
            )
        if fit_on is labels_seen:
            fit_on = classes
    if not first_pass:
        if set(labels_seen) != set(estimator.classes_):
            raise ValueError(
                "warm_start can only be used where `y` has the same classes as "
                f"in the previous call to fit. Previously got "
                f"{estimator.classes_}, `y` has {labels_seen}"
            )
        return
    estimator._label_binarizer = LabelBinarizer().fit(fit_on)
    estimator.classes_ = estimator._label_binarizer.classes_


def _class_weights(estimator, summaries):
    """Per output column: (labels, weight of each label), from global counts."""
    class_weight = estimator.class_weight
    if class_weight is None:
        return None
    found = [s for s in summaries if s.n_rows]
    n_columns = len(found[0].labels)
    result = []
    for k in range(n_columns):
        labels = np.unique(np.concatenate([s.labels[k][0] for s in found]))
        counts = np.zeros(len(labels))
        for s in found:
            block_labels, block_counts = s.labels[k]
            counts[np.searchsorted(labels, block_labels)] += block_counts
        weight_k = class_weight
        if class_weight != "balanced" and n_columns > 1:
            weight_k = class_weight[k]
        # scikit-learn's own rule; the counts stand in for the whole column.
        weights = compute_class_weight(
            weight_k, classes=labels, y=labels, sample_weight=counts
        )
        result.append((labels, np.asarray(weights, dtype=np.float64)))
    return result


def _block_sums(block: _Block, spec: tuple, params: np.ndarray):
    """Sample-weighted loss, weight and raw gradient sums of one block."""
    layer_units, activations, loss, loss_param = spec
    from .. import _engine

    sums = np.zeros(params.shape[0], dtype=params.dtype)
    n_rows = block.X.shape[0]
    if n_rows == 0:
        return 0.0, 0.0, sums.astype(np.float64)
    with engine_threads() as n_threads:
        trainer = _engine.Trainer(
            layer_units,
            params.copy(),
            (),
            min(n_rows, _LBFGS_CHUNK_ROWS),
            activations,
            loss,
            n_threads,
            loss_param,
        )
        weighted_loss, sw_sum = trainer.gradient_sums(
            _engine.InputMatrix(block.X), block.Y, block.sample_weight, sums
        )
    return weighted_loss, sw_sum, sums.astype(np.float64)


def _parameters(params: np.ndarray) -> np.ndarray:
    return params


_FAN_IN = 8


def _add_sums(*parts):
    """The sums of consecutive blocks, added left to right."""
    total = parts[0]
    for part in parts[1:]:
        total = total[0] + part[0], total[1] + part[1], total[2] + part[2]
    return total


def _submit_on(client, worker, func, *args):
    """``client.submit``, preferring ``worker`` (None: the scheduler's choice).

    The restriction is loose: a task whose worker is gone runs elsewhere.
    """
    return client.submit(
        func,
        *args,
        pure=False,
        workers=None if worker is None else [worker],
        allow_other_workers=worker is not None,
    )


def _evaluate(client, futures, spec, params: np.ndarray, workers=None):
    """Sums over every block, added in a tree fixed by the block indices.

    ``workers`` names, block by block, the worker that holds it (or None).
    """
    # One copy of the parameters goes out per evaluation, as a task rather
    # than scattered data: the blocks' workers fetch it, and a worker lost
    # mid-evaluation takes nothing with it that cannot be recomputed.
    params_f = client.submit(_parameters, params, pure=False)
    # Each block's sums run where the block is: left free, the scheduler
    # hands a block to whichever worker is idle first and copies its rows
    # there (measured: 50 MB blocks moved mid-fit, evaluations 60% slower).
    level = [
        _submit_on(client, worker, _block_sums, f, spec, params_f)
        for f, worker in zip(futures, workers or [None] * len(futures))
    ]
    # Groups of _FAN_IN consecutive blocks per addition: a tree as wide as
    # that needs a third of a binary tree's levels, each level a hop between
    # workers (about 10 ms here), while one task still receives only
    # O(_FAN_IN * parameters).
    while len(level) > 1:
        level = [
            client.submit(_add_sums, *level[i : i + _FAN_IN], pure=False)
            if len(level[i : i + _FAN_IN]) > 1
            else level[i]
            for i in range(0, len(level), _FAN_IN)
        ]
    return level[0].result()


def _fit_lbfgs(estimator, blocks: _Blocks, layer_units, dtype) -> None:
    params = estimator._packed_params(dtype, layer_units)
    spec = (
        layer_units,
        estimator._activation_specs(),
        estimator._engine_loss(),
        estimator._loss_param(),
    )
    grad = np.empty_like(params)
    # Only finishes the totals (average, penalty): one row of workspace.
    finisher = estimator._lbfgs_trainer(layer_units, params, 1, 1)

    def loss_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        params[:] = x
        weighted_loss, sw_sum, sums = _evaluate(
            blocks.client, blocks.futures, spec, params.copy(), blocks.workers
        )
        loss = finisher.mean_loss_gradient(
            weighted_loss, sw_sum, sums.astype(dtype), estimator.alpha, grad
        )
        return loss, grad.astype(np.float64)

    estimator._minimize_lbfgs(loss_and_grad, params)
