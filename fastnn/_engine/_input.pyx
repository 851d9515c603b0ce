# cython: language_level=3, boundscheck=False, wraparound=False
"""The engine's read-only view of an input matrix (see ``_input.pxd``).

Holds: ``InputMatrix``.  May call: NumPy.
"""

import numpy as np


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
            self._refs = X
            self.c.sparse = False
            self.c.values = <const void*><size_t>X.ctypes.data
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
