# cython: language_level=3
"""Thread control: the one module that decides how many threads run what.

Holds, from the outermost decision in:

- the team ceiling, :func:`effective_n_threads`: the OpenMP runtime's
  maximum (``OMP_NUM_THREADS`` or a threadpoolctl limit, as scikit-learn's
  own OpenMP code reads it), capped at the *logical* CPUs the process may
  use: its CPU affinity and its container's CPU quota (cgroup v1 or v2, as
  joblib counts them; scikit-learn caps at physical cores).  Without OpenMP
  the build is serial and reports one thread;
- the team each batch (or prediction chunk) actually gets, at most the
  ceiling: the cores other runnable threads leave free, counted by
  ``csrc/fastnn_cpus.h`` (why: see that header);
- into how many blocks a product is cut, and the sizes below which a pass
  runs on one thread (``PARALLEL_MIN_*`` in ``_threads.pxd``).

Results never depend on the team: blocks are a function of the sizes and of
the machine's logical CPU count (as BLAS kernels depend on its CPU model),
never of the thread count.  BLAS's own threads are pinned around engine
calls by ``fastnn._threads``, the Python face of this module.

May call: ``csrc/fastnn_cpus.h`` and the OpenMP runtime, nothing else.
"""

import os
from functools import cache

from joblib import cpu_count

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define FNN_HAVE_OPENMP 1
    #else
    #define FNN_HAVE_OPENMP 0
    static int omp_get_max_threads(void) { return 1; }
    #endif
    """
    bint FNN_HAVE_OPENMP
    int omp_get_max_threads() nogil

cdef extern from *:
    # Defined by Cython in the C it generates: the version that built us.
    unsigned long CYTHON_HEX_VERSION

cdef extern from "fastnn_cpus.h" nogil:
    int fnn_competing_threads(int *in_process)
    int fnn_threads_now(int n_max)
    int fnn_counting
    int fnn_others_confirmed(double now, double since, long long stall,
                             long long stall_before, double read_at)
    long long fnn_cpu_stall_us()
    char *fnn_psi_path


# --- the ceiling -------------------------------------------------------------

def openmp_enabled() -> bool:
    """Whether the extension was compiled with OpenMP support."""
    return FNN_HAVE_OPENMP


def cython_version() -> str:
    """Version of Cython that generated the extension's C, as ``"3.1.2"``.

    Read from ``CYTHON_HEX_VERSION`` in that C, so it holds whatever Cython
    is installed now (usually none: pip builds in an isolated environment).
    The hex layout is ``PY_VERSION_HEX``'s: major, minor, micro, then the
    release level (``A``, ``B``, ``C`` for a, b, rc; ``F`` final) and serial.
    """
    cdef unsigned long h = CYTHON_HEX_VERSION
    version = f"{h >> 24}.{(h >> 16) & 0xFF}.{(h >> 8) & 0xFF}"
    level = (h >> 4) & 0xF
    if level != 0xF:
        version += {0xA: "a", 0xB: "b", 0xC: "rc"}.get(level, "?") + str(h & 0xF)
    return version


def effective_n_threads() -> int:
    """Most OpenMP threads a fit or predict will use.

    The OpenMP runtime's current maximum (``OMP_NUM_THREADS`` or a
    threadpoolctl limit), capped at the CPUs in the process's affinity mask
    and its container's CPU quota; 1 when compiled without OpenMP.
    """
    if not FNN_HAVE_OPENMP:
        return 1
    try:
        # Read each call: the affinity can change while the process runs.
        n_cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        n_cpus = os.cpu_count() or 1
    return max(1, min(omp_get_max_threads(), n_cpus, _quota_cpus()))


@cache
def _quota_cpus() -> int:
    # A container's quota is set when it starts; reading the cgroup files
    # takes longer than a small prediction, so read them once.
    return cpu_count(only_physical_cores=False)


# --- the team of each batch ----------------------------------------------------

cdef int threads_now(int n_max) noexcept nogil:
    return fnn_threads_now(n_max)


def competing_threads() -> tuple[int, int]:
    """Runnable threads that are neither the caller nor an engine worker:
    ``(in this process, in other processes)``, zeros where they cannot be
    counted."""
    cdef int in_process
    cdef int total = fnn_competing_threads(&in_process)
    return in_process, total - in_process


def team_size(int n_max) -> int:
    """The team a batch started now would get, out of at most ``n_max``."""
    return fnn_threads_now(n_max)


def _others_confirmed(double now, double since, long long stall_us,
                      long long stall_before_us, double read_at) -> bool:
    """The count's rule for other processes' threads (tests only): seen
    since ``since``, with the CPU stall total now and at ``read_at``."""
    return bool(fnn_others_confirmed(now, since, stall_us, stall_before_us,
                                     read_at))


def _cpu_stall_us() -> int:
    """The CPU pressure total the count reads (microseconds), -1 without
    PSI (tests only)."""
    return fnn_cpu_stall_us()


def _cpu_pressure_file() -> str:
    """The file that total is read from, "" without PSI (tests only)."""
    fnn_cpu_stall_us()
    return (<bytes>fnn_psi_path).decode()


def _set_counting(bint on) -> None:
    """Count the competitors (the default) or always run the full team
    (tests only: it makes sure the workers run on a busy machine)."""
    global fnn_counting
    fnn_counting = on


# --- blocks and thresholds -----------------------------------------------------

def _machine_blocks():
    """As many blocks as the machine has logical CPUs, rounded down to a
    power of two, at most MAX_BLOCKS."""
    cpus = os.cpu_count() or 1
    blocks = 1
    while blocks * 2 <= min(cpus, MAX_BLOCKS):
        blocks *= 2
    return blocks


cdef int GEMM_BLOCKS = _machine_blocks()


def gemm_block_count() -> int:
    """Blocks a large product is cut into now (what ``show_config`` reports)."""
    return GEMM_BLOCKS


def _set_gemm_blocks(int n):
    """Cut every large product into ``n`` blocks from now on (tests only).

    Returns the previous count.  ``n`` is a power of two up to 8.
    """
    global GEMM_BLOCKS
    if n not in (1, 2, 4, 8) or n > MAX_BLOCKS:
        raise ValueError(f"the block count must be 1, 2, 4 or 8, got {n}")
    previous = GEMM_BLOCKS
    GEMM_BLOCKS = n
    return previous


cdef int block_count() noexcept nogil:
    """Blocks of a large product (and most row blocks of a batch)."""
    return GEMM_BLOCKS


cdef int gemm_blocks(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    """Into how many blocks a product is split: a function of its size and
    of the machine's CPU count only.

    BLAS may pick a different kernel (and summation order) for a different
    block size, so the blocks must not depend on the thread count if
    results are to be identical for any number of threads.
    """
    return GEMM_BLOCKS if m * n * k >= PARALLEL_MIN_MACS else 1
