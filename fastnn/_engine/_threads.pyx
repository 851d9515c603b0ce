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
- into how many blocks a product outside training is cut, and the sizes
  below which a pass runs on one thread (``PARALLEL_MIN_*`` in
  ``_tuning.pxd``); a batch's cut is ``_plan``'s;
- an emulated machine (:func:`_emulate_cpus`): every one of the above read
  as if the machine had n free CPUs, for tests and benchmarks.

Results never depend on the team: blocks are a function of the sizes only,
never of the machine or the thread count.  BLAS's own threads are pinned around engine
calls by ``fastnn._threads``, the Python face of this module.

May call: ``csrc/fastnn_cpus.h`` and the OpenMP runtime, nothing else.
"""

import operator
import os
from functools import cache

from joblib import cpu_count

from ._tuning cimport MAX_BLOCKS, PARALLEL_MIN_MACS, PREDICT_BLOCK_ROWS

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define FNN_HAVE_OPENMP 1
    #else
    #define FNN_HAVE_OPENMP 0
    static int omp_get_max_threads(void) { return 1; }
    static int omp_get_num_procs(void) { return 1; }
    #endif
    """
    bint FNN_HAVE_OPENMP
    int omp_get_max_threads() nogil
    int omp_get_num_procs() nogil

cdef extern from *:
    # Defined by Cython in the C it generates: the version that built us.
    unsigned long CYTHON_HEX_VERSION

cdef extern from "fastnn_cpus.h" nogil:
    double fnn_count_expires
    int fnn_competing_threads(int *in_process)
    int fnn_threads_now(int n_max)
    int fnn_counting
    int fnn_emulated_cpus
    long long fnn_counts_taken
    long long fnn_count_ns
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
    if _emulated:
        omp_max = omp_get_max_threads()
        # The runtime's default maximum is the real machine's CPU count, so
        # only a maximum below it is a limit someone set.
        return omp_max if omp_max < omp_get_num_procs() else _emulated
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


# --- an emulated machine ---------------------------------------------------------

_emulated = 0  # CPUs emulated by _emulate_cpus, 0 for the real machine


def _emulate_cpus(n: int | None) -> int | None:
    """Behave as if the machine had ``n`` logical CPUs, all free (tests and
    benchmarks only); ``None`` or 0 restores the real machine.

    Everything in fastnn that reads the machine then reads ``n``:

    - the team ceiling (:func:`effective_n_threads`) is ``n``, whatever
      the CPU affinity and the container's quota; the OpenMP runtime's
      maximum still caps it when it is below the real machine's CPU count
      (``OMP_NUM_THREADS=1``, ``threadpool_limits(1)``), since only then
      can it be told from the runtime's default.  A limit between the real
      CPU count and ``n`` is not seen;
    - the team of each batch (:func:`team_size`) is the whole ceiling: no
      competitor is counted, as on a machine whose every core is free.

    How a batch is cut never depends on the machine (``_plan``), so there
    is nothing else to emulate.

    The engine hands every parallel region its team explicitly, so the
    OpenMP runtime runs ``n`` threads even where ``OMP_NUM_THREADS`` is
    unset and the machine has fewer cores: ``n`` threads then share the
    real cores, and only the work each thread does, not the wall time, is
    what a real machine with ``n`` cores would see (``benchmarks/
    scaling.py``).  The setting is process-wide: every thread sees it, and
    a child forked after it inherits it (a child forked after a team ran
    still runs the engine on one thread, see ``fastnn._threads``).

    Parameters
    ----------
    n : int or None
        Logical CPUs to emulate; ``None`` or 0 for the real machine.

    Returns
    -------
    previous : int or None
        The setting before the call, ``None`` for the real machine: pass
        it back to restore it.
    """
    global _emulated, fnn_emulated_cpus
    n = 0 if n is None else operator.index(n)
    if n < 0:
        raise ValueError(f"the CPU count must be positive, 0 or None, got {n}")
    previous = _emulated or None
    _emulated = n
    fnn_emulated_cpus = n
    return previous


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


def _count_stats() -> tuple[int, float]:
    """Counts of the competitors taken since the process started and the
    seconds they took (benchmarks and tests)."""
    return fnn_counts_taken, fnn_count_ns * 1e-9


def _set_counting(bint on) -> None:
    """Count the competitors (the default) or always run the full team
    (tests only: it makes sure the workers run on a busy machine).

    Turning counting on also drops the cached count, so the next team is
    counted afresh (a count is cached for up to 100 times what it took).
    """
    global fnn_counting, fnn_count_expires
    fnn_counting = on
    if on:
        fnn_count_expires = 0.0


# --- blocks and thresholds -----------------------------------------------------

cdef int gemm_blocks(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    """Into how many row blocks a product outside training is cut (a
    prediction's layers, the input gradient): a power of two, so that
    blocks share out evenly on the usual core counts, of at least
    ``PREDICT_BLOCK_ROWS`` rows, at most ``MAX_BLOCKS``.

    A function of the product's size only: BLAS may pick a different
    kernel (and summation order) for a different block size, so the blocks
    must depend neither on the thread count nor on the machine for results
    to be identical everywhere.
    """
    cdef int blocks = 1
    if m * n * k < PARALLEL_MIN_MACS:
        return 1
    while blocks * 2 <= MAX_BLOCKS and m >= blocks * 2 * PREDICT_BLOCK_ROWS:
        blocks *= 2
    return blocks
