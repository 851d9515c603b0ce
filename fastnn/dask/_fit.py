"""Data-parallel L-BFGS on Dask: one model, data where it lives.

Design
------
The row blocks of ``X``, ``y`` and ``sample_weight`` are checked where they
are by the estimator's own input validation (:mod:`._blocks`), then encoded
for the engine and kept as futures of this fit, in ranges of consecutive
blocks, one range per worker thread (:mod:`._backends`).  The set-up is one
graph: a task per group of consecutive blocks (a few groups per worker
thread) over the inputs' own graphs, so its tasks do not grow with the
number of blocks.  SciPy's L-BFGS-B runs in
the client with the estimator's own options (:meth:`_minimize_lbfgs`, shared
with ``fit``); each of its evaluations sends the flat parameters to the
cluster once, runs the engine's :meth:`Trainer.gradient_sums` on every block
where the block lives (GIL released), adds the blocks' sums in a binary tree
fixed by the block indices (:mod:`._sums`: one task per range, then a tree
of merges across the ranges) and gets O(parameters) back.  The client
finishes the sums with :meth:`Trainer.mean_loss_gradient`, the compiled code
that ends a local evaluation.  Each evaluation therefore equals the local one
up to rounding (bitwise with one block), and neither the placement, the
number of workers nor a recomputation after a lost worker changes a bit.

The estimator's own steps frame the distributed part exactly as they frame
its local solver in ``fit``: ``_prepare_fit`` (layers checked, random state,
initial or warm-start weights, the flat parameters) before the first
evaluation, ``_finish_fit`` (non-finite weights refused) after the last.

Without a ``distributed.Client`` the same blocks are computed once by dask's
default scheduler and kept in this process; the sums are added in the same
tree.  A fit that fails leaves the estimator as it was and the caller's dask
data untouched: only the fit's own futures are let go.
"""

from __future__ import annotations

import uuid

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import unique_labels
from sklearn.utils.validation import (
    _check_feature_names,
    _check_n_features,
    _check_sample_weight,
)

from .. import _network
from .._base import _column_or_1d
from .._callbacks import FitTask, managed, restore, snapshot
from . import _backends
from ._blocks import check_group, encode_group, summarise_group
from ._inputs import RowBlocks, check_block_rows, check_same_rows, row_blocks


