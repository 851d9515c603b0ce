# cython: language_level=3
"""The C element kernels, as the rest of the engine calls them.

Holds: the declarations of ``csrc/fastnn_kernels.h`` (activation, loss and
optimizer codes, the per-row kernels) and ``csrc/fastnn_gemm.h`` (the
engine's own products), one inline wrapper per kernel that picks its
float or double version from the fused type (so no other module writes
``floating is float``), BLAS's gemm, the sizes that govern how work is cut
into blocks, and the row-by-row forms of the activation kernels.
May call: ``csrc/fastnn_kernels.h``, ``csrc/fastnn_gemm.h`` and SciPy's
BLAS, nothing else.
"""

from cython cimport floating
from scipy.linalg.cython_blas cimport dgemm, sgemm


cdef extern from "fastnn_kernels.h" nogil:
    # Exposed to Python by _kernels.pyx (the names, lower-cased without
    # the prefix, are the engine's activation, loss and optimizer names).
    cpdef enum fnn_activation_code:
        FNN_IDENTITY
        FNN_LOGISTIC
        FNN_TANH
        FNN_RELU
        FNN_EXP
        FNN_SOFTMAX
        FNN_PIECEWISE_LINEAR
        FNN_GAUSSIAN
        FNN_UNIT_STEP
        FNN_LEAKY_RELU
        FNN_ELU
        FNN_SOFTPLUS
        FNN_GELU
        FNN_SILU
        FNN_HARD_TANH
    cpdef enum fnn_loss_code:
        FNN_SQUARED_ERROR
        FNN_BINARY_LOG_LOSS
        FNN_LOG_LOSS
        FNN_POISSON
        FNN_PROBA_SQUARED_ERROR
        FNN_PROBA_SQUARED_ERROR_SOFTMAX
        FNN_ABSOLUTE_ERROR
        FNN_HUBER
        FNN_QUANTILE
        FNN_GAMMA
    ctypedef struct fnn_activation:
        int code
        double p0
        double p1
    bint fnn_needs_preactivation(int code)
    bint fnn_loss_averages_outputs(int loss)
    bint fnn_loss_reads_raw(int loss)
    double fnn_dropout_scale(unsigned long long seed, unsigned long long step,
                             unsigned long long row, unsigned long long layer,
                             unsigned long long unit, double rate)
    void fnn_prefetch_bytes(const void *p, size_t bytes)
    void fnn_bias_activation_d(double *z, const double *b, Py_ssize_t n,
                               fnn_activation act, double *pre)
    void fnn_bias_activation_f(float *z, const float *b, Py_ssize_t n,
                               fnn_activation act, float *pre)
    void fnn_bias_softmax_d(double *z, const double *b, Py_ssize_t n)
    void fnn_bias_softmax_f(float *z, const float *b, Py_ssize_t n)
    void fnn_activation_backward_d(double *delta, const double *a, const double *pre,
                                   Py_ssize_t n, fnn_activation act)
    void fnn_activation_backward_f(float *delta, const float *a, const float *pre,
                                   Py_ssize_t n, fnn_activation act)
    double fnn_output_loss_delta_d(const double *p, const double *raw,
                                   const double *y, double *delta,
                                   Py_ssize_t n, double sw, int loss, double param)
    double fnn_output_loss_delta_f(const float *p, const float *raw,
                                   const float *y, float *delta,
                                   Py_ssize_t n, float sw, int loss, float param)
    cpdef enum fnn_optimizer_code:
        FNN_SGD
        FNN_ADAM
        FNN_ADAMW
    ctypedef struct fnn_optimizer:
        int code
        bint nesterov
        long step_count
        double learning_rate, step_size, momentum, beta_1, beta_2, epsilon
        double weight_decay, alpha, sw_sum
    int fnn_optimizer_state_arrays(int code)
    void fnn_optimizer_step_d(const fnn_optimizer *opt, bint coefficients,
                              double *w, double *first, double *second,
                              const double *graw, Py_ssize_t n)
    void fnn_optimizer_step_f(const fnn_optimizer *opt, bint coefficients,
                              float *w, float *first, float *second,
                              const float *graw, Py_ssize_t n)
    void fnn_sparse_row_product_d(double *z, const double *values,
                                  const Py_ssize_t *indices, Py_ssize_t nnz,
                                  const double *w, Py_ssize_t n)
    void fnn_sparse_row_product_f(float *z, const float *values,
                                  const Py_ssize_t *indices, Py_ssize_t nnz,
                                  const float *w, Py_ssize_t n)
    bint fnn_all_finite_d(const double *x, Py_ssize_t n)
    bint fnn_all_finite_f(const float *x, Py_ssize_t n)
    double fnn_sumsq_d(const double *w, Py_ssize_t lo, Py_ssize_t hi)
    double fnn_sumsq_f(const float *w, Py_ssize_t lo, Py_ssize_t hi)


