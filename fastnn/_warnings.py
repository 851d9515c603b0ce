"""Warnings that point at the user's call, not at fastnn or its wrappers.

A warning's ``stacklevel`` is counted here rather than written down at each
call site: the number of frames between ``model.fit(X, y)`` and the line that
warns changes with every refactoring and with scikit-learn's decorators
(``_fit_context``, the callback context).  Frames of fastnn itself and of
those scikit-learn wrappers are skipped; the first other frame is the one the
warning names (the user's script, or the meta-estimator that called ``fit``).
"""

from __future__ import annotations

import os
import sys
import warnings

import sklearn

_FASTNN_DIR = os.path.dirname(os.path.abspath(__file__))
_SKLEARN_DIR = os.path.dirname(os.path.abspath(sklearn.__file__))
# scikit-learn's modules whose frames only wrap an estimator's method.
_SKLEARN_WRAPPERS = (
    os.path.join(_SKLEARN_DIR, "base.py"),
    os.path.join(_SKLEARN_DIR, "callback") + os.sep,
)


def _is_internal(filename: str) -> bool:
    path = os.path.abspath(filename)
    return path.startswith(_FASTNN_DIR + os.sep) or path.startswith(_SKLEARN_WRAPPERS)


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` naming the first frame outside fastnn and its wrappers."""
    frame = sys._getframe(1)
    # stacklevel=2 names the caller of this function, i.e. ``frame``.
    level = 2
    while frame.f_back is not None and _is_internal(frame.f_code.co_filename):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
