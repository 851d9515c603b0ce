# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, nonecheck=False
"""Training and prediction engine of fastnn.

Design
------
Python (``fastnn._base``) validates the input, draws the random numbers and
runs the loop over epochs; it calls :meth:`Trainer.run_epoch` once per epoch.
One call runs every minibatch of the epoch (gather rows by the given index
order, forward, loss, backward, optimizer step) without the GIL and without
allocating: every buffer is made when the :class:`Trainer` is built.

All parameters live in one flat array laid out as scikit-learn's ``_pack``
does (every ``coefs_[i]`` raveled, then every ``intercepts_[i]``); the
estimator's ``coefs_`` and ``intercepts_`` are views into it.  The gradient
and the optimizer state are flat arrays of the same layout, so an optimizer
step is one fused pass over memory.

Matrices are row-major (C order).  BLAS is column-major, so a row-major
product C = A @ B is computed as the column-major product C.T = B.T @ A.T,
which only swaps the operands.

Threads: BLAS runs single-threaded inside the engine and the work is cut
into blocks that OpenMP threads share: a training batch is one parallel
region (row blocks through every layer, then blocks of every weight
gradient with their optimizer step; see ``_batch_pass``), a prediction
splits each layer's rows.  Blocks depend on the sizes (and the machine's CPU
count), never on the number of threads, and reductions (bias gradients,
losses, squared norms) are summed in a fixed order: results are bitwise
identical for any number of threads.

Everything below assumes arguments validated by the Python layer (shapes,
dtypes, finite values, non-empty arrays); nothing here raises.
"""

from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset
from cpython.exc cimport PyErr_CheckSignals
from scipy.linalg.cython_blas cimport dgemm, sgemm

import os

import numpy as np

cdef extern from "fastnn_kernels.h" nogil:
    enum:
        FNN_IDENTITY
        FNN_LOGISTIC
        FNN_TANH
        FNN_RELU
        FNN_EXP
        FNN_SOFTMAX
        FNN_PIECEWISE
        FNN_GAUSSIAN
        FNN_UNIT_STEP
        FNN_LEAKY_RELU
        FNN_ELU
        FNN_SOFTPLUS
        FNN_GELU
        FNN_SILU
        FNN_SQUARED_ERROR
        FNN_BINARY_LOG_LOSS
        FNN_LOG_LOSS
        FNN_POISSON
        FNN_PROBA_SQUARED_ERROR
        FNN_PROBA_SQUARED_ERROR_SOFTMAX
        FNN_ABSOLUTE_ERROR
        FNN_HUBER
    ctypedef struct fnn_activation:
        int code
        double p0
        double p1
    bint fnn_needs_preactivation(int code)
    double fnn_dropout_scale(unsigned long long seed, unsigned long long step,
                             unsigned long long row, unsigned long long layer,
                             unsigned long long unit, double rate)
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
    double fnn_output_loss_delta_d(const double *p, const double *y, double *delta,
                                   Py_ssize_t n, double sw, int loss, double param)
    double fnn_output_loss_delta_f(const float *p, const float *y, float *delta,
                                   Py_ssize_t n, float sw, int loss, float param)
    void fnn_adam_step_d(double *w, double *m, double *v, const double *graw,
                         Py_ssize_t lo, Py_ssize_t hi, double alpha, double sw_sum,
                         double beta_1, double one_minus_beta_1, double beta_2,
                         double one_minus_beta_2, double lr, double epsilon)
    void fnn_adam_step_f(float *w, float *m, float *v, const float *graw,
                         Py_ssize_t lo, Py_ssize_t hi, float alpha, float sw_sum,
                         float beta_1, float one_minus_beta_1, float beta_2,
                         float one_minus_beta_2, float lr, float epsilon)
    void fnn_sparse_row_product_d(double *z, const double *values,
                                  const Py_ssize_t *indices, Py_ssize_t nnz,
                                  const double *w, Py_ssize_t n)
    void fnn_sparse_row_product_f(float *z, const float *values,
                                  const Py_ssize_t *indices, Py_ssize_t nnz,
                                  const float *w, Py_ssize_t n)
    void fnn_prefetch_bytes(const void *p, size_t bytes)
    bint fnn_all_finite_d(const double *x, Py_ssize_t n)
    bint fnn_all_finite_f(const float *x, Py_ssize_t n)
    double fnn_sumsq_d(const double *w, Py_ssize_t lo, Py_ssize_t hi)
    double fnn_sumsq_f(const float *w, Py_ssize_t lo, Py_ssize_t hi)
    void fnn_sgd_step_d(double *w, double *velocity, const double *graw,
                          Py_ssize_t lo, Py_ssize_t hi, double alpha, double sw_sum,
                          double momentum, int nesterov, double lr)
    void fnn_sgd_step_f(float *w, float *velocity, const float *graw,
                          Py_ssize_t lo, Py_ssize_t hi, float alpha, float sw_sum,
                          float momentum, int nesterov, float lr)


ACTIVATION_CODES = {
    "identity": FNN_IDENTITY,
    "logistic": FNN_LOGISTIC,
    "tanh": FNN_TANH,
    "relu": FNN_RELU,
    "exp": FNN_EXP,
    "softmax": FNN_SOFTMAX,
    "piecewise_linear": FNN_PIECEWISE,
    "gaussian": FNN_GAUSSIAN,
    "unit_step": FNN_UNIT_STEP,
    "leaky_relu": FNN_LEAKY_RELU,
    "elu": FNN_ELU,
    "softplus": FNN_SOFTPLUS,
    "gelu": FNN_GELU,
    "silu": FNN_SILU,
}


cdef fnn_activation _activation_spec(spec) except *:
    """(name, p0, p1) from Python -> the C description of an activation."""
    cdef fnn_activation act
    name, p0, p1 = spec
    act.code = ACTIVATION_CODES[name]
    act.p0 = p0
    act.p1 = p1
    return act
LOSS_CODES = {
    "squared_error": FNN_SQUARED_ERROR,
    "binary_log_loss": FNN_BINARY_LOG_LOSS,
    "log_loss": FNN_LOG_LOSS,
    "poisson": FNN_POISSON,
    "proba_squared_error": FNN_PROBA_SQUARED_ERROR,
    "proba_squared_error_softmax": FNN_PROBA_SQUARED_ERROR_SOFTMAX,
    "absolute_error": FNN_ABSOLUTE_ERROR,
    "huber": FNN_HUBER,
}
cdef enum:
    _SGD = 0
    _ADAM = 1
SOLVER_SGD = _SGD
SOLVER_ADAM = _ADAM

# Passes smaller than this run on one thread: below it, waking the OpenMP
# team costs more than the work (elements for element-wise passes,
# multiply-adds for GEMMs).
DEF PARALLEL_MIN_ELEMENTS = 32768
DEF PARALLEL_MIN_FLOPS = 1 << 16
# Large products are cut into blocks shared among the threads: as many as
# the machine has CPUs (rounded down to a power of two, at most MAX_BLOCKS),
# whatever number of threads a call uses (see ``_gemm_blocks``).  Not more:
# BLAS slows down on thin blocks (measured with OpenBLAS: 50-row blocks of a
# 200-row batch ran 25% slower than 100-row blocks).
DEF MAX_BLOCKS = 8
# Smallest row block of a batch's forward and backward passes.
DEF MIN_BLOCK_ROWS = 64
# Features per step of the fused sparse gradient and optimizer pass.
DEF SPARSE_CHUNK = 32
# Rows a batch gather requests ahead of the one it copies.
DEF GATHER_AHEAD = 2


def _machine_blocks():
    cpus = os.cpu_count() or 1
    blocks = 1
    while blocks * 2 <= min(cpus, MAX_BLOCKS):
        blocks *= 2
    return blocks


cdef int GEMM_BLOCKS = _machine_blocks()
GEMM_BLOCK_COUNT = GEMM_BLOCKS


cdef inline int _threads_for(Py_ssize_t n_elements, int n_threads) noexcept nogil:
    return n_threads if n_elements >= PARALLEL_MIN_ELEMENTS else 1