cdef extern from "fastnn_gemm.h" nogil:
    cpdef enum fnn_gemm_level:
        FNN_GEMM_PORTABLE
        FNN_GEMM_AVX2
        FNN_GEMM_AVX512
    int fnn_gemm_best_level()
    void fnn_gemm_rows_d(int level, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                         const double *a, Py_ssize_t lda, const Py_ssize_t *ids,
                         const double *b, Py_ssize_t ldb, double *c,
                         Py_ssize_t ldc, bint accumulate)
    void fnn_gemm_rows_f(int level, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                         const float *a, Py_ssize_t lda, const Py_ssize_t *ids,
                         const float *b, Py_ssize_t ldb, float *c,
                         Py_ssize_t ldc, bint accumulate)
    void fnn_gemm_cols_d(int level, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                         const double *a, Py_ssize_t lda, const Py_ssize_t *ids,
                         Py_ssize_t i0, const double *b, Py_ssize_t ldb,
                         double *c, Py_ssize_t ldc, bint accumulate)
    void fnn_gemm_cols_f(int level, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                         const float *a, Py_ssize_t lda, const Py_ssize_t *ids,
                         Py_ssize_t i0, const float *b, Py_ssize_t ldb,
                         float *c, Py_ssize_t ldc, bint accumulate)



cdef fnn_activation activation_spec(str name, double p0, double p1) except *
cdef int layer_activations(fnn_activation *out, activations,
                           int n_layers) except -1


cdef inline Py_ssize_t split(Py_ssize_t n, int part, int n_parts) noexcept nogil:
    """Start of the ``part``-th of ``n_parts`` contiguous blocks of ``n`` items."""
    return n * part // n_parts


cdef inline void gemm(char transa, char transb, int m, int n, int k,
                      floating alpha, const floating *a, int lda,
                      const floating *b, int ldb, floating beta,
                      floating *c, int ldc) noexcept nogil:
    """Column-major C <- alpha * op(A) @ op(B) + beta * C."""
    if floating is float:
        sgemm(&transa, &transb, &m, &n, &k, &alpha, <float*>a, &lda,
              <float*>b, &ldb, &beta, c, &ldc)
    else:
        dgemm(&transa, &transb, &m, &n, &k, &alpha, <double*>a, &lda,
              <double*>b, &ldb, &beta, c, &ldc)


cdef inline void gemm_rows(int level, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                           const floating *a, Py_ssize_t lda,
                           const Py_ssize_t *ids, const floating *b,
                           Py_ssize_t ldb, floating *c, Py_ssize_t ldc,
                           bint accumulate) noexcept nogil:
    """Row-major c[:m, :n] (+)= A[:m, :k] @ b, row i of A at
    a + (ids[i] if ids else i) * lda (see ``csrc/fastnn_gemm.h``)."""
    if floating is float:
        fnn_gemm_rows_f(level, m, n, k, a, lda, ids, b, ldb, c, ldc, accumulate)
    else:
        fnn_gemm_rows_d(level, m, n, k, a, lda, ids, b, ldb, c, ldc, accumulate)


