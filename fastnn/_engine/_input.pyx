# cython: language_level=3, boundscheck=False, wraparound=False
# distutils: define_macros=NPY_NO_DEPRECATED_API=NPY_1_7_API_VERSION
# cython: cdivision=True
"""The engine's read-only view of an input matrix (see ``_input.pxd``).

Holds: ``InputMatrix`` and its finiteness test.
May call: ``_kernels``, ``_threads``, NumPy.
"""

from cython cimport floating
from cython.parallel cimport prange

from ._kernels cimport all_finite, split
from ._threads cimport fnn_mark_worker, threads_for, threads_now

cimport numpy as cnp

import numpy as np

cnp.import_array()

# Values per piece of the finiteness test: the pieces depend on the
# matrix's size only, and each is large enough that a thread's share is
# not dominated by the loop around it.
cdef Py_ssize_t FINITE_PIECE = 1 << 16


cdef class InputMatrix:
    """The engine's read-only view of an input matrix.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features) or scipy CSR matrix
        float32 or float64.  Dense arrays are read in place whatever their
        strides (read-only and memory-mapped arrays included); a CSR matrix
        is read through its data, indices and indptr arrays and never
        densified.  Those arrays are trusted: every call checks them first
        (``_network.checked_validation``), before SciPy's conversions too.
    """

    def __cinit__(self, X):
        cdef cnp.ndarray array
        if X.ndim != 2:
            raise ValueError(f"the engine needs a 2-D input, got {X.ndim}-D")
        if X.dtype != np.float32 and X.dtype != np.float64:
            raise TypeError(
                f"the engine reads float32 or float64 input, got {X.dtype}")
        self.c.n_rows, self.c.n_cols = X.shape
        self.dtype = X.dtype
        if hasattr(X, "indptr"):
            if getattr(X, "format", None) != "csr":
                # A CSC or BSR matrix's index arrays mean something else.
                raise TypeError("the engine reads sparse input as CSR only, got "
                                f"{getattr(X, 'format', type(X).__name__)}")
            # Index arrays are widened to intp once, so one kernel serves
            # int32- and int64-indexed matrices.
            data = np.asarray(X.data)
            indices = np.ascontiguousarray(X.indices, dtype=np.intp)
            indptr = np.ascontiguousarray(X.indptr, dtype=np.intp)
            if not data.flags.c_contiguous:
                data = np.ascontiguousarray(data)
            self._refs = (data, indices, indptr)
            self.c.sparse = True
            self.c.values = <const void*><size_t>data.ctypes.data
            self.c.indices = <const Py_ssize_t*><size_t>indices.ctypes.data
            self.c.indptr = <const Py_ssize_t*><size_t>indptr.ctypes.data
            self.c.row_stride = self.c.col_stride = 0
            self.c.row_nnz = max(1, data.shape[0] // max(1, self.c.n_rows))
            self.c.max_row_nnz = int(np.diff(indptr).max()) if self.c.n_rows else 0
        else:
            item = X.dtype.itemsize
            if X.strides[0] % item or X.strides[1] % item:
                X = np.ascontiguousarray(X)
            array = X
            self._refs = X
            self.c.sparse = False
            # Not X.ctypes.data, which builds an object costing a tenth of
            # a one-row prediction.
            self.c.values = cnp.PyArray_DATA(array)
            self.c.row_stride = X.strides[0] // item
            self.c.col_stride = X.strides[1] // item
            self.c.indices = self.c.indptr = NULL
            self.c.row_nnz = self.c.max_row_nnz = self.c.n_cols

    @property
    def shape(self):
        return (self.c.n_rows, self.c.n_cols)

    @property
    def sparse(self):
        return bool(self.c.sparse)

    def all_finite(self, int n_threads):
        """Whether every stored value is finite (no NaN, no infinity).

        The values are read once, shared among up to ``n_threads`` threads
        (those the machine has free, see ``_threads``).  Only a test: the
        caller gives scikit-learn's error for what it finds.
        """
        cdef bint finite
        cdef bint single = self.dtype == np.float32
        with nogil:
            if single:
                finite = _all_finite[float](&self.c, <const float*>self.c.values,
                                            n_threads)
            else:
                finite = _all_finite[double](&self.c, <const double*>self.c.values,
                                             n_threads)
        return finite


cdef bint _all_finite(const Input *X, const floating *values,
                      int n_threads) noexcept nogil:
    """Whether X holds only finite values, read in pieces of whole lines.

    A line is a dense matrix's row (its column when columns are the
    contiguous ones), read through any strides, or a CSR matrix's data
    array, which, being the only line, is cut along its length instead.
    """
    cdef Py_ssize_t n_lines, length, line_step, step
    if X.sparse:
        n_lines, length, line_step, step = 1, X.indptr[X.n_rows], 0, 1
    elif X.row_stride == 1 and X.col_stride != 1:
        n_lines, length = X.n_cols, X.n_rows
        line_step, step = X.col_stride, X.row_stride
    else:
        n_lines, length = X.n_rows, X.n_cols
        line_step, step = X.row_stride, X.col_stride
    cdef Py_ssize_t n_values = n_lines * length
    if n_values == 0:
        return True
    cdef Py_ssize_t n_items = n_lines if n_lines > 1 else length
    cdef int n_pieces = <int>max(1, min(n_items, n_values // FINITE_PIECE))
    cdef int n_team = min(threads_now(threads_for(n_values, n_threads)), n_pieces)
    cdef int p
    cdef int bad = 0
    for p in prange(n_pieces, num_threads=n_team, schedule="static"):
        fnn_mark_worker()
        if not _piece_finite(values, n_lines, length, line_step, step,
                             split(n_items, p, n_pieces),
                             split(n_items, p + 1, n_pieces)):
            bad += 1
    return bad == 0


cdef bint _piece_finite(const floating *values, Py_ssize_t n_lines,
                        Py_ssize_t length, Py_ssize_t line_step,
                        Py_ssize_t step, Py_ssize_t lo,
                        Py_ssize_t hi) noexcept nogil:
    """Lines lo:hi of a matrix (or values lo:hi of its single line)."""
    cdef Py_ssize_t i
    if n_lines == 1:
        if step == 1:
            return all_finite(values + lo, hi - lo)
        return _strided_finite(values + lo * step, hi - lo, step)
    for i in range(lo, hi):
        if step == 1:
            if not all_finite(values + i * line_step, length):
                return False
        elif not _strided_finite(values + i * line_step, length, step):
            return False
    return True


cdef bint _strided_finite(const floating *x, Py_ssize_t n,
                          Py_ssize_t step) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n):
        if not (x[j * step] - x[j * step] == 0):
            return False
    return True
