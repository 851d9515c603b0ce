"""The losses the estimators train, one class per ``loss=`` option.

A loss is chosen by its name, as in scikit-learn:
``MLPRegressor(loss="huber", huber_delta=2.0)``.  The ``loss`` parameter
takes these names only, not the classes' instances; each class documents
its formula, the output activation it pairs with, the parameters it reads
and the targets it accepts.
"""

# For developers: each class is the one Python definition of a loss.
# ``code`` names its C kernel (``fnn_output_loss_delta`` in
# ``csrc/fastnn_kernels_impl.h``, where the math is), ``link`` is the output
# activation it pairs with, ``option`` and ``estimator`` say which ``loss=``
# value of which estimator selects it, its ``__init__`` arguments are the
# estimator parameters it reads (with their ``_parameter_constraints``),
# ``check_y`` refuses targets outside its domain and ``cast_y`` those that
# the fit's dtype cannot hold.  The estimators' ``loss`` validation, output
# activations, engine names, target checks and the gradient checker derive
# from these classes.

from __future__ import annotations

import textwrap
from numbers import Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, is_classifier
from sklearn.utils import check_scalar
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
)

from ._engine import LossCode, loss_averages_outputs
from .activations import Activation, Identity, Sigmoid, _Exp, _Softmax


class Loss(BaseEstimator):
    """Base class: a loss of the engine and what the estimators need of it.

    Instances hold the values of the estimator parameters the loss reads
    (``Huber(huber_delta=2.0)``); :meth:`spec` gives the engine's name and
    the kernel's parameter.
    """

    code: LossCode = LossCode.FNN_SQUARED_ERROR
    name: str = ""
    # The ``loss=`` value that selects it, and on which estimator
    # ("regressor" or "classifier").
    option: str = ""
    estimator: str = "regressor"
    # Classifier losses come in pairs: softmax outputs for one-of-K
    # targets, logistic ones for binary and multilabel targets.
    multiclass: bool = False
    link: type[Activation] = Identity
    _parameter_constraints: dict = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.name = cls.code.name[len("FNN_") :].lower()

    @property
    def averages_outputs(self) -> bool:
        """Whether the reported loss averages over the outputs.

        scikit-learn's squared error does, while training follows the
        gradient of its sum over outputs; the other losses are sums.

        Returns
        -------
        averages : bool

        Examples
        --------
        >>> from fastnn.losses import AbsoluteError, SquaredError
        >>> SquaredError().averages_outputs, AbsoluteError().averages_outputs
        (True, False)
        """
        return loss_averages_outputs(self.code)

    @classmethod
    def check_y(cls, y, input_name: str = "y") -> None:
        """Raise a ValueError if ``y`` is outside the loss's domain.

        Parameters
        ----------
        y : ndarray
            Numeric targets.
        input_name : str, default="y"
            How the message names them (``"y_val"`` for a validation set).

        Examples
        --------
        >>> import numpy as np
        >>> from fastnn.losses import Gamma
        >>> Gamma.check_y(np.array([0.5, 2.0]))
        >>> Gamma.check_y(np.array([0.0, 2.0]))
        Traceback (most recent call last):
            ...
        ValueError: loss='gamma' requires strictly positive y.
        """

    @classmethod
    def cast_y(cls, y, dtype, input_name: str = "y") -> np.ndarray:
        """``y`` as the engine reads it: C-contiguous, in the fit's ``dtype``.

        The engine reads targets in the dtype of ``X`` (float32 or float64).
        Targets the cast does not keep within the loss's domain are refused
        here, by name, rather than left to make the training loss
        non-finite: values beyond the dtype's range, which become infinite,
        and for ``loss='gamma'`` positive values that round to 0.

        Parameters
        ----------
        y : ndarray
            Targets checked by :meth:`check_y`.
        dtype : {numpy.float32, numpy.float64}
            The dtype the model is fitted in.
        input_name : str, default="y"
            How the message names them (``"y_val"`` for a validation set).

        Returns
        -------
        y_cast : ndarray
            ``y`` in ``dtype``, C-contiguous.

        Examples
        --------
        >>> import numpy as np
        >>> from fastnn.losses import Gamma, SquaredError
        >>> SquaredError.cast_y(np.array([1e30, -2.0]), np.float32).dtype
        dtype('float32')
        >>> SquaredError.cast_y(np.array([1e39, -2.0]), np.float32)
        Traceback (most recent call last):
            ...
        ValueError: y has values of magnitude up to 1e+39, beyond the range of \
float32 (about 3.4e+38), the dtype of X. Fit on float64 X, or rescale y.
        >>> Gamma.cast_y(np.array([1e-50, 2.0]), np.float32)
        Traceback (most recent call last):
            ...
        ValueError: y has positive values as small as 1e-50, which float32, the \
dtype of X, rounds to 0; loss='gamma' requires strictly positive y. Fit on float64 \
X, or rescale y.
        """
        with np.errstate(over="ignore"):  # refused below, with a message
            y_cast = np.ascontiguousarray(y, dtype=dtype)
        cls._check_cast_y(np.asarray(y), y_cast, input_name)
        return y_cast

    @classmethod
    def _check_cast_y(cls, y, y_cast, input_name):
        overflow = np.isinf(y_cast) & np.isfinite(y)
        if np.any(overflow):
            largest = np.max(np.abs(y[overflow]))
            raise ValueError(
                f"{input_name} has values of magnitude up to {largest:.3g}, beyond "
                f"the range of {y_cast.dtype} (about "
                f"{np.finfo(y_cast.dtype).max:.3g}), the dtype of X. Fit on "
                f"float64 X, or rescale {input_name}."
            )

    def _kernel_param(self) -> float:
        return 0.0

    def spec(self) -> tuple[str, float]:
        """Validated ``(engine name, kernel parameter)``.

        Returns
        -------
        spec : tuple of (str, float)
            The name of the engine's loss and its parameter.

        Examples
        --------
        >>> from fastnn.losses import Huber, Quantile
        >>> Huber(huber_delta=2.0).spec(), Quantile(quantile=0.9).spec()
        (('huber', 2.0), ('quantile', 0.9))
        """
        validate_parameter_constraints(
            self._parameter_constraints,
            self.get_params(deep=False),
            caller_name=type(self).__name__,
        )
        return self.name, float(self._kernel_param())


