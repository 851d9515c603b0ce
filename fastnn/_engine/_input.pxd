# cython: language_level=3
"""How the engine sees an input matrix.

Holds: ``Input``, the C description of a dense (any strides) or CSR matrix
read in place, the ``InputMatrix`` class that builds it from Python, and the
tests that say whether BLAS can read a dense one in place.
May call: nothing in the engine.
"""


cdef struct Input:
    bint sparse
    const void *values          # dense: element (0, 0); CSR: the data array
    Py_ssize_t row_stride       # dense strides, in elements
    Py_ssize_t col_stride
    const Py_ssize_t *indices   # CSR
    const Py_ssize_t *indptr
    Py_ssize_t n_rows, n_cols
    Py_ssize_t row_nnz          # stored entries of an average row: n_cols if dense
    Py_ssize_t max_row_nnz      # and of the fullest row


cdef class InputMatrix:
    cdef Input c
    cdef readonly object dtype
    cdef object _refs


cdef inline bint c_rows(const Input *X) noexcept nogil:
    """A dense X BLAS reads in place as a row-major matrix."""
    return not X.sparse and X.col_stride == 1 and X.row_stride >= X.n_cols


cdef inline bint f_cols(const Input *X) noexcept nogil:
    """A dense X BLAS reads in place as a column-major matrix."""
    return not X.sparse and X.row_stride == 1 and X.col_stride >= X.n_rows


cdef inline bint blas_readable(const Input *X) noexcept nogil:
    return c_rows(X) or f_cols(X)
