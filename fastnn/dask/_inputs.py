"""Dask collections as lists of row blocks, what the training helpers read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.utils.validation import check_array


@dataclass
class RowBlocks:
    """A dask array, DataFrame or Series cut into its row blocks.

    ``parts`` holds one ``dask.delayed`` object per block: NumPy or SciPy
    sparse blocks of an array, pandas partitions of a DataFrame (which keep
    their column dtypes, so that a block is checked exactly as ``fit``
    checks a whole pandas input).
    """

    parts: list
    # Rows per block; None for a DataFrame or Series until its partitions
    # are read (by the fit's checks: knowing them sooner reads them twice).
    rows: tuple[int, ...] | None
    shape: tuple[int, ...]
    # What feature-name checks read: the DataFrame's zero-row meta, or the
    # array itself.
    meta: object
    # The float dtype ``fit`` would convert the whole input to.
    float_dtype: np.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def block_name(self, i: int) -> str:
        if self.rows is None:
            return f"row block {i}"
        start = sum(self.rows[:i])
        return f"row block {i} (rows {start} to {start + self.rows[i]})"

    def describe_rows(self) -> str:
        """The row chunks, as far as they are known without reading."""
        if self.rows is None:
            return f"{len(self.parts)} partitions of unknown lengths"
        return str(self.rows)


def row_blocks(data, name: str, ndim: int | None) -> RowBlocks:
    """``data`` as row blocks; refuses what has no known row blocks."""
    import dask.array as da

    if hasattr(data, "to_delayed") and hasattr(data, "map_partitions"):
        return _frame_blocks(data, name, ndim)
    if not isinstance(data, da.Array):
        raise TypeError(
            f"{name} must be a dask array or dask DataFrame/Series; got "
            f"{type(data).__name__}. Use estimator.fit for in-memory data."
        )
    _check_ndim(data.ndim, name, ndim)
    if any(np.isnan(c) for c in data.chunks[0]):
        raise ValueError(
            f"{name} has unknown chunk sizes along its rows {data.chunks[0]} (as "
            "after boolean indexing, for example). Compute them first with "
            f"{name}.compute_chunk_sizes(), or use "
            "ddf.to_dask_array(lengths=True) for a dask DataFrame `ddf`."
        )
    if data.ndim == 2 and data.numblocks[1] != 1:
        raise ValueError(
            f"{name} must be chunked along rows only (one block across the "
            f"columns); got column chunks {data.chunks[1]}. Rechunk with "
            f"{name}.rechunk({{1: -1}})."
        )
    parts = list(data.to_delayed().ravel())
    if any(part.key not in part.dask for part in parts):
        # Persisted on a cluster: the optimised graph of its blocks is empty
        # (futures hold them), the graph as it is maps each key to its future.
        parts = list(data.to_delayed(optimize_graph=False).ravel())
    return RowBlocks(
        parts=parts,
        rows=tuple(int(r) for r in data.chunks[0]),
        shape=data.shape,
        meta=data,
        float_dtype=_fit_dtype(data.dtype),
    )


def _frame_blocks(data, name: str, ndim: int | None) -> RowBlocks:
    """A dask DataFrame or Series: its partitions and their lengths."""
    meta = data._meta
    _check_ndim(meta.ndim, name, ndim)
    # The column dtypes decide the precision, as check_array decides it for
    # a pandas input (all float32 columns stay float32).
    dtype = check_array(
        meta,
        dtype=(np.float64, np.float32),
        ensure_2d=False,
        ensure_min_samples=0,
        ensure_min_features=0,
        ensure_all_finite=False,
    ).dtype
    return RowBlocks(
        parts=list(data.to_delayed()),
        rows=None,
        shape=(np.nan, *meta.shape[1:]),
        meta=meta,
        float_dtype=np.dtype(dtype),
    )


def _fit_dtype(dtype) -> np.dtype:
    # fit's rule (check_array with dtype=(float64, float32)): float32 stays,
    # everything else becomes float64.
    return np.dtype(np.float32 if dtype == np.float32 else np.float64)


def _check_ndim(actual: int, name: str, expected: int | None) -> None:
    if expected is not None and actual != expected:
        raise ValueError(
            f"Expected {expected}D array for {name}, got {actual}D array instead."
        )
    if actual not in (1, 2):
        raise ValueError(f"{name} must be 1D or 2D; got {actual}D.")


def check_same_rows(X: RowBlocks, **others: RowBlocks | None) -> None:
    """Every collection must have the rows of X, cut at the same places.

    Decided here as far as it can be without reading any block; the lengths
    of DataFrame partitions are compared by :func:`check_block_rows` once the
    blocks are read.
    """
    if X.rows is not None and X.shape[0] == 0:
        raise_no_samples(X.shape)
    for name, other in others.items():
        if other is None:
            continue
        if len(other.parts) != len(X.parts) or (
            None not in (X.rows, other.rows) and other.rows != X.rows
        ):
            raise_different_rows(X, name, other)


def check_block_rows(X: RowBlocks, rows: list[tuple], **others) -> None:
    """Refusals of :func:`check_same_rows` once every block's length is
    known: ``rows`` holds, per block, the lengths of X and of each of
    ``others`` (None where absent).  Fills in unknown row chunks."""
    X.rows = tuple(r[0] for r in rows)
    for k, (name, other) in enumerate(others.items(), start=1):
        if other is None:
            continue
        other.rows = tuple(r[k] for r in rows)
        if other.rows != X.rows:
            raise_different_rows(X, name, other)
    if not sum(X.rows):
        raise_no_samples((0, *X.shape[1:]))


def raise_no_samples(shape) -> None:
    raise ValueError(
        f"Found array with 0 sample(s) (shape={shape}) while a minimum of "
        "1 is required."
    )


def raise_different_rows(X: RowBlocks, name: str, other: RowBlocks) -> None:
    raise ValueError(
        f"X and {name} must have the same row chunks; got {X.describe_rows()} "
        f"and {other.describe_rows()}."
    )
