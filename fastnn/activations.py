"""Activation functions with parameters, usable as ``activation=`` values.

The classic hidden-layer activations (logistic with a steepness, piecewise
linear, Gaussian, unit step, ReLU, tanh) and a few modern ones.  Each
class is a tiny scikit-learn estimator, so its parameters clone, pickle and
grid-search like any other: ``activation=Sigmoid(beta=2.0)`` searches as
``{"activation__beta": [0.5, 1, 2]}``, and the plain names
(``activation="gaussian"``) give the defaults.  The values and derivatives
are computed by fastnn's C kernels; the formulas are in each docstring.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, validate_parameter_constraints

from ._engine import ActivationCode, needs_preactivation


class Activation(BaseEstimator):
    """Base class: an activation function and its parameters.

    Each subclass is the one Python definition of an activation: ``code``
    names its C kernels (``csrc/fastnn_kernels_impl.h``, where the math
    is), ``_kernel_params`` gives their two numeric parameters and ``onnx``
    writes the same function as ONNX nodes.  The engine's name of the
    activation, the names ``activation=`` accepts and the ONNX converter are
    all derived from the subclasses.
    """

    code: ActivationCode = ActivationCode.FNN_IDENTITY
    name: str = ""
    # Other names ``activation=`` accepts for the defaults.
    aliases: tuple[str, ...] = ()
    # Output-only activations (chosen by the loss) are not offered for
    # hidden layers.
    hidden: bool = True
    _parameter_constraints: dict = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.name = cls.code.name[len("FNN_") :].lower()

    @property
    def needs_preactivation(self) -> bool:
        """Whether the derivative reads the pre-activation (then kept).

        Returns
        -------
        needs : bool

        Examples
        --------
        >>> from fastnn.activations import GELU, Tanh
        >>> GELU().needs_preactivation, Tanh().needs_preactivation
        (True, False)
        """
        return needs_preactivation(self.code)

    def _kernel_params(self) -> tuple[float, float]:
        return 0.0, 0.0

    @staticmethod
    def onnx(g: Any, x: str, p0: float, p1: float) -> str:
        """ONNX nodes computing the activation of ``x`` with kernel
        parameters ``p0, p1``; returns the output's name.

        ``g`` is the converter's graph builder (``fastnn.onnx``): ``g.op``
        adds a node, ``g.const`` a constant in the model's dtype.
        """
        return g.op("Identity", [x])

    def spec(self) -> tuple[str, float, float]:
        """Validated ``(kernel name, p0, p1)`` for the engine.

        Returns
        -------
        spec : tuple of (str, float, float)
            The name of the engine's kernel and its two parameters.

        Examples
        --------
        >>> from fastnn.activations import Gaussian
        >>> Gaussian(sigma=0.5).spec()
        ('gaussian', 0.0, 0.5)
        """
        validate_parameter_constraints(
            self._parameter_constraints,
            self.get_params(deep=False),
            caller_name=type(self).__name__,
        )
        return (self.name, *map(float, self._kernel_params()))


def _increasing(activation: Activation, lo: str, hi: str) -> tuple[float, float]:
    """The bounds ``lo < hi`` of an activation's range, or a ValueError."""
    a, b = getattr(activation, lo), getattr(activation, hi)
    if not a < b:
        raise ValueError(
            f"{type(activation).__name__} needs {lo} < {hi}, got {lo}={a}, {hi}={b}."
        )
    return a, b


class Identity(Activation):
    """f(x) = x; f'(x) = 1.

    Examples
    --------
    >>> from fastnn.activations import Identity
    >>> Identity().spec()
    ('identity', 0.0, 0.0)
    """

    code = ActivationCode.FNN_IDENTITY


class Sigmoid(Activation):
    """Logistic sigmoid with steepness β: f(x) = 1 / (1 + exp(-βx)).

    f'(x) = β f(x) (1 - f(x)).  β = 1 is scikit-learn's ``'logistic'``.

    Parameters
    ----------
    beta : float, default=1.0
        Steepness, > 0.

    Examples
    --------
    >>> from fastnn.activations import Sigmoid
    >>> Sigmoid(beta=2.0).spec()
    ('logistic', 2.0, 0.0)
    """

    code = ActivationCode.FNN_LOGISTIC
    aliases = ("sigmoid",)
    _parameter_constraints = {"beta": [Interval(Real, 0, None, closed="neither")]}

    def __init__(self, beta: float = 1.0):
        self.beta = beta

    def _kernel_params(self):
        return self.beta, 0.0

    @staticmethod
    def onnx(g, x, p0, p1):
        return g.op("Sigmoid", [x if p0 == 1 else g.op("Mul", [x, g.const(p0)])])


class Tanh(Activation):
    """f(x) = tanh(x); f'(x) = 1 - f(x)².

    Examples
    --------
    >>> from fastnn.activations import Tanh
    >>> Tanh().spec()
    ('tanh', 0.0, 0.0)
    """

    code = ActivationCode.FNN_TANH

    @staticmethod
    def onnx(g, x, p0, p1):
        return g.op("Tanh", [x])


