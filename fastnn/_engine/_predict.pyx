# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, nonecheck=False
"""Prediction: the network's outputs for any number of rows.

Holds: ``forward`` (the Python entry point) and the chunked forward pass
behind it, with the optional finiteness check of a dense input block by
block.
May call: ``_layers``, ``_kernels``, ``_input``, ``_threads``.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport free, malloc

from ._input cimport Input, InputMatrix, blas_readable, c_rows, f_cols
from ._kernels cimport (
    all_finite,
    fnn_activation,
    layer_activations,
    split,
)
from ._layers cimport (
    forward_layer,
    forward_rows,
    sparse_forward_layer,
)
from ._threads cimport (
    fnn_mark_worker,
    gemm_blocks,
    threads_for,
    threads_now,
)

from ._tuning cimport MAX_BLOCKS, PREDICT_BLOCK_ROWS

import numpy as np


def forward(X, params, layer_units, activations, int n_threads,
            bint check_finite=False):
    """Output-layer activations of the network for every row of ``X``.

    Rows are processed in chunks through two reused buffers, so the memory
    used beyond the output is bounded whatever the number of rows.

    Parameters
    ----------
    X : InputMatrix
        Input in the dtype of ``params``.  Dense row- or column-major
        arrays feed BLAS in place; other layouts are copied chunk by chunk;
        CSR input goes through the sparse first-layer kernel.
    params : ndarray, 1-D
        Flat parameters (see ``fastnn._engine``).
    layer_units : sequence of int
    activations : sequence of (str, float, float)
        As for :class:`Trainer`.
    n_threads : int
    check_finite : bool, default=False
        Check that a dense X holds only finite values, each block of rows
        just before its product reads it (so X is read from memory once).

    Returns
    -------
    out : ndarray of shape (n_samples, layer_units[-1]) or None
        None when ``check_finite`` found a NaN or an infinity.
    """
    if not isinstance(X, InputMatrix):
        raise TypeError(f"X must be an InputMatrix, got {type(X).__name__}")
    cdef InputMatrix inp = X
    # Plain ints: NumPy's reductions on a handful of sizes cost more than
    # a one-row prediction.
    widths = [int(u) for u in layer_units]
    cdef Py_ssize_t n_layers = len(widths), l
    if n_layers < 2 or min(widths) < 1:
        raise ValueError("layer_units must list at least two positive widths")
    if len(activations) != n_layers - 1:
        raise ValueError("need one activation per layer after the input")
    if not isinstance(params, np.ndarray) or params.ndim != 1:
        raise TypeError("params must be a 1-D ndarray")
    if params.dtype != inp.dtype:
        raise TypeError(f"X is {inp.dtype}, params are {params.dtype}")
    n_params = sum([(a + 1) * b for a, b in zip(widths[: n_layers - 1], widths[1:])])
    if params.shape[0] != n_params:
        raise ValueError(f"params has {params.shape[0]} values, the network "
                         f"has {n_params} parameters")
    n_samples, n_features = inp.shape
    if n_features != widths[0]:
        raise ValueError(f"X has {n_features} features, the network takes "
                         f"{widths[0]}")
    out = np.empty((n_samples, widths[n_layers - 1]), dtype=params.dtype)
    if n_samples == 0:
        return out
    units = np.array(widths, dtype=np.intp)
    # The buffers hold hidden layers' outputs, and a copy of the input's rows
    # when BLAS cannot read it in place (see _forward).
    held = widths[1 : n_layers - 1]
    if not inp.c.sparse and not blas_readable(&inp.c):
        held.append(n_features)
    # About 8 MiB of float64 per buffer (4 MiB of float32), bounded however
    # many rows X has, and at least a block of rows that BLAS runs at full
    # speed.  An input read in place is not held: counting its width would
    # cut a wide sparse input into chunks of a few dozen rows.
    chunk = min(n_samples,
                max(PREDICT_BLOCK_ROWS, (1 << 20) // max(held + widths[n_layers - 1:])))
    buf = np.empty((2, chunk * max(held, default=0)), dtype=params.dtype)
    cdef bint finite
    cdef fnn_activation *act_spec = <fnn_activation*>malloc(
        n_layers * sizeof(fnn_activation))
    if act_spec == NULL:
        raise MemoryError()
    try:
        layer_activations(act_spec, activations, n_layers)
        if params.dtype == np.float32:
            finite = _forward[float](&inp.c, params, units, act_spec,
                                     max(1, n_threads), chunk, buf, out,
                                     check_finite)
        else:
            finite = _forward[double](&inp.c, params, units, act_spec,
                                      max(1, n_threads), chunk, buf, out,
                                      check_finite)
    finally:
        free(act_spec)
    return out if finite else None


cdef bint _rows_finite(const floating *a, bint col_major, Py_ssize_t lda,
                       Py_ssize_t n_cols, Py_ssize_t r0,
                       Py_ssize_t r1) noexcept nogil:
    """Whether rows r0:r1 of a row- or column-major matrix are all finite."""
    cdef Py_ssize_t r, j
    if col_major:
        for j in range(n_cols):
            if not all_finite(a + j * lda + r0, r1 - r0):
                return False
    else:
        for r in range(r0, r1):
            if not all_finite(a + r * lda, n_cols):
                return False
    return True


cdef bint _checked_forward_layer(const floating *a, Py_ssize_t rows,
                                 Py_ssize_t n_in, bint a_col_major,
                                 Py_ssize_t lda, const floating *w,
                                 const floating *b, Py_ssize_t n_out,
                                 fnn_activation act, floating *z,
                                 int n_threads) noexcept nogil:
    """``forward_layer`` that checks each block of ``a`` before its product.

    Returns whether every value was finite.
    """
    cdef int t, nb = gemm_blocks(rows, n_in, n_out)
    cdef bint finite[MAX_BLOCKS]
    for t in prange(nb, num_threads=min(nb, n_threads), schedule="static"):
        fnn_mark_worker()
        finite[t] = _rows_finite(a, a_col_major, lda, n_in,
                                 split(rows, t, nb), split(rows, t + 1, nb))
        forward_rows(a, lda, a_col_major, n_in, w, b, n_out, act, z,
                     <floating*>NULL, split(rows, t, nb), split(rows, t + 1, nb))
    for t in range(nb):
        if not finite[t]:
            return False
    return True


cdef bint _forward(const Input *X, const floating[::1] params,
                   const Py_ssize_t[::1] units, const fnn_activation *act_spec,
                   int n_threads, Py_ssize_t chunk, floating[:, ::1] buf,
                   floating[:, ::1] out, bint check_finite):
    cdef Py_ssize_t n_samples = X.n_rows, n_features = X.n_cols
    cdef int L = units.shape[0] - 1
    cdef Py_ssize_t start, rows, r, j, l, first
    cdef Py_ssize_t coef_off, intercept_off
    cdef floating *bufs[2]
    cdef const floating *x_values = <const floating*>X.values
    cdef const floating *a
    cdef const floating *x_row
    cdef floating *z
    cdef Py_ssize_t lda
    cdef bint col_major
    cdef bint finite = True
    cdef int nt
    # BLAS reads a dense X in place when it is a (strided) row- or
    # column-major matrix with a valid leading dimension.
    cdef bint in_rows = c_rows(X)
    cdef bint in_cols = not in_rows and f_cols(X)
    bufs[0] = &buf[0, 0] if buf.shape[1] else NULL
    bufs[1] = &buf[1, 0] if buf.shape[1] else NULL

    with nogil:
        start = 0
        while start < n_samples:
            rows = min(chunk, n_samples - start)
            nt = threads_now(n_threads)
            a = NULL
            lda = 0
            col_major = False
            if in_rows:
                a = x_values + start * X.row_stride
                lda = X.row_stride
            elif in_cols:
                a = x_values + start
                lda = X.col_stride
                col_major = True
            elif not X.sparse:
                for r in prange(rows, num_threads=threads_for(rows * n_features,
                                                              nt),
                                schedule="static"):
                    x_row = x_values + (start + r) * X.row_stride
                    for j in range(n_features):
                        bufs[1][r * n_features + j] = x_row[j * X.col_stride]
                a = bufs[1]
                lda = n_features
            coef_off = 0
            intercept_off = 0
            for l in range(L):
                intercept_off += units[l] * units[l + 1]
            first = 0
            if X.sparse:
                z = &out[start, 0] if L == 1 else bufs[0]
                sparse_forward_layer(X, start, rows, &params[0],
                                     &params[intercept_off], units[1],
                                     act_spec[1], z, nt)
                coef_off = units[0] * units[1]
                intercept_off += units[1]
                a = z
                lda = units[1]
                first = 1
            for l in range(first, L):
                z = &out[start, 0] if l == L - 1 else bufs[l % 2]
                if l == 0 and check_finite:
                    finite = _checked_forward_layer(
                        a, rows, units[0], col_major, lda, &params[0],
                        &params[intercept_off], units[1], act_spec[1], z,
                        nt)
                else:
                    forward_layer(a, rows, units[l], col_major, lda,
                                  &params[coef_off], &params[intercept_off],
                                  units[l + 1], act_spec[l + 1], z,
                                  <floating*>NULL, nt)
                coef_off += units[l] * units[l + 1]
                intercept_off += units[l + 1]
                a = z
                lda = units[l + 1]
                col_major = False
            if not finite:
                break
            start += rows
    return finite
