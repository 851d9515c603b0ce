"""Thread control around engine calls.

The engine parallelises with OpenMP and calls BLAS from inside its threads,
so BLAS must run single-threaded meanwhile: OpenBLAS's and OpenMP's worker
threads both busy-wait, and running both teams at once was measured ten
times slower than either alone.

Fork: GNU libgomp's thread pool does not survive ``fork()`` (the child
inherits the pool's bookkeeping but not its threads, so the next parallel
region waits for them forever).  A one-thread region never wakes the pool
and was verified safe in a forked child after the parent ran a team, so a
forked child runs the engine on one thread: same results (they never depend
on the thread count), no hang, no environment variable to set.  OpenBLAS
re-initialises itself in the child through its own atfork handler.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import cache

from threadpoolctl import ThreadpoolController

from ._engine import PARALLEL_MIN_PRODUCT
from ._openmp import effective_n_threads

# Engine calls may overlap (predict from several Python threads, fits in a
# threaded grid search).  The BLAS limit is process-wide, so the first call
# to start sets it and the last to finish restores the user's setting;
# nested save/restore pairs would otherwise interleave and could leave BLAS
# pinned to one thread for good.
_lock = threading.Lock()
_active_calls = 0
_saved: list = []  # (library, its thread count) for each library pinned
_forked = False


def _after_fork_in_child() -> None:
    global _lock, _active_calls, _saved, _forked
    # Another thread may have held the lock (or been inside an engine call)
    # at the moment of the fork; that thread does not exist in the child.
    _lock = threading.Lock()
    _active_calls = 0
    _saved = []
    _forked = True


os.register_at_fork(after_in_child=_after_fork_in_child)


@cache
def _blas_libraries() -> list:
    # Scanning the loaded libraries takes milliseconds: do it once (the
    # engine, imported above, has loaded SciPy's BLAS by then).
    return ThreadpoolController().select(user_api="blas").lib_controllers


@contextmanager
def engine_threads() -> Iterator[int]:
    """Pin BLAS to one thread and yield the OpenMP thread count to use."""
    global _active_calls, _saved
    n_threads = 1 if _forked else effective_n_threads()
    with _lock:
        if _active_calls == 0:
            # The libraries' own getters and setters: threadpoolctl's limit()
            # also collects every library's version and architecture, which
            # cost more than a small prediction.
            _saved = [(lib, lib.get_num_threads()) for lib in _blas_libraries()]
            for lib, n in _saved:
                if n != 1:
                    lib.set_num_threads(1)
        _active_calls += 1
    try:
        yield n_threads
    finally:
        with _lock:
            _active_calls -= 1
            if _active_calls == 0:
                for lib, n in _saved:
                    if n != 1:
                        lib.set_num_threads(n)
                _saved = []


def forward_threads(n_rows: int, layer_units: list[int]) -> AbstractContextManager[int]:
    """``engine_threads()`` for a forward pass, or one thread and BLAS left
    alone when every product is too small for either to use a second one.

    Pinning and restoring the BLAS thread counts costs a few microseconds,
    a fifth of a one-row prediction; below the threshold it changes nothing.
    """
    # OpenBLAS, too, keeps a GEMM of m*n*k up to 4 x 65,536 on the calling
    # thread.
    largest = max(a * b for a, b in zip(layer_units, layer_units[1:]))
    if n_rows * largest < PARALLEL_MIN_PRODUCT:
        return nullcontext(1)
    return engine_threads()
