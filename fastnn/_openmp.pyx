# cython: language_level=3
"""The one place that talks to the OpenMP runtime.

Every thread count in fastnn comes from :func:`effective_n_threads`, which
honours ``OMP_NUM_THREADS`` and threadpoolctl's limits as scikit-learn's
own OpenMP code does, and caps them at the *logical* CPUs the process may
use: its CPU affinity and its container's CPU quota (cgroup v1 or v2, as
joblib counts them; scikit-learn caps at physical cores).  Without OpenMP
the build is serial and reports one thread.  Within that count, the engine
sizes each batch's team to the cores other threads leave free
(``fastnn/_engine/_cpus.pyx``).
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


def openmp_enabled() -> bool:
    """Whether the extension was compiled with OpenMP support."""
    return FNN_HAVE_OPENMP


def effective_n_threads() -> int:
    """Number of OpenMP threads a fit or predict will use.

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
