# cython: language_level=3, boundscheck=False, wraparound=False
"""The C element kernels seen from Python (see ``_kernels.pxd``).

Holds: the activation, loss and optimizer codes as Python enums and the name tables
derived from them, the product kernels' levels, and test hooks that run one
kernel over an array.
May call: ``_kernels.pxd`` only.
"""

from cython cimport floating

import numpy as np


ActivationCode = fnn_activation_code
LossCode = fnn_loss_code
OptimizerCode = fnn_optimizer_code


def _names(enum):
    """{"gelu": FNN_GELU, ...}: a code's name is its C name, lower-cased,
    without the prefix."""
    return {member.name[4:].lower(): int(member) for member in enum}


ACTIVATION_CODES = _names(ActivationCode)
LOSS_CODES = _names(LossCode)
OPTIMIZER_CODES = _names(OptimizerCode)
# The engine's product kernels, best last, and the best this CPU runs.
GEMM_LEVELS = {member.name[9:].lower(): int(member) for member in fnn_gemm_level}
BEST_GEMM_LEVEL = next(name for name, code in GEMM_LEVELS.items()
                       if code == fnn_gemm_best_level())


def gemm_level(str name):
    """The code of product kernel ``name``, refused if this CPU lacks it."""
    if name not in GEMM_LEVELS:
        raise ValueError(f"unknown product kernel {name!r}; expected one of "
                         f"{sorted(GEMM_LEVELS)}")
    if GEMM_LEVELS[name] > GEMM_LEVELS[BEST_GEMM_LEVEL]:
        raise ValueError(f"this CPU cannot run the {name} kernel "
                         f"(best: {BEST_GEMM_LEVEL})")
    return GEMM_LEVELS[name]


def needs_preactivation(int code):
    """Whether activation ``code``'s derivative needs the pre-activation."""
    return bool(fnn_needs_preactivation(code))


def optimizer_state_arrays(int code):
    """How many flat state arrays optimizer ``code`` keeps (0: no optimizer)."""
    return fnn_optimizer_state_arrays(code)


def loss_averages_outputs(int code):
    """Whether loss ``code`` reports its row total averaged over the outputs."""
    return bool(fnn_loss_averages_outputs(code))


cdef fnn_activation activation_spec(str name, double p0, double p1) except *:
    """The C description of activation ``name`` with parameters p0, p1."""
    cdef fnn_activation act
    if name not in ACTIVATION_CODES:
        raise ValueError(f"unknown activation {name!r}")
    act.code = ACTIVATION_CODES[name]
    act.p0 = p0
    act.p1 = p1
    return act


cdef int layer_activations(fnn_activation *out, activations,
                           int n_layers) except -1:
    """``out[l]``: the C description of layer ``l``'s activation, from the
    (name, p0, p1) of every layer after the input; ``out[0]``, the input's,
    is the identity (never applied)."""
    out[0] = activation_spec("identity", 0.0, 0.0)
    for l in range(1, n_layers):
        name, p0, p1 = activations[l - 1]
        out[l] = activation_spec(name, p0, p1)
    return 0


def bias_activation(floating[:, ::1] Z, const floating[::1] b, str activation,
                    double p0=1.0, double p1=0.0):
    """In place: ``Z <- f(Z + b)`` row by row (test hook for the C kernels).

    Returns the pre-activations ``Z + b`` as the kernel stores them.
    """
    cdef fnn_activation act = activation_spec(activation, p0, p1)
    if b.shape[0] != Z.shape[1]:
        raise ValueError("b must have one value per column of Z")
    pre = np.empty_like(np.asarray(Z))
    cdef floating[:, ::1] pre_view = pre
    bias_activation_rows(&Z[0, 0], &b[0], Z.shape[0], Z.shape[1], act,
                         &pre_view[0, 0])
    return pre


def activation_backward(floating[:, ::1] delta, const floating[:, ::1] A,
                        const floating[:, ::1] pre, str activation,
                        double p0=1.0, double p1=0.0):
    """In place: ``delta <- delta * f'(.)`` given outputs ``A`` and
    pre-activations ``pre`` (test hook)."""
    cdef fnn_activation act = activation_spec(activation, p0, p1)
    if A.shape[0] != delta.shape[0] or A.shape[1] != delta.shape[1] \
            or pre.shape[0] != delta.shape[0] or pre.shape[1] != delta.shape[1]:
        raise ValueError("delta, A and pre must have the same shape")
    activation_backward_rows(&delta[0, 0], &A[0, 0], &pre[0, 0],
                             delta.shape[0], delta.shape[1], act)