class SquaredError(Loss):
    """Half the squared error averaged over the outputs, ½ mean_k (p_k - y_k)².

    scikit-learn's regression loss (identity output).

    Examples
    --------
    >>> from fastnn.losses import SquaredError
    >>> SquaredError().spec(), SquaredError.link.name
    (('squared_error', 0.0), 'identity')
    """

    code = LossCode.FNN_SQUARED_ERROR
    option = "squared_error"


class Poisson(Loss):
    """Half the Poisson deviance Σ_k y log(y / p) - y + p, for y ≥ 0.

    The output is exp(z) (log link), as in scikit-learn.

    Examples
    --------
    >>> from fastnn.losses import Poisson
    >>> Poisson().spec(), Poisson.link.name
    (('poisson', 0.0), 'exp')
    """

    code = LossCode.FNN_POISSON
    option = "poisson"
    link = _Exp

    @classmethod
    def check_y(cls, y, input_name="y"):
        # scikit-learn's MLPRegressor's message.
        if np.any(y < 0):
            raise ValueError(
                f"Some value(s) of {input_name} are negative which is not "
                "allowed for loss='poisson'."
            )


class Gamma(Loss):
    """Half the Gamma deviance Σ_k log(p / y) + y / p - 1, for y > 0.

    HistGradientBoostingRegressor's ``loss='gamma'``: the output is exp(z)
    (log link) and the targets must be strictly positive.

    Examples
    --------
    >>> from fastnn.losses import Gamma
    >>> Gamma().spec(), Gamma.link.name
    (('gamma', 0.0), 'exp')
    """

    code = LossCode.FNN_GAMMA
    option = "gamma"
    link = _Exp

    @classmethod
    def check_y(cls, y, input_name="y"):
        # HistGradientBoostingRegressor's message.
        if not np.all(y > 0):
            raise ValueError(f"loss='gamma' requires strictly positive {input_name}.")

    @classmethod
    def _check_cast_y(cls, y, y_cast, input_name):
        super()._check_cast_y(y, y_cast, input_name)
        # A positive y below float32's smallest subnormal rounds to 0.
        underflow = (y_cast == 0) & (y > 0)
        if np.any(underflow):
            smallest = np.min(y[underflow])
            raise ValueError(
                f"{input_name} has positive values as small as {smallest:.3g}, "
                f"which {y_cast.dtype}, the dtype of X, rounds to 0; loss='gamma' "
                f"requires strictly positive {input_name}. Fit on float64 X, or "
                f"rescale {input_name}."
            )


