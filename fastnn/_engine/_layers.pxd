# cython: language_level=3
"""Layer passes: one layer's forward, backward and weight-gradient products.

Holds: which kernels training's products run on (BLAS or the engine's own,
``_set_products``), the passes over a range of rows (what one thread runs on
one block) on either, the passes over all rows of a layer (blocks shared
among threads) and their sparse first-layer twins.
May call: ``_kernels`` (BLAS and the element kernels), ``_input``,
``_threads`` (how many blocks a product is cut into) and ``_phases``.
"""

from cython cimport floating

from ._input cimport Input
from ._kernels cimport fnn_activation
from ._tuning cimport FNN_GRADIENT_PANEL_ROWS, FNN_PANEL_ROWS


# A GEMM-like signature, as BLAS's: the typed pointers cannot go in a struct
# (Cython structs take no fused types).
cdef void forward_rows(const floating *a,  # IN: the layer's input rows,
                       Py_ssize_t lda,     #   leading dimension lda,
                       bint a_col_major,   #   column-major if true
                       Py_ssize_t n_in,
                       const floating *w,  # IN: n_in x n_out coefficients
                       const floating *b,  # IN: n_out intercepts
                       Py_ssize_t n_out,
                       fnn_activation act,
                       floating *z,        # OUT: rows r0:r1 of f(a @ w + b)
                       floating *pre,      # OUT unless NULL: a @ w + b
                       Py_ssize_t r0, Py_ssize_t r1) noexcept nogil
# A forward unit: rows r0:r1, columns c0:c1 of f(A @ w + b), in panels.
cdef void forward_panels(int level, const floating *a, Py_ssize_t lda,
                         const Py_ssize_t *ids, Py_ssize_t k,
                         const floating *w, const floating *b, Py_ssize_t n,
                         fnn_activation act, floating *z, floating *pre,
                         Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t c0,
                         Py_ssize_t c1) noexcept nogil
cdef enum:
    BLAS_PRODUCTS = -1  # products_level() when training's products run on BLAS

cdef int products_level() noexcept nogil  # BLAS_PRODUCTS or a kernel level

# Training's two products, on a level of the engine's kernels or on BLAS:
# the one place that tells them apart.
cdef void rows_product(int level, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                       const floating *a, Py_ssize_t lda,
                       const Py_ssize_t *ids, const floating *b,
                       Py_ssize_t ldb, floating *c,
                       Py_ssize_t ldc) noexcept nogil
cdef void cols_product(int level, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                       const floating *a, Py_ssize_t lda,
                       const Py_ssize_t *ids, Py_ssize_t i0,
                       const floating *b, Py_ssize_t ldb, floating *c,
                       Py_ssize_t ldc, bint accumulate) noexcept nogil


cdef inline Py_ssize_t panel_rows(int level, Py_ssize_t rows) noexcept nogil:
    """Rows of the panels a unit of ``rows`` rows is run in: the kernels'
    panels, which stay in L1 for the element work; one BLAS call for all."""
    return rows if level == BLAS_PRODUCTS else FNN_PANEL_ROWS


cdef inline Py_ssize_t gradient_panel_rows(int level,
                                           Py_ssize_t rows) noexcept nogil:
    return rows if level == BLAS_PRODUCTS else FNN_GRADIENT_PANEL_ROWS
cdef void transpose_rows(const floating *w, Py_ssize_t n_in,
                         Py_ssize_t n_out, Py_ssize_t k0, Py_ssize_t k1,
                         Py_ssize_t c0, Py_ssize_t c1,
                         floating *wt) noexcept nogil
cdef void column_sums(const floating *delta, Py_ssize_t rows, Py_ssize_t n,
                      Py_ssize_t c0, Py_ssize_t c1, floating *out,
                      bint accumulate) noexcept nogil

cdef void forward_layer(const floating *a, Py_ssize_t rows, Py_ssize_t n_in,
                        bint a_col_major, Py_ssize_t lda, const floating *w,
                        const floating *b, Py_ssize_t n_out, fnn_activation act,
                        floating *z, floating *pre, int n_threads) noexcept nogil
cdef void backward_layer(const floating *delta, Py_ssize_t rows,
                         Py_ssize_t n_out, const floating *w, Py_ssize_t n_in,
                         const floating *a, const floating *pre,
                         fnn_activation act, floating *out,
                         int n_threads) noexcept nogil

cdef void sparse_forward_rows(const Input *X, const Py_ssize_t *row_ids,
                              Py_ssize_t first_row, const floating *w,
                              const floating *b, Py_ssize_t n_out,
                              fnn_activation act, floating *z, floating *pre,
                              Py_ssize_t r0, Py_ssize_t r1) noexcept nogil
cdef void sparse_forward_layer(const Input *X, Py_ssize_t first_row,
                               Py_ssize_t rows, const floating *w,
                               const floating *b, Py_ssize_t n_out,
                               fnn_activation act, floating *z,
                               int n_threads) noexcept nogil
