# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, nonecheck=False
"""Per-phase clocks of the batch passes (see ``_phases.pxd``).

The counters are totals over all threads, in nanoseconds, added
atomically: a thread adds a few times per row block, so they never
contend.  Besides the phases, each batch pass adds its wall time, its
thread-time (wall x team) and the thread-time of the trainer's threads it
left out (wall x (ceiling - team)): what the phases do not account for
within a pass is time spent waiting (at the barrier between the two halves
of a pass, for the last block, for the team to wake).

May call: nothing.
"""

cdef extern from *:
    """
    #include <time.h>
    #if defined(__GNUC__) || defined(__clang__)
    #define FNN_ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
    #define FNN_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
    #define FNN_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
    #else  /* a profiler's counters: a lost update is harmless */
    #define FNN_ADD(p, v) (*(p) += (v))
    #define FNN_LOAD(p) (*(p))
    #define FNN_STORE(p, v) (*(p) = (v))
    #endif
    static long long fnn_now_ns(void)
    {
    #if defined(CLOCK_MONOTONIC)
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    #else
        struct timespec ts;
        timespec_get(&ts, TIME_UTC);
        return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    #endif
    }
    """
    long long fnn_now_ns() nogil
    void FNN_ADD(long long *p, long long v) nogil
    long long FNN_LOAD(long long *p) nogil
    int FNN_LOAD_INT "FNN_LOAD"(int *p) nogil
    void FNN_STORE(long long *p, long long v) nogil
    void FNN_STORE_INT "FNN_STORE"(int *p, int v) nogil

cdef enum:
    PASS_WALL = N_PHASES
    PASS_THREADS = N_PHASES + 1
    PASS_SHORTFALL = N_PHASES + 2
    N_COUNTERS = N_PHASES + 3

cdef long long counters[N_COUNTERS]
cdef int enabled = 0

NAMES = (
    "gather",
    "forward products",
    "bias and activation",
    "loss and output deltas",
    "delta products",
    "activation derivatives",
    "gradient products",
    "optimizer step",
)


cdef long long phase_start() noexcept nogil:
    if not FNN_LOAD_INT(&enabled):
        return 0
    return fnn_now_ns()


cdef long long phase_end(Phase phase, long long start) noexcept nogil:
    cdef long long now
    if start == 0:
        return 0
    now = fnn_now_ns()
    FNN_ADD(&counters[<int>phase], now - start)
    return now


cdef void pass_end(int team, int ceiling, long long start) noexcept nogil:
    cdef long long wall
    if start == 0:
        return
    wall = fnn_now_ns() - start
    FNN_ADD(&counters[<int>PASS_WALL], wall)
    FNN_ADD(&counters[<int>PASS_THREADS], wall * team)
    if ceiling > team:
        FNN_ADD(&counters[<int>PASS_SHORTFALL], wall * (ceiling - team))


def set_enabled(bint on) -> None:
    """Turn the clocks on or off (for every thread, from the next phase)."""
    global enabled
    FNN_STORE_INT(&enabled, 1 if on else 0)


def reset() -> None:
    """Zero every counter."""
    cdef int i
    for i in range(N_COUNTERS):
        FNN_STORE(&counters[i], 0)


def read() -> dict:
    """The counters in seconds: each phase's thread-time by name, and
    ``"pass wall"``, ``"pass threads"`` and ``"team shortfall"``."""
    cdef int i
    out = {NAMES[i]: FNN_LOAD(&counters[i]) * 1e-9
           for i in range(N_PHASES)}
    out["pass wall"] = FNN_LOAD(&counters[<int>PASS_WALL]) * 1e-9
    out["pass threads"] = FNN_LOAD(&counters[<int>PASS_THREADS]) * 1e-9
    out["team shortfall"] = FNN_LOAD(&counters[<int>PASS_SHORTFALL]) * 1e-9
    return out
