# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, nonecheck=False
"""One minibatch (see ``_batch.pxd`` for what this module holds).

A batch is one OpenMP parallel region that runs the stages of its plan
(``_plan``) in order, with a barrier after each: the input's gather where
the products do not read X in place, each layer's outputs, the loss and
output deltas, each hidden layer's deltas from the top down, and the
weight gradients of every layer.  In a stage each thread runs one
contiguous share of the units, which share rotating from stage to stage.

Phase-1 units are panels of rows by blocks of a layer's columns: the
product, then the element work (bias and activation, derivative, dropout)
on the panel while it is in L1.  A gradient unit computes a block of a
layer's coefficient rows and, when training, takes the optimizer step on
them at once, a gradient panel at a time on the engine's kernels
(``_layers.products_level``), so the raw gradient never goes to memory.
A dense input's rows are read in place by the first layer's products
instead of being gathered.

The plan is a function of the problem's sizes only, never of the machine
or the thread count, and reductions are summed in unit order afterwards:
results are bitwise identical for any number of threads, so the team of
each batch (``_threads.threads_now``) may be smaller than its ceiling.

May call: ``_plan``, ``_layers``, ``_kernels``, ``_input``, ``_threads``,
``_phases``.
"""

from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.string cimport memcpy, memset

from ._input cimport Input
from ._kernels cimport (
    activation_backward_rows,
    bias_activation_rows,
    fnn_activation,
    fnn_dropout_scale,
    fnn_loss_averages_outputs,
    fnn_optimizer,
    fnn_prefetch_bytes,
    optimizer_range,
    output_loss_delta_row,
    sumsq,
)
from ._layers cimport (
    BLAS_PRODUCTS,
    cols_product,
    column_sums,
    forward_panels,
    gradient_panel_rows,
    panel_rows,
    products_level,
    rows_product,
    sparse_forward_rows,
    transpose_rows,
)
from ._phases cimport (
    BIAS_ACTIVATION,
    DELTA_PRODUCTS,
    DERIVATIVES,
    GATHER,
    GRADIENT_PRODUCTS,
    LOSS,
    OPTIMIZER,
    pass_end,
    phase_end,
    phase_start,
)
from ._plan cimport (
    BACKWARD_STAGE,
    FORWARD_STAGE,
    GATHER_STAGE,
    LOSS_STAGE,
    Plan,
    Stage,
    Unit,
    plan_batch,
    share_start,
)
from ._threads cimport fnn_mark_worker, threads_now
from ._tuning cimport GATHER_AHEAD, PARALLEL_MIN_MACS, SPARSE_CHUNK
from ._workspace cimport Workspace, buffer

cdef void dropout_rows(Workspace ws, floating *x, floating *save,
                       Py_ssize_t layer, Py_ssize_t r0, Py_ssize_t r1,
                       Py_ssize_t c0, Py_ssize_t c1) noexcept nogil:
    """Rows r0:r1, columns c0:c1 of x *= this batch's inverted-dropout mask
    of ``layer``.

    x is first copied to ``save`` unless NULL.  The same call on the layer's
    deltas applies the same mask backward.
    """
    cdef Py_ssize_t n = ws.units[layer], r, j
    cdef double rate = ws.dropout[layer]
    cdef long long clock = phase_start()
    for r in range(r0, r1):
        for j in range(c0, c1):
            if save != NULL:
                save[r * n + j] = x[r * n + j]
            x[r * n + j] *= <floating>fnn_dropout_scale(
                ws.dropout_seed, ws.dropout_step, r, layer, j, rate)
    phase_end(BIAS_ACTIVATION if save != NULL else DERIVATIVES, clock)


cdef void backprop_rows(Workspace ws, floating *work, const floating *params,
                        Py_ssize_t r0, Py_ssize_t r1, bint train) noexcept nogil:
    """Rows r0:r1 of the deltas, from the output's down to layer 1's.

    The first layer's input gradient is not computed: training never
    needs it.
    """
    cdef int l
    cdef Unit u
    for l in range(ws.n_weight_layers - 1, 0, -1):
        u.layer = l
        u.r0, u.r1, u.c0, u.c1 = r0, r1, 0, ws.units[l]
        backward_unit(ws, train, &u, work)


