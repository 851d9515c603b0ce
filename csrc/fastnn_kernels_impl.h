/*
 * Body of the element kernels, included twice by fastnn_kernels.h with
 * FNN_T = double and FNN_T = float.  No include guard on purpose.
 */

/*
 * z[j] <- f(z[j] + b[j]) for a hidden or output activation (not softmax).
 * When `pre` is not NULL it receives the pre-activations z[j] + b[j].
 */
static inline void FNN_NAME(fnn_bias_activation)(FNN_T *z, const FNN_T *b,
                                                 ptrdiff_t n,
                                                 fnn_activation act,
                                                 FNN_T *pre)
{
    ptrdiff_t j;
    const FNN_T p0 = (FNN_T)act.p0, p1 = (FNN_T)act.p1;
    if (pre != NULL)
        for (j = 0; j < n; j++)
            pre[j] = z[j] + b[j];
    switch (act.code) {
    case FNN_LOGISTIC:
        for (j = 0; j < n; j++)
            z[j] = (FNN_T)1 / ((FNN_T)1 + FNN_EXPF(-(p0 * (z[j] + b[j]))));
        break;
    case FNN_TANH:
        for (j = 0; j < n; j++)
            z[j] = FNN_TANHF(z[j] + b[j]);
        break;
    case FNN_RELU:
        /* NaN passes through, as through NumPy's maximum(s, 0): a NaN
         * predicted under sklearn's assume_finite stays NaN. */
        for (j = 0; j < n; j++) {
            FNN_T s = z[j] + b[j];
            z[j] = s < 0 ? 0 : s;
        }
        break;
    case FNN_EXP:
        for (j = 0; j < n; j++)
            z[j] = FNN_EXPF(z[j] + b[j]);
        break;
    case FNN_PIECEWISE_LINEAR: {
        const FNN_T m = (FNN_T)1 / (p1 - p0);
        for (j = 0; j < n; j++) {
            FNN_T s = z[j] + b[j];
            z[j] = s <= p0 ? 0 : (s >= p1 ? 1 : m * (s - p0));
        }
        break;
    }
    case FNN_GAUSSIAN: {
        const FNN_T norm = (FNN_T)1 / (FNN_SQRTF((FNN_T)(2 * M_PI)) * p1);
        for (j = 0; j < n; j++) {
            FNN_T u = (z[j] + b[j] - p0) / p1;
            z[j] = norm * FNN_EXPF((FNN_T)-0.5 * u * u);
        }
        break;
    }
    case FNN_UNIT_STEP:
        for (j = 0; j < n; j++)
            z[j] = z[j] + b[j] >= 0 ? 1 : 0;
        break;
    case FNN_LEAKY_RELU:
        for (j = 0; j < n; j++) {
            FNN_T s = z[j] + b[j];
            z[j] = s > 0 ? s : p0 * s;
        }
        break;
    case FNN_ELU:
        for (j = 0; j < n; j++) {
            FNN_T s = z[j] + b[j];
            z[j] = s > 0 ? s : p0 * FNN_EXPM1F(s);
        }
        break;
    case FNN_SOFTPLUS:
        for (j = 0; j < n; j++) {
            FNN_T s = z[j] + b[j];
            z[j] = (s > 0 ? s : 0) + FNN_LOG1PF(FNN_EXPF(-(s > 0 ? s : -s)));
        }
        break;
    case FNN_GELU:
        for (j = 0; j < n; j++) {
            FNN_T s = z[j] + b[j];
            /* Phi(x) = erfc(-x / sqrt 2) / 2 keeps its digits for x << 0,
             * where 1 + erf(x / sqrt 2) would cancel. */
            z[j] = (FNN_T)0.5 * s * FNN_ERFCF(-s * (FNN_T)M_SQRT1_2);
        }
        break;
    case FNN_SILU:
        for (j = 0; j < n; j++) {
            FNN_T s = z[j] + b[j];
            z[j] = s / ((FNN_T)1 + FNN_EXPF(-s));
        }
        break;
    case FNN_HARD_TANH:
        for (j = 0; j < n; j++) {
            FNN_T s = z[j] + b[j];
            z[j] = s <= p0 ? p0 : (s >= p1 ? p1 : s);
        }
        break;
    case FNN_IDENTITY:
        for (j = 0; j < n; j++)
            z[j] += b[j];
        break;
    default: /* softmax has its own kernel; anything else is a bug */
        for (j = 0; j < n; j++)
            z[j] = (FNN_T)NAN;
    }
}

