"""Parameter and attribute documentation shared by MLPClassifier and MLPRegressor."""

from __future__ import annotations

import textwrap

from .activations import ACTIVATIONS

# scikit-learn's names come first in the docs; the rest are fastnn's.
_SKLEARN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")


def _activation_doc() -> str:
    """The ``activation`` entry, listing every name ``activation=`` accepts."""
    others = [name for name in ACTIVATIONS if name not in _SKLEARN_ACTIVATIONS]
    names = ", ".join(f"``'{name}'``" for name in _SKLEARN_ACTIVATIONS)
    text = (
        f"Activation of the hidden layers: scikit-learn's {names}, or "
        + ", ".join(f"``'{name}'``" for name in others)
        + "; an instance from :mod:`fastnn.activations` to set parameters"
        " (``Sigmoid(beta=2.0)``, searchable as ``activation__beta``); or one"
        " entry per hidden layer.  Formulas and derivatives are in"
        " :mod:`fastnn.activations`."
    )
    lines = ["    activation : str, Activation or sequence of those, default='relu'"]
    lines += textwrap.wrap(
        text, width=79, initial_indent=" " * 8, subsequent_indent=" " * 8
    )
    return "\n".join(lines) + "\n"


_SHARED_PARAMETERS_DOC = (
    """
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of neurons in the ith hidden layer.

"""
    + _activation_doc()
    + """
    solver : {'lbfgs', 'sgd', 'adam', 'adamw'}, default='adam'
        Weight optimisation: ``'lbfgs'`` (quasi-Newton, full batch),
        ``'sgd'`` (stochastic gradient descent with momentum), ``'adam'``,
        or ``'adamw'`` (Adam with decoupled weight decay, see
        ``weight_decay``).

    alpha : float, default=0.0001
        Strength of the L2 penalty, divided by the (weighted) batch size.
        It applies with every solver, ``'adamw'`` included, where it adds
        to the decoupled ``weight_decay``.

    batch_size : int or 'auto', default='auto'
        Minibatch size of the stochastic solvers; ``'auto'`` is
        ``min(200, n_samples)``.

    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning-rate schedule of ``solver='sgd'``.

    learning_rate_init : float, default=0.001
        Initial step size of ``'sgd'``, ``'adam'`` and ``'adamw'``.

    power_t : float, default=0.5
        Exponent of the ``'invscaling'`` schedule.

    max_iter : int, default=200
        Maximum number of epochs (or L-BFGS iterations).

    shuffle : bool, default=True
        Whether to shuffle the samples before each epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the batch order and the validation
        split; the same seed gives the same draws as scikit-learn.

    tol : float, default=1e-4
        Tolerance of the stopping criteria.

    verbose : bool, default=False
        Print progress messages (scikit-learn's format).

    warm_start : bool, default=False
        Reuse the previous solution as initialisation of ``fit``.

    momentum : float, default=0.9
        Momentum of ``'sgd'``.

    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum with ``'sgd'``.

    early_stopping : bool, default=False
        Stop when the score on a held-out validation split (or on the
        ``X_val``, ``y_val`` passed to ``fit``) stops improving.

    validation_fraction : float, default=0.1
        Fraction of the training data held out for early stopping (unused
        when ``fit`` is given ``X_val`` and ``y_val``).

    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of the moment estimates of ``'adam'`` and ``'adamw'``.

    epsilon : float, default=1e-8
        Numerical stability term of ``'adam'`` and ``'adamw'``.

    n_iter_no_change : int, default=10
        Epochs without improvement of at least ``tol`` before stopping.

    max_fun : int, default=15000
        Maximum number of loss evaluations of ``'lbfgs'``.

    dropout : float or sequence of float, default=0.0
        Inverted-dropout rate of the hidden layers (one for all, or one per
        hidden layer), applied in training batches only.  The masks are
        reproducible from ``random_state`` and independent of the thread
        count; a rate of 0 leaves the model exactly as without dropout.
        Not available with ``'lbfgs'``.

    weight_decay : float, default=0.01
        Decoupled weight decay of ``'adamw'`` (Loshchilov and Hutter), named
        and defaulting as in ``torch.optim.AdamW``: each step multiplies the
        coefficients by ``1 - learning_rate_init * weight_decay`` before
        Adam's update.  Intercepts are not decayed (``alpha`` does not
        penalise them either).  ``alpha``'s L2 term still applies: set
        ``alpha=0`` for PyTorch's update.  ``epsilon`` is added as in
        ``'adam'``, to the square root of the second moments before their
        bias correction (PyTorch adds it after), which only matters while
        those moments are of ``epsilon``'s order.  Ignored by the other
        solvers.
"""
)

_SHARED_ATTRIBUTES_DOC = """
    loss_ : float
        The loss at the end of fitting (for stochastic solvers, the mean
        loss of the last epoch).

    best_loss_ : float or None
        Smallest epoch loss (stochastic solvers without early stopping).

    loss_curve_ : list of float
        Epoch losses (stochastic solvers).

    validation_scores_ : list of float or None
        Validation scores per epoch when ``early_stopping=True``.

    best_validation_score_ : float or None
        Best validation score when ``early_stopping=True``.

    t_ : int
        Number of training samples seen by the solver.

    coefs_ : list of ndarray
        ``coefs_[i]`` is the weight matrix between layers i and i + 1.

    intercepts_ : list of ndarray
        ``intercepts_[i]`` is the bias vector of layer i + 1.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features seen during fit, when X has string column
        names.

    n_iter_ : int
        Number of epochs (or L-BFGS iterations) run.

    n_layers_ : int
        Number of layers, input and output included.

    n_outputs_ : int
        Number of outputs.

    out_activation_ : str
        Name of the output activation.

    validation_loss_curve_ : list of float or None
        Loss on the validation split after each epoch when
        ``early_stopping=True`` (same objective as ``loss_curve_``).
"""
