"""Independent NumPy references for the engine's math (the tests' oracle).

Written from the formulas (and scikit-learn's documented conventions), not
from the engine, so that a test compares two separate implementations.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, xlogy


def activation(name: str, z: np.ndarray) -> np.ndarray:
    if name == "identity":
        return z.copy()
    if name == "logistic":
        return expit(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "exp":
        return np.exp(z)
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(name)


def activation_derivative_from_output(name: str, a: np.ndarray) -> np.ndarray:
    if name == "identity":
        return np.ones_like(a)
    if name == "logistic":
        return a * (1 - a)
    if name == "tanh":
        return 1 - a**2
    if name == "relu":
        return (a > 0).astype(a.dtype)
    raise ValueError(name)


def row_losses(loss: str, p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row loss summed over outputs (squared error not yet halved)."""
    eps = np.finfo(p.dtype).eps
    if loss == "squared_error":
        return ((y - p) ** 2).sum(axis=1)
    if loss == "binary_log_loss":
        c = np.clip(p, eps, 1 - eps)
        return -(xlogy(y, c) + xlogy(1 - y, 1 - c)).sum(axis=1)
    if loss == "log_loss":
        return -xlogy(y, np.clip(p, eps, 1 - eps)).sum(axis=1)
    if loss == "poisson":
        return (xlogy(y, y / p) - y + p).sum(axis=1)
    raise ValueError(loss)


OUTPUT_FOR_LOSS = {
    "squared_error": "identity",
    "binary_log_loss": "logistic",
    "log_loss": "softmax",
    "poisson": "exp",
}


def network_loss(
    params: np.ndarray,
    units: list[int],
    X: np.ndarray,
    Y: np.ndarray,
    sw: np.ndarray,
    hidden: str,
    loss: str,
    alpha: float,
    average_outputs: bool = True,
) -> float:
    """scikit-learn's MLP objective at the given flat parameters.

    scikit-learn reports the squared error averaged over the outputs but
    follows the gradient of its sum over outputs; ``average_outputs=False``
    gives the objective whose gradient that is.
    """
    coefs, intercepts, start = [], [], 0
    for fan_in, fan_out in zip(units[:-1], units[1:]):
        coefs.append(params[start : start + fan_in * fan_out].reshape(fan_in, fan_out))
        start += fan_in * fan_out
    for fan_out in units[1:]:
        intercepts.append(params[start : start + fan_out])
        start += fan_out
    a = X
    for i, (w, b) in enumerate(zip(coefs, intercepts)):
        last = i == len(coefs) - 1
        a = activation(OUTPUT_FOR_LOSS[loss] if last else hidden, a @ w + b)
    data = np.average(row_losses(loss, a, Y), weights=sw)
    if loss == "squared_error":
        data *= 0.5 / (Y.shape[1] if average_outputs else 1)
    penalty = 0.5 * alpha * sum((w**2).sum() for w in coefs) / sw.sum()
    return float(data + penalty)
