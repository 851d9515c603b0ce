# cython: language_level=3
"""The one place that talks to the OpenMP runtime.

Every thread count in fastnn comes from :func:`effective_n_threads`, which
honours ``OMP_NUM_THREADS`` and threadpoolctl's limits as scikit-learn's
own OpenMP code does, but caps them at the *logical* CPUs the process may
run on (scikit-learn caps at physical, cgroup-aware cores).  Without OpenMP
the build is serial and reports one thread.
"""

import os

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


def openmp_enabled() -> bool:
    """Whether the extension was compiled with OpenMP support."""
    return FNN_HAVE_OPENMP


def effective_n_threads() -> int:
    """Number of OpenMP threads a fit or predict will use.

    The OpenMP runtime's current maximum (``OMP_NUM_THREADS`` or a
    threadpoolctl limit), capped at the number of usable CPUs; 1 when
    compiled without OpenMP.
    """
    if not FNN_HAVE_OPENMP:
        return 1
    try:
        n_cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        n_cpus = os.cpu_count() or 1
    return max(1, min(omp_get_max_threads(), n_cpus))
