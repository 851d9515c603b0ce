# cython: language_level=3, boundscheck=False, wraparound=False
# distutils: define_macros=NPY_NO_DEPRECATED_API=NPY_1_7_API_VERSION
# cython: cdivision=True, initializedcheck=False, nonecheck=False
"""Prediction: the network's outputs for any number of rows.

Holds: ``Network`` (a fitted network checked and parsed once, whose
``forward`` is the entry point of every prediction), ``forward`` (the same
for one call) and the chunked forward passes behind them, with the optional
finiteness check of a dense input as it is read.

On the engine's kernels a chunk of rows runs as a training batch's forward
stages do (``_plan``): panels of rows by blocks of columns shared among the
team, each panel's bias and activation applied while it is in cache, with
the same operations on every element as training's forward pass, so the
outputs are the same bits.  A chunk too small to share runs on the calling
thread without waking the team.  On BLAS each layer is cut into row blocks
(``_threads.gemm_blocks``).
May call: ``_layers``, ``_kernels``, ``_input``, ``_plan``, ``_threads``.
"""

from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.stdlib cimport calloc, free, malloc

from ._input cimport Input, InputMatrix, blas_readable, c_rows, f_cols
from ._kernels cimport (
    all_finite,
    fnn_activation,
    layer_activations,
    split,
)
from ._layers cimport (
    BLAS_PRODUCTS,
    forward_layer,
    forward_panels,
    forward_rows,
    products_level,
    sparse_forward_layer,
    sparse_forward_rows,
)
from ._plan cimport (
    FORWARD_STAGE,
    GATHER_STAGE,
    Plan,
    StageKind,
    Unit,
    free_plan,
    init_plan,
    plan_batch,
    share_start,
)
from ._threads cimport (
    fnn_mark_worker,
    gemm_blocks,
    threads_for,
    threads_now,
)

from ._tuning cimport MAX_BLOCKS, PARALLEL_MIN_MACS, PREDICT_BLOCK_ROWS

cimport numpy as cnp

import numpy as np

cnp.import_array()


