# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, nonecheck=False
"""The trainer: what Python calls to train, evaluate and differentiate.

Holds: ``Trainer`` (a ``Workspace`` with the engine's Python entry points,
each of which checks its arguments against the trainer and raises
``TypeError``/``ValueError`` on a mismatch) and the drivers behind them:
an epoch of minibatches, the full-batch loss and gradient, the loss alone,
the outputs' finiteness and the gradients with respect to the inputs.
May call: ``_batch``, ``_layers``, ``_kernels``, ``_input``, ``_optimizer``.
"""

from cython cimport floating
from libc.string cimport memcpy
from cython.parallel cimport prange
from cpython.exc cimport PyErr_CheckSignals

from ._batch cimport (
    FORWARD,
    Batch,
    GRADIENT,
    GRADIENT_ADD,
    TRAIN,
    backprop_rows,
    batch_of,
    batch_pass,
    mean_loss,
)
from ._input cimport Input, InputMatrix
from ._kernels cimport (
    FNN_EXP,
    FNN_IDENTITY,
    FNN_LOGISTIC,
    FNN_SOFTMAX,
    all_finite,
    fnn_activation,
    fnn_optimizer,
)
from ._layers cimport BLAS_PRODUCTS, backward_layer, products_level
from ._optimizer cimport Optimizer, begin_step
from ._plan cimport Unit, plan_batch
from ._tuning cimport MIN_BLOCK_ROWS
from ._workspace cimport Workspace

import numpy as np

from ._workspace import _check_params


