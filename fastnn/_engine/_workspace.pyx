# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, nonecheck=False
"""The workspace (see ``_workspace.pxd`` for what this module holds).

Every buffer a batch writes lives in one flat array of the network's dtype
(``work``), placed once when the workspace is built and again when a
sparse input needs room for its entries; the plan's units and sums are
allocated once for any batch (``_plan.init_plan``).  No batch allocates.

May call: ``_kernels``, ``_layers`` (a constant), ``_plan``.
"""

from libc.stdlib cimport calloc, free, malloc

from ._kernels cimport (
    fnn_loss_reads_raw,
    fnn_needs_preactivation,
    layer_activations,
)
from ._layers cimport BLAS_PRODUCTS
from ._plan cimport free_plan, init_plan
from ._tuning cimport FNN_GRADIENT_PANEL_ROWS, SPARSE_CHUNK

import numpy as np

from ._kernels import LOSS_CODES

cdef enum:
    # Buffers start on a cache line, as separately allocated arrays would.
    ALIGN_BYTES = 64


def _check_params(params, dtype, n, what):
    if not isinstance(params, np.ndarray) or params.ndim != 1:
        raise TypeError(f"{what} must be a 1-D ndarray")
    if params.dtype != dtype:
        raise TypeError(f"{what} is {params.dtype}, the trainer is {dtype}")
    if params.shape[0] != n:
        raise ValueError(f"{what} has {params.shape[0]} values, the network "
                         f"has {n} parameters")
    if not params.flags.c_contiguous or not params.flags.writeable:
        raise ValueError(f"{what} must be C-contiguous and writeable")


