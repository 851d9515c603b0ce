"""fastnn: scikit-learn's multilayer perceptrons, trained by a compiled engine.

``from fastnn import MLPClassifier`` in place of
``from sklearn.neural_network import MLPClassifier`` gives the same results,
faster.
"""

from . import activations, losses
from ._classifier import MLPClassifier
from ._config import show_config
from ._gradcheck import check_gradients
from ._regressor import MLPRegressor

__version__ = "0.1.0"

__all__ = [
    "MLPClassifier",
    "MLPRegressor",
    "activations",
    "check_gradients",
    "losses",
    "show_config",
    "__version__",
]
