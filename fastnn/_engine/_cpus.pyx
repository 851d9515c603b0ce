# cython: language_level=3
"""The engine's view of the CPUs it shares.

Holds: the team size each batch gets, from ``csrc/fastnn_cpus.h``, which
counts the runnable threads competing for the cores and leaves them theirs
(why: see that header).  Kept in one module so the whole engine shares one
count.
May call: ``csrc/fastnn_cpus.h``, nothing else.
"""

cdef extern from "fastnn_cpus.h" nogil:
    int fnn_competing_threads(int *in_process)
    int fnn_threads_now(int n_max)
    int fnn_counting


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
    """The team a batch started now would get, out of ``n_max`` threads."""
    return fnn_threads_now(n_max)


def _set_counting(bint on) -> None:
    """Count the competitors (the default) or always run the full team
    (tests only: it makes sure the workers run on a busy machine)."""
    global fnn_counting
    fnn_counting = on