cdef inline void gemm_cols(int level, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                           const floating *a, Py_ssize_t lda,
                           const Py_ssize_t *ids, Py_ssize_t i0,
                           const floating *b, Py_ssize_t ldb, floating *c,
                           Py_ssize_t ldc, bint accumulate) noexcept nogil:
    """Row-major c[:m, :n] (+)= A[:k, i0:i0 + m].T @ b, A's rows as in
    ``gemm_rows``."""
    if floating is float:
        fnn_gemm_cols_f(level, m, n, k, a, lda, ids, i0, b, ldb, c, ldc,
                        accumulate)
    else:
        fnn_gemm_cols_d(level, m, n, k, a, lda, ids, i0, b, ldb, c, ldc,
                        accumulate)


cdef inline void bias_activation_rows(floating *z, const floating *b,
                                      Py_ssize_t rows, Py_ssize_t n,
                                      fnn_activation act,
                                      floating *pre) noexcept nogil:
    """Rows of z <- f(z + b); the pre-activations go to ``pre`` unless NULL."""
    cdef Py_ssize_t r
    for r in range(rows):
        if act.code == FNN_SOFTMAX:
            if floating is float:
                fnn_bias_softmax_f(z + r * n, b, n)
            else:
                fnn_bias_softmax_d(z + r * n, b, n)
        elif floating is float:
            fnn_bias_activation_f(z + r * n, b, n, act,
                                  pre + r * n if pre != NULL else NULL)
        else:
            fnn_bias_activation_d(z + r * n, b, n, act,
                                  pre + r * n if pre != NULL else NULL)


cdef inline void activation_backward_rows(floating *delta, const floating *a,
                                          const floating *pre, Py_ssize_t rows,
                                          Py_ssize_t n,
                                          fnn_activation act) noexcept nogil:
    """Rows of delta *= f'(.), from the outputs ``a`` (and ``pre``)."""
    cdef Py_ssize_t r
    if act.code == FNN_IDENTITY:
        return
    for r in range(rows):
        if floating is float:
            fnn_activation_backward_f(delta + r * n, a + r * n,
                                      pre + r * n if pre != NULL else NULL, n, act)
        else:
            fnn_activation_backward_d(delta + r * n, a + r * n,
                                      pre + r * n if pre != NULL else NULL, n, act)


cdef inline double output_loss_delta_row(const floating *p, const floating *raw,
                                         const floating *y, floating *delta,
                                         Py_ssize_t n, floating sw, int loss,
                                         floating param) noexcept nogil:
    """One row's loss and output deltas; ``raw`` is the row's pre-activations
    for the losses ``fnn_loss_reads_raw`` names, or NULL."""
    if floating is float:
        return fnn_output_loss_delta_f(p, raw, y, delta, n, sw, loss, param)
    else:
        return fnn_output_loss_delta_d(p, raw, y, delta, n, sw, loss, param)


cdef inline void sparse_row_product(floating *z, const floating *values,
                                    const Py_ssize_t *indices, Py_ssize_t nnz,
                                    const floating *w,
                                    Py_ssize_t n) noexcept nogil:
    if floating is float:
        fnn_sparse_row_product_f(z, values, indices, nnz, w, n)
    else:
        fnn_sparse_row_product_d(z, values, indices, nnz, w, n)


cdef inline bint all_finite(const floating *x, Py_ssize_t n) noexcept nogil:
    if floating is float:
        return fnn_all_finite_f(x, n)
    else:
        return fnn_all_finite_d(x, n)


cdef inline double sumsq(const floating *w, Py_ssize_t lo,
                         Py_ssize_t hi) noexcept nogil:
    if floating is float:
        return fnn_sumsq_f(w, lo, hi)
    else:
        return fnn_sumsq_d(w, lo, hi)


cdef inline void optimizer_range(const fnn_optimizer *opt, bint coefficients,
                                 floating *params, floating *first,
                                 floating *second, const floating *grad,
                                 Py_ssize_t n) noexcept nogil:
    """The optimizer step ``opt`` on params[0:n], whose raw gradient is
    grad[0:n], and on the same range of its state arrays (``second`` may be
    NULL for SGD); see ``fnn_optimizer_step``."""
    if n <= 0:
        return
    if floating is float:
        fnn_optimizer_step_f(opt, coefficients, params, first, second, grad, n)
    else:
        fnn_optimizer_step_d(opt, coefficients, params, first, second, grad, n)
