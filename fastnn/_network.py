"""The fitted network as the engine reads it, checked before every call.

The engine trusts the sizes it is given (it reads raw buffers without the
GIL), so everything that could make it read past a buffer is checked here,
in Python, once per call:

* ``coefs_`` and ``intercepts_`` are plain lists that users edit (prune a
  unit, replace a layer) and that a refit in another thread replaces while
  a predict runs.  A call takes one snapshot of both lists, derives every
  size from the arrays it holds and copies them into the flat parameter
  array the engine reads; an inconsistent snapshot raises a ``ValueError``
  naming the layer, so a predict sees one whole model or raises.
* BLAS takes 32-bit sizes and leading dimensions: layer widths and batch
  sizes must fit, and an input whose strides do not is copied in bounded
  row blocks before BLAS sees it.
* The index arrays of sparse input are addresses to the engine (and to
  SciPy's own conversions): ``checked_validation`` refuses any that point
  outside their buffers before anything reads them.

``EngineSpec`` is the one way to build the engine's ``Trainer``: every fit,
evaluation and gradient goes through its ``trainer`` method.
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple, TypeVar

import numpy as np
import scipy.sparse as sp

from . import _engine
from .activations import _hidden_activation_specs

# Largest size or leading dimension BLAS (LP64, 32-bit ints) accepts.
BLAS_INT_MAX = 2**31 - 1

# Rows per block when an input must be converted before the engine reads it:
# about 1 Mi elements, so the copy stays bounded whatever the input's size.
_BLOCK_ELEMENTS = 1 << 20

# Rows per chunk of a trainer that only evaluates (input gradients, the
# gradient check): its workspace stays bounded whatever the input's size.
EVALUATION_ROWS = 1024


class EngineSpec(NamedTuple):
    """What the engine must know of a network to build a trainer for it.

    A tuple, so that it travels to Dask workers as it is.  Built by the
    estimator's ``_engine_spec``.
    """

    layer_units: Sequence[int]
    # The engine's (name, p0, p1) of every layer after the input.
    activations: Sequence[tuple[str, float, float]]
    loss: str
    # The loss's parameter (the Huber loss's delta), 0 if it has none.
    loss_param: float = 0.0
    # Dropout rate of every hidden layer, for a trainer that trains.
    dropout: Sequence[float] | None = None

    def trainer(
        self,
        params: np.ndarray,
        batch_size: int,
        n_threads: int,
        dropout_seed: int = 0,
        dropout_step: int = 0,
    ) -> _engine.Trainer:
        """An engine ``Trainer`` over ``params`` (updated in place), whose
        buffers hold ``batch_size`` rows: a minibatch when it trains, a
        chunk of rows when it evaluates.  ``dropout_seed`` and
        ``dropout_step`` continue the dropout masks of earlier fits."""
        return _engine.Trainer(
            self, params, batch_size, n_threads, dropout_seed, dropout_step
        )


def layer_activation_specs(
    activation, n_hidden: int, out_activation: str
) -> list[tuple[str, float, float]]:
    """The engine's (name, p0, p1) of every layer after the input: the
    hidden layers' from ``activation=``, then the output's."""
    hidden = _hidden_activation_specs(activation, n_hidden)
    # The output's sigmoid is the plain logistic (steepness 1).
    return [*hidden, (out_activation, 1.0, 0.0)]


def param_slices(layer_units: Sequence[int]) -> tuple[list[slice], list[slice]]:
    """Where each layer's coefficients and intercepts sit in the flat
    parameters: every coefficient matrix raveled, then every intercept
    vector (scikit-learn's ``_pack``; the engine's ``Workspace`` lays them
    out the same)."""
    coefs, intercepts, start = [], [], 0
    for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
        coefs.append(slice(start, start + fan_in * fan_out))
        start += fan_in * fan_out
    for fan_out in layer_units[1:]:
        intercepts.append(slice(start, start + fan_out))
        start += fan_out
    return coefs, intercepts


def check_blas_sizes(layer_units, batch_size: int = 1) -> None:
    """Refuse layer widths or batch sizes that BLAS's 32-bit ints cannot hold."""
    for i, units in enumerate(layer_units):
        if units > BLAS_INT_MAX:
            raise ValueError(
                f"Layer {i} has {units} units; BLAS handles at most "
                f"{BLAS_INT_MAX} per layer."
            )
    if batch_size > BLAS_INT_MAX:
        raise ValueError(
            f"batch_size={batch_size} exceeds BLAS's limit of {BLAS_INT_MAX} rows."
        )


