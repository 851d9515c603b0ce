"""Thread control around engine calls: the Python face of ``_engine._threads``.

The engine parallelises with OpenMP.  Where it calls BLAS from inside its
threads, BLAS must run single-threaded meanwhile: OpenBLAS's and OpenMP's
worker threads both busy-wait, and running both teams at once was
measured ten times slower than either alone.  BLAS must also run
single-threaded for results not to depend on the thread count: OpenBLAS
splits a product differently for each count of its own (169 of 792 shapes
tried gave other bits on two threads than on one).

So ``engine_threads(blas=...)`` pins BLAS to one thread only for calls that
reach it: predictions (``forward_threads``: those with a product large
enough for either to split), input gradients, and training or gradient
evaluations when their products run on BLAS (``_engine.products()`` is
"blas": a CPU without AVX2, or forced).  Stochastic training on the
engine's own kernels, the default on any AVX2 CPU, never touches the
BLAS settings.  An L-BFGS fit pins BLAS for the whole fit whatever its
products: SciPy's L-BFGS-B calls BLAS between the evaluations, and
OpenBLAS's threads there, beside the engine's team, made whole fits 2 to
11 times slower on two cores (and the model depend on the BLAS thread
count).

OpenBLAS's limit is one number for the whole process: pinned from
whichever thread calls the engine, it holds for every thread until the
last overlapping pinning call ends.  What the user sets meanwhile wins:
a call that starts while another holds the pin takes a count other than
one as the user's newest setting, and the last call to end restores the
saved count only to a library still at the one thread it was pinned to.
A count the user sets during a pinning call (``threadpool_limits``, with
or without ``with``) is thus kept, except a count of one, which cannot be
told from the pin: it gives way to the count from before the call.

Fork: GNU libgomp's thread pool does not survive ``fork()`` (the child
inherits the pool's bookkeeping but not its threads, so the next parallel
region waits for them forever).  A one-thread region never wakes the pool
and was verified safe in a forked child after the parent ran a team, so a
child forked after the engine was handed a team runs the engine on one
thread: same results (they never depend on the thread count), no hang, no
environment variable to set.  A child of a process that never ran a team
(multiprocessing's forkserver, started fresh) has no pool to inherit and
runs the full team.  OpenBLAS re-initialises itself in the child through
its own atfork handler; a child forked while another thread was inside a
pinning call gets the user's BLAS settings back at once, since the call
that would restore them is not there.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import cache

from threadpoolctl import ThreadpoolController

from ._engine import PARALLEL_MIN_MACS, effective_n_threads, products
from ._engine import openmp_enabled as openmp_enabled  # re-exported

# Pinning calls may overlap (predict from several Python threads, fits in a
# threaded grid search).  The BLAS limit is process-wide, so the calls share
# one pin and the last to finish restores the user's setting; nested
# save/restore pairs would otherwise interleave and could leave BLAS pinned
# to one thread for good.
_lock = threading.Lock()
_active_calls = 0  # pinning calls running
_saved: dict = {}  # index in _blas_libraries() -> the user's count it had
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
        _restore_user_counts()
    _active_calls = 0
    _saved = {}
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


def _pin_blas() -> None:
    global _active_calls
    with _lock:
        # The libraries' own getters and setters: threadpoolctl's limit()
        # also collects every library's version and architecture, which
        # cost more than a small prediction.
        for i, lib in enumerate(_blas_libraries()):
            n = lib.get_num_threads()
            if n != 1:
                # Not the pin (a call that overlaps this one may find the
                # user's change made since the pin): the user's newest count.
                _saved[i] = n
                lib.set_num_threads(1)
        _active_calls += 1


def _restore_user_counts() -> None:
    libs = _blas_libraries()
    for i, n in _saved.items():
        # A count other than the pin's one was set by the user meanwhile:
        # it stands.
        if libs[i].get_num_threads() == 1:
            libs[i].set_num_threads(n)


def _unpin_blas() -> None:
    global _active_calls, _saved
    with _lock:
        _active_calls -= 1
        if _active_calls == 0:
            _restore_user_counts()
            _saved = {}


@contextmanager
def engine_threads(blas: bool = True) -> Iterator[int]:
    """Yield the OpenMP thread count an engine call is to use, with BLAS
    pinned to one thread for the call if ``blas`` (see the module
    docstring for which calls need it)."""
    global _team_started
    n_threads = engine_n_threads()
    if n_threads > 1:
        _team_started = True
    if not blas:
        yield n_threads
        return
    _pin_blas()
    try:
        yield n_threads
    finally:
        _unpin_blas()


def products_threads() -> AbstractContextManager[int]:
    """``engine_threads()`` for training and gradient evaluations: BLAS is
    pinned only when their products run on it (``_engine.products()``)."""
    return engine_threads(blas=products() == "blas")


# Reused: the context manager holds no state.
_ONE_THREAD = nullcontext(1)


def forward_threads(n_rows: int, largest_layer: int) -> AbstractContextManager[int]:
    """``products_threads()`` for a forward pass (predictions run on the
    same products as training), or one thread and BLAS left alone when
    every product is too small for either to use a second one.

    ``largest_layer`` is the largest layer's multiply-adds per row
    (``Network.largest_layer``).  Pinning and restoring the BLAS thread
    counts costs a few microseconds, a fifth of a one-row prediction; below
    the threshold it changes nothing.
    """
    # OpenBLAS, too, keeps a GEMM of m*n*k up to 4 x 65,536 on the calling
    # thread.
    if n_rows * largest_layer < PARALLEL_MIN_MACS:
        return _ONE_THREAD
    return products_threads()
