/*
 * fastnn element kernels: the per-element math of the network, written once
 * and instantiated for float and double by fastnn_kernels_impl.h.
 *
 * Design
 * ------
 * The Cython engine owns the loops over rows (and their threading); the
 * functions here process one contiguous row, so the switch on the activation
 * or loss code is hoisted out of the inner loop and the compiler can
 * vectorise it.  Everything is `static inline` and touches no global state,
 * so it is safe to call from any OpenMP thread without the GIL.
 *
 * Derivatives are taken from the stored *output* of the activation (as
 * scikit-learn does), which saves keeping the pre-activations around.
 */
#ifndef FASTNN_KERNELS_H
#define FASTNN_KERNELS_H

#include <float.h>
#include <math.h>
#include <stddef.h>

/* Activation codes, shared with fastnn/_engine.pyx. */
enum {
    FNN_IDENTITY = 0,
    FNN_LOGISTIC = 1,
    FNN_TANH = 2,
    FNN_RELU = 3,
    FNN_EXP = 4,      /* output only (Poisson regression) */
    FNN_SOFTMAX = 5   /* output only (multiclass) */
};

/* Loss codes: each pairs with its canonical output activation, so the
 * output delta is always (prediction - target) * sample_weight. */
enum {
    FNN_SQUARED_ERROR = 0,  /* identity output */
    FNN_BINARY_LOG_LOSS = 1, /* logistic output, binary or multilabel */
    FNN_LOG_LOSS = 2,       /* softmax output */
    FNN_POISSON = 3         /* exp output, half Poisson deviance */
};

#define FNN_T double
#define FNN_NAME(name) name##_d
#define FNN_EPS DBL_EPSILON
#define FNN_EXPF exp
#define FNN_LOGF log
#define FNN_TANHF tanh
#define FNN_SQRTF sqrt
#include "fastnn_kernels_impl.h"
#undef FNN_T
#undef FNN_NAME
#undef FNN_EPS
#undef FNN_EXPF
#undef FNN_LOGF
#undef FNN_TANHF
#undef FNN_SQRTF

#define FNN_T float
#define FNN_NAME(name) name##_f
#define FNN_EPS FLT_EPSILON
#define FNN_EXPF expf
#define FNN_LOGF logf
#define FNN_TANHF tanhf
#define FNN_SQRTF sqrtf
#include "fastnn_kernels_impl.h"
#undef FNN_T
#undef FNN_NAME
#undef FNN_EPS
#undef FNN_EXPF
#undef FNN_LOGF
#undef FNN_TANHF
#undef FNN_SQRTF

#endif /* FASTNN_KERNELS_H */