class AbsoluteError(Loss):
    """The absolute error Σ_k abs(p_k - y_k) (identity output).

    Examples
    --------
    >>> from fastnn.losses import AbsoluteError
    >>> AbsoluteError().spec()
    ('absolute_error', 0.0)
    """

    code = LossCode.FNN_ABSOLUTE_ERROR
    option = "absolute_error"


class Huber(Loss):
    """The Huber loss Σ_k ½r² for abs(r) ≤ δ = ``huber_delta``, else δ(abs(r) - ½δ).

    Parameters
    ----------
    huber_delta : float, default=1.0
        δ, the threshold between the quadratic and linear parts, > 0.

    Examples
    --------
    >>> from fastnn.losses import Huber
    >>> Huber(huber_delta=0.5).spec()
    ('huber', 0.5)
    """

    code = LossCode.FNN_HUBER
    option = "huber"
    _parameter_constraints = {
        "huber_delta": [Interval(Real, 0, None, closed="neither")]
    }

    def __init__(self, huber_delta: float = 1.0):
        self.huber_delta = huber_delta

    def _kernel_param(self):
        return self.huber_delta


class Quantile(Loss):
    """The pinball loss of ``quantile`` q: Σ_k q (y - p) if y ≥ p, else (1 - q)(p - y).

    Identity output.  Its minimiser is the q-quantile
    of y given x: HistGradientBoostingRegressor's ``loss='quantile'``, with
    its parameter ``quantile`` and its rules: any float in [0, 1] or None is
    a valid setting, and fitting needs 0 < quantile < 1.

    Parameters
    ----------
    quantile : float, default=None
        q, the quantile to estimate.

    Examples
    --------
    >>> from fastnn.losses import Quantile
    >>> Quantile(quantile=0.9).spec()
    ('quantile', 0.9)
    >>> Quantile().spec()
    Traceback (most recent call last):
        ...
    TypeError: quantile must be an instance of float, not NoneType.
    """

    code = LossCode.FNN_QUANTILE
    option = "quantile"
    _parameter_constraints = {"quantile": [Interval(Real, 0, 1, closed="both"), None]}

    def __init__(self, quantile: float | None = None):
        self.quantile = quantile

    def _kernel_param(self):
        # HistGradientBoostingRegressor checks it so when it builds its loss.
        return check_scalar(
            self.quantile,
            "quantile",
            target_type=Real,
            min_val=0,
            max_val=1,
            include_boundaries="neither",
        )


class BinaryLogLoss(Loss):
    """Cross-entropy of logistic outputs (binary and multilabel targets).

    Examples
    --------
    >>> from fastnn.losses import BinaryLogLoss
    >>> BinaryLogLoss().spec(), BinaryLogLoss.link.name
    (('binary_log_loss', 0.0), 'logistic')
    """

    code = LossCode.FNN_BINARY_LOG_LOSS
    option = "log_loss"
    estimator = "classifier"
    link = Sigmoid


