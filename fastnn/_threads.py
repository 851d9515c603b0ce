"""Thread control around engine calls: the Python face of ``_engine._threads``.

The engine parallelises with OpenMP and calls BLAS from inside its threads,
so BLAS must run single-threaded meanwhile: OpenBLAS's and OpenMP's worker
threads both busy-wait, and running both teams at once was measured ten
times slower than either alone.  OpenBLAS's limit is one number for the
whole process: pinned from whichever thread calls the engine, it holds
for every thread until the last overlapping engine call restores it.

Fork: GNU libgomp's thread pool does not survive ``fork()`` (the child
inherits the pool's bookkeeping but not its threads, so the next parallel
region waits for them forever).  A one-thread region never wakes the pool
and was verified safe in a forked child after the parent ran a team, so a
child forked after the engine was handed a team runs the engine on one
thread: same results (they never depend on the thread count), no hang, no
environment variable to set.  A child of a process that never ran a team
(multiprocessing's forkserver, started fresh) has no pool to inherit and
runs the full team.  OpenBLAS re-initialises itself in the child through
its own atfork handler; a child forked while another thread was inside the
engine gets the user's BLAS settings back at once, since the call that
would restore them is not there.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import cache

from threadpoolctl import ThreadpoolController

from ._engine import PARALLEL_MIN_MACS, effective_n_threads
from ._engine import openmp_enabled as openmp_enabled  # re-exported

# Engine calls may overlap (predict from several Python threads, fits in a
# threaded grid search).  The BLAS limit is process-wide, so the first call
# to start sets it and the last to finish restores the user's setting;
# nested save/restore pairs would otherwise interleave and could leave BLAS
# pinned to one thread for good.
_lock = threading.Lock()
_active_calls = 0
_saved: list = []  # (library, its thread count) for each library pinned
# Whether this process, or the one it was forked from, handed the engine
# more than one thread (and so may have started libgomp's pool).
_team_started = False
_forked = False  # forked after a team started: the pool is unusable here


def _after_fork_in_child() -> None:
    global _lock, _active_calls, _saved, _forked
    # Another thread may have held the lock (or been inside an engine call)
    # at the moment of the fork; that thread does not exist in the child,
    # so nothing would ever give the child its BLAS settings back.
    _lock = threading.Lock()
    if _active_calls:
        for lib, n in _saved:
            if n != 1:
                lib.set_num_threads(n)
    _active_calls = 0
    _saved = []
    _forked = _team_started


os.register_at_fork(after_in_child=_after_fork_in_child)


class _OpenBLASFromAnyThread:
    """An OpenBLAS (pthreads) controller whose limit any thread may set.

    threadpoolctl lets only the first thread that set a limit on an OpenBLAS
    built with pthreads change it, and silently ignores every other thread,
    because that limit is process-wide. That is the limit fastnn needs to
    set: OpenBLAS 0.3.30 and 0.3.31 (NumPy's and SciPy's wheels) keep it in
    one global read by every calling thread (even their
    ``openblas_set_num_threads_local`` sets that global), so OpenBLAS's own
    setter, called from whatever thread runs the engine, is obeyed
    everywhere.
    """

    def __init__(self, lib, set_num_threads: Callable[[int], object]):
        self._lib = lib
        self._set_num_threads = set_num_threads

    def get_num_threads(self) -> int:
        return self._lib.get_num_threads()

    def set_num_threads(self, n: int) -> None:
        self._set_num_threads(n)


def _settable_from_any_thread(lib):
    """``lib``'s threadpoolctl controller, or for a pthreads OpenBLAS one
    that any thread may set."""
    # threadpoolctl made the library handle public (``dynlib``) in 3.2.
    dynlib = getattr(lib, "dynlib", None) or getattr(lib, "_dynlib", None)
    threading_layer = getattr(lib, "threading_layer", None)
    if lib.internal_api == "openblas" and threading_layer == "pthreads" and dynlib:
        # The symbol's affixes as threadpoolctl finds its getter's: NumPy's
        # copy also exports Fortran wrappers (``..._64_``) that take a pointer.
        for prefix, suffix in itertools.product(("", "scipy_"), ("", "64_", "_64")):
            name = f"{prefix}openblas_%s_num_threads{suffix}"
            if hasattr(dynlib, name % "get"):
                return _OpenBLASFromAnyThread(lib, getattr(dynlib, name % "set"))
    return lib


@cache
def _blas_libraries() -> list:
    # Scanning the loaded libraries takes milliseconds: do it once (the
    # engine, imported above, has loaded SciPy's BLAS by then).
    libs = ThreadpoolController().select(user_api="blas").lib_controllers
    return [_settable_from_any_thread(lib) for lib in libs]


def engine_n_threads() -> int:
    """The OpenMP thread count an engine call would be handed now."""
    return 1 if _forked else effective_n_threads()


@contextmanager
def engine_threads() -> Iterator[int]:
    """Pin BLAS to one thread and yield the OpenMP thread count to use."""
    global _active_calls, _saved, _team_started
    n_threads = engine_n_threads()
    if n_threads > 1:
        _team_started = True
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
    if n_rows * largest < PARALLEL_MIN_MACS:
        return nullcontext(1)
    return engine_threads()
