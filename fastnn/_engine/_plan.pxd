# cython: language_level=3
"""How a batch is cut into work (see ``_plan.pyx``).

Holds: the plan of a batch (stages separated by barriers, each a list of
units any thread may run) and the function that makes it from the
problem's sizes (with the constants of ``_tuning``).
May call: ``_kernels``, ``_tuning``.
"""

from ._kernels cimport fnn_activation


cdef enum StageKind:
    GATHER_STAGE      # copy the batch's input rows (BLAS, strided X)
    FORWARD_STAGE     # one layer's outputs: rows x columns
    LOSS_STAGE        # targets, per-row losses and output deltas: rows
    BACKWARD_STAGE    # one hidden layer's deltas: rows x columns
    GRADIENT_STAGE    # every layer's gradient and step: coefficient rows


cdef struct Unit:
    int layer            # the weight layer (0: input to first hidden)
    Py_ssize_t r0, r1    # batch rows; coefficient rows in a gradient stage
    Py_ssize_t c0, c1    # the layer's output (forward, gradient) or input
                         #   (backward) columns; 0:n in gather and loss
    double mid           # the stage's work up to the middle of this unit


cdef struct Stage:
    StageKind kind
    int layer
    bint with_loss       # a forward stage whose units also do the loss
    int first, count     # its units: plan.units[first:first + count]
    double cost          # its work (about its multiply-adds)


cdef struct Plan:
    Stage *stages
    int n_stages
    Unit *units
    int n_units, capacity
    int n_gradient_units  # the gradient stage's (0 without one)
    double *sums          # per gradient unit: its coefficients' squared norm
    double macs           # multiply-adds of the whole pass
    # What the plan was made for: remade when any of it changes.
    Py_ssize_t rows, row_nnz
    int sparse, backward, gathered, blas, epoch


cdef int init_plan(Plan *plan, const Py_ssize_t *units,
                   int n_weight_layers) except -1
cdef void plan_batch(Plan *plan, const Py_ssize_t *units,
                     const fnn_activation *act, int n_weight_layers,
                     Py_ssize_t rows, bint sparse, Py_ssize_t row_nnz,
                     bint backward, bint gathered, bint blas) noexcept nogil
cdef void free_plan(Plan *plan) noexcept nogil
cdef int share_start(const Plan *plan, const Stage *stage, int share,
                     int n_shares) noexcept nogil