def fit(estimator, X, y, *, sample_weight=None, classes=None):
    """Train an L-BFGS estimator on data spread over a Dask cluster.

    Every L-BFGS evaluation runs where the data lives: the flat parameters
    are broadcast to the workers, the compiled engine computes each row
    block's loss and gradient sums there, and the sums are added in a tree
    whose shape depends on the block indices only.  Each evaluation's loss
    and gradient equal those of ``estimator.fit`` on the concatenated data
    up to rounding (bitwise with a single block), whatever the placement,
    the number of workers or a worker's failure.  L-BFGS can amplify that
    rounding over many iterations: a long fit on several blocks may end at a
    slightly different model than the local fit.

    Uses the current :class:`distributed.Client`; without one, the blocks are
    computed by dask's default scheduler and kept in this process.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor with ``solver='lbfgs'``
        Trained in place; left as it was if the fit raises (Ctrl-C too).
        Stochastic solvers train block by block with
        :func:`partial_fit_blocks` instead.
    X : dask.array.Array or dask.dataframe.DataFrame of shape \
            (n_samples, n_features)
        Chunked along rows only; a dask array with known chunk sizes (a
        DataFrame's partition lengths are learnt by the checks, which read
        each partition once); empty blocks are skipped.
    y : dask.array.Array, dask.dataframe.Series or DataFrame of shape \
            (n_samples,) or (n_samples, n_outputs)
        Chunked along rows like ``X``.
    sample_weight : dask.array.Array or dask.dataframe.Series of shape \
            (n_samples,), default=None
        Chunked along rows like ``X``.
    classes : array-like, default=None
        A classifier's labels.  Discovered from ``y`` when not given;
        labels of ``y`` outside ``classes`` are an error.

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
    ...                 dashboard_address=":0")
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
    # The loss's own rules (HistGradientBoosting's for the quantile), before
    # the cluster does any work.
    estimator._loss().spec()
    check_classes_argument(estimator, classes)
    hidden = estimator._hidden_layer_sizes()
    Xb = row_blocks(X, "X", 2)
    yb = row_blocks(y, "y", None)
    swb = None
    if sample_weight is not None:
        swb = row_blocks(sample_weight, "sample_weight", 1)
    check_same_rows(Xb, y=yb, sample_weight=swb)

    state = snapshot(estimator)
    backend = _backends.backend()
    with managed(estimator):
        try:
            layer_units, params = _prepare(
                estimator, backend, Xb, yb, swb, classes, hidden
            )
            task = FitTask(estimator, X, y, sample_weight, 0)
            _fit_lbfgs(estimator, backend, layer_units, params)
            task.end()
            estimator._finish_fit()
        except BaseException:
            # Also on Ctrl-C or a lost client: the weights are not half trained.
            restore(estimator, state)
            raise
        finally:
            backend.release()
    return estimator


def check_classes_argument(estimator, classes) -> None:
    if classes is not None and not is_classifier(estimator):
        raise TypeError(
            f"classes is only accepted for classifiers; got it for "
            f"{type(estimator).__name__}."
        )


def _prepare(estimator, backend, X: RowBlocks, y: RowBlocks, sw, classes, hidden):
    """Everything before the first evaluation: checks, classes, blocks;
    returns the layers and the flat parameters (see ``_prepare_fit``)."""
    classifier = is_classifier(estimator)
    first_pass = not (estimator.warm_start and hasattr(estimator, "coefs_"))
    column = y.ndim == 2 and y.shape[1] == 1
    if column:
        # fit's warning about y's shape; the blocks are raveled as fit
        # ravels y.
        _column_or_1d(np.empty((0, 1)))
    two_d = y.ndim == 2 and not column
    _check_feature_names(estimator, X.meta, reset=first_pass)
    _check_n_features(estimator, X, reset=first_pass)
    # Warm starts keep the model's precision, as fit does.
    dtype = X.float_dtype if first_pass else _network.model_dtype(estimator)

    # Empty blocks hold nothing to check; a DataFrame's partitions are all
    # read, their lengths unknown until then.
    lengths_unknown = None in (X.rows, y.rows, None if sw is None else sw.rows)
    if lengths_unknown:
        kept = list(range(len(X.parts)))
    else:
        kept = [i for i, rows in enumerate(X.rows) if rows]
    # One task per group of consecutive blocks, a few groups per worker
    # thread, whatever the number of blocks.
    groups = _groups(
        kept,
        None if lengths_unknown else X.rows,
        _GROUPS_PER_THREAD * backend.n_threads(),
    )
    checked = backend.compute(_check_tasks(groups, X, y, sw, clone(estimator), dtype))
    summaries = [
        summary
        for part in backend.gather(backend.map(summarise_group, checked, classifier))
        for summary in part
    ]
    if lengths_unknown:
        check_block_rows(X, [s.rows for s in summaries], y=y, sample_weight=sw)
    for i, summary in zip(kept, summaries):
        if summary.error is not None:
            raise _in_block(summary.error, X.block_name(i))
    # Only blocks with rows are trained on.
    summaries = [s for i, s in zip(kept, summaries) if X.rows[i]]
    group_rows = [sum(X.rows[i] for i in group) for group in groups]
    group_counts = [sum(1 for i in group if X.rows[i]) for group in groups]
    if sw is not None:
        # scikit-learn's check on one number per block, how many weights are
        # not zero: it refuses exactly when every weight is zero.
        counts = np.array([s.nonzero_weights for s in summaries], dtype=np.float64)
        _check_sample_weight(counts, counts)

    if classifier:
        _set_classes(estimator, summaries, classes, first_pass, two_d)
        binarizer = estimator._label_binarizer
        n_outputs = 1 if binarizer.y_type_ == "binary" else len(binarizer.classes_)
        class_weights = _class_weights(estimator, summaries)
        encoder = clone(estimator)
        encoder._label_binarizer = binarizer
    else:
        n_outputs = y.shape[1] if two_d else 1
        class_weights = encoder = None
    layer_units = [X.shape[1], *hidden, n_outputs]
    params = estimator._prepare_fit(layer_units, dtype, first_pass)
    backend.encode(
        checked, group_rows, group_counts, encode_group, encoder, class_weights, dtype
    )
    return layer_units, params


def _check_tasks(groups, X: RowBlocks, y: RowBlocks, sw, checker, dtype) -> list:
    """One delayed ``check_group`` per group, all in one graph: a layer of
    one task per group over the inputs' own graphs.

    Not ``dask.delayed(check_group)(parts, ...)``: every block's delayed
    object carries its collection's whole graph, and dask culled that graph
    once per block (at 8,000 blocks, most of the set-up's time).
    """
    from dask.delayed import Delayed
    from dask.highlevelgraph import HighLevelGraph

    name = f"fastnn-check-{uuid.uuid4().hex}"  # never shared: pure=False

    def keys(blocks, group):
        return None if blocks is None else [blocks.parts[i].key for i in group]

    layer = {
        (name, g): (check_group, keys(X, group), keys(y, group), keys(sw, group))
        + (checker, dtype)
        for g, group in enumerate(groups)
    }
    # The blocks of a collection share one graph: one dependency each.
    graphs = {id(p.dask): p for b in (X, y, sw) if b is not None for p in b.parts}
    graph = HighLevelGraph.from_collections(
        name, layer, dependencies=list(graphs.values())
    )
    return [Delayed((name, g), graph, layer=name) for g in range(len(groups))]


# Groups of blocks checked and encoded per worker thread: a few, so that
# ranges of groups can balance the rows when a DataFrame's partition
# lengths are learnt only by the checks.
_GROUPS_PER_THREAD = 4


def _groups(blocks: list[int], rows, n_groups: int) -> list[list[int]]:
    """``blocks`` cut into at most ``n_groups`` runs of consecutive blocks
    of about equal rows (``rows`` per block of the collection; None:
    unknown, equal numbers of blocks)."""
    if not blocks:
        return []
    sizes = np.array([1 if rows is None else rows[i] for i in blocks], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    group = (starts * min(n_groups, len(blocks))) // sizes.sum()
    bounds = [0, *(np.flatnonzero(np.diff(group)) + 1), len(blocks)]
    return [blocks[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _in_block(error: Exception, name: str) -> Exception:
    """The block's error, of its type, saying which block it is."""
    message = f"In {name}: {error}"
    try:
        renamed = type(error)(message)
    except Exception:  # a type that takes other arguments
        renamed = ValueError(message)
    renamed.__cause__ = error
    return renamed


def _set_classes(estimator, summaries, classes, first_pass: bool, two_d: bool):
    """The classifier's classes from every block's distinct labels.

    fit's own label checks and encoding run on a stand-in holding each
    block's distinct labels (or distinct rows of a 2-D target): they depend
    on the labels only, so they decide as on the whole of y.
    """
    if two_d:
        seen = np.concatenate([s.label_rows for s in summaries])
    else:
        seen = np.concatenate([s.labels[0][0] for s in summaries])
    fresh = clone(estimator)
    _check_labels(fresh, seen)
    target = seen
    if classes is not None:
        classes = np.asarray(classes)
        labels_seen = unique_labels(seen) if two_d else fresh.classes_
        if len(np.setdiff1d(labels_seen, classes)):
            raise ValueError(
                f"`y` has labels not in `classes`: `classes` is "
                f"{np.unique(classes)}, `y` has {labels_seen}."
            )
        if not two_d:
            target = classes
            fresh = clone(estimator)
            _check_labels(fresh, target)
    if not first_pass:
        # fit's warm-start rule, on the labels this fit trains for.
        warm = clone(estimator)
        warm.classes_ = estimator.classes_
        warm._label_binarizer = estimator._label_binarizer
        _check_labels(warm, target)
        return
    estimator._label_binarizer = fresh._label_binarizer
    estimator.classes_ = fresh.classes_


def _check_labels(probe, labels) -> None:
    """The classifier's own checks and encoder fitted on ``labels``."""
    probe._validate_input(np.zeros((len(labels), 1)), labels, False, True)


def _class_weights(estimator, summaries):
    """Per output column: (labels, weight of each label), from global counts."""
    class_weight = estimator.class_weight
    if class_weight is None:
        return None
    n_columns = len(summaries[0].labels)
    result = []
    for k in range(n_columns):
        labels = np.unique(np.concatenate([s.labels[k][0] for s in summaries]))
        counts = np.zeros(len(labels))
        for s in summaries:
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


def _fit_lbfgs(estimator, backend, layer_units, params: np.ndarray) -> None:
    """The local fit's L-BFGS (``_minimize_lbfgs``), each evaluation summed
    over the cluster's blocks."""
    spec = estimator._engine_spec(layer_units)
    dtype = params.dtype
    grad = np.empty_like(params)
    # Only finishes the totals (average, penalty): one row of workspace.
    finisher = spec.trainer(params, 1, 1)

    def loss_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        params[:] = x
        weighted_loss, sw_sum, sums = backend.evaluate(spec, params.copy())
        loss = finisher.mean_loss_gradient(
            weighted_loss, sw_sum, sums.astype(dtype), estimator.alpha, grad
        )
        return loss, grad.astype(np.float64)

    estimator._minimize_lbfgs(loss_and_grad, params)
