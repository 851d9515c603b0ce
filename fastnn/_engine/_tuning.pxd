# cython: language_level=3
"""The engine's tuning constants, each with the measurement behind it.

Holds every size the engine cuts its work by.  Changing one changes speed,
not the products and element work of any value (the engine's kernels give
every element the same operations at any cut).  The sums that follow the
cut (the loss per panel, the squared norm per unit) may move in their last
bits, and with them an L-BFGS fit, whose line search reads the loss.  The
cut depends on sizes only, so results are the same bits at any number of
threads.  On BLAS, where the cut picks BLAS's kernels, a change may move
the last bits of everything.
May call: nothing (``csrc/fastnn_gemm.h`` defines the panel rows, which the
C kernels need too).
"""

cdef extern from "fastnn_gemm.h" nogil:
    # Rows of the panels the kernels run on: 8 rows of a wide layer
    # (8 x 512 floats) stay in L1 between a product and its element work;
    # gradient panels are 16 rows, so the optimizer step's transposed
    # write-back fills whole 64-byte lines of float32 (see the header).
    enum: FNN_PANEL_ROWS
    enum: FNN_GRADIENT_PANEL_ROWS


cpdef enum:
    # Python reads these too (small predictions leave BLAS alone).
    # Passes smaller than this run on one thread: below it, waking the
    # OpenMP team costs more than the work (elements for element-wise
    # passes, multiply-adds for products; measured on 2 cores, where a
    # team's wake-up costs a few microseconds).
    PARALLEL_MIN_ELEMENTS = 32768
    PARALLEL_MIN_MACS = 65536


cdef enum:
    # --- a batch's plan (_plan) ---
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
    # it (``_plan._set_unit_floor``) to cut small networks as finely as
    # possible.
    MIN_UNIT_MACS = 32768
    # A layer's gradient is cut into column blocks too only when it has
    # fewer row panels than this (a 64-feature input, a batch of thousands
    # in L-BFGS): each column block costs a call of the optimizer step per
    # coefficient row, which made the 60k (100,) fit 8% slower on 2 cores
    # when every layer was cut so (tools/time_builds.py); 16 blocks already
    # share out over 8 threads.
    MIN_GRADIENT_ROW_BLOCKS = 16
    # Smallest row block of a BLAS product in training (a batch's panels
    # on BLAS, the input gradient's row blocks): fewer than about 100 rows per GEMM costs BLAS
    # efficiency (measured with OpenBLAS: 50 rows ran at 75% of the speed
    # of 200).
    MIN_BLOCK_ROWS = 64
    # Features per step of the fused sparse gradient and optimizer pass:
    # 32 rows of a 256-unit layer's gradient (32 KiB of float32) stay in L1
    # between their sums and their step.
    SPARSE_CHUNK = 32
    # Rows a batch gather requests ahead of the one it copies: enough for
    # a row's first cache misses to overlap the copy of the rows before it.
    GATHER_AHEAD = 2

    # --- predictions (_threads.gemm_blocks, _predict) ---
    # Products outside training are cut into at most this many row blocks:
    # one block per core of the largest machines the engine is written for.
    MAX_BLOCKS = 64
    # ... of at least this many rows.  Blocks of 83 rows (a 668-row chunk
    # cut for 8 cores) made a (512, 256) float32 prediction of 60,000 rows
    # 27% slower on 2 cores than BLAS's 334-row blocks had been (Intel
    # Xeon, AVX-512 OpenBLAS); from about 256 rows BLAS runs at full speed.
    PREDICT_BLOCK_ROWS = 256