/* z <- softmax(z + b) over one row, shifted by its maximum for stability. */
static inline void FNN_NAME(fnn_bias_softmax)(FNN_T *z, const FNN_T *b,
                                              ptrdiff_t n)
{
    ptrdiff_t j;
    FNN_T zmax, total = 0;
    for (j = 0; j < n; j++)
        z[j] += b[j];
    zmax = z[0];
    for (j = 1; j < n; j++)
        zmax = z[j] > zmax ? z[j] : zmax;
    for (j = 0; j < n; j++) {
        z[j] = FNN_EXPF(z[j] - zmax);
        total += z[j];
    }
    for (j = 0; j < n; j++)
        z[j] /= total;
}

/*
 * delta[j] *= f'(x[j]), from the output a[j] = f(x[j]) where that suffices
 * and from the pre-activation pre[j] = x[j] otherwise (see
 * fnn_needs_preactivation).  The unit step is flat almost everywhere; it
 * trains through the saturated straight-through estimator f'(x) := 1 for
 * |x| <= 1, else 0 (Hubara et al., 2016).
 */
static inline void FNN_NAME(fnn_activation_backward)(FNN_T *delta,
                                                     const FNN_T *a,
                                                     const FNN_T *pre,
                                                     ptrdiff_t n,
                                                     fnn_activation act)
{
    ptrdiff_t j;
    const FNN_T p0 = (FNN_T)act.p0, p1 = (FNN_T)act.p1;
    switch (act.code) {
    case FNN_LOGISTIC:
        /* beta a (1 - a); for beta = 1 exactly scikit-learn's arithmetic. */
        for (j = 0; j < n; j++) {
            delta[j] *= a[j];
            delta[j] *= (FNN_T)1 - a[j];
            delta[j] *= p0;
        }
        break;
    case FNN_TANH:
        for (j = 0; j < n; j++)
            delta[j] *= (FNN_T)1 - a[j] * a[j];
        break;
    case FNN_RELU:
        for (j = 0; j < n; j++)
            delta[j] = a[j] == 0 ? 0 : delta[j];
        break;
    case FNN_PIECEWISE_LINEAR: {
        const FNN_T m = (FNN_T)1 / (p1 - p0);
        for (j = 0; j < n; j++)
            delta[j] = (a[j] > 0 && a[j] < 1) ? delta[j] * m : 0;
        break;
    }
    case FNN_GAUSSIAN:
        for (j = 0; j < n; j++)
            delta[j] *= -(pre[j] - p0) / (p1 * p1) * a[j];
        break;
    case FNN_UNIT_STEP:
        for (j = 0; j < n; j++)
            delta[j] = (pre[j] >= -1 && pre[j] <= 1) ? delta[j] : 0;
        break;
    case FNN_LEAKY_RELU:
        for (j = 0; j < n; j++)
            delta[j] = a[j] > 0 ? delta[j] : delta[j] * p0;
        break;
    case FNN_ELU:
        for (j = 0; j < n; j++)
            delta[j] = a[j] > 0 ? delta[j] : delta[j] * (a[j] + p0);
        break;
    case FNN_SOFTPLUS:
        /* sigmoid(x) = 1 - exp(-softplus(x)) */
        for (j = 0; j < n; j++)
            delta[j] *= -FNN_EXPM1F(-a[j]);
        break;
    case FNN_GELU: {
        const FNN_T inv_sqrt_2pi = (FNN_T)(0.5 * M_2_SQRTPI * M_SQRT1_2);
        for (j = 0; j < n; j++) {
            FNN_T x = pre[j];
            FNN_T cdf = (FNN_T)0.5 * FNN_ERFCF(-x * (FNN_T)M_SQRT1_2);
            delta[j] *= cdf + x * inv_sqrt_2pi * FNN_EXPF((FNN_T)-0.5 * x * x);
        }
        break;
    }
    case FNN_SILU:
        for (j = 0; j < n; j++) {
            FNN_T sig = (FNN_T)1 / ((FNN_T)1 + FNN_EXPF(-pre[j]));
            delta[j] *= sig * ((FNN_T)1 + pre[j] * ((FNN_T)1 - sig));
        }
        break;
    case FNN_HARD_TANH:
        for (j = 0; j < n; j++)
            delta[j] = (a[j] > p0 && a[j] < p1) ? delta[j] : 0;
        break;
    case FNN_IDENTITY: /* f' = 1 */
        break;
    default: /* output-only activations never reach the backward pass */
        for (j = 0; j < n; j++)
            delta[j] = (FNN_T)NAN;
    }
}

