/*
 * fastnn products: the dense layers' matrix products, the engine's own.
 *
 * Two products make a network's three (forward x @ W, deltas d @ W.T,
 * weight gradient x.T @ d).  For c with m rows and n columns:
 *
 *   fnn_gemm_rows:  c[i, j] (+)= sum_p A[i, p]      * b[p, j]
 *   fnn_gemm_cols:  c[i, j] (+)= sum_p A[p, i0 + i] * b[p, j]
 *
 * where row r of A is a + (ids ? ids[r] : r) * lda.  The batch is read
 * where it is: a dense input's rows are picked out of X by the batch's
 * index as the kernel reads them, so the batch is never copied.  b is
 * row-major with leading dimension ldb and read in place: the coefficients
 * stay in their public layout (the deltas' product reads their transpose,
 * which the engine writes once per batch).  The engine calls these for one
 * panel of rows at a time and applies the element work (bias and
 * activation, derivative, optimizer step) to the panel at once, while it is
 * in L1, which is what a BLAS call cannot do.
 *
 * Every element is acc = fma(A[i, p], b[p, j], acc) for p = 0, 1, ...
 * from acc = 0, then added to c when accumulating: the same IEEE operations
 * in every kernel (AVX-512, AVX2 with FMA, and portable C, which calls
 * fma()), at every tile position and for every split of the rows, so
 * results depend neither on the instruction set nor on the threads.  They
 * differ from BLAS's by rounding, BLAS summing in another order.
 */
#ifndef FASTNN_GEMM_H
#define FASTNN_GEMM_H

#include <math.h>
#include <stddef.h>

/* Kernel levels, best last; fnn_gemm_best_level picks the CPU's. */
enum fnn_gemm_level {
    FNN_GEMM_PORTABLE = 0,
    FNN_GEMM_AVX2 = 1,
    FNN_GEMM_AVX512 = 2
};

/* Rows of the panels the engine hands the kernels: eight rows of a wide
 * layer (8 x 512 floats) stay in L1 between the product and its element
 * work.  Gradient panels are taller: the optimizer step writes each panel
 * back transposed too (see _batch.pyx), and 16 rows make whole 64-byte
 * lines of float32. */
#define FNN_PANEL_ROWS 8
#define FNN_GRADIENT_PANEL_ROWS 16

#if defined(__GNUC__) && defined(__x86_64__)
#define FNN_GEMM_X86 1
#include <immintrin.h>
#else
#define FNN_GEMM_X86 0
#endif

#define FNN_MIN(a, b) ((a) < (b) ? (a) : (b))

/* The tile and panel loops must be inlined into each kernel with their
 * constant arguments, or the accumulators leave the registers. */
#if defined(__GNUC__)
#define FNN_ALWAYS_INLINE __attribute__((always_inline)) static inline
#else
#define FNN_ALWAYS_INLINE static __forceinline
#endif

/* Each instantiation defines the type-level macros below; the
 * implementation undefines them at its end.  G_ATTR and G_MR hold for an
 * instruction set's two types. */

/* The portable kernel: "vectors" of one element. */
#define G_ATTR
#define G_MR 4
#define G_T double
#define G_V double
#define G_VL 1
#define G_M int
#define G_MASK(n) ((n) > 0)
#define G_ALL 1
#define G_LOAD(mask, p) ((mask) ? *(p) : 0.0)
#define G_STORE(p, mask, v) do { if (mask) *(p) = (v); } while (0)
#define G_SET1(x) (x)
#define G_ZERO() 0.0
#define G_FMA(a, b, c) fma((a), (b), (c))
#define G_ADD(a, b) ((a) + (b))
#define G_NAME(name) name##_portable_d
#include "fastnn_gemm_impl.h"
#define G_T float
#define G_V float
#define G_VL 1
#define G_M int
#define G_MASK(n) ((n) > 0)
#define G_ALL 1
#define G_LOAD(mask, p) ((mask) ? *(p) : 0.0f)
#define G_STORE(p, mask, v) do { if (mask) *(p) = (v); } while (0)
#define G_SET1(x) (x)
#define G_ZERO() 0.0f
#define G_FMA(a, b, c) fmaf((a), (b), (c))
#define G_ADD(a, b) ((a) + (b))
#define G_NAME(name) name##_portable_f
#include "fastnn_gemm_impl.h"
#undef G_ATTR
#undef G_MR

#if FNN_GEMM_X86
/* AVX2 with FMA: 16 registers, so 4 rows x 2 vectors of accumulators. */
#define G_ATTR __attribute__((target("avx2,fma")))
#define G_MR 4
#define G_T double
#define G_V __m256d
#define G_VL 4
#define G_M __m256i
#define G_MASK(n) _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), \
                                     _mm256_setr_epi64x(0, 1, 2, 3))