cdef class Network:
    """A fitted network ready to predict: its parameters, widths and
    activations checked and parsed once.

    Parameters
    ----------
    params : ndarray, 1-D
        Flat parameters (see ``fastnn._engine``), read in place by every
        call: a change to them is seen by the next prediction.
    layer_units : sequence of int
    activations : sequence of (str, float, float)
        As for :class:`Trainer`.
    """

    cdef readonly object params
    cdef readonly object dtype
    cdef readonly tuple layer_units
    # The largest layer's multiply-adds per row, which decide whether a
    # prediction is worth threads (``fastnn._threads.forward_threads``).
    cdef readonly Py_ssize_t largest_layer
    cdef Py_ssize_t[::1] units
    cdef fnn_activation *act
    cdef Py_ssize_t *offsets    # each layer's coefficients, then intercepts
    cdef double macs_per_row
    cdef Py_ssize_t widest_hidden  # 0 without a hidden layer
    cdef int n_layers

    def __cinit__(self, params, layer_units, activations):
        self.act = NULL
        self.offsets = NULL
        # Plain ints: NumPy's reductions on a handful of sizes cost more than
        # a one-row prediction.
        widths = [int(u) for u in layer_units]
        n_layers = len(widths)
        if n_layers < 2 or min(widths) < 1:
            raise ValueError("layer_units must list at least two positive widths")
        if len(activations) != n_layers - 1:
            raise ValueError("need one activation per layer after the input")
        if not isinstance(params, np.ndarray) or params.ndim != 1:
            raise TypeError("params must be a 1-D ndarray")
        if params.dtype != np.float32 and params.dtype != np.float64:
            raise TypeError(f"params must be float32 or float64, got {params.dtype}")
        if not params.flags.c_contiguous:
            raise ValueError("params must be contiguous")
        n_params = sum([(a + 1) * b for a, b in zip(widths[: n_layers - 1], widths[1:])])
        if params.shape[0] != n_params:
            raise ValueError(f"params has {params.shape[0]} values, the network "
                             f"has {n_params} parameters")
        self.act = <fnn_activation*>malloc(n_layers * sizeof(fnn_activation))
        self.offsets = <Py_ssize_t*>malloc(2 * (n_layers - 1) * sizeof(Py_ssize_t))
        if self.act == NULL or self.offsets == NULL:
            raise MemoryError()
        layer_activations(self.act, activations, n_layers)
        self.params = params
        self.dtype = params.dtype
        self.layer_units = tuple(widths)
        self.units = np.array(widths, dtype=np.intp)
        self.n_layers = n_layers
        products = [a * b for a, b in zip(widths[: n_layers - 1], widths[1:])]
        self.largest_layer = max(products)
        self.widest_hidden = max(widths[1 : n_layers - 1], default=0)
        self.macs_per_row = sum(products)
        cdef int L = n_layers - 1, l
        cdef Py_ssize_t at = 0
        for l in range(L):
            self.offsets[l] = at
            at += products[l]
        for l in range(L):
            self.offsets[L + l] = at
            at += widths[l + 1]

    def __dealloc__(self):
        free(self.act)
        free(self.offsets)

    def forward(self, X, int n_threads, bint check_finite=False):
        """Output-layer activations of the network for every row of ``X``.

        Rows are processed in chunks through two reused buffers, so the
        memory used beyond the output is bounded whatever the number of
        rows.

        Parameters
        ----------
        X : InputMatrix
            Input in the dtype of the parameters.  Dense arrays are read in
            place where the products can read them (rows with unit stride
            on the engine's kernels; row- or column-major on BLAS), other
            layouts copied chunk by chunk; CSR input goes through the
            sparse first-layer kernel.
        n_threads : int
            Most threads to use; each chunk gets those the machine has
            free (``_threads``).
        check_finite : bool, default=False
            Check that a dense X holds only finite values as it is read.

        Returns
        -------
        out : ndarray of shape (n_samples, layer_units[-1]) or None
            None when ``check_finite`` found a NaN or an infinity.
        """
        if not isinstance(X, InputMatrix):
            raise TypeError(f"X must be an InputMatrix, got {type(X).__name__}")
        cdef InputMatrix inp = X
        if inp.dtype != self.dtype:
            raise TypeError(f"X is {inp.dtype}, params are {self.dtype}")
        widths = self.layer_units
        cdef Py_ssize_t n_samples = inp.c.n_rows, n_features = inp.c.n_cols
        if n_features != widths[0]:
            raise ValueError(f"X has {n_features} features, the network takes "
                             f"{widths[0]}")
        out = np.empty((n_samples, widths[self.n_layers - 1]), dtype=self.dtype)
        if n_samples == 0:
            return out
        cdef int level = products_level()
        # The buffers hold hidden layers' outputs, and a copy of the input's
        # rows when the products cannot read it in place.
        cdef Py_ssize_t held = self.widest_hidden
        if not inp.c.sparse and not (c_rows(&inp.c) if level != BLAS_PRODUCTS
                                     else blas_readable(&inp.c)):
            held = max(held, n_features)
        # About 8 MiB of float64 per buffer (4 MiB of float32), bounded however
        # many rows X has, and at least a block of rows that BLAS runs at full
        # speed.  An input read in place is not held: counting its width would
        # cut a wide sparse input into chunks of a few dozen rows.
        cdef Py_ssize_t chunk = min(
            n_samples,
            max(PREDICT_BLOCK_ROWS,
                (1 << 20) // max(held, widths[self.n_layers - 1])))
        # Three buffers on the kernels: two for the hidden layers, one for
        # the input's copy; two on BLAS, whose path copies into the second.
        cdef Py_ssize_t width = chunk * held
        buf = np.empty((3, width), dtype=self.dtype)
        cdef bint finite
        n_threads = max(1, n_threads)
        # Raw pointers on the kernels' path: typed memoryviews of the
        # arrays would cost a tenth of a one-row prediction.
        cdef void *buf_data = cnp.PyArray_DATA(<cnp.ndarray>buf)
        cdef void *out_data = cnp.PyArray_DATA(<cnp.ndarray>out)
        cdef void *params_data = cnp.PyArray_DATA(<cnp.ndarray>self.params)
        if self.dtype == np.float32:
            if level == BLAS_PRODUCTS:
                finite = _blas_forward[float](&inp.c, self.params, self.units,
                                              self.act, n_threads, chunk, buf,
                                              out, check_finite)
            else:
                finite = _kernel_forward[float](
                    self, &inp.c, level, n_threads, chunk,
                    <const float*>params_data, <float*>buf_data, width,
                    <float*>out_data, check_finite)
        else:
            if level == BLAS_PRODUCTS:
                finite = _blas_forward[double](&inp.c, self.params, self.units,
                                               self.act, n_threads, chunk, buf,
                                               out, check_finite)
            else:
                finite = _kernel_forward[double](
                    self, &inp.c, level, n_threads, chunk,
                    <const double*>params_data, <double*>buf_data, width,
                    <double*>out_data, check_finite)
        return out if finite else None


def forward(X, params, layer_units, activations, int n_threads,
            bint check_finite=False):
    """``Network(params, layer_units, activations).forward(X, n_threads,
    check_finite)``: one prediction, the network parsed for it alone."""
    return Network(params, layer_units, activations).forward(
        X, n_threads, check_finite)


# --- on the engine's kernels -------------------------------------------------

cdef struct _Chunk:
    # Everything a unit of a chunk's forward stages needs, for one chunk.
    const Input *X
    Py_ssize_t start            # the chunk's first row of X
    int level
    int n_layers                # weight layers
    const Py_ssize_t *units
    const Py_ssize_t *coef_off
    const Py_ssize_t *intercept_off
    const fnn_activation *act
    void *bufs[2]               # hidden layers' outputs, alternating
    void *rows                  # the input's rows, copied (NULL: read in place)
    void *out                   # the chunk's first output row
    bint check_finite
    int *bad                    # per share: a NaN or infinity seen


cdef bint _kernel_forward(Network net, const Input *X, int level,
                          int n_threads, Py_ssize_t chunk,
                          const floating *params, floating *buf,
                          Py_ssize_t width, floating *out,
                          bint check_finite) except? False:
    """The chunks of a prediction on the kernels: ``buf`` holds three rows
    of ``width`` values (two for the hidden layers' outputs, one for the
    input's rows when they are copied); ``out`` every output row."""
    cdef int L = net.n_layers - 1, s, share, nt, i
    cdef const Py_ssize_t *units = &net.units[0]
    cdef Py_ssize_t n_samples = X.n_rows, start = 0, rows
    cdef Py_ssize_t n_out = units[L]
    cdef bint copied = not X.sparse and not c_rows(X)
    cdef bint finite = True
    cdef int small_bad = 0, l
    cdef int *bad_shares = NULL
    cdef Plan plan
    cdef _Chunk c
    cdef Unit whole
    plan.stages = NULL
    plan.units = NULL
    plan.sums = NULL
    c.X = X
    c.level = level
    c.n_layers = L
    c.units = units
    c.coef_off = net.offsets
    c.intercept_off = net.offsets + L
    c.act = net.act
    c.bufs[0] = buf
    c.bufs[1] = buf + width
    c.rows = buf + 2 * width if copied else NULL
    c.check_finite = check_finite and not X.sparse
    c.bad = NULL
    try:
        while start < n_samples and finite:
            rows = min(chunk, n_samples - start)
            c.start = start
            c.out = out + start * n_out
            if rows * net.macs_per_row < PARALLEL_MIN_MACS:
                # Too small to share (a few rows): on this thread, without
                # a plan, each layer as one unit (the same operations on
                # every element as any cut).
                c.bad = &small_bad
                whole.r0 = 0
                whole.r1 = rows
                whole.c0 = 0
                with nogil:
                    if copied:
                        whole.layer = 0
                        whole.c1 = units[0]
                        _run_unit(&c, GATHER_STAGE, &whole, 0, params)
                    for l in range(L):
                        whole.layer = l
                        whole.c1 = units[l + 1]
                        _run_unit(&c, FORWARD_STAGE, &whole, 0, params)
                finite = not small_bad
            else:
                if plan.units == NULL:
                    init_plan(&plan, units, L)
                    bad_shares = <int*>calloc(n_threads, sizeof(int))
                    if bad_shares == NULL:
                        raise MemoryError()
                c.bad = bad_shares
                with nogil:
                    plan_batch(&plan, units, net.act, L, rows, X.sparse,
                               X.row_nnz, False, copied, False)
                    nt = threads_now(n_threads)
                    with parallel(num_threads=nt):
                        fnn_mark_worker()
                        for s in range(plan.n_stages):
                            for share in prange(nt, schedule="static",
                                                chunksize=1):
                                for i in range(
                                        share_start(&plan, &plan.stages[s],
                                                    share, nt),
                                        share_start(&plan, &plan.stages[s],
                                                    share + 1, nt)):
                                    _run_unit(&c, plan.stages[s].kind,
                                              &plan.units[plan.stages[s].first + i],
                                              share, params)
                    for i in range(n_threads):
                        if c.bad[i]:
                            finite = False
            start += rows
    finally:
        free_plan(&plan)
        free(bad_shares)
    return finite


cdef void _run_unit(_Chunk *c, StageKind kind, const Unit *u, int share,
                    const floating *params) noexcept nogil:
    """One unit of a chunk's gather or forward stage (a loss stage, which
    a plan has when the output layer is cut into columns, has no work in a
    prediction)."""
    cdef const Input *X = c.X
    cdef const floating *x = <const floating*>X.values
    cdef Py_ssize_t n_in, n, r, j, lda
    cdef floating *rows = <floating*>c.rows
    cdef const floating *a
    cdef floating *z
    cdef int l = u.layer
    if kind == GATHER_STAGE:
        n_in = c.units[0]
        for r in range(u.r0, u.r1):
            for j in range(n_in):
                rows[r * n_in + j] = x[(c.start + r) * X.row_stride
                                       + j * X.col_stride]
            if c.check_finite and not all_finite(rows + r * n_in, n_in):
                c.bad[share] = 1
        return
    if kind != FORWARD_STAGE:
        return
    n_in = c.units[l]
    n = c.units[l + 1]
    z = <floating*>(c.out if l == c.n_layers - 1 else c.bufs[l % 2])
    if l == 0 and X.sparse:
        sparse_forward_rows(X, NULL, c.start, params + c.coef_off[0],
                            params + c.intercept_off[0], n, c.act[1], z,
                            <floating*>NULL, u.r0, u.r1)
        return
    if l == 0:
        if rows != NULL:
            a = rows
            lda = n_in
        else:
            a = x + c.start * X.row_stride
            lda = X.row_stride
            # Each row is checked once, by the units of its first columns.
            if c.check_finite and u.c0 == 0:
                for r in range(u.r0, u.r1):
                    if not all_finite(a + r * lda, n_in):
                        c.bad[share] = 1
    else:
        a = <const floating*>c.bufs[(l - 1) % 2]
        lda = n_in
    forward_panels(c.level, a, lda, NULL, n_in, params + c.coef_off[l],
                   params + c.intercept_off[l], n, c.act[l + 1], z,
                   <floating*>NULL, u.r0, u.r1, u.c0, u.c1)


# --- on BLAS -------------------------------------------------------------------

cdef bint _rows_finite(const floating *a, bint col_major, Py_ssize_t lda,
                       Py_ssize_t n_cols, Py_ssize_t r0,
                       Py_ssize_t r1) noexcept nogil:
    """Whether rows r0:r1 of a row- or column-major matrix are all finite."""
    cdef Py_ssize_t r, j
    if col_major:
        for j in range(n_cols):
            if not all_finite(a + j * lda + r0, r1 - r0):
                return False
    else:
        for r in range(r0, r1):
            if not all_finite(a + r * lda, n_cols):
                return False
    return True


cdef bint _checked_forward_layer(const floating *a, Py_ssize_t rows,
                                 Py_ssize_t n_in, bint a_col_major,
                                 Py_ssize_t lda, const floating *w,
                                 const floating *b, Py_ssize_t n_out,
                                 fnn_activation act, floating *z,
                                 int n_threads) noexcept nogil:
    """``forward_layer`` that checks each block of ``a`` before its product.

    Returns whether every value was finite.
    """
    cdef int t, nb = gemm_blocks(rows, n_in, n_out)
    cdef bint finite[MAX_BLOCKS]
    for t in prange(nb, num_threads=min(nb, n_threads), schedule="static"):
        fnn_mark_worker()
        finite[t] = _rows_finite(a, a_col_major, lda, n_in,
                                 split(rows, t, nb), split(rows, t + 1, nb))
        forward_rows(a, lda, a_col_major, n_in, w, b, n_out, act, z,
                     <floating*>NULL, split(rows, t, nb), split(rows, t + 1, nb))
    for t in range(nb):
        if not finite[t]:
            return False
    return True


cdef bint _blas_forward(const Input *X, const floating[::1] params,
                   const Py_ssize_t[::1] units, const fnn_activation *act_spec,
                   int n_threads, Py_ssize_t chunk, floating[:, ::1] buf,
                   floating[:, ::1] out, bint check_finite):
    cdef Py_ssize_t n_samples = X.n_rows, n_features = X.n_cols
    cdef int L = units.shape[0] - 1
    cdef Py_ssize_t start, rows, r, j, l, first
    cdef Py_ssize_t coef_off, intercept_off
    cdef floating *bufs[2]
    cdef const floating *x_values = <const floating*>X.values
    cdef const floating *a
    cdef const floating *x_row
    cdef floating *z
    cdef Py_ssize_t lda
    cdef bint col_major
    cdef bint finite = True
    cdef int nt
    # BLAS reads a dense X in place when it is a (strided) row- or
    # column-major matrix with a valid leading dimension.
    cdef bint in_rows = c_rows(X)
    cdef bint in_cols = not in_rows and f_cols(X)
    bufs[0] = &buf[0, 0] if buf.shape[1] else NULL
    bufs[1] = &buf[1, 0] if buf.shape[1] else NULL

    with nogil:
        start = 0
        while start < n_samples:
            rows = min(chunk, n_samples - start)
            nt = threads_now(n_threads)
            a = NULL
            lda = 0
            col_major = False
            if in_rows:
                a = x_values + start * X.row_stride
                lda = X.row_stride
            elif in_cols:
                a = x_values + start
                lda = X.col_stride
                col_major = True
            elif not X.sparse:
                for r in prange(rows, num_threads=threads_for(rows * n_features,
                                                              nt),
                                schedule="static"):
                    x_row = x_values + (start + r) * X.row_stride
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
                sparse_forward_layer(X, start, rows, &params[0],
                                     &params[intercept_off], units[1],
                                     act_spec[1], z, nt)
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
                        nt)
                else:
                    forward_layer(a, rows, units[l], col_major, lda,
                                  &params[coef_off], &params[intercept_off],
                                  units[l + 1], act_spec[l + 1], z,
                                  <floating*>NULL, nt)
                coef_off += units[l] * units[l + 1]
                intercept_off += units[l + 1]
                a = z
                lda = units[l + 1]
                col_major = False
            if not finite:
                break
            start += rows
    return finite