/* Clip a probability to [eps, 1 - eps] before taking its log, as
 * scikit-learn's log-loss does, so the reported losses agree. */
static inline FNN_T FNN_NAME(fnn_clip_prob)(FNN_T p)
{
    const FNN_T lo = FNN_EPS, hi = (FNN_T)1 - FNN_EPS;
    return p < lo ? lo : (p > hi ? hi : p);
}

/*
 * Loss values are summed in double, but each term is formed in the working
 * dtype, which it can leave first: r * r overflows float for |r| > 1.8e19,
 * p / y overflows for a subnormal y (1e-310 in double, 1e-40 in float), and
 * y / p overflows where p = exp(z) has underflowed to 0.  Such a term is
 * infinite or NaN, and so is the row's total: the row kernel forms every
 * term as it always has, so the losses of ordinary data keep every bit, and
 * a row whose total is not finite is taken again by fnn_output_loss_wide,
 * its out-of-range terms in double.  That costs one comparison per row;
 * checking each term in the loop cost up to 18% of the kernel's time (the
 * Poisson deviance's).
 */

/* log p of an exp-link output p = exp(z): z itself where the caller has the
 * raw predictions, as HistGradientBoosting's losses take it, exact where p
 * has underflowed to 0 or overflowed to inf. */
static inline double FNN_NAME(fnn_log_prediction)(FNN_T p, const FNN_T *raw,
                                                  ptrdiff_t j)
{
    return raw != NULL ? (double)raw[j] : log((double)p);
}

/*
 * The loss of a row of fnn_output_loss_delta whose total is not finite:
 * each term as that kernel forms it where it is finite, else in double, the
 * residual taken anew where r itself overflowed, the log-link losses' logs
 * of ratios as log y - log p with log p = z.  The Gamma deviance's deltas
 * where p has underflowed (a subnormal or 0, of which y / p keeps few digits
 * or none) are rewritten from z as well.  A row that is not finite for
 * another reason (NaN predictions, an unknown loss) stays NaN.
 */
FNN_COLD static double FNN_NAME(fnn_output_loss_wide)(const FNN_T *p,
                                                      const FNN_T *raw,
                                                      const FNN_T *y,
                                                      FNN_T *delta,
                                                      ptrdiff_t n, FNN_T sw,
                                                      int loss, FNN_T param)
{
    ptrdiff_t j;
    double total = 0;
    for (j = 0; j < n; j++) {
        const FNN_T pj = p[j], yj = y[j], r = pj - yj, a = r < 0 ? -r : r;
        const FNN_T square = r * r;
        const double rd = (double)pj - (double)yj; /* r may have overflowed */
        const double square_d = square <= FNN_MAX_FINITE ? (double)square
                                                         : rd * rd;
        switch (loss) {
        case FNN_SQUARED_ERROR:
            total += square_d;
            break;
        case FNN_ABSOLUTE_ERROR:
            total += a <= FNN_MAX_FINITE ? (double)a : fabs(rd);
            break;
        case FNN_HUBER:
            if (a <= param) {
                total += 0.5 * square_d;
            } else {
                const FNN_T term = param * (a - (FNN_T)0.5 * param);
                total += term <= FNN_MAX_FINITE
                    ? (double)term
                    : (double)param * (fabs(rd) - 0.5 * (double)param);
            }
            break;
        case FNN_QUANTILE: {
            const FNN_T weight = r <= 0 ? param : (FNN_T)1 - param;
            const FNN_T term = weight * (r <= 0 ? -r : r);
            total += term <= FNN_MAX_FINITE ? (double)term
                                            : (double)weight * fabs(rd);
            break;
        }
        case FNN_POISSON:
            if (yj != 0) {
                const FNN_T term = yj * FNN_LOGF(yj / pj);
                const double log_p = FNN_NAME(fnn_log_prediction)(pj, raw, j);
                total += term - term == 0
                    ? (double)term
                    : (double)yj * (log((double)yj) - log_p);
            }
            total += (double)(pj - yj);
            break;
        case FNN_GAMMA: {
            const FNN_T term = FNN_LOGF(pj / yj) + yj / pj - (FNN_T)1;
            if (term - term == 0) {
                total += (double)term;
            } else {
                const double log_p = FNN_NAME(fnn_log_prediction)(pj, raw, j);
                const double log_y = log((double)yj);
                const double y_over_p = exp(log_y - log_p);
                total += (log_p - log_y) + (y_over_p - 1.0);
            }
            if (!(pj >= FNN_MIN_NORMAL)) {
                const double log_p = FNN_NAME(fnn_log_prediction)(pj, raw, j);
                const double y_over_p = exp(log((double)yj) - log_p);
                delta[j] = ((FNN_T)1 - (FNN_T)y_over_p) * sw;
            }
            break;
        }
        default:
            total = NAN;
        }
    }
    return total;
}