def model_dtype(estimator) -> np.dtype:
    """The fitted model's precision: float32 if every parameter array is."""
    arrays = list(estimator.coefs_) + list(estimator.intercepts_)
    if arrays and all(np.asarray(a).dtype == np.float32 for a in arrays):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def snapshot(
    estimator,
    n_features: int | None,
    dtype,
    coefs: list | None = None,
    intercepts: list | None = None,
) -> tuple:
    """One consistent view of the fitted network.

    Parameters
    ----------
    estimator : fitted MLPClassifier or MLPRegressor
    n_features : int or None
        Width the first layer must take (the input's columns), if known.
    dtype : float32 or float64
        Precision of the returned parameters.
    coefs, intercepts : list of ndarray, optional
        ``coefs_`` and ``intercepts_`` as the caller read them; read from
        the estimator if None.

    Returns
    -------
    params : ndarray, 1-D
        A private copy of the parameters in the engine's flat layout.
    layer_units : list of int
    activations : list of (str, float, float)
        The engine's activation specs, output layer last.
    """
    # Both lists are read once: the refit of another thread may replace
    # either at any moment, and everything below uses only these copies.
    coefs = list(estimator.coefs_ if coefs is None else coefs)
    intercepts = list(estimator.intercepts_ if intercepts is None else intercepts)
    out_activation = estimator.out_activation_
    if not coefs or len(coefs) != len(intercepts):
        raise ValueError(
            "coefs_ and intercepts_ must hold one array per layer; got "
            f"{len(coefs)} and {len(intercepts)}."
        )
    coefs = [np.asarray(c, dtype=dtype) for c in coefs]
    intercepts = [np.ravel(np.asarray(b, dtype=dtype)) for b in intercepts]
    for i, coef in enumerate(coefs):
        if coef.ndim != 2:
            raise ValueError(
                f"coefs_[{i}] must be a 2-D array; got shape {coef.shape}."
            )
        if i == 0 and n_features is not None and coef.shape[0] != n_features:
            raise ValueError(
                f"coefs_[0] has {coef.shape[0]} rows, but X has {n_features} features."
            )
        if i > 0 and coef.shape[0] != coefs[i - 1].shape[1]:
            raise ValueError(
                f"coefs_[{i}] has {coef.shape[0]} rows, but coefs_[{i - 1}] has "
                f"{coefs[i - 1].shape[1]} columns: the layers do not chain."
            )
        if intercepts[i].shape != (coef.shape[1],):
            raise ValueError(
                f"intercepts_[{i}] has {intercepts[i].size} values, but "
                f"coefs_[{i}] has {coef.shape[1]} columns."
            )
    n_outputs = getattr(estimator, "n_outputs_", coefs[-1].shape[1])
    if coefs[-1].shape[1] != n_outputs:
        raise ValueError(
            f"coefs_[{len(coefs) - 1}] has {coefs[-1].shape[1]} columns, but the "
            f"model has {n_outputs} outputs."
        )
    layer_units = [coefs[0].shape[0]] + [c.shape[1] for c in coefs]
    check_blas_sizes(layer_units)
    activations = layer_activation_specs(
        estimator.activation, len(coefs) - 1, out_activation
    )
    params = np.concatenate([c.ravel() for c in coefs] + intercepts)
    return params, layer_units, activations


class _Prepared(NamedTuple):
    """A model's engine ``Network`` and what it was made from."""

    network: _engine.Network
    coefs: tuple
    intercepts: tuple
    shapes: tuple
    activation: str
    out_activation: str


_shape = operator.attrgetter("shape")

