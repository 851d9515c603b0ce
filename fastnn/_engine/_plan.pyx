# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, nonecheck=False
"""How a batch is cut into work (see ``_plan.pxd`` for what it holds).

A batch pass is a sequence of stages, one barrier after each: the input's
gather where one is needed, every layer's forward product, the loss, every
hidden layer's deltas from the top down, and then all the layers' weight
gradients with their optimizer steps.  Each stage is cut into units that
depend on the stage before it only through finished results, so any thread
may run any unit of a stage.

Phase-1 units (forward, backward) are panels of batch rows (the kernels'
8-row panels, 64 rows on BLAS) by blocks of the layer's columns, cut at
whole register tiles; gradient units are blocks of a layer's coefficient
rows, in whole gradient panels, sized so that every unit of the stage does
about the same work.  Where a batch has few rows its layers are cut into
more column blocks, so a stage has about ``TARGET_UNITS`` units whenever
its work allows, for any batch size.

Every cut is a function of the problem's sizes only: the batch's rows,
the layers' widths, the input's stored entries per row and whether the
products run on BLAS.  Never of the machine, the thread count or the
team: with the engine's kernels, which give every element the same
operations at any tile position (``csrc/fastnn_gemm.h``), and sums over
fixed pieces in a fixed order, a fit has the same bits on any machine.

May call: ``_kernels``, ``_tuning``.
"""

from libc.stdlib cimport free, malloc

from ._kernels cimport FNN_SOFTMAX, fnn_activation, split
from ._tuning cimport (
    FNN_GRADIENT_PANEL_ROWS,
    FNN_PANEL_ROWS,
    MIN_BLOCK_ROWS,
    MIN_GRADIENT_ROW_BLOCKS,
    MIN_UNIT_MACS,
    SPARSE_CHUNK,
    TARGET_UNITS,
    TILE_COLS,
)


# The smallest unit in force: MIN_UNIT_MACS but in tests.
cdef Py_ssize_t _unit_floor = MIN_UNIT_MACS
# Counts the floor's changes: a plan made under another floor is remade.
cdef int _floor_epoch = 0


def _set_unit_floor(Py_ssize_t macs) -> int:
    """Cut batches into units of at least ``macs`` multiply-adds from now
    on; returns the previous floor (tests only: 1 cuts every stage as
    finely as the panels allow).  Not thread-safe: set it between fits."""
    global _unit_floor, _floor_epoch
    if macs < 1:
        raise ValueError(f"the unit floor must be positive, got {macs}")
    previous = _unit_floor
    _unit_floor = macs
    _floor_epoch += 1
    return previous