/*
 * One row of the output layer: returns the row's unweighted loss (summed
 * over outputs; the caller averages over rows) and writes the output delta,
 * the gradient of the row loss with respect to the pre-activations, times
 * the sample weight sw, in the working dtype.  `param` is the Huber loss's
 * delta or the quantile of the pinball loss.  `raw` holds the
 * pre-activations z of the outputs for the losses fnn_loss_reads_raw names,
 * or is NULL (log p is then taken of p).
 */
static inline double FNN_NAME(fnn_output_loss_delta)(const FNN_T *p,
                                                     const FNN_T *raw,
                                                     const FNN_T *y,
                                                     FNN_T *delta,
                                                     ptrdiff_t n, FNN_T sw,
                                                     int loss, FNN_T param)
{
    ptrdiff_t j;
    double total = 0;
    FNN_T pr = 0;
    if (loss == FNN_PROBA_SQUARED_ERROR_SOFTMAX) {
        /* d/dz_k of 0.5 |p - y|^2 through softmax: p_k (r_k - sum_j p_j r_j) */
        for (j = 0; j < n; j++)
            pr += p[j] * (p[j] - y[j]);
    }
    for (j = 0; j < n; j++) {
        FNN_T pj = p[j], yj = y[j], r = pj - yj;
        switch (loss) {
        case FNN_BINARY_LOG_LOSS: {
            FNN_T c = FNN_NAME(fnn_clip_prob)(pj);
            if (yj != 0)
                total -= (double)(yj * FNN_LOGF(c));
            if (yj != 1)
                total -= (double)(((FNN_T)1 - yj) * FNN_LOGF((FNN_T)1 - c));
            delta[j] = r * sw;
            break;
        }
        case FNN_LOG_LOSS:
            if (yj != 0)
                total -= (double)(yj * FNN_LOGF(FNN_NAME(fnn_clip_prob)(pj)));
            delta[j] = r * sw;
            break;
        case FNN_POISSON:
            /* xlogy(y, y / p) - y + p */
            if (yj != 0)
                total += (double)(yj * FNN_LOGF(yj / pj));
            total += (double)(pj - yj);
            delta[j] = r * sw;
            break;
        case FNN_PROBA_SQUARED_ERROR:
            total += 0.5 * (double)(r * r);
            delta[j] = r * pj * ((FNN_T)1 - pj) * sw;
            break;
        case FNN_PROBA_SQUARED_ERROR_SOFTMAX:
            total += 0.5 * (double)(r * r);
            delta[j] = pj * (r - pr) * sw;
            break;
        case FNN_ABSOLUTE_ERROR:
            total += (double)(r < 0 ? -r : r);
            delta[j] = (r > 0 ? sw : (r < 0 ? -sw : 0));
            break;
        case FNN_HUBER: {
            FNN_T a = r < 0 ? -r : r;
            if (a <= param) {
                total += 0.5 * (double)(r * r);
                delta[j] = r * sw;
            } else {
                total += (double)(param * (a - (FNN_T)0.5 * param));
                delta[j] = (r > 0 ? param : -param) * sw;
            }
            break;
        }
        case FNN_QUANTILE:
            /* q (y - p) for y >= p, else (1 - q) (p - y); at y = p the
             * gradient is -q, as in scikit-learn's PinballLoss */
            if (r <= 0) {
                total += (double)(-param * r);
                delta[j] = -param * sw;
            } else {
                total += (double)(((FNN_T)1 - param) * r);
                delta[j] = ((FNN_T)1 - param) * sw;
            }
            break;
        case FNN_GAMMA:
            /* log(p / y) + y / p - 1; through p = exp(z), d/dz = 1 - y / p */
            total += (double)(FNN_LOGF(pj / yj) + yj / pj - (FNN_T)1);
            delta[j] = ((FNN_T)1 - yj / pj) * sw;
            break;
        case FNN_SQUARED_ERROR: /* halved (and averaged) by the caller */
            total += (double)(r * r);
            delta[j] = r * sw;
            break;
        default:
            total = NAN;
            delta[j] = (FNN_T)NAN;
        }
    }
    /* A term out of the working dtype's range (see above). */
    if (!(total - total == 0))
        total = FNN_NAME(fnn_output_loss_wide)(p, raw, y, delta, n, sw, loss,
                                               param);
    return total;
}

