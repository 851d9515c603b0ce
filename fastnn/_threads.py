"""Thread control around engine calls.

The engine parallelises with OpenMP and calls BLAS from inside its threads,
so BLAS must run single-threaded meanwhile: OpenBLAS's and OpenMP's worker
threads both busy-wait, and running both teams at once was measured ten
times slower than either alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from threadpoolctl import ThreadpoolController

from ._openmp import effective_n_threads


@cache
def _controller() -> ThreadpoolController:
    # Scanning the loaded libraries takes milliseconds: do it once.
    from . import _engine  # noqa: F401  (loads SciPy's BLAS first)

    return ThreadpoolController()


@contextmanager
def engine_threads() -> Iterator[int]:
    """Pin BLAS to one thread and yield the OpenMP thread count to use."""
    n_threads = effective_n_threads()
    with _controller().limit(limits=1, user_api="blas"):
        yield n_threads
