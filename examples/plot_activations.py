"""
=====================================
Every activation and its derivative
=====================================

Draws each hidden-layer activation of :mod:`fastnn.activations` and the
derivative that training uses, both computed by fastnn's own C kernels: a
network with one input, one hidden unit and one output, whose weights are set
to 1 and biases to 0, predicts f(x) and its
:meth:`~fastnn.MLPRegressor.input_gradient` is f'(x).  The unit step's
derivative is the surrogate that training uses (1 on [-1, 1]), not the true
derivative, which is 0 almost everywhere.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from fastnn import MLPRegressor
from fastnn.activations import (
    ELU,
    GELU,
    Gaussian,
    HardTanh,
    Identity,
    LeakyReLU,
    PiecewiseLinear,
    ReLU,
    Sigmoid,
    SiLU,
    Softplus,
    Tanh,
    UnitStep,
)

ACTIVATIONS = [
    Identity(),
    Sigmoid(),
    Sigmoid(beta=3.0),
    Tanh(),
    ReLU(),
    LeakyReLU(slope=0.1),
    ELU(),
    Softplus(),
    GELU(),
    SiLU(),
    PiecewiseLinear(),
    HardTanh(),
    Gaussian(),
    UnitStep(),
]


def unit_network(activation) -> MLPRegressor:
    """A 1-1-1 network computing activation(x): weights 1, biases 0."""
    x = np.linspace(-1, 1, 8)[:, None]
    net = MLPRegressor(hidden_layer_sizes=(1,), activation=activation, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        net.fit(x, x.ravel())  # any fit, to set the layout; the weights follow
    net.coefs_ = [np.ones((1, 1)), np.ones((1, 1))]
    net.intercepts_ = [np.zeros(1), np.zeros(1)]
    return net


x = np.linspace(-4, 4, 801)
X = x[:, None]
fig, axes = plt.subplots(4, 4, figsize=(12, 10), sharex=True, layout="constrained")
for ax, activation in zip(axes.flat, ACTIVATIONS):
    net = unit_network(activation)
    value = net.predict(X)
    derivative = net.input_gradient(X)[:, 0, 0]
    ax.plot(x, value, label="f(x)")
    ax.plot(x, derivative, "--", label="f′(x)")
    ax.axhline(0, color="0.8", lw=0.8, zorder=0)
    ax.axvline(0, color="0.8", lw=0.8, zorder=0)
    ax.set_title(repr(activation), fontsize=10)
for ax in axes.flat[len(ACTIVATIONS) :]:
    ax.remove()
axes.flat[0].legend(loc="upper left")
fig.suptitle("fastnn's activations (solid) and the derivatives training uses")
plt.show()

# %%
# The kernels against NumPy
# -------------------------
# The same values from NumPy's formulas, for the activations whose formula is
# one line: the kernels agree to rounding error.

reference = {
    "tanh": (np.tanh(x), 1 - np.tanh(x) ** 2),
    "relu": (np.maximum(x, 0), (x > 0).astype(float)),
    "softplus": (np.logaddexp(0, x), 1 / (1 + np.exp(-x))),
}
for name, (value, derivative) in reference.items():
    net = unit_network(name)
    err_f = np.max(np.abs(net.predict(X) - value))
    err_d = np.max(np.abs(net.input_gradient(X)[:, 0, 0] - derivative))
    print(f"{name:>9}: max |f - NumPy| {err_f:.1e}, max |f' - NumPy| {err_d:.1e}")