def output_loss_delta(const floating[:, ::1] P, const floating[:, ::1] Y,
                      const floating[::1] sample_weight, loss,
                      double param=0.0, const floating[:, ::1] Z=None):
    """Per-row losses and output deltas ``(P - Y) * sw`` (test hook).

    ``loss`` is a name from ``LOSS_CODES`` or, to test the kernel's
    fallback, any integer code.  ``Z`` holds the raw predictions (the
    pre-activations, P = exp(Z)) that the log-link losses read, as the
    engine passes them; without it they take log P.
    """
    cdef Py_ssize_t r, n = P.shape[1]
    if not isinstance(loss, int) and loss not in LOSS_CODES:
        raise ValueError(f"unknown loss {loss!r}")
    if Y.shape[0] != P.shape[0] or Y.shape[1] != n \
            or sample_weight.shape[0] != P.shape[0]:
        raise ValueError("P, Y and sample_weight must have matching shapes")
    if Z is not None and (Z.shape[0] != P.shape[0] or Z.shape[1] != n):
        raise ValueError("Z must have the shape of P")
    losses = np.empty(P.shape[0])
    delta = np.empty_like(np.asarray(P))
    cdef double[::1] lv = losses
    cdef floating[:, ::1] dv = delta
    cdef int code = loss if isinstance(loss, int) else LOSS_CODES[loss]
    for r in range(P.shape[0]):
        lv[r] = output_loss_delta_row(&P[r, 0], &Z[r, 0] if Z is not None else NULL,
                                      &Y[r, 0], &dv[r, 0], n, sample_weight[r],
                                      code, <floating>param)
    return losses, delta


def product(const floating[:, :] A, const floating[:, :] B, floating[:, :] C,
            const Py_ssize_t[::1] ids=None, bint transposed=False,
            Py_ssize_t i0=0, bint accumulate=False, str level="portable"):
    """In place: ``C (+)= A[ids] @ B``, or ``C (+)= A[ids][:, i0:].T @ B``
    with ``transposed`` (test hook for the engine's products).

    Rows of every matrix may be strided (slices of wider arrays); their
    elements must be contiguous.  ``ids`` picks A's rows (all when None).
    """
    cdef int code = gemm_level(level)
    cdef Py_ssize_t m = C.shape[0], n = C.shape[1]
    cdef Py_ssize_t k = A.shape[1] if not transposed else (
        A.shape[0] if ids is None else ids.shape[0])
    for name, view in (("A", A), ("B", B), ("C", C)):
        if view.shape[0] and view.shape[1] > 1 and view.strides[1] != view.itemsize:
            raise ValueError(f"{name}'s rows must be contiguous")
    if B.shape[0] != k or B.shape[1] != n:
        raise ValueError("B does not match A and C")
    if not transposed and (A.shape[0] if ids is None else ids.shape[0]) != m:
        raise ValueError("A does not match C")
    if transposed and i0 + m > A.shape[1]:
        raise ValueError("A does not match C")
    if ids is not None and ids.shape[0] and (
            np.min(ids) < 0 or np.max(ids) >= A.shape[0]):
        raise ValueError("ids out of range")
    if m == 0 or n == 0:
        return
    cdef const Py_ssize_t *row_ids = &ids[0] if ids is not None and ids.shape[0] else NULL
    cdef const floating *a = &A[0, 0] if A.shape[0] and A.shape[1] else NULL
    cdef const floating *b = &B[0, 0] if k else NULL
    cdef Py_ssize_t lda = A.strides[0] // A.itemsize
    cdef Py_ssize_t ldb = B.strides[0] // B.itemsize
    cdef Py_ssize_t ldc = C.strides[0] // C.itemsize
    with nogil:
        if transposed:
            gemm_cols(code, m, n, k, a, lda, row_ids, i0, b, ldb, &C[0, 0],
                      ldc, accumulate)
        else:
            gemm_rows(code, m, n, k, a, lda, row_ids, b, ldb, &C[0, 0], ldc,
                      accumulate)