class LogLoss(Loss):
    """Cross-entropy of softmax outputs (multiclass targets).

    Examples
    --------
    >>> from fastnn.losses import LogLoss
    >>> LogLoss().spec(), LogLoss.link.name
    (('log_loss', 0.0), 'softmax')
    """

    code = LossCode.FNN_LOG_LOSS
    option = "log_loss"
    estimator = "classifier"
    multiclass = True
    link = _Softmax


class ProbaSquaredError(Loss):
    """Squared error of logistic outputs, ½ Σ_k (p_k - y_k)² (binary and
    multilabel targets).

    Examples
    --------
    >>> from fastnn.losses import ProbaSquaredError
    >>> ProbaSquaredError().spec()
    ('proba_squared_error', 0.0)
    """

    code = LossCode.FNN_PROBA_SQUARED_ERROR
    option = "squared_error"
    estimator = "classifier"
    link = Sigmoid


class ProbaSquaredErrorSoftmax(Loss):
    """Squared error of softmax outputs, the same sum (multiclass targets).

    Examples
    --------
    >>> from fastnn.losses import ProbaSquaredErrorSoftmax
    >>> ProbaSquaredErrorSoftmax().spec()
    ('proba_squared_error_softmax', 0.0)
    """

    code = LossCode.FNN_PROBA_SQUARED_ERROR_SOFTMAX
    option = "squared_error"
    estimator = "classifier"
    multiclass = True
    link = _Softmax


# Every loss by its engine name (one class per C code).
LOSS_CLASSES: dict[str, type[Loss]] = {c.name: c for c in Loss.__subclasses__()}


def loss_options(estimator: str) -> list[str]:
    """The ``loss=`` values ``estimator`` ("regressor", "classifier") takes."""
    return sorted({c.option for c in LOSS_CLASSES.values() if c.estimator == estimator})


def parameter_constraints(estimator: str) -> dict:
    """``loss`` and the loss parameters, for the estimator's constraints."""
    constraints: dict = {"loss": [StrOptions(set(loss_options(estimator)))]}
    for cls in LOSS_CLASSES.values():
        if cls.estimator == estimator:
            constraints.update(cls._parameter_constraints)
    return constraints


def loss_class(estimator: str, option: str, multiclass: bool = False) -> type[Loss]:
    """The loss ``loss=option`` selects on ``estimator`` for its targets."""
    for cls in LOSS_CLASSES.values():
        if (cls.estimator, cls.option, cls.multiclass) == (
            estimator,
            option,
            multiclass,
        ):
            return cls
    raise ValueError(
        f"Unknown loss {option!r} for a {estimator}; expected one of "
        f"{loss_options(estimator)}."
    )


def estimator_loss(estimator, multiclass: bool = False) -> Loss:
    """The loss an MLP estimator trains, with its parameters' values."""
    kind = "classifier" if is_classifier(estimator) else "regressor"
    cls = loss_class(kind, estimator.loss, multiclass)
    return cls(**{name: getattr(estimator, name) for name in cls._get_param_names()})


def _loss_doc(estimator: str, default: str) -> str:
    """The ``loss`` entry of ``estimator``'s numpydoc Parameters section."""
    by_option: dict[str, list[type[Loss]]] = {}
    for cls in LOSS_CLASSES.values():
        if cls.estimator == estimator:
            by_option.setdefault(cls.option, []).append(cls)
    options = ", ".join(f"'{option}'" for option in by_option)
    lines = [
        f"    loss : {{{options}}}, default='{default}'",
        "        The loss trained, averaged over samples (``sample_weight``",
        "        weighting them); each is a class of :mod:`fastnn.losses`:",
        "",
    ]
    for option, classes in by_option.items():
        summaries = " ".join(cls.__doc__.strip().splitlines()[0] for cls in classes)
        lines += textwrap.wrap(
            f"- ``'{option}'``: {summaries}",
            width=79,
            initial_indent=" " * 8,
            subsequent_indent=" " * 10,
        )
    return "\n".join(lines) + "\n"