/*
 * z[0:n] += sum_k values[k] * w[indices[k] * n : ... + n], k in stored order
 * (as SciPy's sparse product adds them): one CSR row times a row-major
 * matrix.  The rows of w it reads are scattered over a matrix too large for
 * the caches, so the rows a few entries ahead are prefetched while this one
 * is added.
 */
static inline void FNN_NAME(fnn_sparse_row_product)(FNN_T *z,
                                                    const FNN_T *values,
                                                    const ptrdiff_t *indices,
                                                    ptrdiff_t nnz,
                                                    const FNN_T *w,
                                                    ptrdiff_t n)
{
    ptrdiff_t k, j, line;
    const ptrdiff_t per_line = 64 / (ptrdiff_t)sizeof(FNN_T);
    for (k = 0; k < nnz; k++) {
        const FNN_T v = values[k];
        const FNN_T *row = w + indices[k] * n;
        if (k + FNN_PREFETCH_AHEAD < nnz) {
            const FNN_T *ahead = w + indices[k + FNN_PREFETCH_AHEAD] * n;
            for (line = 0; line < n; line += per_line)
                FNN_PREFETCH(ahead + line);
        }
        for (j = 0; j < n; j++)
            z[j] += v * row[j];
    }
}

/* Whether x[0:n] holds no NaN and no infinity (x - x is 0 only for finite
 * x; the integer reduction vectorises). */
static inline int FNN_NAME(fnn_all_finite)(const FNN_T *x, ptrdiff_t n)
{
    ptrdiff_t j;
    int bad = 0;
    for (j = 0; j < n; j++)
        bad |= !(x[j] - x[j] == 0);
    return !bad;
}

/*
 * sum(w[lo:hi] ** 2) in double, with eight independent accumulators so the
 * loop vectorises without reassociating (the order is fixed: results do
 * not depend on the caller's threading).
 */
FNN_VECTOR_CLONES static double FNN_NAME(fnn_sumsq)(const FNN_T *w, ptrdiff_t lo,
                                         ptrdiff_t hi)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t i, k;
    for (i = lo; i + 8 <= hi; i += 8)
        for (k = 0; k < 8; k++)
            acc[k] += (double)w[i + k] * (double)w[i + k];
    for (; i < hi; i++)
        acc[0] += (double)w[i] * (double)w[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3]))
         + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/*
 * Optimizer steps over w[lo:hi].  g = (graw + alpha * w) / sw_sum is the
 * averaged, L2-regularised gradient (alpha = 0 for intercepts), computed in
 * the same order as scikit-learn so float64 results agree with it.
 */
