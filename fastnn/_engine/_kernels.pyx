# cython: language_level=3, boundscheck=False, wraparound=False
"""The C element kernels seen from Python (see ``_kernels.pxd``).

Holds: the activation, loss and optimizer codes as Python enums and the name tables
derived from them, and test hooks that run one kernel over an array.
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
                      double param=0.0):
    """Per-row losses and output deltas ``(P - Y) * sw`` (test hook).

    ``loss`` is a name from ``LOSS_CODES`` or, to test the kernel's
    fallback, any integer code.
    """
    cdef Py_ssize_t r, n = P.shape[1]
    if not isinstance(loss, int) and loss not in LOSS_CODES:
        raise ValueError(f"unknown loss {loss!r}")
    if Y.shape[0] != P.shape[0] or Y.shape[1] != n \
            or sample_weight.shape[0] != P.shape[0]:
        raise ValueError("P, Y and sample_weight must have matching shapes")
    losses = np.empty(P.shape[0])
    delta = np.empty_like(np.asarray(P))
    cdef double[::1] lv = losses
    cdef floating[:, ::1] dv = delta
    cdef int code = loss if isinstance(loss, int) else LOSS_CODES[loss]
    for r in range(P.shape[0]):
        lv[r] = output_loss_delta_row(&P[r, 0], &Y[r, 0], &dv[r, 0], n,
                                       sample_weight[r], code, <floating>param)
    return losses, delta
