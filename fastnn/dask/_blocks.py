"""What runs on each row block before training: the checks, then the encoding.

A block is checked by the estimator's own input validation (an unfitted
clone's, so nothing is fitted on a block): the same conversions, warnings
aside, and the same messages as ``fit`` on the block alone.  What the client
needs to know of a block comes back as a small :class:`Summary`; the block
itself stays where it was checked until it is encoded.
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


def encode(block: Checked, encoder, class_weights, dtype) -> Block:
    """The engine's form of a checked block.

    ``encoder`` is an unfitted copy of a classifier carrying the fitted
    label binarizer (None for a regressor); ``class_weights`` per output
    column ``(labels, weight of each)``, or None.
    """
    y = block.y
    if encoder is not None:
        Y = encoder._binarize(y, dtype)
    else:
        Y = np.reshape(y, (len(y), -1))
    n = block.X.shape[0]
    sw = block.sample_weight
    if sw is None:
        sw = np.ones(n, dtype=dtype)
    if class_weights is not None:
        columns = np.reshape(y, (n, -1)).T
        per_output = [
            weights[np.searchsorted(labels, column)]
            for (labels, weights), column in zip(class_weights, columns)
        ]
        weight = np.prod(per_output, axis=0, dtype=np.float64).astype(dtype)
        sw = weight if block.sample_weight is None else weight * sw
    return Block(
        block.X,
        np.ascontiguousarray(Y, dtype=dtype),
        np.ascontiguousarray(sw, dtype=dtype),
    )