FNN_VECTOR_CLONES static void FNN_NAME(fnn_adam_step)(FNN_T *w, FNN_T *m, FNN_T *v,
                                           const FNN_T *graw, ptrdiff_t lo,
                                           ptrdiff_t hi, FNN_T alpha,
                                           FNN_T sw_sum, FNN_T beta_1,
                                           FNN_T one_minus_beta_1,
                                           FNN_T beta_2,
                                           FNN_T one_minus_beta_2, FNN_T lr,
                                           FNN_T epsilon, FNN_T keep)
{
    /* 1 - beta comes from the caller, computed in double as scikit-learn
     * does: in float32, 1 - (float)0.9 is not (float)0.1.  keep is AdamW's
     * decoupled decay factor 1 - lr * weight_decay, applied to the weights
     * before the Adam update as torch.optim.AdamW does; Adam passes 1,
     * which leaves every bit of w as it is. */
    ptrdiff_t i;
    for (i = lo; i < hi; i++) {
        FNN_T g = (graw[i] + alpha * w[i]) / sw_sum;
        FNN_T mi = beta_1 * m[i] + one_minus_beta_1 * g;
        FNN_T vi = beta_2 * v[i] + one_minus_beta_2 * (g * g);
        FNN_T wi = keep * w[i];
        m[i] = mi;
        v[i] = vi;
        w[i] = wi + (-lr * mi) / (FNN_SQRTF(vi) + epsilon);
    }
}

/* SGD with (optionally Nesterov) momentum; see fnn_adam_step for g. */
FNN_VECTOR_CLONES static void FNN_NAME(fnn_sgd_step)(FNN_T *w, FNN_T *velocity,
                                          const FNN_T *graw, ptrdiff_t lo,
                                          ptrdiff_t hi, FNN_T alpha,
                                          FNN_T sw_sum, FNN_T momentum,
                                          int nesterov, FNN_T lr)
{
    ptrdiff_t i;
    for (i = lo; i < hi; i++) {
        FNN_T g = (graw[i] + alpha * w[i]) / sw_sum;
        FNN_T update = momentum * velocity[i] - lr * g;
        velocity[i] = update;
        if (nesterov)
            update = momentum * update - lr * g;
        w[i] += update;
    }
}

/*
 * The step of optimizer opt->code on w[0:n], whose raw gradient is
 * graw[0:n], updating its state arrays (first: SGD's velocities or Adam's
 * first moments; second: Adam's second moments, unused by SGD) in place.
 * The L2 penalty and the decoupled weight decay apply to coefficients only
 * (as scikit-learn's alpha does), not to intercepts.  Scalars are rounded
 * from double to FNN_T here, once per call.
 */
static inline void FNN_NAME(fnn_optimizer_step)(const fnn_optimizer *opt,
                                                int coefficients, FNN_T *w,
                                                FNN_T *first, FNN_T *second,
                                                const FNN_T *graw, ptrdiff_t n)
{
    const FNN_T alpha = coefficients ? (FNN_T)opt->alpha : (FNN_T)0;
    const FNN_T sw_sum = (FNN_T)opt->sw_sum;
    double keep = 1.0;
    ptrdiff_t i;
    switch (opt->code) {
    case FNN_SGD:
        FNN_NAME(fnn_sgd_step)(w, first, graw, 0, n, alpha, sw_sum,
                               (FNN_T)opt->momentum, opt->nesterov,
                               (FNN_T)opt->learning_rate);
        return;
    case FNN_ADAMW:
        if (coefficients)
            keep = 1.0 - opt->learning_rate * opt->weight_decay;
        /* fall through: AdamW is Adam after the decay */
    case FNN_ADAM:
        FNN_NAME(fnn_adam_step)(w, first, second, graw, 0, n, alpha, sw_sum,
                                (FNN_T)opt->beta_1, (FNN_T)(1.0 - opt->beta_1),
                                (FNN_T)opt->beta_2, (FNN_T)(1.0 - opt->beta_2),
                                (FNN_T)opt->step_size, (FNN_T)opt->epsilon,
                                (FNN_T)keep);
        return;
    default:
        for (i = 0; i < n; i++)
            w[i] = (FNN_T)NAN;
    }
}
