/*
 * One kernel of fastnn_gemm.h, instantiated per instruction set and type:
 * G_T the element, G_V a vector of G_VL of them, G_M a lane mask, G_MR the
 * rows of a register tile (two vectors wide), G_ATTR the target.
 * No include guard: included once per instantiation, after which the
 * type-level macros are undefined here.
 */

/*
 * One register tile: c[0:m, 0:w] (+)= A-panel @ b[:, 0:w], w = G_VL (nv 1)
 * or 2 G_VL (nv 2), the last vector's lanes cut to `mask`, tr >= m rows
 * (at most G_MR).  Rows past m repeat row m - 1 (the tile's shape is
 * fixed) and are not stored.  `tr`, `cols` and `nv` are constants where it
 * is inlined.
 */
G_ATTR FNN_ALWAYS_INLINE void G_NAME(fnn_tile)(
    int tr, int cols, int nv, G_M mask, ptrdiff_t m, ptrdiff_t k, const G_T *a,
    ptrdiff_t lda, const ptrdiff_t *ids, ptrdiff_t i0, const G_T *b,
    ptrdiff_t ldb, G_T *c, ptrdiff_t ldc, int accumulate)
{
    G_V acc0[G_MR], acc1[G_MR];
    const G_T *row_of[G_MR];
    ptrdiff_t col_of[G_MR];
    ptrdiff_t i, p, r;
    const G_M first = nv == 2 ? G_ALL : mask;
    /* Every loop over i unrolled, so the accumulators live in registers. */
#pragma GCC unroll 8
    for (i = 0; i < tr; i++) {
        r = FNN_MIN(i, m - 1);
        acc0[i] = G_ZERO();
        acc1[i] = G_ZERO();
        row_of[i] = cols ? NULL : a + (ids ? ids[r] : r) * lda;
        col_of[i] = i0 + r;
    }
    for (p = 0; p < k; p++) {
        const G_T *bp = b + p * ldb;
        const G_T *ap = cols ? a + (ids ? ids[p] : p) * lda : NULL;
        const G_V b0 = G_LOAD(first, bp);
        const G_V b1 = nv == 2 ? G_LOAD(mask, bp + G_VL) : G_ZERO();
#pragma GCC unroll 8
        for (i = 0; i < tr; i++) {
            const G_V x = G_SET1(cols ? ap[col_of[i]] : row_of[i][p]);
            acc0[i] = G_FMA(x, b0, acc0[i]);
            if (nv == 2)
                acc1[i] = G_FMA(x, b1, acc1[i]);
        }
    }
#pragma GCC unroll 8
    for (i = 0; i < tr; i++) {
        G_T *ci = c + i * ldc;
        if (i >= m)
            break;
        if (accumulate) {
            acc0[i] = G_ADD(G_LOAD(first, ci), acc0[i]);
            if (nv == 2)
                acc1[i] = G_ADD(G_LOAD(mask, ci + G_VL), acc1[i]);
        }
        G_STORE(ci, first, acc0[i]);
        if (nv == 2)
            G_STORE(ci + G_VL, mask, acc1[i]);
    }
}

/* One row of tiles, tr rows high (a constant where inlined), across n. */
G_ATTR FNN_ALWAYS_INLINE void G_NAME(fnn_tile_row)(
    int tr, int cols, ptrdiff_t mi, ptrdiff_t n, ptrdiff_t k, const G_T *ai,
    ptrdiff_t lda, const ptrdiff_t *idi, ptrdiff_t i0, const G_T *b,
    ptrdiff_t ldb, G_T *ci, ptrdiff_t ldc, int accumulate)
{
    ptrdiff_t j, left;
    for (j = 0; j + 2 * G_VL <= n; j += 2 * G_VL)
        G_NAME(fnn_tile)(tr, cols, 2, G_ALL, mi, k, ai, lda, idi, i0, b + j,
                         ldb, ci + j, ldc, accumulate);
    left = n - j;
    if (left > G_VL)
        G_NAME(fnn_tile)(tr, cols, 2, G_MASK(left - G_VL), mi, k, ai, lda,
                         idi, i0, b + j, ldb, ci + j, ldc, accumulate);
    else if (left > 0)
        G_NAME(fnn_tile)(tr, cols, 1, G_MASK(left), mi, k, ai, lda, idi, i0,
                         b + j, ldb, ci + j, ldc, accumulate);
}

/*
 * c[0:m, 0:n] (+)= the product, in tiles of G_MR rows by 2 G_VL columns.
 * Fewer rows (a small prediction, a panel's last rows) get a tile of 1, 2
 * or 4 rows rather than a full one whose extra rows would be computed and
 * thrown away: one row costs an eighth of an AVX-512 tile.  Every element
 * is the same chain of FMAs in any tile, so the bits do not change.
 */
G_ATTR FNN_ALWAYS_INLINE void G_NAME(fnn_panel)(
    int cols, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const G_T *a,
    ptrdiff_t lda, const ptrdiff_t *ids, ptrdiff_t i0, const G_T *b,
    ptrdiff_t ldb, G_T *c, ptrdiff_t ldc, int accumulate)
{
    ptrdiff_t i, mi;
    for (i = 0; i < m; i += G_MR) {
        /* Row mode moves down A; column mode moves along it. */
        const G_T *ai = cols || ids ? a : a + i * lda;
        const ptrdiff_t *idi = cols || !ids ? ids : ids + i;
        G_T *ci = c + i * ldc;
        mi = FNN_MIN(G_MR, m - i);
        if (mi == 1)
            G_NAME(fnn_tile_row)(1, cols, mi, n, k, ai, lda, idi, i0 + i, b,
                                 ldb, ci, ldc, accumulate);
        else if (mi == 2)
            G_NAME(fnn_tile_row)(2, cols, mi, n, k, ai, lda, idi, i0 + i, b,
                                 ldb, ci, ldc, accumulate);
        else if (G_MR > 4 && mi <= 4)
            G_NAME(fnn_tile_row)(4, cols, mi, n, k, ai, lda, idi, i0 + i, b,
                                 ldb, ci, ldc, accumulate);
        else
            G_NAME(fnn_tile_row)(G_MR, cols, mi, n, k, ai, lda, idi, i0 + i,
                                 b, ldb, ci, ldc, accumulate);
    }
}

G_ATTR static void G_NAME(fnn_gemm)(int cols, ptrdiff_t m, ptrdiff_t n,
                                    ptrdiff_t k, const G_T *a, ptrdiff_t lda,
                                    const ptrdiff_t *ids, ptrdiff_t i0,
                                    const G_T *b, ptrdiff_t ldb, G_T *c,
                                    ptrdiff_t ldc, int accumulate)
{
    if (m <= 0 || n <= 0)
        return;
    if (cols)
        G_NAME(fnn_panel)(1, m, n, k, a, lda, ids, i0, b, ldb, c, ldc,
                          accumulate);
    else
        G_NAME(fnn_panel)(0, m, n, k, a, lda, ids, i0, b, ldb, c, ldc,
                          accumulate);
}

#undef G_T
#undef G_V
#undef G_VL
#undef G_M
#undef G_MASK
#undef G_ALL
#undef G_LOAD
#undef G_STORE
#undef G_SET1
#undef G_ZERO
#undef G_FMA
#undef G_ADD
#undef G_NAME