cdef class Trainer(Workspace):
    """Preallocated buffers and network description for one fit.

    Built by ``fastnn._network.EngineSpec.trainer``.

    Parameters
    ----------
    spec : EngineSpec
        The network, as attributes (``fastnn._network.EngineSpec``):

        - ``layer_units``: width of every layer, input first, output last;
        - ``activations``: name (from ``ACTIVATION_CODES``) and two
          parameters of the activation of every layer after the input, the
          output layer's last;
        - ``loss``: name from ``LOSS_CODES``, and ``loss_param``, its
          parameter (the Huber loss's delta);
        - ``dropout``: None, or the dropout rate of every hidden layer
          (inverted dropout, training passes only).
    params : ndarray, 1-D, C-contiguous, float32 or float64
        Flat parameters (see ``fastnn._engine``); updated in place.  Its
        dtype is the trainer's: every array passed later must have it.
    batch_size : int
        Largest minibatch (or chunk of rows) the buffers must hold.
    n_threads : int
        Most OpenMP threads that share the blocks of each batch.
    dropout_seed, dropout_step : int, default=0
        Seed of the dropout masks and batches already trained with them.
    """

    cdef InputMatrix _input(self, X):
        """``X`` if it is an InputMatrix this trainer can read."""
        if not isinstance(X, InputMatrix):
            raise TypeError(f"X must be an InputMatrix, got {type(X).__name__}")
        cdef InputMatrix inp = X
        if inp.dtype != self.dtype:
            raise TypeError(f"X is {inp.dtype}, the trainer is {self.dtype}")
        if inp.c.n_cols != self.units[0]:
            raise ValueError(f"X has {inp.c.n_cols} features, the network "
                             f"takes {self.units[0]}")
        return inp

    def _check_rows(self, name, a, n_rows, n_cols=-1):
        """Raise unless ``a`` is an ndarray of the trainer's dtype, with
        ``n_rows`` rows (and ``n_cols`` columns unless -1)."""
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name} must be an ndarray, got {type(a).__name__}")
        if a.dtype != self.dtype:
            raise TypeError(f"{name} is {a.dtype}, the trainer is {self.dtype}")
        shape = (n_rows,) if n_cols < 0 else (n_rows, n_cols)
        if a.shape != shape:
            raise ValueError(f"{name} has shape {a.shape}, expected {shape}")

    cdef _check_targets(self, InputMatrix X, Y, sample_weight):
        n_out = self.units[self.n_weight_layers]
        self._check_rows("Y", Y, X.c.n_rows, n_out)
        self._check_rows("sample_weight", sample_weight, X.c.n_rows)

    cdef _prepare(self, InputMatrix X, bint backward):
        """Size the sparse buffers for X's fullest batch when needed."""
        cdef Py_ssize_t capacity
        if not (X.c.sparse and backward):
            return
        capacity = max(1, min(self.batch_size, X.c.n_rows) * X.c.max_row_nnz)
        if self.entry_capacity < capacity:
            self.work = self._layout(capacity, X.c.n_cols)

    def _check_order(self, order, Py_ssize_t n_rows):
        arr = np.asarray(order)
        if arr.dtype != np.intp or arr.ndim != 1:
            raise TypeError("the row order must be a 1-D array of intp")
        if arr.shape[0] and (arr.min() < 0 or arr.max() >= n_rows):
            raise ValueError("the row order holds a row X does not have")

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
        cdef InputMatrix inp = self._input(X)
        self._check_targets(inp, Y, sample_weight)
        self._check_rows("grad_out", grad_out, self.n_params)
        self._prepare(inp, True)
        if self.dtype == np.float32:
            return _loss[float](self, &inp.c, Y, sample_weight, alpha, grad_out)
        return _loss[double](self, &inp.c, Y, sample_weight, alpha, grad_out)

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
        cdef InputMatrix inp = self._input(X)
        self._check_targets(inp, Y, sample_weight)
        self._check_rows("sums_out", sums_out, self.n_params)
        self._prepare(inp, True)
        if self.dtype == np.float32:
            return _gradient_sums[float](self, &inp.c, Y, sample_weight, sums_out)
        return _gradient_sums[double](self, &inp.c, Y, sample_weight, sums_out)

    def mean_loss_gradient(self, double weighted_loss, double sw_sum, sums,
                           double alpha, grad_out):
        """:meth:`loss_gradient`'s result from :meth:`gradient_sums` totals.

        Averages over the total weight and adds the L2 penalty at the
        trainer's current parameters; ``sums`` (the trainer's dtype) is read
        only.  Returns the loss; ``grad_out`` receives the gradient.
        """
        self._check_rows("sums", sums, self.n_params)
        self._check_rows("grad_out", grad_out, self.n_params)
        if self.dtype == np.float32:
            return _mean_loss_gradient[float](self, weighted_loss, sw_sum, sums,
                                              alpha, grad_out)
        return _mean_loss_gradient[double](self, weighted_loss, sw_sum, sums,
                                           alpha, grad_out)

    def evaluate_loss(self, X, Y, sample_weight, double alpha):
        """Loss at the current parameters, without a gradient.

        The training objective (data term and L2 penalty), as
        :meth:`loss_gradient` computes it; used for validation losses.
        """
        cdef InputMatrix inp = self._input(X)
        self._check_targets(inp, Y, sample_weight)
        if self.dtype == np.float32:
            return _loss[float](self, &inp.c, Y, sample_weight, alpha, None)
        return _loss[double](self, &inp.c, Y, sample_weight, alpha, None)

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
        cdef InputMatrix inp = self._input(X)
        cdef Py_ssize_t n_out = self.units[self.n_weight_layers]
        if inp.c.sparse:
            raise TypeError("input gradients need dense input")
        if Y is not None:
            self._check_rows("Y", Y, inp.c.n_rows, n_out)
        self._check_rows("out", out.reshape(out.shape[0], -1), inp.c.n_rows,
                         (1 if Y is not None else n_out) * inp.c.n_cols)
        if not out.flags.c_contiguous:
            raise ValueError("out must be C-contiguous")
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
        cdef InputMatrix inp = self._input(X)
        self._check_targets(inp, Y, sample_weight)
        if rows.shape[0] == 0:
            return True
        if rows.shape[0] > self.batch_size:
            raise ValueError("more rows than the trainer's batch size")
        self._check_order(rows, inp.c.n_rows)
        if self.dtype == np.float32:
            return _outputs_finite[float](self, &inp.c, Y, sample_weight, rows)
        return _outputs_finite[double](self, &inp.c, Y, sample_weight, rows)

    def batch_outputs(self, X, Y, sample_weight, const Py_ssize_t[::1] rows):
        """The network's outputs for ``X[rows]`` as a training batch's
        forward pass computes them (no dropout); arguments as for
        :meth:`outputs_finite`.  Predictions on the engine's kernels are the
        same bits (the tests check it)."""
        cdef InputMatrix inp = self._input(X)
        self._check_targets(inp, Y, sample_weight)
        if rows.shape[0] == 0 or rows.shape[0] > self.batch_size:
            raise ValueError("need 1 to batch_size rows")
        self._check_order(rows, inp.c.n_rows)
        n_out = self.units[self.n_weight_layers]
        out = np.empty((rows.shape[0], n_out), dtype=self.dtype)
        if self.dtype == np.float32:
            _forward_batch[float](self, &inp.c, Y, sample_weight, rows, out)
        else:
            _forward_batch[double](self, &inp.c, Y, sample_weight, rows, out)
        return out

    def _batch_plan(self, X, Py_ssize_t rows, bint backward=True):
        """How a batch of ``rows`` rows of X is cut (for the tests).

        Returns the stages in order, each ``(kind, layer, with_loss,
        units)``, ``kind`` one of "gather", "forward", "loss", "backward",
        "gradient" and each unit ``(layer, r0, r1, c0, c1)``: batch rows
        r0:r1 by the layer's columns c0:c1, or in the gradient stage rows
        r0:r1 of the layer's coefficients (c0:c1 all its columns).
        """
        cdef InputMatrix inp = self._input(X)
        cdef Py_ssize_t stride
        cdef const Py_ssize_t *ids
        cdef int s, i
        cdef Unit u
        if not 0 < rows <= self.batch_size:
            raise ValueError("rows must be between 1 and the batch size")
        kinds = ("gather", "forward", "loss", "backward", "gradient")
        gathered = not inp.c.sparse and (
            products_level() == BLAS_PRODUCTS or inp.c.col_stride != 1)
        plan_batch(&self.plan, self.units, self.act_spec,
                   self.n_weight_layers, rows, inp.c.sparse, inp.c.row_nnz,
                   backward, gathered, products_level() == BLAS_PRODUCTS)
        stages = []
        for s in range(self.plan.n_stages):
            stage = self.plan.stages[s]
            units = []
            for i in range(stage.first, stage.first + stage.count):
                u = self.plan.units[i]
                units.append((u.layer, u.r0, u.r1, u.c0, u.c1))
            stages.append((kinds[stage.kind], stage.layer,
                           bool(stage.with_loss), units))
        return stages

    def run_epoch(self, X, Y, sample_weight, const Py_ssize_t[::1] order,
                  Optimizer optimizer, double alpha):
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
        optimizer : Optimizer
            The step to take after each batch; its state arrays (the
            trainer's dtype and size) are updated in place, and its
            ``step_count`` counts the batches.
        alpha : float
            L2 penalty.

        Returns
        -------
        loss_sum : float
            Sum over batches of ``batch_loss * batch_size`` as scikit-learn
            accumulates it; divide by ``n_samples`` for the epoch loss.

        Raises
        ------
        KeyboardInterrupt
            If a signal handler raised while the epoch ran; the parameters
            and the step count then hold the state after the last completed
            batch.
        """
        cdef InputMatrix inp = self._input(X)
        self._check_targets(inp, Y, sample_weight)
        self._check_order(order, inp.c.n_rows)
        for state in optimizer.state:
            _check_params(state, self.dtype, self.n_params, "optimizer state")
        self._prepare(inp, True)
        if self.dtype == np.float32:
            return _run_epoch[float](self, &inp.c, Y, sample_weight, order,
                                     optimizer, alpha)
        return _run_epoch[double](self, &inp.c, Y, sample_weight, order,
                                  optimizer, alpha)


cdef double _run_epoch(Trainer self, const Input *X, const floating[:, :] Y,
                       const floating[::1] sample_weight,
                       const Py_ssize_t[::1] order, Optimizer optimizer,
                       double alpha) except? -1:
    cdef Py_ssize_t n_samples = order.shape[0]
    cdef Py_ssize_t start, stop, rows
    cdef int t
    cdef int n_batches = 0
    cdef bint interrupted = False
    cdef double loss_sum = 0.0, data_loss, norm, sw_sum, batch_loss
    cdef fnn_optimizer step = optimizer.c
    cdef floating[::1] work = self.work
    cdef floating[::1] params = self.params
    cdef floating[::1] first_moments = optimizer.state[0]
    cdef floating[::1] second_moments = (optimizer.state[1]
                                       if len(optimizer.state) > 1 else None)
    cdef Batch batch = batch_of(X, Y, sample_weight, TRAIN)
    step.alpha = alpha
    batch.step = &step
    batch.first_moments = &first_moments[0]
    if second_moments is not None:
        batch.second_moments = &second_moments[0]

    with nogil:
        start = 0
        while start < n_samples:
            stop = min(start + self.batch_size, n_samples)
            rows = stop - start
            begin_step(&step)
            batch.rows = &order[start]
            batch.n_rows = rows
            data_loss = batch_pass(self, &batch, &work[0], &params[0])
            sw_sum = batch.sw_sum
            data_loss = mean_loss(self, data_loss, sw_sum)
            norm = 0.0
            for t in range(self.n_tasks):
                norm += self.task_sums[t]

            batch_loss = data_loss + (0.5 * alpha) * norm / sw_sum
            loss_sum += batch_loss * rows
            start = stop
            self.dropout_step += 1

            # Let Ctrl-C through every few dozen batches.
            n_batches += 1
            if n_batches % 64 == 0:
                with gil:
                    if PyErr_CheckSignals() != 0:
                        interrupted = True
                if interrupted:
                    break
    # Also after an interruption: the steps taken count.
    optimizer.c.step_count = step.step_count
    if interrupted:
        raise KeyboardInterrupt
    return loss_sum


cdef double _loss(Trainer self, const Input *X, const floating[:, :] Y,
                  const floating[::1] sample_weight, double alpha,
                  floating[::1] grad_out) except? -1:
    """The training objective over all rows, in chunks of ``batch_size``;
    with ``grad_out``, also its averaged, regularised gradient."""
    cdef double weighted_loss, sw_total
    cdef floating[::1] work = self.work
    weighted_loss = _sums(self, X, Y, sample_weight, grad_out is not None,
                          &sw_total)
    return _finish(self, weighted_loss, sw_total, &work[self.grad_off], alpha,
                   grad_out)


cdef double _sums(Trainer self, const Input *X, const floating[:, :] Y,
                  const floating[::1] sample_weight, bint with_gradient,
                  double *sw_total) except? -1:
    """Sums over all rows: the sample-weighted losses (returned), the weights
    (``sw_total``) and, ``with_gradient``, the raw gradient, left in the
    workspace's gradient buffer."""
    cdef Py_ssize_t n_samples = X.n_rows, start = 0, rows
    cdef double weighted_loss = 0.0
    cdef floating[::1] work = self.work
    cdef floating[::1] params = self.params
    order_arr = np.arange(n_samples, dtype=np.intp)
    cdef const Py_ssize_t[::1] order = order_arr
    cdef Batch batch = batch_of(X, Y, sample_weight,
                                GRADIENT if with_gradient else FORWARD)
    sw_total[0] = 0.0
    with nogil:
        while start < n_samples:
            rows = min(self.batch_size, n_samples - start)
            batch.rows = &order[start]
            batch.n_rows = rows
            weighted_loss += batch_pass(self, &batch, &work[0], &params[0])
            sw_total[0] += batch.sw_sum
            if with_gradient:
                # Later chunks add to the first one's gradient.
                batch.mode = GRADIENT_ADD
            start += rows
    return weighted_loss


cdef double _finish(Trainer self, double weighted_loss, double sw_total,
                    const floating *grad, double alpha,
                    floating[::1] grad_out) except? -1:
    """The objective from :func:`_sums`' totals, adding the L2 penalty at the
    current parameters; with ``grad_out``, the gradient from the raw ``grad``
    the same way."""
    cdef Py_ssize_t i
    cdef double norm = 0.0
    cdef floating[::1] params = self.params
    cdef floating sw_f
    with nogil:
        for i in range(self.n_coef):
            norm += <double>params[i] * params[i]
        if grad_out is not None:
            sw_f = <floating>sw_total
            for i in range(self.n_coef):
                grad_out[i] = (grad[i] + <floating>alpha * params[i]) / sw_f
            for i in range(self.n_coef, self.n_params):
                grad_out[i] = grad[i] / sw_f
    return mean_loss(self, weighted_loss, sw_total) + 0.5 * alpha * norm / sw_total


cdef tuple _gradient_sums(Trainer self, const Input *X, const floating[:, :] Y,
                          const floating[::1] sample_weight,
                          floating[::1] sums_out):
    cdef double weighted_loss, sw_total
    cdef floating[::1] work = self.work
    weighted_loss = _sums(self, X, Y, sample_weight, True, &sw_total)
    sums_out[:] = work[self.grad_off:self.grad_off + self.n_params]
    return weighted_loss, sw_total


cdef double _mean_loss_gradient(Trainer self, double weighted_loss,
                                double sw_total, const floating[::1] sums,
                                double alpha, floating[::1] grad_out) except? -1:
    return _finish(self, weighted_loss, sw_total, &sums[0], alpha, grad_out)


cdef floating *_forward_rows(Trainer self, const Input *X,
                             const floating[:, :] Y,
                             const floating[::1] sample_weight,
                             const Py_ssize_t[::1] rows) except NULL:
    """A training batch's forward pass over ``X[rows]`` (no dropout) in the
    trainer's buffers; returns where its output rows are."""
    cdef floating[::1] work = self.work
    cdef floating[::1] params = self.params
    cdef Batch batch = batch_of(X, Y, sample_weight, FORWARD)
    batch.rows = &rows[0]
    batch.n_rows = rows.shape[0]
    with nogil:
        batch_pass(self, &batch, &work[0], &params[0])
    return &work[self.act_off[self.n_weight_layers]]


cdef bint _outputs_finite(Trainer self, const Input *X, const floating[:, :] Y,
                          const floating[::1] sample_weight,
                          const Py_ssize_t[::1] rows) except -1:
    cdef Py_ssize_t n = rows.shape[0] * self.units[self.n_weight_layers]
    return all_finite(_forward_rows(self, X, Y, sample_weight, rows), n)


cdef int _forward_batch(Trainer self, const Input *X, const floating[:, :] Y,
                        const floating[::1] sample_weight,
                        const Py_ssize_t[::1] rows,
                        floating[:, ::1] out) except -1:
    cdef Py_ssize_t n = rows.shape[0] * self.units[self.n_weight_layers]
    memcpy(&out[0, 0], _forward_rows(self, X, Y, sample_weight, rows),
           n * sizeof(floating))
    return 0


cdef void _seed_output_gradient(Trainer self, floating *work, Py_ssize_t rows,
                                Py_ssize_t k) noexcept nogil:
    """Output deltas = d(output k) / d(pre-activations), row by row."""
    cdef int L = self.n_weight_layers
    cdef Py_ssize_t n = self.units[L], r, j
    cdef floating *p
    cdef floating *d
    cdef int code = self.act_spec[L].code
    for r in range(rows):
        p = work + self.act_off[L] + r * n
        d = work + self.delta_off[L] + r * n
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


cdef void _backprop_deltas(Trainer self, floating *work, const floating *params,
                           const Input *X, Py_ssize_t rows) noexcept nogil:
    """All rows of ``backprop_rows``, in row blocks shared among the threads."""
    cdef int b, nb = <int>((rows + MIN_BLOCK_ROWS - 1) // MIN_BLOCK_ROWS)
    for b in prange(nb, num_threads=min(nb, self.n_threads), schedule="static"):
        backprop_rows(self, work, params, b * MIN_BLOCK_ROWS,
                      min(rows, (b + 1) * MIN_BLOCK_ROWS), False)


cdef int _input_gradient(Trainer self, const Input *X, object Y_obj,
                         floating[:, :, ::1] out) except -1:
    cdef Py_ssize_t n_samples = X.n_rows, n_features = X.n_cols
    cdef int L = self.n_weight_layers
    cdef Py_ssize_t n_out = self.units[L]
    cdef Py_ssize_t start = 0, rows, k, r, j
    cdef bint with_targets = Y_obj is not None
    cdef floating[:, :] Y
    cdef floating[::1] work_view = self.work
    cdef floating[::1] params_view = self.params
    cdef floating *work = &work_view[0]
    cdef floating *params = &params_view[0]
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
    cdef Batch batch = batch_of(X, Y, ones, FORWARD)
    with nogil:
        while start < n_samples:
            rows = min(self.batch_size, n_samples - start)
            batch.rows = &order[start]
            batch.n_rows = rows
            batch_pass(self, &batch, work, params)
            for k in range(1 if with_targets else n_out):
                if not with_targets:
                    _seed_output_gradient(self, work, rows, k)
                if L > 1:
                    _backprop_deltas(self, work, params, X, rows)
                # The one product training skips: delta_1 @ W_0.T.
                backward_layer(work + self.delta_off[1], rows, self.units[1],
                               params, n_features, work + self.act_off[0],
                               <floating*>NULL, identity, &scratch[0, 0],
                               self.n_threads)
                for r in range(rows):
                    for j in range(n_features):
                        out[start + r, k, j] = scratch[r, j]
            start += rows
    return 0