class ReLU(Activation):
    """f(x) = max(0, x); f'(x) = 1 for x > 0, else 0.

    Examples
    --------
    >>> from fastnn.activations import ReLU
    >>> ReLU().spec()
    ('relu', 0.0, 0.0)
    """

    code = ActivationCode.FNN_RELU

    @staticmethod
    def onnx(g, x, p0, p1):
        return g.op("Relu", [x])


class PiecewiseLinear(Activation):
    """The piecewise linear unit (a hard sigmoid).

    f(x) = 0 for x ≤ x_min, (x - x_min) / (x_max - x_min) between, 1 for
    x ≥ x_max; f'(x) = 1 / (x_max - x_min) strictly between, else 0.

    Parameters
    ----------
    x_min, x_max : float, default=-1.0, 1.0
        Where the ramp starts and ends; x_min < x_max.

    Examples
    --------
    >>> from fastnn.activations import PiecewiseLinear
    >>> PiecewiseLinear(x_min=0.0, x_max=2.0).spec()
    ('piecewise_linear', 0.0, 2.0)
    """

    code = ActivationCode.FNN_PIECEWISE_LINEAR
    _parameter_constraints = {"x_min": [Real], "x_max": [Real]}

    def __init__(self, x_min: float = -1.0, x_max: float = 1.0):
        self.x_min = x_min
        self.x_max = x_max

    def _kernel_params(self):
        return _increasing(self, "x_min", "x_max")

    @staticmethod
    def onnx(g, x, p0, p1):
        ramp = g.op("Div", [g.op("Sub", [x, g.const(p0)]), g.const(p1 - p0)])
        return g.op("Clip", [ramp, g.const(0.0, []), g.const(1.0, [])])


class Gaussian(Activation):
    """The normal density: f(x) = exp(-(x - μ)² / (2σ²)) / (√(2π) σ).

    f'(x) = -(x - μ) / σ² · f(x).

    Parameters
    ----------
    mu : float, default=0.0
        Centre.
    sigma : float, default=1.0
        Width, > 0.

    Examples
    --------
    >>> from fastnn.activations import Gaussian
    >>> Gaussian(mu=0.5, sigma=2.0).spec()
    ('gaussian', 0.5, 2.0)
    """

    code = ActivationCode.FNN_GAUSSIAN
    _parameter_constraints = {
        "mu": [Real],
        "sigma": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, mu: float = 0.0, sigma: float = 1.0):
        self.mu = mu
        self.sigma = sigma

    def _kernel_params(self):
        return self.mu, self.sigma

    @staticmethod
    def onnx(g, x, p0, p1):
        u = g.op("Div", [g.op("Sub", [x, g.const(p0)]), g.const(p1)])
        e = g.op("Exp", [g.op("Mul", [g.op("Mul", [u, u]), g.const(-0.5)])])
        return g.op("Mul", [e, g.const(1.0 / (math.sqrt(2 * math.pi) * p1))])


class UnitStep(Activation):
    """The threshold unit: f(x) = 1 for x ≥ 0, else 0.

    Its derivative is 0 almost everywhere, so gradient descent could not
    train through it.  fastnn uses the *saturated straight-through
    estimator* as a surrogate gradient: f'(x) := 1 for ``|x| ≤ 1``, else 0
    (Hubara et al., 2016).  Forward values are the exact step.

    Examples
    --------
    >>> from fastnn.activations import UnitStep
    >>> UnitStep().spec()
    ('unit_step', 0.0, 0.0)
    """

    code = ActivationCode.FNN_UNIT_STEP

    @staticmethod
    def onnx(g, x, p0, p1):
        step = g.op("GreaterOrEqual", [x, g.const(0.0)])
        return g.op("Cast", [step], to=g.proto)


class LeakyReLU(Activation):
    """f(x) = x for x > 0, else slope · x; f'(x) = 1 or slope.

    Parameters
    ----------
    slope : float, default=0.01
        Slope for negative inputs, ≥ 0.

    Examples
    --------
    >>> from fastnn.activations import LeakyReLU
    >>> LeakyReLU(slope=0.1).spec()
    ('leaky_relu', 0.1, 0.0)
    """

    code = ActivationCode.FNN_LEAKY_RELU
    _parameter_constraints = {"slope": [Interval(Real, 0, None, closed="left")]}

    def __init__(self, slope: float = 0.01):
        self.slope = slope

    def _kernel_params(self):
        return self.slope, 0.0

    @staticmethod
    def onnx(g, x, p0, p1):
        return g.op("LeakyRelu", [x], alpha=p0)


class ELU(Activation):
    """f(x) = x for x > 0, else α (exp(x) - 1); f'(x) = 1 or f(x) + α.

    Parameters
    ----------
    alpha : float, default=1.0
        Saturation value for negative inputs, > 0.

    Examples
    --------
    >>> from fastnn.activations import ELU
    >>> ELU(alpha=0.5).spec()
    ('elu', 0.5, 0.0)
    """

    code = ActivationCode.FNN_ELU
    _parameter_constraints = {"alpha": [Interval(Real, 0, None, closed="neither")]}

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def _kernel_params(self):
        return self.alpha, 0.0

    @staticmethod
    def onnx(g, x, p0, p1):
        return g.op("Elu", [x], alpha=p0)


