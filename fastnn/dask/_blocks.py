"""What runs on each row block before training: the checks, then the encoding.

A block is checked by the estimator's own input validation (an unfitted
clone's, so nothing is fitted on a block): the same conversions, warnings
aside, and the same messages as ``fit`` on the block alone.  What the client
needs to know of a block comes back as a small :class:`Summary`; the block
itself stays where it was checked until it is encoded.

Blocks go to the cluster in groups of consecutive blocks, one task per group
(:func:`check_group`, :func:`encode_group`), and NumPy blocks are checked
and encoded in batches: the checks' fixed cost (scikit-learn's validation
and label encoding take milliseconds whatever the size) is paid per batch,
not per block.  A batch is checked as one array, which passes exactly when
each of its blocks would: every check is value by value or row by row
(finiteness, dtypes, label types, a loss's domain), and the blocks of a
batch share their dtypes.  Only a batch that fails is checked block by
block, so an error is always a block's own.  DataFrame partitions and
sparse blocks are checked one at a time.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone, is_classifier
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.validation import _check_sample_weight, _check_y

from .._network import checked_validation
from ._sums import Block

# A batch of NumPy blocks holds at most this many bytes of X (or one block):
# the copy made to check it stays small, the per-call cost is paid once.
_BATCH_BYTES = 16 << 20

# scikit-learn 1.9 refuses all-zero sample weights unless told not to; older
# versions take them and have no such argument.
_ALL_ZERO_OK = (
    {"allow_all_zero_weights": True}
    if "allow_all_zero_weights" in inspect.signature(_check_sample_weight).parameters
    else {}
)


@dataclass
class Checked:
    """A block after the checks, or the error its checks raised."""

    X: object = None
    y: np.ndarray | None = None  # labels (classifier) or numeric targets
    sample_weight: np.ndarray | None = None
    error: Exception | None = None
    # The lengths of the X, y and sample_weight blocks as read (None: no
    # sample weights); a block is checked only if they agree and X has rows.
    rows: tuple = ()


@dataclass
class Summary:
    """What the client needs to know about one row block."""

    error: Exception | None
    # The lengths of the X, y and sample_weight blocks (see Checked.rows).
    rows: tuple
    # Per output column: (distinct labels, their counts); classifiers only.
    labels: list
    # The distinct rows of a 2-D classifier target.
    label_rows: np.ndarray | None
    # How many sample weights are not zero (None: no sample weights).
    nonzero_weights: int | None


def check_block(Xb, yb, swb, checker, dtype) -> Checked:
    """``fit``'s checks on one block; errors are returned, not raised.

    The client raises the first block's error with the block's name, the
    same error whichever worker finished first.
    """
    # Validation sets attributes (a classifier fits its encoder on the
    # block's labels, work thrown away): one copy per block, as blocks may
    # be checked in threads of one process.
    rows = tuple(None if b is None else int(b.shape[0]) for b in (Xb, yb, swb))
    if rows[0] == 0 or len(set(rows) - {None}) > 1:
        # Skipped (empty), or refused by the client (rows cut differently).
        return Checked(rows=rows)
    checker = clone(checker)
    try:
        with warnings.catch_warnings():
            # Warned once by the client for the whole of y.
            warnings.simplefilter("ignore", DataConversionWarning)
            X, y = checked_validation(
                Xb, lambda X: checker._validate_input(X, yb, False, True)
            )
            if is_classifier(checker):
                # The labels themselves, as fit validates them, not their
                # encoding against this block's classes.
                y = _check_y(yb, multi_output=True, estimator=checker)
                if y.ndim == 2 and y.shape[1] == 1:
                    y = y[:, 0]
            else:
                # Refused as fit refuses targets the engine's dtype cannot hold.
                checker._loss().cast_y(y, dtype)
        if sp.issparse(X):
            X = X.tocsr().astype(dtype, copy=False)
        elif X.dtype != dtype or not (X.flags.c_contiguous or X.flags.f_contiguous):
            X = np.ascontiguousarray(X, dtype=dtype)
        sw = None
        if swb is not None:
            # A block may weigh all its rows zero; the whole data may not.
            sw = _check_sample_weight(swb, X, dtype=dtype, **_ALL_ZERO_OK)
        return Checked(X, y, sw, rows=rows)
    except (ValueError, TypeError) as exc:
        return Checked(error=exc, rows=rows)


def check_group(xs: list, ys: list, sws: list | None, checker, dtype) -> list:
    """``check_block`` on each of consecutive blocks (``sws`` None: no
    sample weights), NumPy blocks in batches (see the module docstring)."""
    triples = list(zip(xs, ys, sws if sws is not None else [None] * len(xs)))
    checked: list = []
    batch: list = []
    size = 0
    for triple in triples:
        if batch and (
            not _batchable(*triple)
            or not _alike(batch[0], triple)
            or size >= _BATCH_BYTES
        ):
            checked.extend(_check_batch(batch, checker, dtype))
            batch, size = [], 0
        if _batchable(*triple):
            batch.append(triple)
            size += triple[0].nbytes
        else:
            checked.append(check_block(*triple, checker, dtype))
    checked.extend(_check_batch(batch, checker, dtype))
    return checked


def _batchable(Xb, yb, swb) -> bool:
    """Whether a block can be checked with others: a C-ordered numeric
    NumPy X with rows, and NumPy y and weights of as many rows."""
    if not (type(Xb) is np.ndarray and type(yb) is np.ndarray):
        return False
    n = Xb.shape[0] if Xb.ndim == 2 else 0
    return (
        n > 0
        and Xb.dtype.kind in "biuf"
        and Xb.flags.c_contiguous
        and yb.ndim in (1, 2)
        and yb.shape[0] == n
        and (swb is None or (type(swb) is np.ndarray and swb.shape == (n,)))
    )


def _alike(a: tuple, b: tuple) -> bool:
    """Whether two batchable blocks concatenate without a conversion."""
    (Xa, ya, swa), (Xb, yb, swb) = a, b
    return (
        Xa.dtype == Xb.dtype
        and Xa.shape[1] == Xb.shape[1]
        and ya.dtype == yb.dtype
        and ya.shape[1:] == yb.shape[1:]
        and (swa is None) == (swb is None)
        and (swa is None or swa.dtype == swb.dtype)
    )


def _check_batch(batch: list, checker, dtype) -> list:
    """``check_block`` on each block of ``batch`` (alike NumPy blocks), from
    one check of their concatenation when it passes."""
    if len(batch) < 2:
        return [check_block(*triple, checker, dtype) for triple in batch]
    xs, ys, sws = zip(*batch)
    whole = check_block(
        np.concatenate(xs),
        np.concatenate(ys),
        None if sws[0] is None else np.concatenate(sws),
        checker,
        dtype,
    )
    if whole.error is not None:
        # The error, if any, is a block's own, with the block's name.
        return [check_block(*triple, checker, dtype) for triple in batch]
    bounds = np.cumsum([0, *(X.shape[0] for X in xs)])
    checked = []
    for (Xb, _, swb), start, stop in zip(batch, bounds[:-1], bounds[1:]):
        # What the block's own check gives: the block itself when it is in
        # the fit's dtype already, else its rows of the batch converted the
        # same way.
        X = Xb if Xb.dtype == dtype else whole.X[start:stop]
        sw = None if swb is None else whole.sample_weight[start:stop]
        rows = (len(Xb), len(Xb), None if swb is None else len(Xb))
        checked.append(Checked(X, whole.y[start:stop], sw, rows=rows))
    return checked


def summarise_group(blocks: list, classifier: bool) -> list:
    return [summarise(block, classifier) for block in blocks]


def summarise(block: Checked, classifier: bool) -> Summary:
    if block.error is not None or block.X is None:
        return Summary(block.error, block.rows, [], None, None)
    nonzero = None
    if block.sample_weight is not None:
        nonzero = int(np.count_nonzero(block.sample_weight))
    if not classifier:
        return Summary(None, block.rows, [], None, nonzero)
    y = block.y
    columns = y.reshape(len(y), -1).T
    labels = [np.unique(c, return_counts=True) for c in columns]
    rows = np.unique(y, axis=0) if y.ndim == 2 else None
    return Summary(None, block.rows, labels, rows, nonzero)


def encode_group(blocks: list, encoder, class_weights, dtype) -> list:
    """The engine's form of each checked block with rows, in order (see
    :func:`encode`), the targets of all of them encoded at once."""
    blocks = [block for block in blocks if block.X is not None]
    if len(blocks) < 2:
        return [encode(block, encoder, class_weights, dtype) for block in blocks]
    ys = [block.y for block in blocks]
    weights = [block.sample_weight for block in blocks]
    try:
        Y, sw = _targets(
            np.concatenate(ys),
            None if weights[0] is None else np.concatenate(weights),
            encoder,
            class_weights,
            dtype,
        )
    except Exception:
        # Row by row, so never expected; each block then raises its own error.
        return [encode(block, encoder, class_weights, dtype) for block in blocks]
    bounds = np.cumsum([0, *(len(y) for y in ys)])
    return [
        Block(block.X, Y[start:stop], sw[start:stop])
        for block, start, stop in zip(blocks, bounds[:-1], bounds[1:])
    ]


def encode(block: Checked, encoder, class_weights, dtype) -> Block:
    """The engine's form of a checked block.

    ``encoder`` is an unfitted copy of a classifier carrying the fitted
    label binarizer (None for a regressor); ``class_weights`` per output
    column ``(labels, weight of each)``, or None.
    """
    Y, sw = _targets(block.y, block.sample_weight, encoder, class_weights, dtype)
    return Block(block.X, Y, sw)


def _targets(y, sample_weight, encoder, class_weights, dtype) -> tuple:
    """Encoded targets and weights of checked rows, C-contiguous in
    ``dtype`` (each row's from that row alone)."""
    if encoder is not None:
        Y = encoder._binarize(y, dtype)
    else:
        Y = np.reshape(y, (len(y), -1))
    n = len(y)
    sw = sample_weight
    if sw is None:
        sw = np.ones(n, dtype=dtype)
    if class_weights is not None:
        columns = np.reshape(y, (n, -1)).T
        per_output = [
            weights[np.searchsorted(labels, column)]
            for (labels, weights), column in zip(class_weights, columns)
        ]
        weight = np.prod(per_output, axis=0, dtype=np.float64).astype(dtype)
        sw = weight if sample_weight is None else weight * sw
    return np.ascontiguousarray(Y, dtype=dtype), np.ascontiguousarray(sw, dtype=dtype)
