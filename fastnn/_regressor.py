"""Multilayer perceptron regressor."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.utils import assert_all_finite

from ._base import BaseMultilayerPerceptron, _column_or_1d
from ._docs import _SHARED_ATTRIBUTES_DOC, _SHARED_PARAMETERS_DOC
from .losses import _loss_doc, parameter_constraints


class MLPRegressor(RegressorMixin, BaseMultilayerPerceptron):
    __doc__ = (
        """Multilayer perceptron regressor, a drop-in for scikit-learn's.

    Same parameters, defaults, attributes and results as
    :class:`sklearn.neural_network.MLPRegressor`; the training loop runs in
    fastnn's compiled engine.

    Read more in the :doc:`User Guide </user_guide/migrating>`.

    Parameters
    ----------
"""
        + _loss_doc("regressor", default="squared_error")
        + _SHARED_PARAMETERS_DOC
        + """
    huber_delta : float, default=1.0
        Threshold of ``loss='huber'`` between its quadratic and linear parts.

    quantile : float, default=None
        The quantile ``loss='quantile'`` estimates, in (0, 1)
        (HistGradientBoostingRegressor's parameter and rules).

    Attributes
    ----------"""
        + _SHARED_ATTRIBUTES_DOC
        + """
    See Also
    --------
    MLPClassifier : Multilayer perceptron classifier.

    Examples
    --------
    >>> import numpy as np
    >>> from fastnn import MLPRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, (200, 3))
    >>> y = X @ [1.0, -2.0, 0.5]
    >>> reg = MLPRegressor(hidden_layer_sizes=(16,), max_iter=2000,
    ...                    random_state=0).fit(X, y)
    >>> bool(reg.score(X, y) > 0.95)
    True
    """
    )

    _parameter_constraints: dict = {
        **BaseMultilayerPerceptron._parameter_constraints,
        **parameter_constraints("regressor"),
    }

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        huber_delta=1.0,
        quantile=None,
        dropout=0.0,
        weight_decay=0.01,
    ):
        self.huber_delta = huber_delta
        self.quantile = quantile
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            loss=loss,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            dropout=dropout,
            weight_decay=weight_decay,
        )

    def _output_activation(self) -> str:
        return self._loss().link.name

    def _validate_input(self, X, y, incremental, reset):
        X, y = self._validate_fit_data(X, y, reset, y_numeric=True)
        return X, self._check_targets(_column_or_1d(y))

    def _check_targets(self, y: np.ndarray) -> np.ndarray:
        if y.dtype.kind in "SU":
            # Parsing numbers out of strings is for the caller to do, as
            # check_array says of X (scikit-learn's MLPRegressor fails in its
            # loss, after the first forward pass).
            raise ValueError(
                "dtype='numeric' is not compatible with arrays of bytes/strings."
                "Convert your data to numeric values explicitly instead."
            )
        # Object targets were converted to floats, None to NaN, after
        # validate_data's finiteness check: scikit-learn then trains on NaN.
        assert_all_finite(y, input_name="y")
        loss = self._loss()
        loss.check_y(y)
        # HistGradientBoosting checks the loss's parameter after the targets,
        # before anything is fitted.
        loss.spec()
        return y

    def _encode_validation_targets(self, y_val, dtype) -> np.ndarray:
        self._loss().check_y(y_val, "y_val")
        return y_val

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self,
        X,
        y,
        sample_weight=None,
        *,
        X_val=None,
        y_val=None,
        sample_weight_val=None,
    ):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        X_val : {array-like, sparse matrix} of shape (n_val, n_features), \
                default=None
            A validation set for early stopping, used instead of holding out
            ``validation_fraction`` of ``X``; needs ``early_stopping=True`` and
            a stochastic solver.  In a :class:`~sklearn.pipeline.Pipeline`,
            ``Pipeline(..., transform_input=["X_val"])`` transforms it like
            ``X`` (with metadata routing enabled).

        y_val : array-like of shape (n_val,) or (n_val, n_outputs), \
                default=None
            The target values of ``X_val``.

        sample_weight_val : array-like of shape (n_val,), default=None
            Weights of the validation samples in the validation score and
            loss.

        Returns
        -------
        self : MLPRegressor
            The fitted model.

        Examples
        --------
        >>> import numpy as np
        >>> from fastnn import MLPRegressor
        >>> X = np.linspace(-1, 1, 40).reshape(-1, 2)
        >>> y = X[:, 0] - 2 * X[:, 1]
        >>> reg = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs",
        ...                    random_state=0).fit(X, y)
        >>> reg.n_outputs_, reg.out_activation_
        (1, 'identity')
        """
        validation = None
        if X_val is not None or y_val is not None or sample_weight_val is not None:
            validation = (X_val, y_val, sample_weight_val)
        return self._fit(X, y, sample_weight, incremental=False, validation=validation)

    # Not gated on the solver, as in scikit-learn (whose MLPClassifier
    # alone refuses L-BFGS): code written for its MLPRegressor runs.
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with one epoch over the given data.

        With ``solver='lbfgs'``, as in scikit-learn, a whole L-BFGS fit
        (``max_iter`` iterations) starting from the current weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : MLPRegressor
            The updated model.

        Examples
        --------
        >>> import numpy as np
        >>> from fastnn import MLPRegressor
        >>> X = np.linspace(-1, 1, 40).reshape(-1, 2)
        >>> y = X[:, 0] - 2 * X[:, 1]
        >>> reg = MLPRegressor(random_state=0).partial_fit(X, y).partial_fit(X, y)
        >>> len(reg.loss_curve_), reg.t_
        (2, 40)
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predict using the multilayer perceptron.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values.

        Examples
        --------
        >>> import numpy as np
        >>> from fastnn import MLPRegressor
        >>> X = np.linspace(-1, 1, 40).reshape(-1, 2)
        >>> y = X[:, 0] - 2 * X[:, 1]
        >>> reg = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs",
        ...                    random_state=0).fit(X, y)
        >>> bool(np.abs(reg.predict(X) - y).max() < 0.1)
        True
        """
        self._check_is_fitted()
        return self._predict(X)

    def _predict(self, X, check_input: bool = True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    def _score(self, X, y, sample_weight=None) -> float:
        return self._score_with_function(X, y, sample_weight, r2_score)