cdef inline int _gemm_blocks(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    """Into how many blocks a product is split: a function of its size only.

    BLAS may pick a different kernel (and summation order) for a different
    block size, so the blocks must not depend on the thread count if
    results are to be identical for any number of threads.  (They depend on
    the machine's CPU count, as BLAS kernels depend on its CPU model.)
    """
    return GEMM_BLOCKS if m * n * k >= PARALLEL_MIN_FLOPS else 1


cdef inline Py_ssize_t _split(Py_ssize_t n, int part, int n_parts) noexcept nogil:
    """Start of the ``part``-th of ``n_parts`` contiguous blocks of ``n`` items."""
    return n * part // n_parts


# ---------------------------------------------------------------------------
# Layer passes
#
# BLAS runs single-threaded inside the engine (the Python layer pins it).
# Every pass is written for a range of rows: training hands each OpenMP
# thread whole row blocks of the batch (see ``_batch_pass``), prediction
# splits each layer's rows the same way.  A thread runs the GEMM for its rows
# and then the element-wise work on them while they are in its cache.  One
# threading runtime at a time: OpenBLAS's and OpenMP's busy-waiting threads
# never compete for the cores.
# ---------------------------------------------------------------------------

cdef inline void _gemm(char transa, char transb, int m, int n, int k,
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


cdef inline void _bias_activation_rows(floating *z, const floating *b,
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


cdef inline void _activation_backward_rows(floating *delta, const floating *a,
                                           const floating *pre, Py_ssize_t rows,
                                           Py_ssize_t n,
                                           fnn_activation act) noexcept nogil:
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


cdef inline void _forward_rows(const floating *a, Py_ssize_t lda,
                               bint a_col_major, Py_ssize_t n_in,
                               const floating *w, const floating *b,
                               Py_ssize_t n_out, fnn_activation act,
                               floating *z, floating *pre, Py_ssize_t r0,
                               Py_ssize_t r1) noexcept nogil:
    """Rows r0:r1 of row-major z (. x n_out) <- f(a @ w + b).

    Pre-activations go to ``pre`` unless NULL.  ``a`` is row-major with
    leading dimension ``lda``, or column-major (an F-ordered input read in
    place) when ``a_col_major``.  In column-major terms z.T = w.T @ a.T, so
    w and a swap places in the gemm call.
    """
    if r1 <= r0:
        return
    _gemm(c'N', c'T' if a_col_major else c'N', <int>n_out, <int>(r1 - r0),
          <int>n_in, <floating>1, w, <int>n_out,
          a + (r0 if a_col_major else r0 * lda), <int>lda,
          <floating>0, z + r0 * n_out, <int>n_out)
    _bias_activation_rows(z + r0 * n_out, b, r1 - r0, n_out, act,
                          pre + r0 * n_out if pre != NULL else NULL)


cdef inline void _backward_rows(const floating *delta, Py_ssize_t n_out,
                                const floating *w, Py_ssize_t n_in,
                                const floating *a, const floating *pre,
                                fnn_activation act, floating *out,
                                Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """Rows r0:r1 of row-major out (. x n_in) <- (delta @ w.T) * f'(.).

    ``a`` holds the layer's outputs and ``pre`` its pre-activations (NULL
    when the derivative does not need them).
    """
    if r1 <= r0:
        return
    _gemm(c'T', c'N', <int>n_in, <int>(r1 - r0), <int>n_out, <floating>1,
          w, <int>n_out, delta + r0 * n_out, <int>n_out, <floating>0,
          out + r0 * n_in, <int>n_in)
    _activation_backward_rows(out + r0 * n_in, a + r0 * n_in,
                              pre + r0 * n_in if pre != NULL else NULL,
                              r1 - r0, n_in, act)


cdef inline void _weight_gradient_rows(const floating *a, Py_ssize_t rows,
                                       Py_ssize_t n_in, const floating *delta,
                                       Py_ssize_t n_out, floating *g,
                                       Py_ssize_t k0, Py_ssize_t k1,
                                       bint accumulate) noexcept nogil:
    """Rows k0:k1 of row-major g (n_in x n_out) <- a.T @ delta (+ g).

    The raw product over all ``rows`` of the batch: every element is one
    complete dot product, whatever the split.  Averaging and regularisation
    come with the optimizer step.
    """
    if k1 <= k0:
        return
    _gemm(c'N', c'T', <int>n_out, <int>(k1 - k0), <int>rows, <floating>1,
          delta, <int>n_out, a + k0, <int>n_in,
          <floating>(1 if accumulate else 0), g + k0 * n_out, <int>n_out)


cdef void _forward_layer(const floating *a, Py_ssize_t rows, Py_ssize_t n_in,
                         bint a_col_major, Py_ssize_t lda,
                         const floating *w, const floating *b, Py_ssize_t n_out,
                         fnn_activation act, floating *z, floating *pre,
                         int n_threads) noexcept nogil:
    """All rows of ``_forward_rows``, in blocks shared among the threads."""
    cdef int t, nb = _gemm_blocks(rows, n_in, n_out)
    for t in prange(nb, num_threads=min(nb, n_threads), schedule="static"):
        _forward_rows(a, lda, a_col_major, n_in, w, b, n_out, act, z, pre,
                      _split(rows, t, nb), _split(rows, t + 1, nb))


cdef void _backward_layer(const floating *delta, Py_ssize_t rows,
                          Py_ssize_t n_out, const floating *w, Py_ssize_t n_in,
                          const floating *a, const floating *pre,
                          fnn_activation act, floating *out,
                          int n_threads) noexcept nogil:
    """All rows of ``_backward_rows``, in blocks shared among the threads."""
    cdef int t, nb = _gemm_blocks(rows, n_in, n_out)
    for t in prange(nb, num_threads=min(nb, n_threads), schedule="static"):
        _backward_rows(delta, n_out, w, n_in, a, pre, act, out,
                       _split(rows, t, nb), _split(rows, t + 1, nb))


cdef void _column_sums(const floating *delta, Py_ssize_t rows, Py_ssize_t n,
                       floating *out, bint accumulate) noexcept nogil:
    """out[j] <- (out[j] +) sum_r delta[r, j], rows added in order."""
    cdef Py_ssize_t r, j
    if not accumulate:
        memset(out, 0, n * sizeof(floating))
    for r in range(rows):
        for j in range(n):
            out[j] += delta[r * n + j]

# ---------------------------------------------------------------------------
# Input matrices: dense (any strides) or CSR, read in place
# ---------------------------------------------------------------------------

cdef struct Input:
    bint sparse
    const void *values          # dense: element (0, 0); CSR: the data array
    Py_ssize_t row_stride       # dense strides, in elements
    Py_ssize_t col_stride
    const Py_ssize_t *indices   # CSR
    const Py_ssize_t *indptr
    Py_ssize_t n_rows, n_cols
    Py_ssize_t row_nnz          # stored entries per row: n_cols if dense


cdef class InputMatrix:
    """The engine's read-only view of an input matrix.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features) or scipy CSR matrix
        float32 or float64.  Dense arrays are read in place whatever their
        strides (read-only and memory-mapped arrays included); a CSR matrix
        is read through its data, indices and indptr arrays and never
        densified.
    """

    cdef Input c
    cdef readonly object dtype
    cdef object _refs

    def __cinit__(self, X):
        self.c.n_rows, self.c.n_cols = X.shape
        self.dtype = X.dtype
        if hasattr(X, "indptr"):
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
            self.c.row_nnz = self.c.n_cols

    @property
    def shape(self):
        return (self.c.n_rows, self.c.n_cols)


cdef void _sparse_forward_rows(const Input *X, const Py_ssize_t *row_ids,
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
    for r in range(r0, r1):
        src = row_ids[r] if row_ids != NULL else first_row + r
        start = X.indptr[src]
        memset(z + r * n_out, 0, n_out * sizeof(floating))
        if floating is float:
            fnn_sparse_row_product_f(z + r * n_out, values + start,
                                     X.indices + start,
                                     X.indptr[src + 1] - start, w, n_out)
        else:
            fnn_sparse_row_product_d(z + r * n_out, values + start,
                                     X.indices + start,
                                     X.indptr[src + 1] - start, w, n_out)
    _bias_activation_rows(z + r0 * n_out, b, r1 - r0, n_out, act,
                          pre + r0 * n_out if pre != NULL else NULL)


cdef void _sparse_forward_layer(const Input *X, Py_ssize_t first_row,
                                Py_ssize_t rows, const floating *w,
                                const floating *b, Py_ssize_t n_out,
                                fnn_activation act, floating *z,
                                int n_threads) noexcept nogil:
    """All rows of ``_sparse_forward_rows`` (consecutive rows of X)."""
    # Rows are independent here (no BLAS), so any split gives the same sums.
    cdef int t, nt = n_threads if _gemm_blocks(rows, X.row_nnz, n_out) > 1 else 1
    for t in prange(nt, num_threads=nt, schedule="static"):
        _sparse_forward_rows(X, NULL, first_row, w, b, n_out, act, z, NULL,
                             _split(rows, t, nt), _split(rows, t + 1, nt))


cdef void _sparse_weight_gradient_rows(const Input *X,
                                       const Py_ssize_t *row_ids,
                                       Py_ssize_t rows, const floating *delta,
                                       Py_ssize_t n_out, floating *g,
                                       Py_ssize_t f0, Py_ssize_t f1,
                                       bint accumulate) noexcept nogil:
    """Rows f0:f1 of row-major g (n_features x n_out) <- X[rows].T @ delta
    (+ g) for CSR X.

    Entries are scattered in batch order (SciPy's order for the transposed
    product) whatever the split, so the sums never depend on it.
    """
    cdef const floating *values = <const floating*>X.values
    cdef Py_ssize_t r, k, j, f
    cdef floating v
    cdef floating *g_row
    cdef const floating *d_row
    if not accumulate:
        memset(g + f0 * n_out, 0, (f1 - f0) * n_out * sizeof(floating))
    for r in range(rows):
        d_row = delta + r * n_out
        for k in range(X.indptr[row_ids[r]], X.indptr[row_ids[r] + 1]):
            f = X.indices[k]
            if f < f0 or f >= f1:
                continue
            v = values[k]
            g_row = g + f * n_out
            for j in range(n_out):
                g_row[j] += v * d_row[j]


# ---------------------------------------------------------------------------
# Training workspace
# ---------------------------------------------------------------------------

cdef struct _Task:
    # One phase-2 block of a batch (see ``_batch_pass``): rows k0:k1 of
    # the coefficient matrix of ``layer``.
    int layer
    Py_ssize_t k0, k1


cdef struct _Step:
    # One optimizer step: what ``_optimizer_range`` needs.
    int solver
    bint nesterov
    double learning_rate, lr_t, alpha, momentum, beta_1, beta_2, epsilon
    double sw_sum


cdef class Trainer:
    """Preallocated buffers and network description for one fit.

    Parameters
    ----------
    layer_units : sequence of int
        Width of every layer, input first and output last.
    params : ndarray, 1-D, C-contiguous, float32 or float64
        Flat parameters (see the module docstring); updated in place.
    optimizer_state : tuple of ndarray
        ``(velocities,)`` for SGD or ``(first_moments, second_moments)`` for
        Adam, flat arrays like ``params``; updated in place.
    batch_size : int
        Largest minibatch the buffers must hold.
    activations : sequence of (str, float, float)
        Name (from ``ACTIVATION_CODES``) and two parameters of the
        activation of every layer after the input, the output layer's last.
    loss : str
        Name from ``LOSS_CODES``.
    n_threads : int
        Number of OpenMP threads sharing the blocks of each batch.
    loss_param : float, default=0.0
        The Huber loss's delta.
    dropout : sequence of float, default=None
        Dropout rate of every hidden layer (inverted dropout, training
        passes only).
    dropout_seed, dropout_step : int, default=0
        Seed of the dropout masks and batches already trained with them.
    """

    cdef readonly int n_weight_layers
    cdef readonly Py_ssize_t batch_size
    cdef readonly object dtype
    # Adam steps taken so far, kept here too so that an interrupted epoch
    # still reports how far it got.
    cdef readonly long adam_t
    cdef int loss, n_threads
    cdef double loss_param
    cdef double *dropout      # dropout[l]: rate of hidden layer l (0: none)
    cdef void **undropped     # undropped[l]: f(z) before dropout, for f'
    cdef unsigned long long dropout_seed
    # Batches trained with dropout so far: the masks' counter.
    cdef public long dropout_step
    cdef fnn_activation *act_spec  # act_spec[l]: activation of layer l >= 1
    cdef Py_ssize_t *units
    cdef Py_ssize_t *coef_offset
    cdef Py_ssize_t *intercept_offset
    cdef Py_ssize_t n_coef, n_params
    cdef void **acts      # acts[l]: batch_size x units[l], acts[0] is the batch
    cdef void **deltas    # deltas[l]: batch_size x units[l], l >= 1
    cdef void **pres      # pres[l]: pre-activations, where f' needs them
    cdef void *params_ptr
    cdef void *grad_ptr
    cdef void *state_ptr[2]
    cdef void *y_batch_ptr
    cdef _Task *tasks       # the current batch's phase-2 blocks
    cdef double *task_sums  # squared norms of their coefficients
    cdef int n_tasks
    cdef double *row_loss
    # A sparse batch by feature (see ``_transpose_batch``): the stored
    # entries of feature f are entry_row/entry_value[feature_end[f - 1]:
    # feature_end[f]]; scratch holds gradient rows for the fused step.
    cdef Py_ssize_t *feature_end
    cdef Py_ssize_t *entry_row
    cdef void *entry_value
    cdef void *scratch
    cdef Py_ssize_t entry_capacity
    cdef object _sparse_keep
    cdef object _keep_alive

    def __cinit__(self, layer_units, params, optimizer_state, Py_ssize_t batch_size,
                  activations, str loss, int n_threads, double loss_param=0.0,
                  dropout=None, unsigned long long dropout_seed=0,
                  long dropout_step=0):
        cdef Py_ssize_t l, offset
        cdef int n_layers = len(layer_units)
        self.n_weight_layers = n_layers - 1
        self.batch_size = batch_size
        self.dtype = params.dtype
        self.loss = LOSS_CODES[loss]
        self.loss_param = loss_param
        self.n_threads = max(1, n_threads)

        self.units = <Py_ssize_t*>malloc(n_layers * sizeof(Py_ssize_t))
        self.coef_offset = <Py_ssize_t*>malloc(n_layers * sizeof(Py_ssize_t))
        self.intercept_offset = <Py_ssize_t*>malloc(n_layers * sizeof(Py_ssize_t))
        self.acts = <void**>malloc(n_layers * sizeof(void*))
        self.deltas = <void**>malloc(n_layers * sizeof(void*))
        self.pres = <void**>malloc(n_layers * sizeof(void*))
        self.act_spec = <fnn_activation*>malloc(n_layers * sizeof(fnn_activation))
        self.dropout = <double*>calloc(n_layers, sizeof(double))
        self.undropped = <void**>calloc(n_layers, sizeof(void*))
        self.tasks = <_Task*>malloc(n_layers * MAX_BLOCKS * sizeof(_Task))
        self.task_sums = <double*>malloc(n_layers * MAX_BLOCKS * sizeof(double))
        self.row_loss = <double*>malloc(batch_size * sizeof(double))
        if (self.row_loss == NULL or self.units == NULL or self.coef_offset == NULL or self.acts == NULL
                or self.intercept_offset == NULL or self.deltas == NULL
                or self.tasks == NULL or self.task_sums == NULL
                or self.pres == NULL
                or self.act_spec == NULL or self.dropout == NULL
                or self.undropped == NULL):
            raise MemoryError()
        self.dropout_seed = dropout_seed
        self.dropout_step = dropout_step
        if dropout is not None:
            if len(dropout) != n_layers - 2:
                raise ValueError("need one dropout rate per hidden layer")
            for l, rate in enumerate(dropout, start=1):
                self.dropout[l] = rate
        if len(activations) != n_layers - 1:
            raise ValueError("need one activation per layer after the input")
        self.act_spec[0].code = FNN_IDENTITY
        for l in range(1, n_layers):
            self.act_spec[l] = _activation_spec(activations[l - 1])

        for l in range(n_layers):
            self.units[l] = layer_units[l]
        offset = 0
        for l in range(n_layers - 1):
            self.coef_offset[l] = offset
            offset += self.units[l] * self.units[l + 1]
        self.n_coef = offset
        for l in range(n_layers - 1):
            self.intercept_offset[l] = offset
            offset += self.units[l + 1]
        self.n_params = offset
        if params.shape[0] != self.n_params:
            raise ValueError("params has the wrong size for layer_units")

        keep = [params]
        grad = np.zeros(self.n_params, dtype=self.dtype)
        keep.append(grad)
        self.params_ptr = <void*><size_t>params.ctypes.data
        self.grad_ptr = <void*><size_t>grad.ctypes.data
        self.state_ptr[0] = self.state_ptr[1] = NULL
        for l, state in enumerate(optimizer_state):
            keep.append(state)
            self.state_ptr[l] = <void*><size_t>state.ctypes.data
        for l in range(n_layers):
            buf = np.zeros((batch_size, self.units[l]), dtype=self.dtype)
            keep.append(buf)
            self.acts[l] = <void*><size_t>buf.ctypes.data
            self.deltas[l] = self.pres[l] = NULL
            if l > 0:
                buf = np.zeros((batch_size, self.units[l]), dtype=self.dtype)
                keep.append(buf)
                self.deltas[l] = <void*><size_t>buf.ctypes.data
            if self.dropout[l] > 0:
                buf = np.zeros((batch_size, self.units[l]), dtype=self.dtype)
                keep.append(buf)
                self.undropped[l] = <void*><size_t>buf.ctypes.data
            if l > 0 and fnn_needs_preactivation(self.act_spec[l].code):
                buf = np.zeros((batch_size, self.units[l]), dtype=self.dtype)
                keep.append(buf)
                self.pres[l] = <void*><size_t>buf.ctypes.data
        buf = np.zeros((batch_size, self.units[n_layers - 1]), dtype=self.dtype)
        keep.append(buf)
        self.y_batch_ptr = <void*><size_t>buf.ctypes.data
        self._keep_alive = keep

    def loss_gradient(self, X, Y, sample_weight, double alpha, grad_out):
        """Full-batch loss and its gradient at the current parameters.

        Rows are processed in chunks of ``batch_size`` with the gradient
        accumulated across chunks, so the workspace stays bounded.

        Parameters
        ----------
        X : InputMatrix
        Y, sample_weight : ndarray
            As for :meth:`run_epoch`.
        alpha : float
            L2 penalty.
        grad_out : ndarray, 1-D
            Receives the averaged, regularised gradient (flat layout).

        Returns
        -------
        loss : float
        """
        order = np.arange(X.shape[0], dtype=np.intp)
        cdef InputMatrix inp = X
        if self.dtype == np.float32:
            return _loss_gradient[float](self, &inp.c, Y, sample_weight, order,
                                         alpha, grad_out)
        return _loss_gradient[double](self, &inp.c, Y, sample_weight, order,
                                      alpha, grad_out)

    def gradient_sums(self, X, Y, sample_weight, sums_out):
        """The sums :meth:`loss_gradient` averages, for adding over row blocks.

        A distributed fit adds these over the blocks of its data and passes
        the totals to :meth:`mean_loss_gradient`, which finishes them as
        :meth:`loss_gradient` finishes its own.

        Parameters
        ----------
        X : InputMatrix
            At least one row.
        Y, sample_weight : ndarray
            As for :meth:`run_epoch`.
        sums_out : ndarray, 1-D
            Receives the raw gradient: the sample-weighted sum over the rows,
            without the penalty (flat layout, the trainer's dtype).

        Returns
        -------
        weighted_loss, sw_sum : float
            Sum of the sample-weighted per-row losses, sum of the weights.
        """
        order = np.arange(X.shape[0], dtype=np.intp)
        cdef InputMatrix inp = X
        if self.dtype == np.float32:
            return _gradient_sums_out[float](self, &inp.c, Y, sample_weight, order,
                                             sums_out)
        return _gradient_sums_out[double](self, &inp.c, Y, sample_weight, order,
                                          sums_out)

    def mean_loss_gradient(self, double weighted_loss, double sw_sum, sums,
                           double alpha, grad_out):
        """:meth:`loss_gradient`'s result from :meth:`gradient_sums` totals.

        Averages over the total weight and adds the L2 penalty at the
        trainer's current parameters; ``sums`` (the trainer's dtype) is read
        only.  Returns the loss; ``grad_out`` receives the gradient.
        """
        if self.dtype == np.float32:
            return _mean_loss_gradient_out[float](self, weighted_loss, sw_sum, sums,
                                                  alpha, grad_out)
        return _mean_loss_gradient_out[double](self, weighted_loss, sw_sum, sums,
                                               alpha, grad_out)

    def evaluate_loss(self, X, Y, sample_weight, double alpha):
        """Loss at the current parameters, without a gradient.

        The training objective (data term and L2 penalty), as
        :meth:`loss_gradient` computes it; used for validation losses.
        """
        order = np.arange(X.shape[0], dtype=np.intp)
        cdef InputMatrix inp = X
        if self.dtype == np.float32:
            return _loss_only[float](self, &inp.c, Y, sample_weight, order, alpha)
        return _loss_only[double](self, &inp.c, Y, sample_weight, order, alpha)

    def input_gradient(self, X, Y, out):
        """Gradients with respect to the inputs, by one reverse pass each.

        Parameters
        ----------
        X : InputMatrix
            Dense input.
        Y : ndarray of shape (n_samples, n_outputs) or None
            With targets: the gradient of each sample's loss (unit weight),
            written to ``out[:, 0, :]``.  Without: the gradient of every
            output activation, ``out[:, k, :]`` for output k.
        out : ndarray of shape (n_samples, 1 or n_outputs, n_features)
        """
        cdef InputMatrix inp = X
        if inp.c.sparse:
            raise TypeError("input gradients need dense input")
        if self.dtype == np.float32:
            _input_gradient[float](self, &inp.c, Y, out)
        else:
            _input_gradient[double](self, &inp.c, Y, out)

    def outputs_finite(self, X, Y, sample_weight, const Py_ssize_t[::1] rows):
        """Whether the network's outputs for ``X[rows]`` are all finite.

        A forward pass through the trainer's own buffers (no dropout), for
        at most ``batch_size`` rows; ``Y`` and ``sample_weight`` as for
        :meth:`run_epoch`.
        """
        cdef InputMatrix inp = X
        if rows.shape[0] == 0:
            return True
        if rows.shape[0] > self.batch_size:
            raise ValueError("more rows than the trainer's batch size")
        if self.dtype == np.float32:
            return _outputs_finite[float](self, &inp.c, Y, sample_weight, rows)
        return _outputs_finite[double](self, &inp.c, Y, sample_weight, rows)

    def __dealloc__(self):
        free(self.units)
        free(self.coef_offset)
        free(self.intercept_offset)
        free(self.acts)
        free(self.deltas)
        free(self.pres)
        free(self.act_spec)
        free(self.dropout)
        free(self.undropped)
        free(self.tasks)
        free(self.task_sums)
        free(self.row_loss)

    def _prepare_sparse(self, InputMatrix X):
        """Buffers of the fused sparse pass, sized for the largest batch."""
        cdef Py_ssize_t row_nnz = 0
        if X.c.n_rows:
            row_nnz = int(np.diff(X._refs[2]).max())
        cdef Py_ssize_t capacity = max(1, self.batch_size * row_nnz)
        if (self._sparse_keep is not None and self.entry_capacity >= capacity
                and self._sparse_keep[0].shape[0] == X.c.n_cols + 1):
            return
        keep = (
            np.zeros(X.c.n_cols + 1, dtype=np.intp),
            np.zeros(capacity, dtype=np.intp),
            np.zeros(capacity, dtype=self.dtype),
            np.zeros(MAX_BLOCKS * SPARSE_CHUNK * self.units[1], dtype=self.dtype),
        )
        self._sparse_keep = keep
        self.entry_capacity = capacity
        self.feature_end = <Py_ssize_t*><size_t>keep[0].ctypes.data
        self.entry_row = <Py_ssize_t*><size_t>keep[1].ctypes.data
        self.entry_value = <void*><size_t>keep[2].ctypes.data
        self.scratch = <void*><size_t>keep[3].ctypes.data

    def run_epoch(self, X, Y, sample_weight, const Py_ssize_t[::1] order,
                  int solver, double learning_rate, double alpha,
                  double momentum=0.9, bint nesterov=True, double beta_1=0.9,
                  double beta_2=0.999, double epsilon=1e-8, long adam_t=0):
        """Run one epoch of minibatch training.

        Parameters
        ----------
        X : InputMatrix
            Training input in the trainer's dtype.
        Y : ndarray of shape (n_samples, n_outputs)
            Targets (label-binarised for classifiers), trainer's dtype.
        sample_weight : ndarray of shape (n_samples,)
            Per-sample weights in the trainer's dtype.
        order : ndarray of intp
            The row order of this epoch; batches are consecutive slices of it.
        solver : {SOLVER_SGD, SOLVER_ADAM}
        learning_rate : float
            SGD step size, or Adam's ``learning_rate_init``.
        adam_t : int
            Adam steps taken before this epoch.

        Returns
        -------
        loss_sum : float
            Sum over batches of ``batch_loss * batch_size`` as scikit-learn
            accumulates it; divide by ``n_samples`` for the epoch loss.
        adam_t : int
            Adam steps taken after this epoch.

        Raises
        ------
        KeyboardInterrupt
            If a signal handler raised while the epoch ran; the parameters
            then hold the state after the last completed batch.
        """
        cdef InputMatrix inp = X
        if inp.c.sparse:
            self._prepare_sparse(inp)
        if self.dtype == np.float32:
            return _run_epoch[float](self, &inp.c, Y, sample_weight, order, solver,
                                     learning_rate, alpha, momentum, nesterov,
                                     beta_1, beta_2, epsilon, adam_t)
        return _run_epoch[double](self, &inp.c, Y, sample_weight, order, solver,
                                  learning_rate, alpha, momentum, nesterov,
                                  beta_1, beta_2, epsilon, adam_t)


# ---------------------------------------------------------------------------
# One minibatch
#
# A batch is one OpenMP parallel region in two phases.  Phase 1 gives each
# thread whole row blocks: gather, forward through every layer, loss and
# output deltas, and the deltas back down to the first hidden layer all
# depend on the block's own rows only, so no thread waits for another.
# Phase 2 (after the one barrier) splits every layer's weight gradient into
# blocks of its rows, each of which needs the deltas of the whole batch;
# when training, the thread that computed a gradient block also takes the
# optimizer step on those parameters while they are in its cache.
#
# Row blocks and gradient blocks are functions of the sizes only (see
# ``_gemm_blocks``), never of the thread count, and reductions are summed in
# block order afterwards: results are bitwise identical for any number of
# threads.
# ---------------------------------------------------------------------------

cdef inline int _row_blocks(Trainer self, const Input *X,
                            Py_ssize_t rows) noexcept nogil:
    """Row blocks of a batch for phase 1: powers of two of >= 64 rows.

    Fewer than about 100 rows per GEMM costs BLAS efficiency (measured
    with OpenBLAS: 50 rows ran at 75% of the speed of 200).
    """
    cdef Py_ssize_t macs = 0
    cdef int l, nb = 1
    for l in range(self.n_weight_layers):
        macs += ((X.row_nnz if l == 0 else self.units[l])
                 * self.units[l + 1])
    if rows * macs < PARALLEL_MIN_FLOPS:
        return 1
    while nb * 2 <= GEMM_BLOCKS and rows >= nb * 2 * MIN_BLOCK_ROWS:
        nb *= 2
    return nb


cdef int _plan_tasks(Trainer self, const Input *X, Py_ssize_t rows) noexcept nogil:
    """Fill ``self.tasks`` with the phase-2 blocks of a batch; their number."""
    cdef int l, b, nb, n = 0
    cdef Py_ssize_t n_in, n_out
    for l in range(self.n_weight_layers):
        n_in = self.units[l]
        n_out = self.units[l + 1]
        if l == 0 and X.sparse:
            # Zeroing the gradient and the optimizer step dominate.
            nb = GEMM_BLOCKS if n_in * n_out >= PARALLEL_MIN_ELEMENTS else 1
        else:
            nb = _gemm_blocks(rows, n_in, n_out)
        for b in range(nb):
            self.tasks[n].layer = l
            self.tasks[n].k0 = _split(n_in, b, nb)
            self.tasks[n].k1 = _split(n_in, b + 1, nb)
            n += 1
    return n


cdef void _dropout_rows(Trainer self, floating *x, floating *save,
                        Py_ssize_t layer, Py_ssize_t r0,
                        Py_ssize_t r1) noexcept nogil:
    """Rows r0:r1 of x *= this batch's inverted-dropout mask of ``layer``.

    x is first copied to ``save`` unless NULL.  The same call on the layer's
    deltas applies the same mask backward.
    """
    cdef Py_ssize_t n = self.units[layer], r, j
    cdef double rate = self.dropout[layer]
    for r in range(r0, r1):
        for j in range(n):
            if save != NULL:
                save[r * n + j] = x[r * n + j]
            x[r * n + j] *= <floating>fnn_dropout_scale(
                self.dropout_seed, self.dropout_step, r, layer, j, rate)


cdef void _backprop_rows(Trainer self, const floating *params, Py_ssize_t r0,
                         Py_ssize_t r1, bint train) noexcept nogil:
    """Rows r0:r1 of the deltas, from the output's down to layer 1's.

    The first layer's input gradient is not computed: training never
    needs it.
    """
    cdef int l
    cdef floating **acts = <floating**>self.acts
    cdef floating **deltas = <floating**>self.deltas
    cdef floating **pres = <floating**>self.pres
    for l in range(self.n_weight_layers - 1, 0, -1):
        if train and self.dropout[l] > 0:
            # f' from the outputs before dropout, then the same mask.
            _backward_rows(deltas[l + 1], self.units[l + 1],
                           params + self.coef_offset[l], self.units[l],
                           <floating*>self.undropped[l], pres[l],
                           self.act_spec[l], deltas[l], r0, r1)
            _dropout_rows(self, deltas[l], <floating*>NULL, l, r0, r1)
        else:
            _backward_rows(deltas[l + 1], self.units[l + 1],
                           params + self.coef_offset[l], self.units[l],
                           acts[l], pres[l], self.act_spec[l], deltas[l],
                           r0, r1)


cdef void _rows_pass(Trainer self, const Input *X, const Py_ssize_t *batch_rows,
                     const floating *Y, Py_ssize_t y_rs, Py_ssize_t y_cs,
                     const floating *sample_weight, Py_ssize_t r0,
                     Py_ssize_t r1, bint backward, bint train) noexcept nogil:
    """Phase 1 for batch rows r0:r1 (see the section comment)."""
    cdef int l, L = self.n_weight_layers
    cdef Py_ssize_t r, j, src
    cdef Py_ssize_t n_in = self.units[0], n_out = self.units[L]
    cdef floating **acts = <floating**>self.acts
    cdef floating **deltas = <floating**>self.deltas
    cdef floating **pres = <floating**>self.pres
    cdef floating *params = <floating*>self.params_ptr
    cdef floating *y_batch = <floating*>self.y_batch_ptr
    cdef const floating *x_row

    # Gather targets, and dense inputs (sparse ones are read in place).
    # Rows are scattered over X: each is requested a few rows ahead, so its
    # first cache misses overlap the copy of the rows before it.
    for r in range(r0, r1):
        src = batch_rows[r]
        if not X.sparse:
            x_row = <const floating*>X.values + src * X.row_stride
            if X.col_stride == 1:
                if r + GATHER_AHEAD < r1:
                    fnn_prefetch_bytes(
                        <const floating*>X.values
                        + batch_rows[r + GATHER_AHEAD] * X.row_stride,
                        n_in * sizeof(floating))
                memcpy(acts[0] + r * n_in, x_row, n_in * sizeof(floating))
            else:
                for j in range(n_in):
                    acts[0][r * n_in + j] = x_row[j * X.col_stride]
        for j in range(n_out):
            y_batch[r * n_out + j] = Y[src * y_rs + j * y_cs]

    for l in range(L):
        if l == 0 and X.sparse:
            _sparse_forward_rows(X, batch_rows, 0, params,
                                 params + self.intercept_offset[0],
                                 self.units[1], self.act_spec[1], acts[1],
                                 pres[1], r0, r1)
        else:
            _forward_rows(acts[l], self.units[l], False, self.units[l],
                          params + self.coef_offset[l],
                          params + self.intercept_offset[l], self.units[l + 1],
                          self.act_spec[l + 1], acts[l + 1], pres[l + 1], r0, r1)
        if train and self.dropout[l + 1] > 0:
            _dropout_rows(self, acts[l + 1], <floating*>self.undropped[l + 1],
                          l + 1, r0, r1)

    for r in range(r0, r1):
        if floating is float:
            self.row_loss[r] = fnn_output_loss_delta_f(
                acts[L] + r * n_out, y_batch + r * n_out, deltas[L] + r * n_out,
                n_out, sample_weight[batch_rows[r]], self.loss,
                <floating>self.loss_param)
        else:
            self.row_loss[r] = fnn_output_loss_delta_d(
                acts[L] + r * n_out, y_batch + r * n_out, deltas[L] + r * n_out,
                n_out, sample_weight[batch_rows[r]], self.loss,
                <floating>self.loss_param)
    if backward:
        _backprop_rows(self, params, r0, r1, train)


cdef inline void _step_range(Trainer self, floating *params,
                             const floating *grad, Py_ssize_t lo, Py_ssize_t hi,
                             double alpha, const _Step *step) noexcept nogil:
    """The optimizer ``step`` on params[lo:hi], whose raw gradient is grad[0:]."""
    cdef floating *state0 = <floating*>self.state_ptr[0]
    cdef floating *state1 = <floating*>self.state_ptr[1]
    _optimizer_range(params + lo, grad, state0 + lo,
                     state1 + lo if state1 != NULL else NULL, 0, hi - lo, alpha,
                     <floating>step.sw_sum, step.solver, step.learning_rate,
                     step.lr_t, step.momentum, step.nesterov, step.beta_1,
                     step.beta_2, step.epsilon)


cdef void _transpose_batch(Trainer self, const floating *values,
                           const Input *X, const Py_ssize_t *batch_rows,
                           Py_ssize_t rows) noexcept nogil:
    """Sort the stored entries of a CSR batch by feature (counting sort).

    Stable: each feature's entries stay in batch order, the order in which
    the row-by-row scatter adds them, so both give the same sums.
    """
    cdef Py_ssize_t *end = self.feature_end
    cdef floating *entry_value = <floating*>self.entry_value
    cdef Py_ssize_t r, k, f, pos
    memset(end, 0, (X.n_cols + 1) * sizeof(Py_ssize_t))
    for r in range(rows):
        for k in range(X.indptr[batch_rows[r]], X.indptr[batch_rows[r] + 1]):
            end[X.indices[k] + 1] += 1
    for f in range(1, X.n_cols + 1):
        end[f] += end[f - 1]
    # end[f] is now where feature f starts; filling moves it to its end.
    for r in range(rows):
        for k in range(X.indptr[batch_rows[r]], X.indptr[batch_rows[r] + 1]):
            pos = end[X.indices[k]]
            end[X.indices[k]] = pos + 1
            self.entry_row[pos] = r
            entry_value[pos] = values[k]


cdef double _sparse_gradient_step(Trainer self, floating *params, int t,
                                  Py_ssize_t f0, Py_ssize_t f1,
                                  const _Step *step) noexcept nogil:
    """Gradient and optimizer step of the first layer's rows f0:f1, CSR input.

    Each gradient row is summed from the feature's entries into a small
    scratch block and stepped on at once, so the gradient never goes to
    memory: on a wide sparse layer the optimizer pass is bound by memory
    traffic.  Returns the squared norm of the rows before the step.
    """
    cdef Py_ssize_t n_out = self.units[1]
    cdef floating *scratch = <floating*>self.scratch + t * SPARSE_CHUNK * n_out
    cdef const floating *delta = (<floating**>self.deltas)[1]
    cdef const floating *entry_value = <const floating*>self.entry_value
    cdef Py_ssize_t c0 = f0, c1, f, e, j, lo, hi
    cdef floating v
    cdef floating *g
    cdef const floating *d
    cdef double sumsq = 0.0
    while c0 < f1:
        c1 = min(c0 + SPARSE_CHUNK, f1)
        memset(scratch, 0, (c1 - c0) * n_out * sizeof(floating))
        for f in range(c0, c1):
            g = scratch + (f - c0) * n_out
            for e in range(self.feature_end[f - 1] if f > 0 else 0,
                           self.feature_end[f]):
                v = entry_value[e]
                d = delta + self.entry_row[e] * n_out
                for j in range(n_out):
                    g[j] += v * d[j]
        lo = c0 * n_out
        hi = c1 * n_out
        if floating is float:
            sumsq += fnn_sumsq_f(params, lo, hi)
        else:
            sumsq += fnn_sumsq_d(params, lo, hi)
        _step_range(self, params, scratch, lo, hi, step.alpha, step)
        c0 = c1
    return sumsq


cdef void _gradient_task(Trainer self, floating *params, const Input *X,
                         const Py_ssize_t *batch_rows, Py_ssize_t rows, int t,
                         bint accumulate, const _Step *step) noexcept nogil:
    """Phase 2: one block of a layer's raw gradient, and its optimizer step.

    The block with ``k0 == 0`` also does the layer's intercepts.  With a
    ``step``, the squared norm of the block's coefficients before the step
    goes to ``self.task_sums[t]``.
    """
    cdef _Task task = self.tasks[t]
    cdef int l = task.layer
    cdef Py_ssize_t n_in = self.units[l], n_out = self.units[l + 1]
    cdef Py_ssize_t lo, hi
    cdef floating *grad = <floating*>self.grad_ptr
    cdef floating *delta = (<floating**>self.deltas)[l + 1]
    if task.k0 == 0:
        _column_sums(delta, rows, n_out, grad + self.intercept_offset[l],
                     accumulate)
    # The penalty term of this batch's loss uses the weights the batch was
    # evaluated with: norms are taken before the step.
    if l == 0 and X.sparse and step != NULL:
        self.task_sums[t] = _sparse_gradient_step(self, params, t, task.k0,
                                                  task.k1, step)
    else:
        if l == 0 and X.sparse:
            _sparse_weight_gradient_rows(X, batch_rows, rows, delta, n_out,
                                         grad, task.k0, task.k1, accumulate)
        else:
            _weight_gradient_rows((<floating**>self.acts)[l], rows, n_in,
                                  delta, n_out, grad + self.coef_offset[l],
                                  task.k0, task.k1, accumulate)
        if step == NULL:
            return
        lo = self.coef_offset[l] + task.k0 * n_out
        hi = self.coef_offset[l] + task.k1 * n_out
        if floating is float:
            self.task_sums[t] = fnn_sumsq_f(params, lo, hi)
        else:
            self.task_sums[t] = fnn_sumsq_d(params, lo, hi)
        _step_range(self, params, grad + lo, lo, hi, step.alpha, step)
    if task.k0 == 0:
        lo = self.intercept_offset[l]
        _step_range(self, params, grad + lo, lo, lo + n_out, 0.0, step)


cdef double _batch_pass(Trainer self, const Input *X, const floating[:, :] Y,
                        const floating[::1] sample_weight,
                        const Py_ssize_t *batch_rows, Py_ssize_t rows,
                        bint backward, bint accumulate, bint train,
                        _Step *step, double *sw_sum) noexcept nogil:
    """Forward and backward pass over the rows ``batch_rows[:rows]``.

    Without ``backward``, stops after the output deltas.  Otherwise writes
    the raw gradients (``a.T @ delta`` and column sums of ``delta``, with
    ``delta`` already multiplied by the sample weights) into the trainer's
    gradient buffer, added to what it holds when ``accumulate``, and takes
    the optimizer ``step`` unless it is NULL.  ``train`` applies dropout
    (training batches only).  Returns the weighted sum of the per-row
    losses and stores the sum of the weights in ``sw_sum``.
    """
    cdef Py_ssize_t r, b
    cdef int t
    cdef int nb = _row_blocks(self, X, rows)
    cdef int n_tasks = _plan_tasks(self, X, rows) if backward else 0
    cdef int nt = self.n_threads if nb > 1 or n_tasks > 1 else 1
    cdef double loss = 0.0, weight_sum = 0.0
    cdef const floating *y = &Y[0, 0]
    cdef Py_ssize_t y_rs = Y.strides[0] // sizeof(floating)
    cdef Py_ssize_t y_cs = Y.strides[1] // sizeof(floating)
    cdef const floating *sw = &sample_weight[0]
    cdef floating *params = <floating*>self.params_ptr

    self.n_tasks = n_tasks
    if X.sparse and step != NULL:
        _transpose_batch(self, <const floating*>X.values, X, batch_rows, rows)
    for r in range(rows):
        weight_sum += sw[batch_rows[r]]
    if step != NULL:
        step.sw_sum = weight_sum
    with parallel(num_threads=nt):
        for b in prange(nb, schedule="static"):
            _rows_pass(self, X, batch_rows, y, y_rs, y_cs, sw,
                       _split(rows, b, nb), _split(rows, b + 1, nb), backward,
                       train)
        for t in prange(n_tasks, schedule="static", chunksize=1):
            _gradient_task(self, params, X, batch_rows, rows, t, accumulate,
                           step)
    # Per-row losses are summed in row order.
    for r in range(rows):
        loss += sw[batch_rows[r]] * self.row_loss[r]
    sw_sum[0] = weight_sum
    return loss


cdef bint _outputs_finite(Trainer self, const Input *X, const floating[:, :] Y,
                          const floating[::1] sample_weight,
                          const Py_ssize_t[::1] rows):
    cdef double sw_sum
    cdef Py_ssize_t n = rows.shape[0] * self.units[self.n_weight_layers]
    cdef const floating *out = (<floating**>self.acts)[self.n_weight_layers]
    with nogil:
        _batch_pass(self, X, Y, sample_weight, &rows[0], rows.shape[0], False,
                    False, False, NULL, &sw_sum)
    if floating is float:
        return fnn_all_finite_f(out, n)
    else:
        return fnn_all_finite_d(out, n)


cdef inline double _mean_loss(Trainer self, double weighted_loss,
                              double sw_sum) noexcept nogil:
    """Data term of scikit-learn's loss from the weighted sum of row losses."""
    cdef double loss = weighted_loss / sw_sum
    if self.loss == FNN_SQUARED_ERROR:
        # scikit-learn halves it and averages over the outputs too.
        loss *= 0.5 / self.units[self.n_weight_layers]
    return loss


cdef tuple _run_epoch(Trainer self, const Input *X, const floating[:, :] Y,
                      const floating[::1] sample_weight,
                      const Py_ssize_t[::1] order, int solver,
                      double learning_rate, double alpha, double momentum,
                      bint nesterov, double beta_1, double beta_2,
                      double epsilon, long adam_t):
    cdef Py_ssize_t n_samples = order.shape[0]
    cdef Py_ssize_t start, stop, rows
    cdef int t
    cdef int n_batches = 0
    cdef int interrupted = 0
    cdef double loss_sum = 0.0, data_loss, sumsq, sw_sum, batch_loss
    cdef _Step step
    step.solver = solver
    step.nesterov = nesterov
    step.learning_rate = learning_rate
    step.lr_t = 0.0
    step.alpha = alpha
    step.momentum = momentum
    step.beta_1 = beta_1
    step.beta_2 = beta_2
    step.epsilon = epsilon

    with nogil:
        start = 0
        while start < n_samples:
            stop = min(start + self.batch_size, n_samples)
            rows = stop - start
            if solver == _ADAM:
                adam_t += 1
                step.lr_t = (learning_rate * ((1.0 - beta_2 ** adam_t) ** 0.5)
                             / (1.0 - beta_1 ** adam_t))
            data_loss = _batch_pass(self, X, Y, sample_weight, &order[start],
                                    rows, True, False, True, &step, &sw_sum)
            data_loss = _mean_loss(self, data_loss, sw_sum)
            sumsq = 0.0
            for t in range(self.n_tasks):
                sumsq += self.task_sums[t]

            batch_loss = data_loss + (0.5 * alpha) * sumsq / sw_sum
            loss_sum += batch_loss * rows
            start = stop
            self.dropout_step += 1

            # Let Ctrl-C through every few dozen batches.
            n_batches += 1
            if n_batches % 64 == 0:
                with gil:
                    if PyErr_CheckSignals() != 0:
                        interrupted = 1
                if interrupted:
                    break
    self.adam_t = adam_t
    if interrupted:
        raise KeyboardInterrupt
    return loss_sum, adam_t


cdef double _gradient_sums(Trainer self, const Input *X,
                           const floating[:, :] Y,
                           const floating[::1] sample_weight,
                           const Py_ssize_t[::1] order,
                           double *sw_total) noexcept nogil:
    """Sums over the rows ``order``: the sample-weighted per-row losses
    (returned), the weights (``sw_total``) and the raw gradient (left in the
    trainer's gradient buffer)."""
    cdef Py_ssize_t n_samples = order.shape[0]
    cdef Py_ssize_t start = 0, rows
    cdef double weighted_loss = 0.0, sw_chunk
    sw_total[0] = 0.0
    while start < n_samples:
        rows = min(self.batch_size, n_samples - start)
        weighted_loss += _batch_pass(self, X, Y, sample_weight, &order[start],
                                     rows, True, start > 0, False, NULL,
                                     &sw_chunk)
        sw_total[0] += sw_chunk
        start += rows
    return weighted_loss


cdef double _mean_loss_gradient(Trainer self, double weighted_loss,
                                double sw_total, const floating *grad,
                                double alpha,
                                floating[::1] grad_out) noexcept nogil:
    """The objective and its gradient from the sums over every row."""
    cdef Py_ssize_t i
    cdef double sumsq = 0.0
    cdef floating *params = <floating*>self.params_ptr
    cdef floating sw_f = <floating>sw_total
    for i in range(self.n_coef):
        sumsq += <double>params[i] * params[i]
        grad_out[i] = (grad[i] + <floating>alpha * params[i]) / sw_f
    for i in range(self.n_coef, self.n_params):
        grad_out[i] = grad[i] / sw_f
    return _mean_loss(self, weighted_loss, sw_total) + 0.5 * alpha * sumsq / sw_total


cdef double _loss_gradient(Trainer self, const Input *X,
                           const floating[:, :] Y,
                           const floating[::1] sample_weight,
                           const Py_ssize_t[::1] order, double alpha,
                           floating[::1] grad_out) except? -1:
    cdef double weighted_loss, sw_total, loss
    with nogil:
        weighted_loss = _gradient_sums(self, X, Y, sample_weight, order, &sw_total)
        loss = _mean_loss_gradient(self, weighted_loss, sw_total,
                                   <floating*>self.grad_ptr, alpha, grad_out)
    return loss


cdef tuple _gradient_sums_out(Trainer self, const Input *X,
                              const floating[:, :] Y,
                              const floating[::1] sample_weight,
                              const Py_ssize_t[::1] order,
                              floating[::1] sums_out):
    cdef double weighted_loss, sw_total
    with nogil:
        weighted_loss = _gradient_sums(self, X, Y, sample_weight, order, &sw_total)
        memcpy(&sums_out[0], self.grad_ptr, self.n_params * sizeof(floating))
    return weighted_loss, sw_total


cdef double _mean_loss_gradient_out(Trainer self, double weighted_loss,
                                    double sw_total, const floating[::1] sums,
                                    double alpha,
                                    floating[::1] grad_out) except? -1:
    cdef double loss
    with nogil:
        loss = _mean_loss_gradient(self, weighted_loss, sw_total, &sums[0],
                                   alpha, grad_out)
    return loss


cdef double _loss_only(Trainer self, const Input *X, const floating[:, :] Y,
                       const floating[::1] sample_weight,
                       const Py_ssize_t[::1] order, double alpha) except? -1:
    cdef Py_ssize_t n_samples = order.shape[0], start = 0, rows, i
    cdef double weighted_loss = 0.0, sw_total = 0.0, sw_chunk, sumsq = 0.0
    cdef floating *params = <floating*>self.params_ptr
    with nogil:
        while start < n_samples:
            rows = min(self.batch_size, n_samples - start)
            weighted_loss += _batch_pass(self, X, Y, sample_weight, &order[start],
                                         rows, False, False, False, NULL,
                                         &sw_chunk)
            sw_total += sw_chunk
            start += rows
        for i in range(self.n_coef):
            sumsq += <double>params[i] * params[i]
    return _mean_loss(self, weighted_loss, sw_total) + 0.5 * alpha * sumsq / sw_total


cdef void _seed_output_gradient(Trainer self, Py_ssize_t rows,
                                Py_ssize_t k, floating *dummy) noexcept nogil:
    """Output deltas = d(output k) / d(pre-activations), row by row."""
    cdef int L = self.n_weight_layers
    cdef Py_ssize_t n = self.units[L], r, j
    cdef floating *p
    cdef floating *d
    cdef int code = self.act_spec[L].code
    for r in range(rows):
        p = (<floating**>self.acts)[L] + r * n
        d = (<floating**>self.deltas)[L] + r * n
        for j in range(n):
            if code == FNN_SOFTMAX:
                d[j] = p[k] * ((1 if j == k else 0) - p[j])
            elif j != k:
                d[j] = 0
            elif code == FNN_LOGISTIC:
                d[j] = p[k] * (1 - p[k])
            elif code == FNN_EXP:
                d[j] = p[k]
            else:
                d[j] = 1


cdef void _backprop_deltas(Trainer self, const floating *params,
                           const Input *X, Py_ssize_t rows) noexcept nogil:
    """All rows of ``_backprop_rows``, in row blocks shared among the threads."""
    cdef int b, nb = _row_blocks(self, X, rows)
    for b in prange(nb, num_threads=min(nb, self.n_threads), schedule="static"):
        _backprop_rows(self, params, _split(rows, b, nb), _split(rows, b + 1, nb),
                       False)


cdef void _input_gradient(Trainer self, const Input *X, object Y_obj,
                          floating[:, :, ::1] out):
    cdef Py_ssize_t n_samples = X.n_rows, n_features = X.n_cols
    cdef int L = self.n_weight_layers
    cdef Py_ssize_t n_out = self.units[L]
    cdef Py_ssize_t start = 0, rows, k, r, j
    cdef double sw_chunk
    cdef bint with_targets = Y_obj is not None
    cdef floating[:, :] Y
    cdef floating *params = <floating*>self.params_ptr
    cdef floating **acts = <floating**>self.acts
    cdef floating **deltas = <floating**>self.deltas
    cdef fnn_activation identity
    identity.code = FNN_IDENTITY
    identity.p0 = identity.p1 = 0.0
    order_arr = np.arange(n_samples, dtype=np.intp)
    ones_arr = np.ones(n_samples, dtype=self.dtype)
    # Without targets the loss is not needed, but the forward pass reads a
    # target row per sample: give it zeros.
    Y = Y_obj if with_targets else np.zeros((n_samples, n_out), dtype=self.dtype)
    scratch_arr = np.empty((self.batch_size, n_features), dtype=self.dtype)
    cdef floating[:, ::1] scratch = scratch_arr
    cdef const Py_ssize_t[::1] order = order_arr
    cdef const floating[::1] ones = ones_arr
    with nogil:
        while start < n_samples:
            rows = min(self.batch_size, n_samples - start)
            _batch_pass(self, X, Y, ones, &order[start], rows, False, False,
                        False, NULL, &sw_chunk)
            for k in range(1 if with_targets else n_out):
                if not with_targets:
                    _seed_output_gradient(self, rows, k, params)
                if L > 1:
                    _backprop_deltas(self, params, X, rows)
                # The one product training skips: delta_1 @ W_0.T.
                _backward_layer(deltas[1], rows, self.units[1], params,
                                n_features, acts[0], NULL, identity,
                                &scratch[0, 0], self.n_threads)
                for r in range(rows):
                    for j in range(n_features):
                        out[start + r, k, j] = scratch[r, j]
            start += rows


cdef inline void _optimizer_range(floating *params, const floating *grad,
                                  floating *state0, floating *state1,
                                  Py_ssize_t lo, Py_ssize_t hi, double alpha,
                                  floating sw_sum, int solver,
                                  double learning_rate, double lr_t,
                                  double momentum, bint nesterov,
                                  double beta_1, double beta_2,
                                  double epsilon) noexcept nogil:
    if hi <= lo:
        return
    if solver == _ADAM:
        if floating is float:
            fnn_adam_step_f(params, state0, state1, grad, lo, hi, <float>alpha,
                            sw_sum, <float>beta_1, <float>(1.0 - beta_1),
                            <float>beta_2, <float>(1.0 - beta_2), <float>lr_t,
                            <float>epsilon)
        else:
            fnn_adam_step_d(params, state0, state1, grad, lo, hi, alpha, sw_sum,
                            beta_1, 1.0 - beta_1, beta_2, 1.0 - beta_2, lr_t,
                            epsilon)
    elif floating is float:
        fnn_sgd_step_f(params, state0, grad, lo, hi, <float>alpha, sw_sum,
                       <float>momentum, nesterov, <float>learning_rate)
    else:
        fnn_sgd_step_d(params, state0, grad, lo, hi, alpha, sw_sum, momentum,
                       nesterov, learning_rate)


# ---------------------------------------------------------------------------
# Prediction
# ---------------------------------------------------------------------------

def forward(X, params, layer_units, activations, int n_threads,
            bint check_finite=False):
    """Output-layer activations of the network for every row of ``X``.

    Rows are processed in chunks through two reused buffers, so the memory
    used beyond the output is bounded whatever the number of rows.

    Parameters
    ----------
    X : InputMatrix
        Input in the dtype of ``params``.  Dense row- or column-major
        arrays feed BLAS in place; other layouts are copied chunk by chunk;
        CSR input goes through the sparse first-layer kernel.
    params : ndarray, 1-D
        Flat parameters (see the module docstring).
    layer_units : sequence of int
    activations : sequence of (str, float, float)
        As for :class:`Trainer`.
    n_threads : int
    check_finite : bool, default=False
        Check that a dense X holds only finite values, each block of rows
        just before its product reads it (so X is read from memory once).

    Returns
    -------
    out : ndarray of shape (n_samples, layer_units[-1]) or None
        None when ``check_finite`` found a NaN or an infinity.
    """
    cdef InputMatrix inp = X
    n_samples, n_features = inp.shape
    units = np.asarray(layer_units, dtype=np.intp)
    out = np.empty((n_samples, units[len(units) - 1]), dtype=params.dtype)
    if n_samples == 0:
        return out
    # The buffers hold hidden layers' outputs, and a copy of the input's rows
    # when BLAS cannot read it in place (see _forward).
    width = int(max(units.max(), 1))
    held = [int(u) for u in units[1 : len(units) - 1]]
    if not inp.c.sparse and not _blas_readable(&inp.c):
        held.append(n_features)
    # About 4 MiB of activations per chunk and at least 64 rows: enough for
    # BLAS to run at full speed, bounded however many rows X has.
    chunk = min(n_samples, max(64, (1 << 19) // width))
    buf = np.empty((2, chunk * max(held, default=0)), dtype=params.dtype)
    if len(activations) != len(units) - 1:
        raise ValueError("need one activation per layer after the input")
    specs = np.empty(len(units), dtype=np.dtype(
        [("code", np.intc), ("p0", np.float64), ("p1", np.float64)], align=True))
    specs[0] = (FNN_IDENTITY, 0.0, 0.0)
    for l, spec in enumerate(activations, start=1):
        specs[l] = (ACTIVATION_CODES[spec[0]], spec[1], spec[2])
    cdef fnn_activation *act_spec = <fnn_activation*><size_t>specs.ctypes.data
    cdef bint finite
    if params.dtype == np.float32:
        finite = _forward[float](&inp.c, params, units, act_spec,
                                 max(1, n_threads), chunk, buf, out,
                                 check_finite)
    else:
        finite = _forward[double](&inp.c, params, units, act_spec,
                                  max(1, n_threads), chunk, buf, out,
                                  check_finite)
    return out if finite else None


cdef bint _rows_finite(const floating *a, bint col_major, Py_ssize_t lda,
                       Py_ssize_t n_cols, Py_ssize_t r0,
                       Py_ssize_t r1) noexcept nogil:
    """Whether rows r0:r1 of a row- or column-major matrix are all finite."""
    cdef Py_ssize_t r, j
    if col_major:
        for j in range(n_cols):
            if floating is float:
                if not fnn_all_finite_f(a + j * lda + r0, r1 - r0):
                    return False
            elif not fnn_all_finite_d(a + j * lda + r0, r1 - r0):
                return False
    else:
        for r in range(r0, r1):
            if floating is float:
                if not fnn_all_finite_f(a + r * lda, n_cols):
                    return False
            elif not fnn_all_finite_d(a + r * lda, n_cols):
                return False
    return True


cdef bint _checked_forward_layer(const floating *a, Py_ssize_t rows,
                                 Py_ssize_t n_in, bint a_col_major,
                                 Py_ssize_t lda, const floating *w,
                                 const floating *b, Py_ssize_t n_out,
                                 fnn_activation act, floating *z,
                                 int n_threads) noexcept nogil:
    """``_forward_layer`` that checks each block of ``a`` before its product.

    Returns whether every value was finite.
    """
    cdef int t, nb = _gemm_blocks(rows, n_in, n_out)
    cdef bint finite[MAX_BLOCKS]
    for t in prange(nb, num_threads=min(nb, n_threads), schedule="static"):
        finite[t] = _rows_finite(a, a_col_major, lda, n_in,
                                 _split(rows, t, nb), _split(rows, t + 1, nb))
        _forward_rows(a, lda, a_col_major, n_in, w, b, n_out, act, z, NULL,
                      _split(rows, t, nb), _split(rows, t + 1, nb))
    for t in range(nb):
        if not finite[t]:
            return False
    return True


cdef inline bint _c_rows(const Input *X) noexcept nogil:
    """A dense X BLAS reads in place as a row-major matrix."""
    return not X.sparse and X.col_stride == 1 and X.row_stride >= X.n_cols


cdef inline bint _f_cols(const Input *X) noexcept nogil:
    """A dense X BLAS reads in place as a column-major matrix."""
    return not X.sparse and X.row_stride == 1 and X.col_stride >= X.n_rows


cdef inline bint _blas_readable(const Input *X) noexcept nogil:
    return _c_rows(X) or _f_cols(X)


cdef bint _forward(const Input *X, const floating[::1] params,
                   const Py_ssize_t[::1] units, const fnn_activation *act_spec,
                   int n_threads, Py_ssize_t chunk, floating[:, ::1] buf,
                   floating[:, ::1] out, bint check_finite):
    cdef Py_ssize_t n_samples = X.n_rows, n_features = X.n_cols
    cdef int L = units.shape[0] - 1
    cdef Py_ssize_t start, rows, r, j, l, first
    cdef Py_ssize_t coef_off, intercept_off
    cdef floating *bufs[2]
    cdef const floating *a
    cdef const floating *x_row
    cdef floating *z
    cdef Py_ssize_t lda
    cdef bint col_major
    cdef bint finite = True
    # BLAS reads a dense X in place when it is a (strided) row- or
    # column-major matrix with a valid leading dimension.
    cdef bint c_rows = _c_rows(X)
    cdef bint f_cols = not c_rows and _f_cols(X)
    bufs[0] = &buf[0, 0] if buf.shape[1] else NULL
    bufs[1] = &buf[1, 0] if buf.shape[1] else NULL

    with nogil:
        start = 0
        while start < n_samples:
            rows = min(chunk, n_samples - start)
            a = NULL
            lda = 0
            col_major = False
            if c_rows:
                a = <const floating*>X.values + start * X.row_stride
                lda = X.row_stride
            elif f_cols:
                a = <const floating*>X.values + start
                lda = X.col_stride
                col_major = True
            elif not X.sparse:
                for r in prange(rows, num_threads=_threads_for(rows * n_features, n_threads),
                                schedule="static"):
                    x_row = <const floating*>X.values + (start + r) * X.row_stride
                    for j in range(n_features):
                        bufs[1][r * n_features + j] = x_row[j * X.col_stride]
                a = bufs[1]
                lda = n_features
            coef_off = 0
            intercept_off = 0
            for l in range(L):
                intercept_off += units[l] * units[l + 1]
            first = 0
            if X.sparse:
                z = &out[start, 0] if L == 1 else bufs[0]
                _sparse_forward_layer(X, start, rows, &params[0],
                                      &params[intercept_off], units[1],
                                      act_spec[1], z, n_threads)
                coef_off = units[0] * units[1]
                intercept_off += units[1]
                a = z
                lda = units[1]
                first = 1
            for l in range(first, L):
                z = &out[start, 0] if l == L - 1 else bufs[l % 2]
                if l == 0 and check_finite:
                    finite = _checked_forward_layer(
                        a, rows, units[0], col_major, lda, &params[0],
                        &params[intercept_off], units[1], act_spec[1], z,
                        n_threads)
                else:
                    _forward_layer(a, rows, units[l], col_major, lda,
                                   &params[coef_off], &params[intercept_off],
                                   units[l + 1],
                                   act_spec[l + 1], z, NULL, n_threads)
                coef_off += units[l] * units[l + 1]
                intercept_off += units[l + 1]
                a = z
                lda = units[l + 1]
                col_major = False
            if not finite:
                break
            start += rows
    return finite


# ---------------------------------------------------------------------------
# Element kernels exposed for the tests
# ---------------------------------------------------------------------------

def bias_activation(floating[:, ::1] Z, const floating[::1] b, str activation,
                    double p0=1.0, double p1=0.0):
    """In place: ``Z <- f(Z + b)`` row by row (test hook for the C kernels).

    Returns the pre-activations ``Z + b`` as the kernel stores them.
    """
    cdef fnn_activation act = _activation_spec((activation, p0, p1))
    pre = np.empty_like(np.asarray(Z))
    cdef floating[:, ::1] pre_view = pre
    _bias_activation_rows(&Z[0, 0], &b[0], Z.shape[0], Z.shape[1], act,
                          &pre_view[0, 0])
    return pre


def activation_backward(floating[:, ::1] delta, const floating[:, ::1] A,
                        const floating[:, ::1] pre, str activation,
                        double p0=1.0, double p1=0.0):
    """In place: ``delta <- delta * f'(.)`` given outputs ``A`` and
    pre-activations ``pre`` (test hook)."""
    cdef fnn_activation act = _activation_spec((activation, p0, p1))
    _activation_backward_rows(&delta[0, 0], &A[0, 0], &pre[0, 0], delta.shape[0],
                              delta.shape[1], act)


def output_loss_delta(const floating[:, ::1] P, const floating[:, ::1] Y,
                      const floating[::1] sample_weight, str loss,
                      double param=0.0):
    """Per-row losses and output deltas ``(P - Y) * sw`` (test hook)."""
    cdef Py_ssize_t r, n = P.shape[1]
    losses = np.empty(P.shape[0])
    delta = np.empty_like(np.asarray(P))
    cdef double[::1] lv = losses
    cdef floating[:, ::1] dv = delta
    cdef int code = LOSS_CODES[loss]
    for r in range(P.shape[0]):
        if floating is float:
            lv[r] = fnn_output_loss_delta_f(&P[r, 0], &Y[r, 0], &dv[r, 0], n,
                                            sample_weight[r], code, <float>param)
        else:
            lv[r] = fnn_output_loss_delta_d(&P[r, 0], &Y[r, 0], &dv[r, 0], n,
                                            sample_weight[r], code, param)
    return losses, delta


def optimizer_step(floating[::1] w, floating[::1] state0, floating[::1] state1,
                   const floating[::1] grad, double alpha, double sw_sum,
                   int solver, double learning_rate, double lr_t=0.0,
                   double momentum=0.9, bint nesterov=True, double beta_1=0.9,
                   double beta_2=0.999, double epsilon=1e-8):
    """One optimizer step over a flat array, in place (test hook)."""
    _optimizer_range(&w[0], &grad[0], &state0[0], &state1[0], 0, w.shape[0],
                            alpha, <floating>sw_sum, solver, learning_rate, lr_t,
                            momentum, nesterov, beta_1, beta_2, epsilon)
