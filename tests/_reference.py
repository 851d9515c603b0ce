"""Independent NumPy references for the engine's math (the tests' oracle).

Written from the formulas (and scikit-learn's documented conventions), not
from the engine, so that a test compares two separate implementations.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, xlogy
from scipy.stats import norm


def activation(name: str, z: np.ndarray, p0: float = 1.0, p1: float = 0.0):
    """f(z) for the engine's activation ``name`` with parameters p0, p1."""
    if name == "identity":
        return z.copy()
    if name == "logistic":
        return expit(p0 * z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "exp":
        return np.exp(z)
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if name == "piecewise_linear":
        return np.clip((z - p0) / (p1 - p0), 0, 1)
    if name == "gaussian":
        return norm.pdf(z, loc=p0, scale=p1)
    if name == "unit_step":
        return (z >= 0).astype(z.dtype)
    if name == "leaky_relu":
        return np.where(z > 0, z, p0 * z)
    if name == "elu":
        return np.where(z > 0, z, p0 * np.expm1(np.minimum(z, 0)))
    if name == "softplus":
        return np.logaddexp(0, z)
    if name == "gelu":
        return z * norm.cdf(z)
    if name == "silu":
        return z * expit(z)
    if name == "hard_tanh":
        return np.clip(z, p0, p1)
    raise ValueError(name)


def activation_derivative(name: str, z: np.ndarray, p0: float = 1.0, p1: float = 0.0):
    """f'(z), written from the formulas (the unit step's is its surrogate)."""
    if name == "identity":
        return np.ones_like(z)
    if name == "logistic":
        s = expit(p0 * z)
        return p0 * s * (1 - s)
    if name == "tanh":
        return 1 - np.tanh(z) ** 2
    if name == "relu":
        return (z > 0).astype(z.dtype)
    if name == "piecewise_linear":
        return np.where((z > p0) & (z < p1), 1 / (p1 - p0), 0.0)
    if name == "gaussian":
        return -(z - p0) / p1**2 * norm.pdf(z, loc=p0, scale=p1)
    if name == "unit_step":
        return (np.abs(z) <= 1).astype(z.dtype)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, p0)
    if name == "elu":
        return np.where(z > 0, 1.0, p0 * np.exp(np.minimum(z, 0)))
    if name == "softplus":
        return expit(z)
    if name == "gelu":
        return norm.cdf(z) + z * norm.pdf(z)
    if name == "silu":
        return expit(z) * (1 + z * (1 - expit(z)))
    if name == "hard_tanh":
        return ((z > p0) & (z < p1)).astype(z.dtype)
    raise ValueError(name)


def activation_derivative_from_output(name: str, a: np.ndarray) -> np.ndarray:
    """scikit-learn's derivative formulas, from the output a = f(z)."""
    if name == "identity":
        return np.ones_like(a)
    if name == "logistic":
        return a * (1 - a)
    if name == "tanh":
        return 1 - a**2
    if name == "relu":
        return (a > 0).astype(a.dtype)
    raise ValueError(name)


# Every hidden activation with non-default parameters, for the sweeps.
HIDDEN_ACTIVATIONS = [
    ("identity", 0.0, 0.0),
    ("logistic", 1.0, 0.0),
    ("logistic", 2.5, 0.0),
    ("tanh", 0.0, 0.0),
    ("relu", 0.0, 0.0),
    ("piecewise_linear", -0.7, 1.3),
    ("gaussian", 0.3, 1.7),
    ("leaky_relu", 0.2, 0.0),
    ("elu", 0.7, 0.0),
    ("softplus", 0.0, 0.0),
    ("gelu", 0.0, 0.0),
    ("silu", 0.0, 0.0),
    ("hard_tanh", -0.8, 1.2),
]


def row_losses(loss: str, p: np.ndarray, y: np.ndarray, param: float = 1.0):
    """Per-row loss summed over outputs (squared error not yet halved)."""
    eps = np.finfo(p.dtype).eps
    r = p - y
    if loss in ("proba_squared_error", "proba_squared_error_softmax"):
        return 0.5 * (r**2).sum(axis=1)
    if loss == "absolute_error":
        return np.abs(r).sum(axis=1)
    if loss == "huber":
        a = np.abs(r)
        return np.where(a <= param, 0.5 * r**2, param * (a - 0.5 * param)).sum(axis=1)
    if loss == "squared_error":
        return ((y - p) ** 2).sum(axis=1)
    if loss == "binary_log_loss":
        c = np.clip(p, eps, 1 - eps)
        return -(xlogy(y, c) + xlogy(1 - y, 1 - c)).sum(axis=1)
    if loss == "log_loss":
        return -xlogy(y, np.clip(p, eps, 1 - eps)).sum(axis=1)
    if loss == "poisson":
        return (xlogy(y, y / p) - y + p).sum(axis=1)
    if loss == "quantile":  # pinball loss with quantile = param
        return np.where(y >= p, param * (y - p), (1 - param) * (p - y)).sum(axis=1)
    if loss == "gamma":  # half the Gamma deviance
        return (np.log(p / y) + y / p - 1).sum(axis=1)
    raise ValueError(loss)


OUTPUT_FOR_LOSS = {
    "squared_error": "identity",
    "binary_log_loss": "logistic",
    "log_loss": "softmax",
    "poisson": "exp",
    "proba_squared_error": "logistic",
    "proba_squared_error_softmax": "softmax",
    "absolute_error": "identity",
    "huber": "identity",
    "quantile": "identity",
    "gamma": "exp",
}


def unpack(params: np.ndarray, units: list[int]):
    coefs, intercepts, start = [], [], 0
    for fan_in, fan_out in zip(units[:-1], units[1:]):
        coefs.append(params[start : start + fan_in * fan_out].reshape(fan_in, fan_out))
        start += fan_in * fan_out
    for fan_out in units[1:]:
        intercepts.append(params[start : start + fan_out])
        start += fan_out
    return coefs, intercepts


def network_output(params, units, X, hidden, output: str) -> np.ndarray:
    """Output activations; ``hidden`` is a name, one spec, or one per layer."""
    coefs, intercepts = unpack(params, units)
    if isinstance(hidden, str):
        hidden = (hidden, 1.0, 0.0)
    if isinstance(hidden[0], str):
        hidden = [hidden] * (len(coefs) - 1)
    a = X
    for i, (w, b) in enumerate(zip(coefs, intercepts)):
        if i == len(coefs) - 1:
            a = activation(output, a @ w + b)
        else:
            a = activation(hidden[i][0], a @ w + b, *hidden[i][1:])
    return a


def network_loss(
    params: np.ndarray,
    units: list[int],
    X: np.ndarray,
    Y: np.ndarray,
    sw: np.ndarray,
    hidden,
    loss: str,
    alpha: float,
    average_outputs: bool = True,
    loss_param: float = 1.0,
) -> float:
    """scikit-learn's MLP objective at the given flat parameters.

    scikit-learn reports the squared error averaged over the outputs but
    follows the gradient of its sum over outputs; ``average_outputs=False``
    gives the objective whose gradient that is.
    """
    coefs, _ = unpack(params, units)
    a = network_output(params, units, X, hidden, OUTPUT_FOR_LOSS[loss])
    data = np.average(row_losses(loss, a, Y, loss_param), weights=sw)
    if loss == "squared_error":
        data *= 0.5 / (Y.shape[1] if average_outputs else 1)
    penalty = 0.5 * alpha * sum((w**2).sum() for w in coefs) / sw.sum()
    return float(data + penalty)
