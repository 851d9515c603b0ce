# cython: language_level=3
"""How a batch is cut into work (see ``_plan.pyx``).

Holds: the plan of a batch (stages separated by barriers, each a list of
units any thread may run), the function that makes it from the problem's
sizes, and the constants that size the units.
May call: ``_kernels`` (panel sizes).
"""

from ._kernels cimport fnn_activation


cdef enum:
    # Columns of a phase-1 unit are cut at multiples of this: the widest
    # register tile of the engine's kernels (AVX-512 float32: 2 vectors of
    # 16), so no unit pays for a partly used tile in the middle of a row.
    TILE_COLS = 32
    # A stage is cut into about this many units where the work allows:
    # four per thread on a 64-core machine, so that static shares differ
    # by at most a quarter of one thread's work.
    TARGET_UNITS = 256
    # No unit does fewer multiply-adds than this (about half a microsecond
    # on one AVX-512 core): below it a unit's call and tile set-up cost a
    # measurable share of a 2-core fit (tools/time_builds.py).  Tests lower
    # it (``_set_unit_floor``) to cut small networks as finely as possible.
    MIN_UNIT_MACS = 32768


cdef enum StageKind:
    GATHER_STAGE      # copy the batch's input rows (BLAS, strided X)
    FORWARD_STAGE     # one layer's outputs: rows x columns
    LOSS_STAGE        # targets, per-row losses and output deltas: rows
    BACKWARD_STAGE    # one hidden layer's deltas: rows x columns
    GRADIENT_STAGE    # every layer's gradient and step: coefficient rows


cdef struct Unit:
    int layer            # the weight layer (0: input to first hidden)
    Py_ssize_t r0, r1    # batch rows; coefficient rows in a gradient stage
    Py_ssize_t c0, c1    # the layer's output (forward) or input (backward)
                         #   columns; 0:n in gather, loss and gradient stages


cdef struct Stage:
    StageKind kind
    int layer
    bint with_loss       # a forward stage whose units also do the loss
    int first, count     # its units: plan.units[first:first + count]


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