cdef inline Py_ssize_t cdiv(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return (a + b - 1) // b


cdef inline Py_ssize_t at_least_one(Py_ssize_t n) noexcept nogil:
    return n if n > 1 else 1


cdef void _row_columns(Py_ssize_t rows, Py_ssize_t panel, Py_ssize_t n,
                       Py_ssize_t k, bint columns, Py_ssize_t *n_panels,
                       Py_ssize_t *row_units,
                       Py_ssize_t *col_units) noexcept nogil:
    """Row and column units of a product of ``rows`` x ``k`` by ``k`` x
    ``n``, in panels of ``panel`` rows; its columns are cut only where
    ``columns``."""
    cdef Py_ssize_t P = cdiv(rows, panel)
    cdef Py_ssize_t panel_macs = at_least_one(min(panel, rows) * n * k)
    # Panels per row unit: enough for the smallest unit, and few enough
    # units for the target.
    cdef Py_ssize_t g = max(cdiv(_unit_floor, panel_macs),
                            cdiv(P, TARGET_UNITS))
    cdef Py_ssize_t R = cdiv(P, g), C = 1
    if columns:
        C = min(cdiv(n, TILE_COLS), at_least_one(TARGET_UNITS // R))
        C = min(C, at_least_one(g * panel_macs // _unit_floor))
    n_panels[0] = P
    row_units[0] = R
    col_units[0] = C


cdef int _add_stage(Plan *plan, StageKind kind, int layer, Py_ssize_t rows,
                    Py_ssize_t panel, Py_ssize_t n, Py_ssize_t k,
                    bint columns, bint fill) noexcept nogil:
    """Append a stage of row x column units (counted only unless
    ``fill``); its number of column blocks."""
    cdef Py_ssize_t P, R, C, i, j, ntile = cdiv(n, TILE_COLS)
    cdef Unit *u
    _row_columns(rows, panel, n, k, columns, &P, &R, &C)
    cdef double done = 0.0, cost
    if fill:
        plan.stages[plan.n_stages].kind = kind
        plan.stages[plan.n_stages].layer = layer
        plan.stages[plan.n_stages].with_loss = False
        plan.stages[plan.n_stages].first = plan.n_units
        plan.stages[plan.n_stages].count = <int>(R * C)
        for i in range(R):
            for j in range(C):
                u = &plan.units[plan.n_units + i * C + j]
                u.layer = layer
                u.r0 = min(rows, split(P, <int>i, <int>R) * panel)
                u.r1 = min(rows, split(P, <int>i + 1, <int>R) * panel)
                u.c0 = min(n, split(ntile, <int>j, <int>C) * TILE_COLS)
                u.c1 = min(n, split(ntile, <int>j + 1, <int>C) * TILE_COLS)
                # A partly used register tile costs a whole one.
                cost = (<double>(u.r1 - u.r0)
                        * cdiv(u.c1 - u.c0, TILE_COLS) * TILE_COLS * (k + 1))
                u.mid = done + 0.5 * cost
                done += cost
        plan.stages[plan.n_stages].cost = done
    plan.n_stages += 1
    plan.n_units += <int>(R * C)
    return <int>C


cdef void _add_gradient_stage(Plan *plan, const Py_ssize_t *units,
                              int n_weight_layers, Py_ssize_t rows,
                              bint sparse, Py_ssize_t row_nnz,
                              bint fill) noexcept nogil:
    """Append the gradient stage: blocks of whole gradient panels of every
    layer's coefficient rows by blocks of its columns, of about equal work
    each.  A layer whose one panel is more work than a unit should be (few
    rows, a large batch) is cut into column blocks too, if it has fewer
    than ``MIN_GRADIENT_ROW_BLOCKS`` panels; a sparse first layer, summed
    feature by feature, in whole rows."""
    cdef int l, b, c, nb, C
    cdef Py_ssize_t n_in, n_out, gp, n_panels, g, ntile
    cdef double per_row, total = 0.0, target, done = 0.0
    cdef Unit *u
    for l in range(n_weight_layers):
        total += _gradient_row_cost(units, l, rows, sparse, row_nnz) * units[l]
    target = max(<double>_unit_floor, total / TARGET_UNITS)
    if fill:
        plan.stages[plan.n_stages].kind = GRADIENT_STAGE
        plan.stages[plan.n_stages].layer = -1
        plan.stages[plan.n_stages].with_loss = False
        plan.stages[plan.n_stages].first = plan.n_units
    plan.n_gradient_units = 0
    for l in range(n_weight_layers):
        n_in = units[l]
        n_out = units[l + 1]
        ntile = cdiv(n_out, TILE_COLS)
        gp = SPARSE_CHUNK if l == 0 and sparse else FNN_GRADIENT_PANEL_ROWS
        n_panels = cdiv(n_in, gp)
        per_row = _gradient_row_cost(units, l, rows, sparse, row_nnz)
        g = at_least_one(<Py_ssize_t>(target / (per_row * gp) + 0.5))
        nb = <int>cdiv(n_panels, g)
        C = 1
        if g == 1 and n_panels < MIN_GRADIENT_ROW_BLOCKS and not (
                l == 0 and sparse):
            C = <int>min(ntile, at_least_one(
                <Py_ssize_t>(per_row * gp / target + 0.5)))
        if fill:
            for b in range(nb):
                for c in range(C):
                    u = &plan.units[plan.n_units + b * C + c]
                    u.layer = l
                    # Non-empty (nb <= n_panels): the blocks starting at
                    # row 0 own the intercepts of their columns.
                    u.r0 = split(n_panels, b, nb) * gp
                    u.r1 = min(n_in, split(n_panels, b + 1, nb) * gp)
                    u.c0 = min(n_out, split(ntile, c, C) * TILE_COLS)
                    u.c1 = min(n_out, split(ntile, c + 1, C) * TILE_COLS)
                    u.mid = done + 0.5 * _unit_cost(u, per_row, n_out)
                    done += _unit_cost(u, per_row, n_out)
        plan.n_units += nb * C
        plan.n_gradient_units += nb * C
    if fill:
        plan.stages[plan.n_stages].count = plan.n_gradient_units
        plan.stages[plan.n_stages].cost = done
    plan.n_stages += 1


cdef inline double _unit_cost(const Unit *u, double per_row,
                              Py_ssize_t n_out) noexcept nogil:
    return per_row * (u.r1 - u.r0) * (u.c1 - u.c0) / n_out


cdef double _gradient_row_cost(const Py_ssize_t *units, int l, Py_ssize_t rows,
                               bint sparse, Py_ssize_t row_nnz) noexcept nogil:
    """Work on one coefficient row of layer ``l``: its products with the
    batch's deltas, and about two more passes for the optimizer step."""
    cdef double per_row = rows
    if l == 0 and sparse:
        per_row = <double>rows * row_nnz / units[0]
    return units[l + 1] * (per_row + 2.0)


cdef void _stages(Plan *plan, const Py_ssize_t *units,
                  const fnn_activation *act, int L, Py_ssize_t rows,
                  bint sparse, Py_ssize_t row_nnz, bint backward,
                  bint gathered, bint blas, bint fill) noexcept nogil:
    cdef Py_ssize_t panel = MIN_BLOCK_ROWS if blas else FNN_PANEL_ROWS
    cdef Py_ssize_t k, out_blocks = 1
    cdef int l
    cdef bint columns
    plan.n_stages = plan.n_units = plan.n_gradient_units = 0
    plan.macs = 0.0
    if gathered:
        _add_stage(plan, GATHER_STAGE, 0, rows, panel, units[0], 1, False,
                   fill)
    for l in range(L):
        k = row_nnz if l == 0 and sparse else units[l]
        # Softmax couples a row's columns; a sparse first layer's kernel
        # writes whole rows.
        columns = act[l + 1].code != FNN_SOFTMAX and not (l == 0 and sparse)
        out_blocks = _add_stage(plan, FORWARD_STAGE, l, rows, panel, units[l + 1],
                           k, columns, fill)
        plan.macs += <double>rows * k * units[l + 1]
    # The loss needs whole output rows: in the output layer's own units
    # when they are whole rows, in a stage of its own otherwise.
    if out_blocks == 1:
        if fill:
            plan.stages[plan.n_stages - 1].with_loss = True
    else:
        _add_stage(plan, LOSS_STAGE, L - 1, rows, panel, units[L],
                   units[L], False, fill)
    if not backward:
        return
    for l in range(L - 1, 0, -1):
        _add_stage(plan, BACKWARD_STAGE, l, rows, panel, units[l],
                   units[l + 1], True, fill)
        plan.macs += <double>rows * units[l] * units[l + 1]
    _add_gradient_stage(plan, units, L, rows, sparse, row_nnz, fill)
    for l in range(L):
        plan.macs += (<double>rows * units[l + 1]
                      * (row_nnz if l == 0 and sparse else units[l]))


cdef int init_plan(Plan *plan, const Py_ssize_t *units,
                   int n_weight_layers) except -1:
    """Allocate ``plan`` for any batch of the network ``units`` (widths,
    input first), so that making one never allocates."""
    cdef int l
    cdef Py_ssize_t gradient_units = 0, n_panels
    for l in range(n_weight_layers):
        # nb * C of ``_add_gradient_stage``: column blocks (at most one per
        # tile) only for layers of fewer than MIN_GRADIENT_ROW_BLOCKS panels.
        n_panels = cdiv(units[l], FNN_GRADIENT_PANEL_ROWS)
        gradient_units += (n_panels * cdiv(units[l + 1], TILE_COLS)
                           if n_panels < MIN_GRADIENT_ROW_BLOCKS else n_panels)
    # A phase-1 stage has at most TARGET_UNITS units (``_row_columns``).
    plan.capacity = <int>((2 * n_weight_layers + 1) * TARGET_UNITS
                          + gradient_units)
    plan.stages = <Stage*>malloc((2 * n_weight_layers + 2) * sizeof(Stage))
    plan.units = <Unit*>malloc(plan.capacity * sizeof(Unit))
    plan.sums = <double*>malloc(gradient_units * sizeof(double))
    plan.rows = -1
    if plan.stages == NULL or plan.units == NULL or plan.sums == NULL:
        raise MemoryError()
    return 0


cdef void plan_batch(Plan *plan, const Py_ssize_t *units,
                     const fnn_activation *act, int n_weight_layers,
                     Py_ssize_t rows, bint sparse, Py_ssize_t row_nnz,
                     bint backward, bint gathered, bint blas) noexcept nogil:
    """Make ``plan`` the plan of a batch of ``rows`` rows (kept when it
    already is): its stages and units (see the module docstring).

    ``row_nnz`` is the input's stored entries per row when ``sparse``;
    ``gathered`` says the first layer reads a gathered copy of the
    batch's rows.
    """
    if (plan.rows == rows and plan.epoch == _floor_epoch
            and plan.sparse == sparse
            and (not sparse or plan.row_nnz == row_nnz)
            and plan.backward == backward and plan.gathered == gathered
            and plan.blas == blas):
        return
    _stages(plan, units, act, n_weight_layers, rows, sparse, row_nnz,
            backward, gathered, blas, True)
    plan.rows = rows
    plan.epoch = _floor_epoch
    plan.row_nnz = row_nnz
    plan.sparse = sparse
    plan.backward = backward
    plan.gathered = gathered
    plan.blas = blas


cdef void free_plan(Plan *plan) noexcept nogil:
    free(plan.stages)
    free(plan.units)
    free(plan.sums)
    plan.stages = NULL
    plan.units = NULL
    plan.sums = NULL
    plan.capacity = 0


cdef int share_start(const Plan *plan, const Stage *stage, int share,
                     int n_shares) noexcept nogil:
    """The first unit of share ``share``: each unit belongs to the share
    its work's midpoint falls in, so shares of unequal units are about
    equal in work."""
    cdef double target = stage.cost * share / n_shares
    cdef int lo = 0, hi = stage.count, mid
    if share >= n_shares:
        return stage.count
    while lo < hi:
        mid = (lo + hi) // 2
        if plan.units[stage.first + mid].mid < target:
            lo = mid + 1
        else:
            hi = mid
    return lo
