"""Optimizer state and learning-rate schedules, kept between epochs.

The per-element update rules live in ``csrc/``; these classes hold the flat
state arrays the engine updates in place, and the scalar schedule logic that
runs in Python between epochs (as scikit-learn's ``_stochastic_optimizers``
does).
"""

from __future__ import annotations

import numpy as np

from ._engine import SOLVER_ADAM, SOLVER_SGD


class _OptimizerState:
    """What every optimizer keeps between epochs: flat state arrays laid
    out like the parameters (updated in place by the engine) and a
    schedule that runs in Python between epochs."""

    solver_code: int
    arrays: tuple[np.ndarray, ...]

    def astype(self, dtype: np.dtype) -> None:
        self.arrays = tuple(a.astype(dtype, copy=False) for a in self.arrays)

    def epoch_kwargs(self) -> dict:
        """Keyword arguments of ``Trainer.run_epoch`` for the next epoch."""
        raise NotImplementedError

    def after_epoch(self, adam_t: int) -> None:
        pass

    def iteration_ends(self, time_step: int) -> None:
        pass

    def trigger_stopping(self, msg: str, verbose: bool) -> bool:
        if verbose:
            print(msg + " Stopping.")
        return True


class SGDState(_OptimizerState):
    """Velocities and learning-rate schedule of SGD with momentum."""

    solver_code = SOLVER_SGD

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
        self.arrays = (np.zeros(n_params, dtype=dtype),)

    def epoch_kwargs(self) -> dict:
        return dict(
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
    """First and second moments and step count of Adam.

    The bias-corrected step size is computed by the engine, batch by batch,
    from ``learning_rate_init`` and the step count.
    """

    solver_code = SOLVER_ADAM

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
        self.arrays = (np.zeros(n_params, dtype=dtype), np.zeros(n_params, dtype=dtype))

    def epoch_kwargs(self) -> dict:
        return dict(
            learning_rate=self.learning_rate_init,
            beta_1=self.beta_1,
            beta_2=self.beta_2,
            epsilon=self.epsilon,
            adam_t=self.t,
        )

    def after_epoch(self, adam_t: int) -> None:
        self.t = adam_t