# The network each fitted model predicts with, kept beside the model rather
# than in it: the model's attributes stay scikit-learn's (pickles, skops,
# ``__dict__`` checks), and a model that is dropped drops its network.
_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def prepared(estimator, coefs: list, intercepts: list) -> _engine.Network | None:
    """The engine's ``Network`` for ``estimator``, made once and kept while
    ``coefs`` and ``intercepts`` are the arrays it reads.

    A fit leaves ``coefs_`` and ``intercepts_`` as views of one flat array
    in the engine's layout: the network reads that array in place, so an
    edit of their values is seen by the next prediction, and any other
    change (an array replaced, appended or reshaped, the activation set)
    makes a new network or, when the arrays are not such views, None: the
    caller then takes a ``snapshot`` for the call.

    Parameters
    ----------
    estimator : fitted MLPClassifier or MLPRegressor
    coefs, intercepts : list of ndarray
        ``coefs_`` and ``intercepts_``, each read once by the caller.

    Returns
    -------
    network : Network or None
    """
    activation = estimator.activation
    out_activation = estimator.out_activation_
    kept = _PREPARED.get(estimator)
    if (
        kept is not None
        and len(coefs) == len(kept.coefs)
        and len(intercepts) == len(kept.intercepts)
        and all(map(operator.is_, coefs, kept.coefs))
        and all(map(operator.is_, intercepts, kept.intercepts))
        and list(map(_shape, coefs + intercepts)) == kept.shapes
        and activation == kept.activation
        and out_activation == kept.out_activation
    ):
        return kept.network
    if not isinstance(activation, str):
        # Activation objects can change their parameters in place.
        return None
    flat = _flat_base(coefs, intercepts)
    if flat is None:
        return None
    _, units, specs = snapshot(estimator, None, flat.dtype, coefs, intercepts)
    network = _engine.Network(flat, units, specs)
    _PREPARED[estimator] = _Prepared(
        network,
        tuple(coefs),
        tuple(intercepts),
        list(map(_shape, coefs + intercepts)),
        activation,
        out_activation,
    )
    return network


def _flat_base(coefs: list, intercepts: list) -> np.ndarray | None:
    """The flat array ``coefs`` and ``intercepts`` are views of, laid out
    as the engine reads parameters, or None."""
    if not coefs or len(coefs) != len(intercepts):
        return None
    flat = coefs[0].base if isinstance(coefs[0], np.ndarray) else None
    if (
        not isinstance(flat, np.ndarray)
        or flat.ndim != 1
        or flat.dtype not in (np.float32, np.float64)
        or not flat.flags.c_contiguous
    ):
        return None
    start = flat.__array_interface__["data"][0]
    offset = 0
    for a in [*coefs, *intercepts]:
        if (
            not isinstance(a, np.ndarray)
            or a.base is not flat
            or a.dtype != flat.dtype
            or not a.flags.c_contiguous
            or a.__array_interface__["data"][0] != start + offset * flat.itemsize
        ):
            return None
        offset += a.size
    if offset != flat.size:
        return None
    return flat


def compute_dtype(X, model: np.dtype) -> np.dtype:
    """Precision of a prediction: the wider of the input's and the model's.

    A float32 model predicts float64 input in float64, as scikit-learn does
    (NumPy promotes the products), so values beyond float32's range give
    scikit-learn's finite answers and the input is never cast.  Narrower
    input (integers up to 16 bits, booleans, float16) to a float32 model is
    predicted in float32, as NumPy promotes it.  The engine has no wider
    kernels: long double input is predicted in float64.
    """
    dtype = np.promote_types(X.dtype, model)
    if dtype not in (np.float32, np.float64):
        return np.dtype(np.float64)
    return dtype


def engine_blocks(X, dtype) -> Iterable[tuple[int, int, object]]:
    """``(start, stop, block)``: X as the engine may read it.

    X itself (one block) when it is in ``dtype`` and BLAS can take its
    strides; otherwise bounded row blocks, each cast to ``dtype`` and made
    contiguous, so no whole-input copy is ever made.
    """
    n_samples = X.shape[0]
    if sp.issparse(X):
        # Sparse data are cast as a whole: a copy of the stored values only.
        return ((0, n_samples, X.astype(dtype, copy=False).tocsr()),)
    item = X.dtype.itemsize
    rows_step, cols_step = X.strides
    if (
        X.dtype == dtype
        and abs(rows_step) // item <= BLAS_INT_MAX
        and abs(cols_step) // item <= BLAS_INT_MAX
    ):
        return ((0, n_samples, X),)
    return _cast_blocks(X, dtype)


