# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, nonecheck=False
"""Layer passes (see ``_layers.pxd`` for what this module holds).

Matrices are row-major (C order).  BLAS is column-major, so a row-major
product C = A @ B is computed as the column-major product C.T = B.T @ A.T,
which only swaps the operands.

Training's dense products run on the engine's own kernels
(``csrc/fastnn_gemm.h``) where the CPU has a tuned one, one panel of rows
at a time with the element work applied to the panel right after its
product; elsewhere, and always for predictions, on BLAS.  ``_set_products``
forces either (the tests run both).

BLAS runs single-threaded inside the engine (the Python layer pins it).
Every pass is written for a range of rows: training hands each OpenMP thread
whole row blocks of the batch (see ``_batch``), prediction splits each
layer's rows the same way.  A thread runs the GEMM for its rows and then the
element-wise work on them while they are in its cache.  One threading
runtime at a time: OpenBLAS's and OpenMP's busy-waiting threads never
compete for the cores.

May call: ``_kernels``, ``_input``, ``_threads``, ``_phases``.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memset

from ._input cimport Input
from ._kernels cimport (
    FNN_GEMM_AVX2,
    activation_backward_rows,
    bias_activation_rows,
    fnn_activation,
    fnn_gemm_best_level,
    gemm,
    gemm_cols,
    gemm_rows,
    sparse_row_product,
    split,
)
from ._phases cimport (
    BIAS_ACTIVATION,
    DELTA_PRODUCTS,
    DERIVATIVES,
    FORWARD_PRODUCTS,
    GRADIENT_PRODUCTS,
    phase_end,
    phase_start,
)
from ._threads cimport fnn_mark_worker, gemm_blocks
from ._tuning cimport PARALLEL_MIN_MACS

from ._kernels import GEMM_LEVELS, gemm_level

# What training's products run on: BLAS, or a level of the engine's kernels.
# The tuned kernels (AVX2 and up) by default; the portable one is for tests.
cdef int _level = (fnn_gemm_best_level()
                   if fnn_gemm_best_level() >= FNN_GEMM_AVX2 else BLAS_PRODUCTS)


cdef int products_level() noexcept nogil:
    return _level


def products():
    """What training's dense products run on: "blas" or a kernel's name."""
    return "blas" if _level == BLAS_PRODUCTS else next(
        name for name, code in GEMM_LEVELS.items() if code == _level)


def _set_products(str name):
    """Run training's dense products on ``name`` ("blas", "portable",
    "avx2", "avx512"); returns the previous choice.  A private switch for
    the tests and benchmarks: not thread-safe, set it between fits."""
    global _level
    previous = products()
    _level = BLAS_PRODUCTS if name == "blas" else gemm_level(name)
    return previous


cdef void rows_product(int level, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                       const floating *a, Py_ssize_t lda,
                       const Py_ssize_t *ids, const floating *b,
                       Py_ssize_t ldb, floating *c,
                       Py_ssize_t ldc) noexcept nogil:
    """Row-major c[:m, :n] <- A[:m, :k] @ b on ``level``'s products, row i
    of A at a + (ids[i] if ids else i) * lda (``ids`` NULL on BLAS)."""
    if level == BLAS_PRODUCTS:
        gemm(c'N', c'N', <int>n, <int>m, <int>k, <floating>1, b, <int>ldb, a,
             <int>lda, <floating>0, c, <int>ldc)
    else:
        gemm_rows(level, m, n, k, a, lda, ids, b, ldb, c, ldc, False)


cdef void cols_product(int level, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                       const floating *a, Py_ssize_t lda,
                       const Py_ssize_t *ids, Py_ssize_t i0,
                       const floating *b, Py_ssize_t ldb, floating *c,
                       Py_ssize_t ldc, bint accumulate) noexcept nogil:
    """Row-major c[:m, :n] (+)= A[:k, i0:i0 + m].T @ b on ``level``'s
    products, A's rows as in ``rows_product``."""
    if level == BLAS_PRODUCTS:
        gemm(c'N', c'T', <int>n, <int>m, <int>k, <floating>1, b, <int>ldb,
             a + i0, <int>lda, <floating>(1 if accumulate else 0), c,
             <int>ldc)
    else:
        gemm_cols(level, m, n, k, a, lda, ids, i0, b, ldb, c, ldc, accumulate)


