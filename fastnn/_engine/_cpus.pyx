# cython: language_level=3
"""The engine's view of the CPUs it shares.

Holds: the team size each batch gets, from ``csrc/fastnn_cpus.h``, which
counts the runnable threads competing for the cores and leaves them theirs
(why: see that header).  Kept in one module so the whole engine shares one
count.
May call: ``csrc/fastnn_cpus.h``, nothing else.
"""

cdef extern from "fastnn_cpus.h" nogil:
    int fnn_competing_threads()
    int fnn_threads_now(int n_max)


cdef int threads_now(int n_max) noexcept nogil:
    return fnn_threads_now(n_max)


def competing_threads() -> int:
    """Runnable threads, in this process and others, that are neither the
    caller nor an engine worker (0 where they cannot be counted)."""
    return fnn_competing_threads()


def team_size(int n_max) -> int:
    """The team a batch started now would get, out of ``n_max`` threads."""
    return fnn_threads_now(n_max)
