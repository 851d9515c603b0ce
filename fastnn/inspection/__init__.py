"""Model inspection: sensitivity of the loss or outputs to the input features.

The counterpart of :mod:`sklearn.inspection` for fastnn's models:
:func:`input_sensitivity` returns a ``Bunch`` shaped like
``permutation_importance``'s, from the exact gradients the engine's backward
pass computes, and :class:`SensitivityDisplay` plots it.
"""

from ._display import SensitivityDisplay
from ._sensitivity import input_sensitivity

__all__ = ["SensitivityDisplay", "input_sensitivity"]