class Softplus(Activation):
    """f(x) = log(1 + exp(x)) (computed stably); f'(x) = 1 / (1 + exp(-x)).

    Examples
    --------
    >>> from fastnn.activations import Softplus
    >>> Softplus().spec()
    ('softplus', 0.0, 0.0)
    """

    code = ActivationCode.FNN_SOFTPLUS

    @staticmethod
    def onnx(g, x, p0, p1):
        return g.op("Softplus", [x])


class GELU(Activation):
    """Gaussian error linear unit, exact form: f(x) = x Φ(x).

    Φ is the standard normal CDF, Φ(x) = (1 + erf(x / √2)) / 2;
    f'(x) = Φ(x) + x φ(x) with φ the standard normal density.

    Examples
    --------
    >>> from fastnn.activations import GELU
    >>> GELU().spec()
    ('gelu', 0.0, 0.0)
    """

    code = ActivationCode.FNN_GELU

    @staticmethod
    def onnx(g, x, p0, p1):
        cdf = g.op("Erf", [g.op("Mul", [x, g.const(1 / math.sqrt(2))])])
        half = g.op("Mul", [g.op("Add", [cdf, g.const(1.0)]), g.const(0.5)])
        return g.op("Mul", [x, half])


class SiLU(Activation):
    """Sigmoid linear unit (swish): f(x) = x / (1 + exp(-x)).

    f'(x) = σ(x) (1 + x (1 - σ(x))) with σ the logistic sigmoid.

    Examples
    --------
    >>> from fastnn.activations import SiLU
    >>> SiLU().spec()
    ('silu', 0.0, 0.0)
    """

    code = ActivationCode.FNN_SILU

    @staticmethod
    def onnx(g, x, p0, p1):
        return g.op("Mul", [x, g.op("Sigmoid", [x])])


class HardTanh(Activation):
    """tanh's piecewise linear cousin: f(x) = min(max(x, min_val), max_val).

    f'(x) = 1 strictly between ``min_val`` and ``max_val``, else 0.

    Parameters
    ----------
    min_val, max_val : float, default=-1.0, 1.0
        Where the output saturates; min_val < max_val.

    Examples
    --------
    >>> from fastnn.activations import HardTanh
    >>> HardTanh(min_val=0.0, max_val=6.0).spec()
    ('hard_tanh', 0.0, 6.0)
    """

    code = ActivationCode.FNN_HARD_TANH
    aliases = ("hardtanh",)
    _parameter_constraints = {"min_val": [Real], "max_val": [Real]}

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0):
        self.min_val = min_val
        self.max_val = max_val

    def _kernel_params(self):
        return _increasing(self, "min_val", "max_val")

    @staticmethod
    def onnx(g, x, p0, p1):
        return g.op("Clip", [x, g.const(p0, []), g.const(p1, [])])


class _Exp(Activation):
    """f(x) = exp(x): the output of Poisson regression (not a hidden option)."""

    code = ActivationCode.FNN_EXP
    hidden = False

    @staticmethod
    def onnx(g, x, p0, p1):
        return g.op("Exp", [x])


class _Softmax(Activation):
    """Softmax over a row: the output of multiclass classification."""

    code = ActivationCode.FNN_SOFTMAX
    hidden = False

    @staticmethod
    def onnx(g, x, p0, p1):
        return g.op("Softmax", [x], axis=1)


def _subclasses(cls: type) -> list[type[Activation]]:
    return [c for sub in cls.__subclasses__() for c in [sub, *_subclasses(sub)]]


# Every activation by its engine name (one class per C code), and the
# names accepted by ``activation=``, with their default parameters.
ACTIVATION_CLASSES: dict[str, type[Activation]] = {
    c.name: c for c in _subclasses(Activation)
}
ACTIVATIONS: dict[str, type[Activation]] = {
    name: c
    for c in ACTIVATION_CLASSES.values()
    if c.hidden
    for name in (c.name, *c.aliases)
}


def _hidden_activation_specs(
    activation, n_hidden: int
) -> list[tuple[str, float, float]]:
    """Engine specs of the hidden layers for an ``activation=`` value.

    A name or an :class:`Activation` applies to every hidden layer; a
    sequence gives one per hidden layer.
    """
    if isinstance(activation, str | Activation):
        return [_spec(activation)] * n_hidden
    activation = list(activation)
    if len(activation) != n_hidden:
        raise ValueError(
            f"activation has {len(activation)} entries but there are {n_hidden} "
            "hidden layers; give one activation per hidden layer."
        )
    return [_spec(a) for a in activation]


def _spec(activation) -> tuple[str, float, float]:
    if isinstance(activation, Activation):
        return activation.spec()
    if isinstance(activation, str) and activation in ACTIVATIONS:
        return ACTIVATIONS[activation]().spec()
    raise ValueError(
        f"Unknown activation {activation!r}; expected one of "
        f"{sorted(ACTIVATIONS)} or an instance of fastnn.activations.Activation."
    )