#define G_ALL _mm256_set1_epi64x(-1)
#define G_LOAD(mask, p) _mm256_maskload_pd((p), (mask))
#define G_STORE(p, mask, v) _mm256_maskstore_pd((p), (mask), (v))
#define G_SET1(x) _mm256_set1_pd(x)
#define G_ZERO() _mm256_setzero_pd()
#define G_FMA(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#define G_ADD(a, b) _mm256_add_pd((a), (b))
#define G_NAME(name) name##_avx2_d
#include "fastnn_gemm_impl.h"
#define G_T float
#define G_V __m256
#define G_VL 8
#define G_M __m256i
#define G_MASK(n) _mm256_cmpgt_epi32(_mm256_set1_epi32(n), \
                                     _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define G_ALL _mm256_set1_epi32(-1)
#define G_LOAD(mask, p) _mm256_maskload_ps((p), (mask))
#define G_STORE(p, mask, v) _mm256_maskstore_ps((p), (mask), (v))
#define G_SET1(x) _mm256_set1_ps(x)
#define G_ZERO() _mm256_setzero_ps()
#define G_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define G_ADD(a, b) _mm256_add_ps((a), (b))
#define G_NAME(name) name##_avx2_f
#include "fastnn_gemm_impl.h"
#undef G_ATTR
#undef G_MR

/* AVX-512: 32 registers, so 8 rows x 2 vectors of accumulators. */
#define G_ATTR __attribute__((target("avx512f,fma")))
#define G_MR 8
#define G_T double
#define G_V __m512d
#define G_VL 8
#define G_M __mmask8
#define G_MASK(n) ((__mmask8)((1u << (n)) - 1u))
#define G_ALL ((__mmask8)0xFF)
#define G_LOAD(mask, p) _mm512_maskz_loadu_pd((mask), (p))
#define G_STORE(p, mask, v) _mm512_mask_storeu_pd((p), (mask), (v))
#define G_SET1(x) _mm512_set1_pd(x)
#define G_ZERO() _mm512_setzero_pd()
#define G_FMA(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define G_ADD(a, b) _mm512_add_pd((a), (b))
#define G_NAME(name) name##_avx512_d
#include "fastnn_gemm_impl.h"
#define G_T float
#define G_V __m512
#define G_VL 16
#define G_M __mmask16
#define G_MASK(n) ((__mmask16)((1u << (n)) - 1u))
#define G_ALL ((__mmask16)0xFFFF)
#define G_LOAD(mask, p) _mm512_maskz_loadu_ps((mask), (p))
#define G_STORE(p, mask, v) _mm512_mask_storeu_ps((p), (mask), (v))
#define G_SET1(x) _mm512_set1_ps(x)
#define G_ZERO() _mm512_setzero_ps()
#define G_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define G_ADD(a, b) _mm512_add_ps((a), (b))
#define G_NAME(name) name##_avx512_f
#include "fastnn_gemm_impl.h"
#undef G_ATTR
#undef G_MR
#endif /* FNN_GEMM_X86 */

/* The best kernel this CPU runs. */
static inline int fnn_gemm_best_level(void)
{
#if FNN_GEMM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return FNN_GEMM_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return FNN_GEMM_AVX2;
#endif
    return FNN_GEMM_PORTABLE;
}

/* The public products, at a level the caller chose (never above the
 * CPU's: fnn_gemm_best_level). */
#if FNN_GEMM_X86
#define FNN_GEMM_DISPATCH(T, sfx, cols)                                      \
    switch (level) {                                                         \
    case FNN_GEMM_AVX512:                                                    \
        fnn_gemm_avx512_##sfx(cols, m, n, k, a, lda, ids, i0, b, ldb, c,     \
                              ldc, accumulate);                              \
        return;                                                              \
    case FNN_GEMM_AVX2:                                                      \
        fnn_gemm_avx2_##sfx(cols, m, n, k, a, lda, ids, i0, b, ldb, c, ldc,  \
                            accumulate);                                     \
        return;                                                              \
    default:                                                                 \
        fnn_gemm_portable_##sfx(cols, m, n, k, a, lda, ids, i0, b, ldb, c,   \
                                ldc, accumulate);                            \
    }
#else
#define FNN_GEMM_DISPATCH(T, sfx, cols)                                      \
    (void)level;                                                             \
    fnn_gemm_portable_##sfx(cols, m, n, k, a, lda, ids, i0, b, ldb, c, ldc,  \
                            accumulate);
#endif

#define FNN_GEMM_PUBLIC(T, sfx)                                              \
static inline void fnn_gemm_rows_##sfx(                                      \
    int level, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T *a,            \
    ptrdiff_t lda, const ptrdiff_t *ids, const T *b, ptrdiff_t ldb, T *c,    \
    ptrdiff_t ldc, int accumulate)                                           \
{                                                                            \
    const ptrdiff_t i0 = 0;                                                  \
    FNN_GEMM_DISPATCH(T, sfx, 0)                                             \
}                                                                            \
static inline void fnn_gemm_cols_##sfx(                                      \
    int level, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T *a,            \
    ptrdiff_t lda, const ptrdiff_t *ids, ptrdiff_t i0, const T *b,           \
    ptrdiff_t ldb, T *c, ptrdiff_t ldc, int accumulate)                      \
{                                                                            \
    FNN_GEMM_DISPATCH(T, sfx, 1)                                             \
}
FNN_GEMM_PUBLIC(double, d)
FNN_GEMM_PUBLIC(float, f)

#endif /* FASTNN_GEMM_H */
