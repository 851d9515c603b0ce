"""scikit-learn's callback API (experimental since scikit-learn 1.9).

fastnn reports one fit task with one subtask per epoch, so that
``sklearn.callback.ProgressBar`` and ``ScoringMonitor`` follow training and
any callback can ask it to stop.  The hooks run between epochs, never inside
the compiled loop.  With an older scikit-learn the estimators work the same,
without callbacks.
"""

from __future__ import annotations

import copy
from contextlib import AbstractContextManager, nullcontext

try:
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # scikit-learn < 1.9

    class CallbackSupportMixin:  # type: ignore[no-redef]
        """Stand-in without callbacks."""


# A private helper of scikit-learn's: imported on its own, so that its move
# costs fastnn.dask.fit's callback teardown, not every estimator's callbacks.
try:
    from sklearn.callback._callback_support import callback_management_context
except ImportError:

    def callback_management_context(estimator) -> AbstractContextManager:
        return nullcontext()


# Attributes the callback machinery owns during a fit; never snapshotted.
_CALLBACK_ATTRIBUTES = {
    "_skl_callbacks",
    "_callback_fit_ctx",
    "_skl_callbacks_to_teardown",
    "_parent_callback_ctx",
}


def managed(estimator) -> AbstractContextManager:
    """What scikit-learn's ``_fit_context`` does for callbacks, for a fit
    that is not an estimator method (:func:`fastnn.dask.fit`): their
    ``teardown`` runs however the fit ends.  Without it a ``ProgressBar``'s
    monitor thread outlives the fit and keeps the process from exiting.
    """
    return callback_management_context(estimator)


def has_listeners(estimator) -> bool:
    """Whether callbacks (own or a meta-estimator's) follow this fit."""
    return bool(getattr(estimator, "_skl_callbacks", None)) or hasattr(
        estimator, "_parent_callback_ctx"
    )


def snapshot(estimator) -> dict:
    """A deep copy of the estimator's state, to restore if a callback raises."""
    return {
        key: copy.deepcopy(value)
        for key, value in vars(estimator).items()
        if key not in _CALLBACK_ATTRIBUTES
    }


def restore(estimator, state: dict) -> None:
    """Put back a :func:`snapshot`, dropping attributes set since."""
    for key in list(vars(estimator)):
        if key not in state and key not in _CALLBACK_ATTRIBUTES:
            delattr(estimator, key)
    vars(estimator).update(state)


class _NoContext:
    def subcontext(self, **kwargs):
        return self

    def call_on_fit_task_begin(self, **kwargs):
        return self

    def call_on_fit_task_end(self, **kwargs):
        return False


class FitTask:
    """The callback hooks of one call to fit or partial_fit.

    Parameters
    ----------
    estimator : fastnn estimator
    X, y : the training data as the callbacks see it
    sample_weight : ndarray or None
    n_epochs : int
        Epoch subtasks at most (0 for a fit without epochs, like L-BFGS).
    """

    def __init__(self, estimator, X, y, sample_weight, n_epochs: int) -> None:
        self.estimator, self.X, self.y = estimator, X, y
        self.metadata = (
            None if sample_weight is None else {"sample_weight": sample_weight}
        )
        init = getattr(estimator, "_init_callback_context", None)
        self.context = _NoContext() if init is None else init(max_subtasks=n_epochs)
        # Epoch subtasks cost Python time every epoch: only made for listeners.
        self.listening = init is not None and has_listeners(estimator)
        self.context.call_on_fit_task_begin(**self._arguments())
        self._epoch = _NoContext()

    def _arguments(self) -> dict:
        return dict(
            estimator=self.estimator, X=self.X, y=self.y, metadata=self.metadata
        )

    def _fitted_state(self) -> dict:
        est = self.estimator
        return {
            "coefs_": [c.copy() for c in est.coefs_],
            "intercepts_": [b.copy() for b in est.intercepts_],
            "n_iter_": getattr(est, "n_iter_", 0),
        }

    def begin_epoch(self) -> None:
        if self.listening:
            self._epoch = self.context.subcontext(task_name="epoch")
            self._epoch.call_on_fit_task_begin(**self._arguments())

    def end_epoch(self) -> bool:
        """End the epoch's subtask; True when a callback asks to stop."""
        if not self.listening:
            return False
        return bool(
            self._epoch.call_on_fit_task_end(
                **self._arguments(), reconstruction_attributes=self._fitted_state
            )
        )

    def end(self) -> None:
        self.context.call_on_fit_task_end(
            **self._arguments(), reconstruction_attributes=self._fitted_state
        )
