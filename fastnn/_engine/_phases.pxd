# cython: language_level=3
"""Where a fit's time goes: per-phase clocks of the batch passes.

Off unless a profiler turns them on (``benchmarks/phases.py``); off, a
clock costs one call and one branch, a few per phase of a row block.
"""

cpdef enum Phase:
    # The work of a batch pass, in the order a batch runs it.
    GATHER = 0               # copying the batch's rows (sorting a CSR batch)
    FORWARD_PRODUCTS = 1     # a @ w, dense (BLAS) or sparse
    BIAS_ACTIVATION = 2      # + b, f(z), forward dropout
    LOSS = 3                 # per-row losses and output deltas
    DELTA_PRODUCTS = 4       # delta @ w.T (BLAS)
    DERIVATIVES = 5          # * f'(z), backward dropout
    GRADIENT_PRODUCTS = 6    # a.T @ delta (BLAS) and the intercepts' sums
    OPTIMIZER = 7            # the L2 norms and the optimizer step
    N_PHASES = 8

# A clock reading in nanoseconds, 0 while the clocks are off.
cdef long long phase_start() noexcept nogil
# Adds the time since ``start`` (unless 0) to ``phase``; returns the new
# reading, the start of whatever comes next.
cdef long long phase_end(Phase phase, long long start) noexcept nogil
# Ends a batch pass begun at ``start``: ``team`` threads ran it, of
# ``ceiling`` the trainer may use.
cdef void pass_end(int team, int ceiling, long long start) noexcept nogil
