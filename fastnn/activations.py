"""Activation functions with parameters, usable as ``activation=`` values.

Every hidden-layer activation of the seed paper and a few modern ones.  Each
class is a tiny scikit-learn estimator, so its parameters clone, pickle and
grid-search like any other: ``activation=Sigmoid(beta=2.0)`` searches as
``{"activation__beta": [0.5, 1, 2]}``, and the plain names
(``activation="gaussian"``) give the defaults.  The values and derivatives
are computed by fastnn's C kernels; the formulas are in each docstring.
"""

from __future__ import annotations

from numbers import Real

from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, validate_parameter_constraints


class Activation(BaseEstimator):
    """Base class: an activation function and its parameters.

    Subclasses set ``name`` (the engine's kernel) and return their numeric
    parameters from ``_kernel_params``.
    """

    name: str = ""
    _parameter_constraints: dict = {}

    def _kernel_params(self) -> tuple[float, float]:
        return 0.0, 0.0

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


class Identity(Activation):
    """f(x) = x; f'(x) = 1.

    Examples
    --------
    >>> from fastnn.activations import Identity
    >>> Identity().spec()
    ('identity', 0.0, 0.0)
    """

    name = "identity"


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

    name = "logistic"
    _parameter_constraints = {"beta": [Interval(Real, 0, None, closed="neither")]}

    def __init__(self, beta: float = 1.0):
        self.beta = beta

    def _kernel_params(self):
        return self.beta, 0.0


class Tanh(Activation):
    """f(x) = tanh(x); f'(x) = 1 - f(x)².

    Examples
    --------
    >>> from fastnn.activations import Tanh
    >>> Tanh().spec()
    ('tanh', 0.0, 0.0)
    """

    name = "tanh"


class ReLU(Activation):
    """f(x) = max(0, x); f'(x) = 1 for x > 0, else 0.

    Examples
    --------
    >>> from fastnn.activations import ReLU
    >>> ReLU().spec()
    ('relu', 0.0, 0.0)
    """

    name = "relu"


class PiecewiseLinear(Activation):
    """The paper's piecewise linear unit (a hard sigmoid).

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

    name = "piecewise_linear"
    _parameter_constraints = {"x_min": [Real], "x_max": [Real]}

    def __init__(self, x_min: float = -1.0, x_max: float = 1.0):
        self.x_min = x_min
        self.x_max = x_max

    def _kernel_params(self):
        if not self.x_min < self.x_max:
            raise ValueError(
                f"PiecewiseLinear needs x_min < x_max, got x_min={self.x_min}, "
                f"x_max={self.x_max}."
            )
        return self.x_min, self.x_max


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

    name = "gaussian"
    _parameter_constraints = {
        "mu": [Real],
        "sigma": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, mu: float = 0.0, sigma: float = 1.0):
        self.mu = mu
        self.sigma = sigma

    def _kernel_params(self):
        return self.mu, self.sigma


class UnitStep(Activation):
    """The threshold unit: f(x) = 1 for x ≥ 0, else 0.

    Its derivative is 0 almost everywhere, so gradient descent could not
    train through it.  fastnn uses the *saturated straight-through
    estimator* as a surrogate gradient: f'(x) := 1 for |x| ≤ 1, else 0
    (Hubara et al., 2016).  Forward values are the exact step.

    Examples
    --------
    >>> from fastnn.activations import UnitStep
    >>> UnitStep().spec()
    ('unit_step', 0.0, 0.0)
    """

    name = "unit_step"


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

    name = "leaky_relu"
    _parameter_constraints = {"slope": [Interval(Real, 0, None, closed="left")]}

    def __init__(self, slope: float = 0.01):
        self.slope = slope

    def _kernel_params(self):
        return self.slope, 0.0


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

    name = "elu"
    _parameter_constraints = {"alpha": [Interval(Real, 0, None, closed="neither")]}

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def _kernel_params(self):
        return self.alpha, 0.0


class Softplus(Activation):
    """f(x) = log(1 + exp(x)) (computed stably); f'(x) = 1 / (1 + exp(-x)).

    Examples
    --------
    >>> from fastnn.activations import Softplus
    >>> Softplus().spec()
    ('softplus', 0.0, 0.0)
    """

    name = "softplus"


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

    name = "gelu"


class SiLU(Activation):
    """Sigmoid linear unit (swish): f(x) = x / (1 + exp(-x)).

    f'(x) = σ(x) (1 + x (1 - σ(x))) with σ the logistic sigmoid.

    Examples
    --------
    >>> from fastnn.activations import SiLU
    >>> SiLU().spec()
    ('silu', 0.0, 0.0)
    """

    name = "silu"


# Names accepted by ``activation=``, with their default parameters.
ACTIVATIONS: dict[str, type[Activation]] = {
    "identity": Identity,
    "logistic": Sigmoid,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "piecewise_linear": PiecewiseLinear,
    "gaussian": Gaussian,
    "unit_step": UnitStep,
    "leaky_relu": LeakyReLU,
    "elu": ELU,
    "softplus": Softplus,
    "gelu": GELU,
    "silu": SiLU,
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