def _cast_blocks(X, dtype) -> Iterator[tuple[int, int, object]]:
    n_samples, n_features = X.shape
    rows = max(1, _BLOCK_ELEMENTS // max(1, n_features))
    for start in range(0, max(n_samples, 1), rows):
        stop = min(n_samples, start + rows)
        yield start, stop, np.ascontiguousarray(X[start:stop], dtype=dtype)


_Validated = TypeVar("_Validated")

# The axis a compressed format's index pointer runs along, then the axis its
# indices count, for messages.
_COMPRESSED_AXES = {"csr": ("rows", "column"), "csc": ("columns", "row")}


def checked_validation(
    X, validate: Callable[[object], _Validated], input_name: str = "X"
) -> _Validated:
    """``validate(X)``, never letting a malformed sparse matrix through.

    X is checked before ``validate`` sees it: converting the dtype of a CSR
    or CSC matrix already follows its index pointer (SciPy sums duplicate
    entries).  What ``validate`` returns is checked again only if it is
    another matrix: SciPy copies a COO or BSR matrix's column indices,
    unchecked, into the CSR matrix it converts it to.

    Parameters
    ----------
    X : object
        The input as the caller gave it.
    validate : callable
        scikit-learn's validation of X; returns X validated, or a tuple
        whose first item is.
    input_name : str, default="X"
        The name errors give the input.

    Returns
    -------
    validated
        What ``validate`` returned.
    """
    check_sparse_structure(X, input_name)
    validated = validate(X)
    X_valid = validated[0] if isinstance(validated, tuple) else validated
    if X_valid is not X:
        check_sparse_structure(X_valid, input_name)
    return validated


def check_sparse_structure(X, input_name: str = "X") -> None:
    """Refuse a CSR or CSC matrix whose index arrays point outside its buffers.

    SciPy builds ``csr_matrix((data, indices, indptr), shape)`` without
    reading the indices, and the arrays can be replaced afterwards; the
    engine, and SciPy's conversions before it, would read and write out of
    bounds.  Unsorted and duplicate indices are valid (each stored entry
    counts, so duplicates add up as they do in SciPy).  Other inputs pass.

    One pass over the stored indices and one over the index pointer.
    """
    if not sp.issparse(X) or X.format not in _COMPRESSED_AXES or X.ndim != 2:
        return
    major, minor = _COMPRESSED_AXES[X.format]
    n_major, n_minor = X.shape if X.format == "csr" else X.shape[::-1]
    data, indices, indptr = X.data, X.indices, X.indptr
    prefix = f"{input_name} is a malformed {X.format.upper()} matrix: "
    if data.ndim != 1 or indices.ndim != 1 or indptr.ndim != 1:
        raise ValueError(prefix + "data, indices, and indptr should be 1-D.")
    if indices.dtype.kind not in "iu" or indptr.dtype.kind not in "iu":
        raise ValueError(
            prefix + "indices and indptr must hold integers; got "
            f"{indices.dtype} and {indptr.dtype}."
        )
    if len(indptr) != n_major + 1:
        raise ValueError(
            prefix + f"indptr has {len(indptr)} entries; it should have "
            f"{n_major + 1}, one more than its {n_major} {major}."
        )
    if indptr[0] != 0:
        raise ValueError(prefix + f"indptr should start with 0; got {indptr[0]}.")
    n_stored = int(indptr[-1])
    if n_stored > min(len(indices), len(data)):
        raise ValueError(
            prefix + f"the last value of indptr ({n_stored}) exceeds the size of "
            f"its indices and data arrays ({len(indices)} and {len(data)})."
        )
    decreasing = np.flatnonzero(indptr[1:] < indptr[:-1])
    if decreasing.size:
        i = decreasing[0]
        raise ValueError(
            prefix + "indptr must be a non-decreasing sequence; got "
            f"indptr[{i}] = {indptr[i]} > indptr[{i + 1}] = {indptr[i + 1]}."
        )
    stored = indices[:n_stored]
    # Read as unsigned, a negative index exceeds every valid one: one
    # maximum checks both bounds.
    unsigned = stored.view(stored.dtype.str.replace("i", "u"))
    if n_stored and unsigned.max() >= n_minor:
        lowest = stored.min()
        if lowest < 0:
            raise ValueError(prefix + f"{minor} indices must be >= 0; got {lowest}.")
        raise ValueError(
            prefix + f"{minor} indices must be < {n_minor} ({input_name} has "
            f"{n_minor} {minor}s); got {stored.max()}."
        )
