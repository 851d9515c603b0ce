# cython: language_level=3
"""Thread control of the engine (see ``_threads.pyx``)."""

cdef extern from "fastnn_cpus.h" nogil:
    # Inline, so every module gets its own copy: regions call it per thread.
    void fnn_mark_worker()

cpdef enum:
    # Python reads these too (small predictions leave BLAS alone).
    # Passes smaller than this run on one thread: below it, waking the
    # OpenMP team costs more than the work (elements for element-wise
    # passes, multiply-adds for products).
    PARALLEL_MIN_ELEMENTS = 32768
    PARALLEL_MIN_MACS = 65536
    # Products outside training are cut into at most this many row blocks
    # (see gemm_blocks), of at least MIN_BLOCK_ROWS rows: BLAS slows down on
    # thin blocks (measured with OpenBLAS: 50-row blocks of a 200-row batch
    # ran 25% slower than 100-row blocks).  64: one block per core of the
    # largest machines the engine is written for.
    MAX_BLOCKS = 64

# One copy of the count and its cache, in _threads.
cdef int threads_now(int n_max) noexcept nogil
cdef int gemm_blocks(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k) noexcept nogil


cdef inline int threads_for(Py_ssize_t n_elements, int n_threads) noexcept nogil:
    return n_threads if n_elements >= PARALLEL_MIN_ELEMENTS else 1