cdef const floating *input_rows(Workspace ws, const Input *X,
                                const Py_ssize_t *batch_rows, floating *work,
                                Py_ssize_t *stride,
                                const Py_ssize_t **ids) noexcept nogil:
    """Where the first layer's products read the batch: row r at
    result + ids[r] * stride, or result + r * stride when ids is NULL.

    The engine's kernels read the rows of a C-ordered X in place; BLAS,
    and any X whose rows are not contiguous, read the gathered batch (the
    work buffer returned, which ``gather_rows`` fills).  NULL for sparse X,
    which its own kernels read.
    """
    cdef floating *batch = work + ws.act_off[0]
    if X.sparse:
        return NULL
    if ws.level != BLAS_PRODUCTS and X.col_stride == 1:
        stride[0] = X.row_stride
        ids[0] = batch_rows
        return <const floating*>X.values
    stride[0] = ws.units[0]
    ids[0] = NULL
    return batch


cdef void gather_rows(Workspace ws, const Batch *batch, floating *work,
                      Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """Copy batch rows r0:r1 of a dense X to the batch buffer, for the
    products that do not read X in place."""
    cdef const Input *X = batch.X
    cdef const Py_ssize_t *batch_rows = batch.rows
    cdef Py_ssize_t r, j, n_in = ws.units[0]
    cdef floating *x_batch = work + ws.act_off[0]
    cdef const floating *x_values = <const floating*>X.values
    cdef const floating *x_row
    cdef long long clock = phase_start()
    # Rows are scattered over X: each is requested a few rows ahead, so its
    # first cache misses overlap the copy of the rows before it.
    for r in range(r0, r1):
        x_row = x_values + batch_rows[r] * X.row_stride
        if X.col_stride == 1:
            if r + GATHER_AHEAD < r1:
                fnn_prefetch_bytes(
                    x_values + batch_rows[r + GATHER_AHEAD] * X.row_stride,
                    n_in * sizeof(floating))
            memcpy(x_batch + r * n_in, x_row, n_in * sizeof(floating))
        else:
            for j in range(n_in):
                x_batch[r * n_in + j] = x_row[j * X.col_stride]
    phase_end(GATHER, clock)


cdef void forward_unit(Workspace ws, const Batch *batch, const Unit *u,
                       floating *work, const floating *params,
                       const floating *x_rows, Py_ssize_t x_stride,
                       const Py_ssize_t *x_ids) noexcept nogil:
    """Layer ``u.layer``'s outputs on the unit's rows and columns: the
    product, then bias, activation and dropout while they are in cache."""
    cdef int l = u.layer
    cdef Py_ssize_t k = ws.units[l], n = ws.units[l + 1]
    cdef Py_ssize_t r0 = u.r0, r1 = u.r1, c0 = u.c0, c1 = u.c1
    cdef const floating *w = params + ws.coef_offset[l]
    cdef const floating *b = params + ws.intercept_offset[l]
    cdef floating *z = work + ws.act_off[l + 1]
    cdef floating *pre = buffer(work, ws.pre_off[l + 1])
    cdef const floating *a = x_rows if l == 0 else work + ws.act_off[l]
    cdef Py_ssize_t lda = x_stride if l == 0 else k
    cdef const Py_ssize_t *ids = x_ids if l == 0 else NULL
    if l == 0 and batch.X.sparse:
        sparse_forward_rows(batch.X, batch.rows, 0, w, b, n, ws.act_spec[1],
                            z, pre, r0, r1)
    else:
        forward_panels(ws.level, a, lda, ids, k, w, b, n, ws.act_spec[l + 1],
                       z, pre, r0, r1, c0, c1)
    if batch.mode == TRAIN and ws.dropout[l + 1] > 0:
        dropout_rows(ws, z, work + ws.undropped_off[l + 1], l + 1, r0, r1,
                     c0, c1)


cdef void loss_rows(Workspace ws, const Batch *batch, floating *work,
                    Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """Rows r0:r1 of the targets, the per-row losses (``ws.row_loss``) and
    the output deltas."""
    cdef const Py_ssize_t *batch_rows = batch.rows
    cdef const floating *Y = <const floating*>batch.Y
    cdef const floating *sample_weight = <const floating*>batch.sample_weight
    cdef Py_ssize_t y_rs = batch.y_row_stride, y_cs = batch.y_col_stride
    cdef int L = ws.n_weight_layers
    cdef Py_ssize_t r, j, src, n_out = ws.units[L]
    cdef floating *y_batch = work + ws.y_off
    cdef floating *out = work + ws.act_off[L]
    cdef floating *out_delta = work + ws.delta_off[L]
    cdef const floating *out_raw = buffer(work, ws.pre_off[L])
    cdef long long clock = phase_start()
    for r in range(r0, r1):
        src = batch_rows[r]
        for j in range(n_out):
            y_batch[r * n_out + j] = Y[src * y_rs + j * y_cs]
    clock = phase_end(GATHER, clock)
    for r in range(r0, r1):
        ws.row_loss[r] = output_loss_delta_row(
            out + r * n_out, out_raw + r * n_out if out_raw != NULL else NULL,
            y_batch + r * n_out, out_delta + r * n_out, n_out,
            sample_weight[batch_rows[r]], ws.loss, <floating>ws.loss_param)
    phase_end(LOSS, clock)


cdef void backward_unit(Workspace ws, bint train, const Unit *u,
                        floating *work) noexcept nogil:
    """Hidden layer ``u.layer``'s deltas on the unit's rows and columns:
    the product with the layer above's deltas (and the coefficients'
    transpose), then f' and, when ``train``, dropout."""
    cdef int l = u.layer
    cdef Py_ssize_t n = ws.units[l], k = ws.units[l + 1], r, m, i
    cdef Py_ssize_t r0 = u.r0, r1 = u.r1, c0 = u.c0, c1 = u.c1
    cdef const floating *d = work + ws.delta_off[l + 1]
    cdef floating *out = work + ws.delta_off[l]
    cdef const floating *pre = buffer(work, ws.pre_off[l])
    # With dropout, f' from the outputs before dropout, then the mask.
    cdef const floating *a = work + (ws.undropped_off[l]
                                     if train and ws.dropout[l] > 0
                                     else ws.act_off[l])
    cdef long long clock
    r = r0
    while r < r1:
        m = min(panel_rows(ws.level, r1 - r0), r1 - r)
        clock = phase_start()
        rows_product(ws.level, m, c1 - c0, k, d + r * k, k, NULL,
                     work + ws.wt_off[l] + c0, n, out + r * n + c0, n)
        clock = phase_end(DELTA_PRODUCTS, clock)
        for i in range(r, r + m):
            activation_backward_rows(out + i * n + c0, a + i * n + c0,
                                     pre + i * n + c0 if pre != NULL else NULL,
                                     1, c1 - c0, ws.act_spec[l])
        phase_end(DERIVATIVES, clock)
        r += m
    if train and ws.dropout[l] > 0:
        dropout_rows(ws, out, <floating*>NULL, l, r0, r1, c0, c1)


cdef void transpose_batch(Workspace ws, floating *work, const Input *X,
                          const Py_ssize_t *batch_rows,
                          Py_ssize_t rows) noexcept nogil:
    """Sort the stored entries of a CSR batch by feature (counting sort).

    Stable: each feature's entries stay in batch order, the order in which
    a row-by-row scatter would add them.
    """
    cdef const floating *values = <const floating*>X.values
    cdef Py_ssize_t *end = &ws.feature_end[0]
    cdef Py_ssize_t *entry_row = &ws.entry_row[0]
    cdef floating *entry_value = work + ws.entry_value_off
    cdef Py_ssize_t r, k, f, pos
    cdef long long clock = phase_start()
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
            entry_row[pos] = r
            entry_value[pos] = values[k]
    phase_end(GATHER, clock)


cdef inline void step_range(const Batch *batch, bint coefficients,
                            floating *params, const floating *grad,
                            Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """The batch's optimizer step on params[lo:hi] and the same range of
    its state arrays, from ``grad``, that range's raw gradient; the
    penalties apply to ``coefficients`` only."""
    cdef floating *first_moments = <floating*>batch.first_moments
    cdef floating *second_moments = <floating*>batch.second_moments
    optimizer_range(batch.step, coefficients, params + lo, first_moments + lo,
                    second_moments + lo if second_moments != NULL else NULL,
                    grad, hi - lo)


cdef double sparse_gradient(Workspace ws, const Batch *batch,
                            Py_ssize_t f0, Py_ssize_t f1, floating *work,
                            floating *params) noexcept nogil:
    """Gradient of the first layer's rows f0:f1 for CSR input, from the
    batch sorted by feature (see ``transpose_batch``).

    Without an optimizer step the rows go to the gradient buffer (added to
    it in ``GRADIENT_ADD`` mode).  With one, each row is summed into a
    small scratch block and stepped on at once, so the gradient never goes
    to memory: on a wide sparse layer the optimizer pass is bound by memory
    traffic; the squared norm of the rows before the step is returned.
    """
    cdef const fnn_optimizer *step = batch.step
    cdef bint accumulate = batch.mode == GRADIENT_ADD
    cdef Py_ssize_t n_out = ws.units[1]
    cdef floating *scratch = (work + ws.scratch_off
                                + threadid() * SPARSE_CHUNK * n_out)
    cdef const floating *delta = work + ws.delta_off[1]
    cdef const floating *entry_value = work + ws.entry_value_off
    cdef const Py_ssize_t *end = &ws.feature_end[0]
    cdef const Py_ssize_t *entry_row = &ws.entry_row[0]
    cdef Py_ssize_t c0 = f0, c1, f, e, j, lo, hi
    cdef floating v
    cdef floating *block
    cdef floating *g
    cdef const floating *d
    cdef double norm = 0.0
    cdef long long clock = phase_start()
    while c0 < f1:
        c1 = min(c0 + SPARSE_CHUNK, f1)
        lo = c0 * n_out
        hi = c1 * n_out
        block = scratch if step != NULL else work + ws.grad_off + lo
        if step != NULL or not accumulate:
            memset(block, 0, (c1 - c0) * n_out * sizeof(floating))
        for f in range(c0, c1):
            g = block + (f - c0) * n_out
            for e in range(end[f - 1] if f > 0 else 0, end[f]):
                v = entry_value[e]
                d = delta + entry_row[e] * n_out
                for j in range(n_out):
                    g[j] += v * d[j]
        clock = phase_end(GRADIENT_PRODUCTS, clock)
        if step != NULL:
            norm += sumsq(params, lo, hi)
            step_range(batch, True, params, scratch, lo, hi)
            clock = phase_end(OPTIMIZER, clock)
        c0 = c1
    return norm


cdef inline void prefetch_state(const Batch *batch, const floating *params,
                                Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """Request params[lo:hi] and the same range of the optimizer's state."""
    cdef size_t size = (hi - lo) * sizeof(floating)
    fnn_prefetch_bytes(params + lo, size)
    fnn_prefetch_bytes(<const floating*>batch.first_moments + lo, size)
    if batch.second_moments != NULL:
        fnn_prefetch_bytes(<const floating*>batch.second_moments + lo, size)


cdef double panel_gradient(Workspace ws, const Batch *batch, const Unit *u,
                           floating *work, floating *params) noexcept nogil:
    """Rows u.r0:u.r1, columns u.c0:u.c1 of layer u.layer's coefficient
    gradient, a gradient panel at a time (one BLAS call on BLAS).

    Without an optimizer step the panels go to the gradient buffer (added
    to it in ``GRADIENT_ADD`` mode).  With one, each panel is stepped on at
    once, from this thread's scratch while it is in L1 on the engine's
    kernels, and the coefficients' transpose is updated; the squared norm
    of the block before the step is returned.
    """
    cdef const fnn_optimizer *step = batch.step
    cdef int l = u.layer
    cdef Py_ssize_t n_out = ws.units[l + 1], c0 = u.c0, width = u.c1 - u.c0
    cdef Py_ssize_t gp = gradient_panel_rows(ws.level, u.r1 - u.r0)
    cdef Py_ssize_t k, k_end, r, lo, ld, stride = ws.units[l]
    cdef const Py_ssize_t *ids = NULL
    cdef const floating *a = work + ws.act_off[l]
    cdef floating *grad = work + ws.grad_off + ws.coef_offset[l]
    cdef floating *scratch = work + ws.panel_off + threadid() * ws.panel_size
    cdef bint in_scratch = step != NULL and ws.level != BLAS_PRODUCTS
    cdef floating *g
    cdef double norm = 0.0
    cdef long long clock
    if l == 0:
        a = input_rows(ws, batch.X, batch.rows, work, &stride, &ids)
    k = u.r0
    while k < u.r1:
        k_end = min(k + gp, u.r1)
        g = scratch if in_scratch else grad + k * n_out + c0
        ld = width if in_scratch else n_out
        if step != NULL:
            # The step streams the panel's weights and optimizer state
            # from memory: ask for them now, so they arrive during the
            # product.
            for r in range(k, k_end):
                lo = ws.coef_offset[l] + r * n_out + c0
                prefetch_state(batch, params, lo, lo + width)
        clock = phase_start()
        cols_product(ws.level, k_end - k, width, batch.n_rows, a, stride, ids,
                     k, work + ws.delta_off[l + 1] + c0, n_out, g, ld,
                     step == NULL and batch.mode == GRADIENT_ADD)
        clock = phase_end(GRADIENT_PRODUCTS, clock)
        if step != NULL:
            for r in range(k, k_end):
                lo = ws.coef_offset[l] + r * n_out + c0
                norm += sumsq(params, lo, lo + width)
                step_range(batch, True, params, g + (r - k) * ld, lo,
                           lo + width)
            if ws.wt_off[l] >= 0:
                transpose_rows(params + ws.coef_offset[l], ws.units[l], n_out,
                               k, k_end, c0, u.c1, work + ws.wt_off[l])
            phase_end(OPTIMIZER, clock)
        k = k_end
    return norm


cdef void gradient_task(Workspace ws, const Batch *batch, const Unit *u,
                        double *norm, floating *work,
                        floating *params) noexcept nogil:
    """Phase 2: coefficient rows ``u.r0:u.r1`` of a layer's raw gradient,
    and their optimizer step.

    The block with ``r0 == 0``, the layer's first (``_plan``), also does
    the layer's intercepts.  With an optimizer step, the squared norm of
    the block's coefficients before the step goes to ``norm``.
    """
    cdef const Input *X = batch.X
    cdef Py_ssize_t rows = batch.n_rows
    cdef bint accumulate = batch.mode == GRADIENT_ADD
    cdef const fnn_optimizer *step = batch.step
    cdef int l = u.layer
    cdef Py_ssize_t n_in = ws.units[l], n_out = ws.units[l + 1]
    cdef Py_ssize_t lo, hi
    cdef floating *grad = work + ws.grad_off
    cdef floating *delta = work + ws.delta_off[l + 1]
    cdef long long clock
    if u.r0 == 0:
        column_sums(delta, rows, n_out, u.c0, u.c1,
                    grad + ws.intercept_offset[l], accumulate)
    # The penalty term of this batch's loss uses the weights the batch was
    # evaluated with: norms are taken before the step.
    if l == 0 and X.sparse:
        norm[0] = sparse_gradient(ws, batch, u.r0, u.r1, work, params)
    else:
        norm[0] = panel_gradient(ws, batch, u, work, params)
    if step != NULL and u.r0 == 0:
        lo = ws.intercept_offset[l] + u.c0
        clock = phase_start()
        step_range(batch, False, params, grad + lo, lo, lo + u.c1 - u.c0)
        phase_end(OPTIMIZER, clock)


cdef void run_share(Workspace ws, Batch *batch, int s, int share,
                    int n_shares, floating *work, floating *params,
                    const floating *x_rows, Py_ssize_t x_stride,
                    const Py_ssize_t *x_ids) noexcept nogil:
    """Share ``share`` of ``n_shares`` of stage ``s``'s units: a
    contiguous run of them, so a thread keeps its rows and columns in
    cache."""
    cdef const Stage *stage = &ws.plan.stages[s]
    cdef int i
    cdef const Unit *u
    for i in range(share_start(&ws.plan, stage, share, n_shares),
                   share_start(&ws.plan, stage, share + 1, n_shares)):
        u = &ws.plan.units[stage.first + i]
        if stage.kind == GATHER_STAGE:
            gather_rows(ws, batch, work, u.r0, u.r1)
        elif stage.kind == FORWARD_STAGE:
            forward_unit(ws, batch, u, work, params, x_rows, x_stride, x_ids)
            if stage.with_loss:
                loss_rows(ws, batch, work, u.r0, u.r1)
        elif stage.kind == LOSS_STAGE:
            loss_rows(ws, batch, work, u.r0, u.r1)
        elif stage.kind == BACKWARD_STAGE:
            backward_unit(ws, batch.mode == TRAIN, u, work)
        else:
            gradient_task(ws, batch, u, &ws.task_sums[i], work, params)


cdef Batch batch_of(const Input *X, const floating[:, :] Y,
                    const floating[::1] sample_weight, Pass mode) noexcept:
    """A batch of X's rows in ``mode``, without rows yet and without an
    optimizer step."""
    cdef Batch batch
    memset(&batch, 0, sizeof(batch))
    batch.X = X
    batch.Y = &Y[0, 0]
    batch.y_row_stride = Y.strides[0] // sizeof(floating)
    batch.y_col_stride = Y.strides[1] // sizeof(floating)
    batch.sample_weight = &sample_weight[0]
    batch.mode = mode
    return batch


cdef double batch_pass(Workspace ws, Batch *batch, floating *work,
                       floating *params) noexcept nogil:
    """Forward (and backward) pass over the rows ``batch.rows``.

    ``batch.mode`` says what is computed beyond the outputs, the per-row
    losses and the output deltas (see ``Pass``): the raw gradients
    (``a.T @ delta`` and column sums of ``delta``, with ``delta`` already
    multiplied by the sample weights) go to the gradient buffer; ``TRAIN``
    also applies dropout and takes the optimizer step ``batch.step`` (which
    must then not be NULL) on ``params`` and the batch's state arrays.
    Returns the weighted sum of the per-row losses and stores the sum of
    the weights in ``batch.sw_sum``.
    """
    cdef const Input *X = batch.X
    cdef Py_ssize_t rows = batch.n_rows
    cdef const Py_ssize_t *batch_rows = batch.rows
    cdef Py_ssize_t r, x_stride
    cdef const Py_ssize_t *x_ids
    cdef const floating *x_rows
    cdef int s = 0, share, nt
    cdef bint backward = batch.mode != FORWARD
    cdef double loss = 0.0, weight_sum = 0.0
    cdef const floating *sw = <const floating*>batch.sample_weight
    cdef long long clock = phase_start()
    cdef int l
    if batch.mode != TRAIN:
        batch.step = NULL
    if not batch.products_ready:
        # Once per Batch, i.e. per call: the kernels stay the same for the
        # call, and the deltas' products read the coefficients transposed,
        # which the optimizer steps keep up to date from then on.
        ws.level = products_level()
        for l in range(1, ws.n_weight_layers):
            transpose_rows(params + ws.coef_offset[l], ws.units[l],
                           ws.units[l + 1], 0, ws.units[l], 0,
                           ws.units[l + 1], work + ws.wt_off[l])
        batch.products_ready = True
        # Counted within the pass (its wall time starts at ``clock``).
        phase_end(DELTA_PRODUCTS, clock)

    x_rows = input_rows(ws, X, batch_rows, work, &x_stride, &x_ids)
    plan_batch(&ws.plan, ws.units, ws.act_spec, ws.n_weight_layers, rows,
               X.sparse, X.row_nnz, backward,
               x_rows == work + ws.act_off[0], ws.level == BLAS_PRODUCTS)
    nt = threads_now(ws.n_threads) if ws.plan.macs >= PARALLEL_MIN_MACS else 1
    ws.n_tasks = ws.plan.n_gradient_units
    if X.sparse and backward:
        transpose_batch(ws, work, X, batch_rows, rows)
    for r in range(rows):
        weight_sum += sw[batch_rows[r]]
    if batch.step != NULL:
        batch.step.sw_sum = weight_sum
    # One share per thread (iteration i runs on thread i), which share
    # rotating with the stage and the batch: the threads a stage gives one
    # unit more, or a small stage's only units, are not the same threads
    # every time.
    ws.rotation += 1
    with parallel(num_threads=nt):
        fnn_mark_worker()
        for s in range(ws.plan.n_stages):
            for share in prange(nt, schedule="static", chunksize=1):
                run_share(ws, batch, s, (share + s + ws.rotation) % nt, nt,
                          work, params, x_rows, x_stride, x_ids)
    # Per-row losses are summed in row order.
    for r in range(rows):
        loss += sw[batch_rows[r]] * ws.row_loss[r]
    batch.sw_sum = weight_sum
    pass_end(nt, ws.n_threads, clock)
    return loss


cdef double mean_loss(Workspace ws, double weighted_loss,
                      double sw_sum) noexcept nogil:
    """Data term of scikit-learn's loss from the weighted sum of row losses."""
    cdef double loss = weighted_loss / sw_sum
    if fnn_loss_averages_outputs(ws.loss):
        # scikit-learn's squared error: the kernel's row total is the plain
        # sum of squares, halved and averaged over the outputs here.
        loss *= 0.5 / ws.units[ws.n_weight_layers]
    return loss
