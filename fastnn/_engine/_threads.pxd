# cython: language_level=3
"""Thread control of the engine (see ``_threads.pyx``)."""

cdef extern from "fastnn_cpus.h" nogil:
    # Inline, so every module gets its own copy: regions call it per thread.
    void fnn_mark_worker()

from ._tuning cimport PARALLEL_MIN_ELEMENTS

# One copy of the count and its cache, in _threads.
cdef int threads_now(int n_max) noexcept nogil
cdef int gemm_blocks(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k) noexcept nogil


cdef inline int threads_for(Py_ssize_t n_elements, int n_threads) noexcept nogil:
    return n_threads if n_elements >= PARALLEL_MIN_ELEMENTS else 1
