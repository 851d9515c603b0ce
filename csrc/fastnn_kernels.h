/*
 * fastnn element kernels: the per-element math of the network, written once
 * and instantiated for float and double by fastnn_kernels_impl.h.
 *
 * Design
 * ------
 * The Cython engine owns the loops over rows (and their threading); the
 * functions here process one contiguous row.  The activation kernels switch
 * on the code once per row, outside their loops, so the compiler vectorises
 * each case; the loss kernel switches per element, which is cheap next to
 * its logarithms.  Everything is `static` and touches no global state, so
 * it is safe to call from any OpenMP thread without the GIL; all is
 * `inline` except the three loops built as FNN_VECTOR_CLONES (fnn_sumsq,
 * fnn_adam_step, fnn_sgd_step), since GCC cannot inline a function whose
 * vector version is chosen when the library is loaded.
 *
 * Derivatives are taken from the stored *output* of the activation where
 * that is possible (as scikit-learn does); the activations whose derivative
 * needs the pre-activation are listed by fnn_needs_preactivation, and the
 * engine keeps the pre-activations of those layers only.
 *
 * Every switch names each code it handles; `default:` writes NaN, so a code
 * a switch misses shows up as a non-finite result (which training and the
 * tests catch) rather than as a silently wrong model.
 */
#ifndef FASTNN_KERNELS_H
#define FASTNN_KERNELS_H

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#ifndef M_SQRT1_2
#define M_SQRT1_2 0.70710678118654752440
#endif
#ifndef M_2_SQRTPI
#define M_2_SQRTPI 1.12837916709551257390
#endif

/* Activation codes, shared with Python through fastnn/_engine/_kernels.pxd
 * (FNN_NAME is the activation "name"). */
enum fnn_activation_code {
    FNN_IDENTITY = 0,
    FNN_LOGISTIC = 1,       /* 1 / (1 + exp(-p0 x)), p0 = beta (1: logistic) */
    FNN_TANH = 2,
    FNN_RELU = 3,
    FNN_EXP = 4,            /* output only (Poisson regression) */
    FNN_SOFTMAX = 5,        /* output only (multiclass) */
    FNN_PIECEWISE_LINEAR = 6, /* 0 / linear / 1 between p0 = x_min, p1 = x_max */
    FNN_GAUSSIAN = 7,       /* normal density, p0 = mu, p1 = sigma */
    FNN_UNIT_STEP = 8,      /* 1 if x >= 0 else 0; surrogate derivative */
    FNN_LEAKY_RELU = 9,     /* x if x > 0 else p0 x */
    FNN_ELU = 10,           /* x if x > 0 else p0 (exp(x) - 1) */
    FNN_SOFTPLUS = 11,      /* log(1 + exp(x)) */
    FNN_GELU = 12,          /* x Phi(x), exact (erf) form */
    FNN_SILU = 13,          /* x / (1 + exp(-x)) */
    FNN_HARD_TANH = 14      /* x clipped to [p0, p1] = [min_val, max_val] */
};

/* An activation and its two parameters (unused ones are ignored). */
typedef struct {
    int code;
    double p0, p1;
} fnn_activation;

/* Whether the derivative needs the pre-activation x rather than only the
 * output f(x) (the engine then keeps x for the backward pass). */
static inline int fnn_needs_preactivation(int code)
{
    return code == FNN_GAUSSIAN || code == FNN_UNIT_STEP || code == FNN_GELU
        || code == FNN_SILU;
}

/* Loss codes.  The first four pair with their canonical output activation,
 * so the output delta is (prediction - target) * sample_weight; the others
 * go through the output activation's derivative.  Each has a Python class
 * in fastnn/losses.py (its link, parameter and check of the targets). */
enum fnn_loss_code {
    FNN_SQUARED_ERROR = 0,   /* identity output */
    FNN_BINARY_LOG_LOSS = 1, /* logistic output, binary or multilabel */
    FNN_LOG_LOSS = 2,        /* softmax output */
    FNN_POISSON = 3,         /* exp output, half Poisson deviance */
    FNN_PROBA_SQUARED_ERROR = 4,         /* logistic outputs, 0.5 sum (p-y)^2 */
    FNN_PROBA_SQUARED_ERROR_SOFTMAX = 5, /* softmax outputs, 0.5 sum (p-y)^2 */
    FNN_ABSOLUTE_ERROR = 6,  /* identity output, sum |p - y| */
    FNN_HUBER = 7,           /* identity output, Huber with delta = param */
    FNN_QUANTILE = 8,        /* identity output, pinball with quantile = param */
    FNN_GAMMA = 9            /* exp output, half Gamma deviance */
};

/* Whether the reported loss is the row total averaged over the outputs
 * (and halved): scikit-learn's squared error is, while its gradient is that
 * of the sum.  The other losses report the sum over outputs. */
static inline int fnn_loss_averages_outputs(int loss)
{
    return loss == FNN_SQUARED_ERROR;
}

/* Whether the loss kernel reads the raw predictions z (the output layer's
 * pre-activations) besides p = exp(z): the log-link losses take log p = z,
 * as HistGradientBoosting's losses do, where a term of theirs leaves the
 * working dtype's range (p / y overflowing for a subnormal y, p underflowed
 * to 0; see fnn_output_loss_wide). */
static inline int fnn_loss_reads_raw(int loss)
{
    return loss == FNN_POISSON || loss == FNN_GAMMA;
}

/* Optimizer codes, shared with Python through fastnn/_engine/_kernels.pxd
 * (FNN_NAME is the solver "name"); fnn_optimizer_step switches on them. */
