"""The stochastic solvers: one class per optimizer, everything else derived.

Each class is one optimizer's whole Python side: its ``solver`` name, its
engine code (the C step is that code's case of ``fnn_optimizer_step`` in
``csrc/fastnn_kernels_impl.h``), the estimator parameters it reads, the flat
state arrays it keeps between epochs (laid out like the parameters, updated
in place by the engine) and its schedule hooks, which run in Python between
epochs as scikit-learn's ``_stochastic_optimizers`` do.  ``OPTIMIZERS`` maps
the ``solver`` names to the classes; the estimators' ``solver`` options and
messages derive from it.

The module is private, as scikit-learn's ``_stochastic_optimizers`` is:
users choose an optimizer by ``solver=`` and its parameters on the
estimator, never by an object.  A fitted model holds one of these objects
(``_optimizer``), so their module and class names are part of the skops
format and stay as they are.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ._engine import Optimizer, OptimizerCode, optimizer_state_arrays


class _OptimizerState:
    """What every optimizer keeps between epochs: flat state arrays laid
    out like the parameters (updated in place by the engine) and a
    schedule that runs in Python between epochs."""

    solver: ClassVar[str]
    code: ClassVar[int]
    arrays: tuple[np.ndarray, ...]

    @classmethod
    def from_estimator(cls, estimator, n_params: int, dtype) -> _OptimizerState:
        """The optimizer of ``estimator``'s parameters, with zeroed state."""
        raise NotImplementedError

    def _zeroed_arrays(self, n_params: int, dtype) -> tuple[np.ndarray, ...]:
        n_arrays = optimizer_state_arrays(self.code)
        return tuple(np.zeros(n_params, dtype=dtype) for _ in range(n_arrays))

    def astype(self, dtype: np.dtype) -> None:
        self.arrays = tuple(a.astype(dtype, copy=False) for a in self.arrays)

    def engine_optimizer(self) -> Optimizer:
        """The engine's optimizer for the next epoch (``Trainer.run_epoch``)."""
        raise NotImplementedError

    def after_epoch(self, optimizer: Optimizer) -> None:
        """Keep what the engine counted in ``optimizer`` (also after an
        interrupted epoch)."""

    def iteration_ends(self, time_step: int) -> None:
        """Schedule hook after each epoch; ``time_step`` is ``t_``."""

    def trigger_stopping(self, msg: str, verbose: bool) -> bool:
        """Whether to stop after ``n_iter_no_change`` epochs without
        improvement (the schedule may adapt instead)."""
        if verbose:
            print(msg + " Stopping.")
        return True


class SGDState(_OptimizerState):
    """Stochastic gradient descent with momentum (optionally Nesterov's).

    Keeps the velocities; the ``'invscaling'`` and ``'adaptive'``
    learning-rate schedules are scikit-learn's.
    """

    solver = "sgd"
    code = OptimizerCode.FNN_SGD

    def __init__(
        self,
        n_params: int,
        dtype: np.dtype,
        learning_rate_init: float,
        lr_schedule: str,
        momentum: float,
        nesterov: bool,
        power_t: float,
    ) -> None:
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.lr_schedule = lr_schedule
        self.momentum = momentum
        self.nesterov = nesterov
        self.power_t = power_t
        self.arrays = self._zeroed_arrays(n_params, dtype)

    @classmethod
    def from_estimator(cls, estimator, n_params: int, dtype) -> SGDState:
        return cls(
            n_params,
            dtype,
            estimator.learning_rate_init,
            estimator.learning_rate,
            estimator.momentum,
            estimator.nesterovs_momentum,
            estimator.power_t,
        )

    def engine_optimizer(self) -> Optimizer:
        return Optimizer(
            self.code,
            self.arrays,
            learning_rate=self.learning_rate,
            momentum=self.momentum,
            nesterov=self.nesterov,
        )

    def iteration_ends(self, time_step: int) -> None:
        if self.lr_schedule == "invscaling":
            self.learning_rate = (
                float(self.learning_rate_init) / (time_step + 1) ** self.power_t
            )

    def trigger_stopping(self, msg: str, verbose: bool) -> bool:
        if self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(f"{msg} Setting learning rate to {self.learning_rate:f}")
        return False


class AdamState(_OptimizerState):
    """Adam (Kingma and Ba), as scikit-learn runs it.

    Keeps the first and second moments and the step count ``t``.  The
    bias-corrected step size is computed by the engine, batch by batch,
    from ``learning_rate_init`` and the step count; the learning-rate
    schedules are SGD's only, as in scikit-learn.
    """

    solver = "adam"
    code = OptimizerCode.FNN_ADAM

    def __init__(
        self,
        n_params: int,
        dtype: np.dtype,
        learning_rate_init: float,
        beta_1: float,
        beta_2: float,
        epsilon: float,
    ) -> None:
        self.learning_rate_init = learning_rate_init
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.t = 0
        self.arrays = self._zeroed_arrays(n_params, dtype)

    @classmethod
    def from_estimator(cls, estimator, n_params: int, dtype) -> AdamState:
        return cls(
            n_params,
            dtype,
            estimator.learning_rate_init,
            estimator.beta_1,
            estimator.beta_2,
            estimator.epsilon,
        )

    def _engine_parameters(self) -> dict:
        return dict(
            learning_rate=self.learning_rate_init,
            beta_1=self.beta_1,
            beta_2=self.beta_2,
            epsilon=self.epsilon,
            step_count=self.t,
        )

    def engine_optimizer(self) -> Optimizer:
        return Optimizer(self.code, self.arrays, **self._engine_parameters())

    def after_epoch(self, optimizer: Optimizer) -> None:
        self.t = optimizer.step_count


class AdamWState(AdamState):
    """Adam with decoupled weight decay (Loshchilov and Hutter), as
    ``torch.optim.AdamW`` runs it.

    Each step first shrinks every coefficient by the factor
    ``1 - learning_rate_init * weight_decay``, then takes Adam's step (the
    decay does not go through the moments).  Intercepts are not decayed, as
    scikit-learn's ``alpha`` does not penalise them.  ``alpha`` still adds
    its L2 term to the gradient (and to the loss), as for every solver: set
    ``alpha=0`` for the AdamW of PyTorch.  The Adam step is
    :class:`AdamState`'s, epsilon included (added before the bias
    correction, where PyTorch adds it after), so that ``weight_decay=0``
    trains Adam's model bit for bit.
    """

    solver = "adamw"
    code = OptimizerCode.FNN_ADAMW

    def __init__(
        self,
        n_params: int,
        dtype: np.dtype,
        learning_rate_init: float,
        beta_1: float,
        beta_2: float,
        epsilon: float,
        weight_decay: float,
    ) -> None:
        super().__init__(n_params, dtype, learning_rate_init, beta_1, beta_2, epsilon)
        self.weight_decay = weight_decay

    @classmethod
    def from_estimator(cls, estimator, n_params: int, dtype) -> AdamWState:
        return cls(
            n_params,
            dtype,
            estimator.learning_rate_init,
            estimator.beta_1,
            estimator.beta_2,
            estimator.epsilon,
            estimator.weight_decay,
        )

    def engine_optimizer(self) -> Optimizer:
        return Optimizer(
            self.code,
            self.arrays,
            weight_decay=self.weight_decay,
            **self._engine_parameters(),
        )


# The stochastic solvers by their ``solver`` name.
OPTIMIZERS: dict[str, type[_OptimizerState]] = {
    cls.solver: cls for cls in (SGDState, AdamState, AdamWState)
}