cdef void forward_rows(const floating *a, Py_ssize_t lda, bint a_col_major,
                       Py_ssize_t n_in, const floating *w, const floating *b,
                       Py_ssize_t n_out, fnn_activation act, floating *z,
                       floating *pre, Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """Rows r0:r1 of row-major z (. x n_out) <- f(a @ w + b).

    Pre-activations go to ``pre`` unless NULL.  ``a`` is row-major with
    leading dimension ``lda``, or column-major (an F-ordered input read in
    place) when ``a_col_major``.  In column-major terms z.T = w.T @ a.T, so
    w and a swap places in the gemm call.
    """
    if r1 <= r0:
        return
    cdef long long clock = phase_start()
    gemm(c'N', c'T' if a_col_major else c'N', <int>n_out, <int>(r1 - r0),
         <int>n_in, <floating>1, w, <int>n_out,
         a + (r0 if a_col_major else r0 * lda), <int>lda,
         <floating>0, z + r0 * n_out, <int>n_out)
    clock = phase_end(FORWARD_PRODUCTS, clock)
    bias_activation_rows(z + r0 * n_out, b, r1 - r0, n_out, act,
                         pre + r0 * n_out if pre != NULL else NULL)
    phase_end(BIAS_ACTIVATION, clock)


cdef void element_rows(floating *z, const floating *b, floating *pre,
                       Py_ssize_t n, Py_ssize_t r0, Py_ssize_t r1,
                       Py_ssize_t c0, Py_ssize_t c1,
                       fnn_activation act) noexcept nogil:
    """z <- f(z + b) on rows r0:r1, columns c0:c1 of a layer of width n."""
    cdef Py_ssize_t r
    for r in range(r0, r1):
        bias_activation_rows(z + r * n + c0, b + c0, 1, c1 - c0, act,
                             pre + r * n + c0 if pre != NULL else NULL)


cdef void forward_panels(int level, const floating *a, Py_ssize_t lda,
                         const Py_ssize_t *ids, Py_ssize_t k,
                         const floating *w, const floating *b, Py_ssize_t n,
                         fnn_activation act, floating *z, floating *pre,
                         Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t c0,
                         Py_ssize_t c1) noexcept nogil:
    """Rows r0:r1, columns c0:c1 of row-major z (. x n) <- f(A @ w + b) on
    ``level``'s products, a panel of rows at a time, each panel's bias and
    activation applied while it is in cache; A's rows as in
    ``rows_product``, pre-activations to ``pre`` unless NULL.

    A forward unit of training's plan and of a prediction's: one function,
    so that a prediction is the same bits as training's forward pass.
    """
    cdef Py_ssize_t r = r0, m
    cdef long long clock
    while r < r1:
        m = min(panel_rows(level, r1 - r0), r1 - r)
        clock = phase_start()
        rows_product(level, m, c1 - c0, k, a + (0 if ids != NULL else r * lda),
                     lda, ids + r if ids != NULL else NULL, w + c0, n,
                     z + r * n + c0, n)
        clock = phase_end(FORWARD_PRODUCTS, clock)
        element_rows(z, b, pre, n, r, r + m, c0, c1, act)
        phase_end(BIAS_ACTIVATION, clock)
        r += m


cdef void backward_rows(const floating *delta, Py_ssize_t n_out,
                        const floating *w, Py_ssize_t n_in, const floating *a,
                        const floating *pre, fnn_activation act, floating *out,
                        Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """Rows r0:r1 of row-major out (. x n_in) <- (delta @ w.T) * f'(.).

    ``a`` holds the layer's outputs and ``pre`` its pre-activations (NULL
    when the derivative does not need them).
    """
    if r1 <= r0:
        return
    cdef long long clock = phase_start()
    gemm(c'T', c'N', <int>n_in, <int>(r1 - r0), <int>n_out, <floating>1,
         w, <int>n_out, delta + r0 * n_out, <int>n_out, <floating>0,
         out + r0 * n_in, <int>n_in)
    clock = phase_end(DELTA_PRODUCTS, clock)
    activation_backward_rows(out + r0 * n_in, a + r0 * n_in,
                             pre + r0 * n_in if pre != NULL else NULL,
                             r1 - r0, n_in, act)
    phase_end(DERIVATIVES, clock)


cdef void transpose_rows(const floating *w, Py_ssize_t n_in,
                         Py_ssize_t n_out, Py_ssize_t k0, Py_ssize_t k1,
                         Py_ssize_t c0, Py_ssize_t c1,
                         floating *wt) noexcept nogil:
    """Rows c0:c1, columns k0:k1 of wt (n_out x n_in) <- rows k0:k1,
    columns c0:c1 of w (n_in x n_out) transposed: a few rows of w at a
    time, so each row of wt gets a short contiguous run."""
    cdef Py_ssize_t k, j, p, p1
    for p in range(k0, k1, 16):
        p1 = min(p + 16, k1)
        for j in range(c0, c1):
            for k in range(p, p1):
                wt[j * n_in + k] = w[k * n_out + j]


cdef void column_sums(const floating *delta, Py_ssize_t rows, Py_ssize_t n,
                      Py_ssize_t c0, Py_ssize_t c1, floating *out,
                      bint accumulate) noexcept nogil:
    """out[j] <- (out[j] +) sum_r delta[r, j] for columns c0:c1 of delta
    (rows of n), rows added in order."""
    cdef Py_ssize_t r, j
    cdef long long clock = phase_start()
    if not accumulate:
        memset(out + c0, 0, (c1 - c0) * sizeof(floating))
    for r in range(rows):
        for j in range(c0, c1):
            out[j] += delta[r * n + j]
    phase_end(GRADIENT_PRODUCTS, clock)


cdef void forward_layer(const floating *a, Py_ssize_t rows, Py_ssize_t n_in,
                        bint a_col_major, Py_ssize_t lda, const floating *w,
                        const floating *b, Py_ssize_t n_out, fnn_activation act,
                        floating *z, floating *pre, int n_threads) noexcept nogil:
    """All rows of ``forward_rows``, in blocks shared among the threads."""
    cdef int t, nb = gemm_blocks(rows, n_in, n_out)
    for t in prange(nb, num_threads=min(nb, n_threads), schedule="static"):
        fnn_mark_worker()
        forward_rows(a, lda, a_col_major, n_in, w, b, n_out, act, z, pre,
                     split(rows, t, nb), split(rows, t + 1, nb))


cdef void backward_layer(const floating *delta, Py_ssize_t rows,
                         Py_ssize_t n_out, const floating *w, Py_ssize_t n_in,
                         const floating *a, const floating *pre,
                         fnn_activation act, floating *out,
                         int n_threads) noexcept nogil:
    """All rows of ``backward_rows``, in blocks shared among the threads."""
    cdef int t, nb = gemm_blocks(rows, n_in, n_out)
    for t in prange(nb, num_threads=min(nb, n_threads), schedule="static"):
        backward_rows(delta, n_out, w, n_in, a, pre, act, out,
                      split(rows, t, nb), split(rows, t + 1, nb))


cdef void sparse_forward_rows(const Input *X, const Py_ssize_t *row_ids,
                              Py_ssize_t first_row, const floating *w,
                              const floating *b, Py_ssize_t n_out,
                              fnn_activation act, floating *z, floating *pre,
                              Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """Rows r0:r1 of row-major z (. x n_out) <- f(X[rows] @ w + b), CSR X.

    Row r of the block is X's row ``row_ids[r]``, or ``first_row + r`` when
    ``row_ids`` is NULL.  Each output row accumulates ``value * w[column]``
    over the row's stored entries in stored order, as SciPy's product does.
    """
    cdef const floating *values = <const floating*>X.values
    cdef Py_ssize_t r, src, start
    if r1 <= r0:
        return
    cdef long long clock = phase_start()
    for r in range(r0, r1):
        src = row_ids[r] if row_ids != NULL else first_row + r
        start = X.indptr[src]
        memset(z + r * n_out, 0, n_out * sizeof(floating))
        sparse_row_product(z + r * n_out, values + start, X.indices + start,
                           X.indptr[src + 1] - start, w, n_out)
    clock = phase_end(FORWARD_PRODUCTS, clock)
    bias_activation_rows(z + r0 * n_out, b, r1 - r0, n_out, act,
                         pre + r0 * n_out if pre != NULL else NULL)
    phase_end(BIAS_ACTIVATION, clock)


cdef void sparse_forward_layer(const Input *X, Py_ssize_t first_row,
                               Py_ssize_t rows, const floating *w,
                               const floating *b, Py_ssize_t n_out,
                               fnn_activation act, floating *z,
                               int n_threads) noexcept nogil:
    """All rows of ``sparse_forward_rows`` (consecutive rows of X)."""
    # Rows are independent here (no BLAS), so any split gives the same sums.
    cdef int t, nt = n_threads if rows * X.row_nnz * n_out >= PARALLEL_MIN_MACS else 1
    for t in prange(nt, num_threads=nt, schedule="static"):
        fnn_mark_worker()
        sparse_forward_rows(X, NULL, first_row, w, b, n_out, act, z, NULL,
                            split(rows, t, nt), split(rows, t + 1, nt))