cdef class Workspace:
    """The network's description and every buffer of its batches.

    Built as a :class:`~fastnn._engine.Trainer`, which documents the
    parameters; the arrays it is given are checked against each other
    (dtype, size) here, once.
    """

    def __cinit__(self, spec, params, Py_ssize_t batch_size, int n_threads,
                  unsigned long long dropout_seed=0, long dropout_step=0):
        cdef Py_ssize_t l, offset
        layer_units, activations = spec.layer_units, spec.activations
        cdef str loss = spec.loss
        dropout = spec.dropout
        cdef int n_layers = len(layer_units)
        if n_layers < 2:
            raise ValueError("need at least an input and an output layer")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.n_weight_layers = n_layers - 1
        self.batch_size = batch_size
        self.dtype = getattr(params, "dtype", None)
        if self.dtype != np.float32 and self.dtype != np.float64:
            raise TypeError(f"params must be float32 or float64, got {self.dtype}")
        if loss not in LOSS_CODES:
            raise ValueError(f"unknown loss {loss!r}")
        self.loss = LOSS_CODES[loss]
        self.loss_param = spec.loss_param
        self.n_threads = max(1, n_threads)
        self.level = BLAS_PRODUCTS

        self.units = <Py_ssize_t*>malloc(n_layers * sizeof(Py_ssize_t))
        self.coef_offset = <Py_ssize_t*>malloc(n_layers * sizeof(Py_ssize_t))
        self.intercept_offset = <Py_ssize_t*>malloc(n_layers * sizeof(Py_ssize_t))
        self.act_off = <Py_ssize_t*>malloc(n_layers * sizeof(Py_ssize_t))
        self.delta_off = <Py_ssize_t*>malloc(n_layers * sizeof(Py_ssize_t))
        self.pre_off = <Py_ssize_t*>malloc(n_layers * sizeof(Py_ssize_t))
        self.undropped_off = <Py_ssize_t*>malloc(n_layers * sizeof(Py_ssize_t))
        self.wt_off = <Py_ssize_t*>malloc(n_layers * sizeof(Py_ssize_t))
        self.act_spec = <fnn_activation*>malloc(n_layers * sizeof(fnn_activation))
        self.dropout = <double*>calloc(n_layers, sizeof(double))
        self.row_loss = <double*>malloc(batch_size * sizeof(double))
        if (self.units == NULL or self.coef_offset == NULL
                or self.intercept_offset == NULL or self.act_off == NULL
                or self.delta_off == NULL or self.pre_off == NULL
                or self.undropped_off == NULL or self.wt_off == NULL
                or self.act_spec == NULL
                or self.dropout == NULL or self.row_loss == NULL):
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
        layer_activations(self.act_spec, activations, n_layers)

        for l in range(n_layers):
            self.units[l] = layer_units[l]
            if self.units[l] < 1:
                raise ValueError(f"layer {l} has {self.units[l]} units")
        offset = 0
        for l in range(n_layers - 1):
            self.coef_offset[l] = offset
            offset += self.units[l] * self.units[l + 1]
        self.n_coef = offset
        for l in range(n_layers - 1):
            self.intercept_offset[l] = offset
            offset += self.units[l + 1]
        self.n_params = offset
        init_plan(&self.plan, self.units, self.n_weight_layers)
        self.task_sums = self.plan.sums
        _check_params(params, self.dtype, self.n_params, "params")
        self.params = params
        self.work = self._layout(0, 0)

    cdef object _layout(self, Py_ssize_t sparse_capacity, Py_ssize_t n_features):
        """Place every buffer in a new zeroed work array and return it.

        ``sparse_capacity`` is how many stored entries a sparse batch may
        hold (0: dense input only).
        """
        cdef int l, n_layers = self.n_weight_layers + 1
        cdef Py_ssize_t end = 0
        cdef Py_ssize_t align = ALIGN_BYTES // self.dtype.itemsize
        self.grad_off = _place(&end, align, self.n_params)
        self.panel_size = 0
        for l in range(1, n_layers):
            self.panel_size = max(self.panel_size, FNN_GRADIENT_PANEL_ROWS * self.units[l])
        self.panel_off = _place(&end, align, self.n_threads * self.panel_size)
        for l in range(n_layers):
            self.wt_off[l] = -1
            if 0 < l < n_layers - 1:
                self.wt_off[l] = _place(&end, align, self.units[l] * self.units[l + 1])
            self.act_off[l] = _place(&end, align, self.batch_size * self.units[l])
            self.delta_off[l] = self.pre_off[l] = self.undropped_off[l] = -1
            if l > 0:
                self.delta_off[l] = _place(&end, align, self.batch_size * self.units[l])
            if self.dropout[l] > 0:
                self.undropped_off[l] = _place(&end, align, self.batch_size * self.units[l])
            # The output's pre-activations are the raw predictions the
            # log-link losses read.
            if l > 0 and (fnn_needs_preactivation(self.act_spec[l].code)
                          or (l == n_layers - 1 and fnn_loss_reads_raw(self.loss))):
                self.pre_off[l] = _place(&end, align, self.batch_size * self.units[l])
        self.y_off = _place(&end, align, self.batch_size * self.units[n_layers - 1])
        self.entry_capacity = sparse_capacity
        self.entry_value_off = self.scratch_off = -1
        if sparse_capacity:
            self.entry_value_off = _place(&end, align, sparse_capacity)
            self.scratch_off = _place(&end, align,
                                      self.n_threads * SPARSE_CHUNK * self.units[1])
            self.feature_end = np.zeros(n_features + 1, dtype=np.intp)
            self.entry_row = np.zeros(sparse_capacity, dtype=np.intp)
        return np.zeros(max(end, 1), dtype=self.dtype)

    def __dealloc__(self):
        free(self.units)
        free(self.coef_offset)
        free(self.intercept_offset)
        free(self.act_off)
        free(self.delta_off)
        free(self.pre_off)
        free(self.undropped_off)
        free(self.wt_off)
        free(self.act_spec)
        free(self.dropout)
        free_plan(&self.plan)
        free(self.row_loss)


cdef Py_ssize_t _place(Py_ssize_t *end, Py_ssize_t align, Py_ssize_t size):
    """Offset of a new buffer of ``size`` elements after ``end[0]``."""
    cdef Py_ssize_t start = end[0]
    end[0] = (start + size + align - 1) // align * align
    return start
