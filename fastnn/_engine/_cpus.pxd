# cython: language_level=3
"""How many engine threads can run now (see ``csrc/fastnn_cpus.h``)."""

cdef extern from "fastnn_cpus.h" nogil:
    # Inline, so every module gets its own copy: regions call it per thread.
    void fnn_mark_worker()

# One copy of the count and its cache, in _cpus.
cdef int threads_now(int n_max) noexcept nogil