enum fnn_optimizer_code {
    FNN_SGD = 0,    /* momentum, optionally Nesterov's; state: velocities */
    FNN_ADAM = 1,   /* state: first and second moments */
    FNN_ADAMW = 2   /* Adam with decoupled weight decay; state: as Adam */
};

/* Flat state arrays (laid out like the parameters) an optimizer keeps
 * between steps; 0 for a code that is not an optimizer's. */
static inline int fnn_optimizer_state_arrays(int code)
{
    switch (code) {
    case FNN_SGD:
        return 1;
    case FNN_ADAM:
    case FNN_ADAMW:
        return 2;
    default:
        return 0;
    }
}

/* One optimizer step's scalars.  The engine copies them from the optimizer
 * Python built for the epoch, then sets step_count and step_size before
 * each batch and sw_sum inside it. */
typedef struct {
    int code;               /* enum fnn_optimizer_code */
    int nesterov;           /* SGD: Nesterov's momentum */
    long step_count;        /* steps taken, the current one included */
    double learning_rate;   /* SGD: the rate; Adam(W): learning_rate_init */
    double step_size;       /* Adam(W): the bias-corrected rate of this step */
    double momentum;        /* SGD */
    double beta_1, beta_2, epsilon;  /* Adam(W) */
    double weight_decay;    /* AdamW: w *= 1 - learning_rate * weight_decay */
    double alpha;           /* L2 penalty, added to the gradient (all solvers) */
    double sw_sum;          /* the batch's sum of sample weights */
} fnn_optimizer;

/*
 * Dropout masks come from a counter-based generator: a hash of (seed,
 * batch counter, row in the batch, layer, unit).  Any thread computes any
 * element's draw on its own, so masks depend on the seed alone, never on
 * the thread count, and the backward pass recomputes them instead of
 * storing them.  The hash is splitmix64's finaliser.
 */
static inline uint64_t fnn_mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Inverted-dropout factor of one unit: 0 (dropped) or 1 / (1 - rate). */
static inline double fnn_dropout_scale(uint64_t seed, uint64_t step,
                                       uint64_t row, uint64_t layer,
                                       uint64_t unit, double rate)
{
    uint64_t h = fnn_mix64(seed ^ fnn_mix64(step ^ fnn_mix64(
        row ^ fnn_mix64((layer << 32) ^ unit))));
    double u = (double)(h >> 11) * (1.0 / 9007199254740992.0);
    return u < rate ? 0.0 : 1.0 / (1.0 - rate);
}

/*
 * The optimizer passes touch every parameter on every batch and are bound by
 * the vector width (a division and a square root per element).  Built with
 * GCC for x86-64, they also get AVX-512 and AVX2 clones and the loader picks
 * the widest the CPU has.  Each element goes through the same IEEE operations
 * at any width (the build turns FMA contraction off, and no loop
 * reassociates), so results do not depend on the clone.
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) \
    && defined(__linux__)
#define FNN_VECTOR_CLONES \
    __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FNN_VECTOR_CLONES
#endif

/* The loss kernel's second pass over a row whose loss left the working
 * dtype's range: out of line, so that the common path is compiled as if it
 * were not there (`unused`: not every module that includes this header
 * calls it). */
#if defined(__GNUC__)
#define FNN_COLD __attribute__((noinline, cold, unused))
#else
#define FNN_COLD
#endif

/* Sparse products prefetch the rows this many stored entries ahead. */
#define FNN_PREFETCH_AHEAD 4
#if defined(__GNUC__)
#define FNN_PREFETCH(p) __builtin_prefetch((p), 0, 3)
#else
#define FNN_PREFETCH(p) ((void)(p))
#endif

/* Ask for the cache lines of p[0:bytes] ahead of their use. */
static inline void fnn_prefetch_bytes(const void *p, size_t bytes)
{
    const char *c = (const char *)p;
    size_t i;
    for (i = 0; i < bytes; i += 64)
        FNN_PREFETCH(c + i);
}

#define FNN_T double
#define FNN_NAME(name) name##_d
#define FNN_EPS DBL_EPSILON
#define FNN_MIN_NORMAL DBL_MIN
#define FNN_MAX_FINITE DBL_MAX
#define FNN_EXPF exp
#define FNN_LOGF log
#define FNN_TANHF tanh
#define FNN_SQRTF sqrt
#define FNN_ERFCF erfc
#define FNN_LOG1PF log1p
#define FNN_EXPM1F expm1
#include "fastnn_kernels_impl.h"
#undef FNN_T
#undef FNN_NAME
#undef FNN_EPS
#undef FNN_MIN_NORMAL
#undef FNN_MAX_FINITE
#undef FNN_EXPF
#undef FNN_LOGF
#undef FNN_TANHF
#undef FNN_SQRTF
#undef FNN_ERFCF
#undef FNN_LOG1PF
#undef FNN_EXPM1F

#define FNN_T float
#define FNN_NAME(name) name##_f
#define FNN_EPS FLT_EPSILON
#define FNN_MIN_NORMAL FLT_MIN
#define FNN_MAX_FINITE FLT_MAX
#define FNN_EXPF expf
#define FNN_LOGF logf
#define FNN_TANHF tanhf
#define FNN_SQRTF sqrtf
#define FNN_ERFCF erfcf
#define FNN_LOG1PF log1pf
#define FNN_EXPM1F expm1f
#include "fastnn_kernels_impl.h"
#undef FNN_T
#undef FNN_NAME
#undef FNN_EPS
#undef FNN_MIN_NORMAL
#undef FNN_MAX_FINITE
#undef FNN_EXPF
#undef FNN_LOGF
#undef FNN_TANHF
#undef FNN_SQRTF
#undef FNN_ERFCF
#undef FNN_LOG1PF
#undef FNN_EXPM1F

#endif /* FASTNN_KERNELS_H */
