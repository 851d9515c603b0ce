"""Multilayer perceptron classifier."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    check_classification_targets,
    type_of_target,
    unique_labels,
)

from ._base import BaseMultilayerPerceptron, _column_or_1d
from ._docs import _SHARED_ATTRIBUTES_DOC, _SHARED_PARAMETERS_DOC
from .losses import _loss_doc, estimator_loss, parameter_constraints


class MLPClassifier(ClassifierMixin, BaseMultilayerPerceptron):
    __doc__ = (
        """Multilayer perceptron classifier, a drop-in for scikit-learn's.

    Same parameters, defaults, attributes and results as
    :class:`sklearn.neural_network.MLPClassifier`; the training loop runs in
    fastnn's compiled engine.  Optimises the log-loss unless ``loss`` says
    otherwise.

    Read more in the :doc:`User Guide </user_guide/migrating>`.

    Parameters
    ----------"""
        + _SHARED_PARAMETERS_DOC
        + "\n"
        + _loss_doc("classifier", default="log_loss")
        + """
    class_weight : dict, list of dict, 'balanced' or None, default=None
        Weights of the classes, multiplied into ``sample_weight``:
        ``'balanced'`` is n_samples / (n_classes * count of the class); a
        dict maps labels to weights (multilabel: one dict per label).
        ``'balanced'`` is not available in ``partial_fit``.

    Attributes
    ----------
    classes_ : ndarray or list of ndarray
        Class labels of each output."""
        + _SHARED_ATTRIBUTES_DOC
        + """
    See Also
    --------
    MLPRegressor : Multilayer perceptron regressor.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from fastnn import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(20,), max_iter=500,
    ...                     random_state=0).fit(X, y)
    >>> clf.predict(X[:3])
    array([0, 0, 0])
    """
    )

    _numeric_targets = False

    _parameter_constraints: dict = {
        **BaseMultilayerPerceptron._parameter_constraints,
        **parameter_constraints("classifier"),
        "class_weight": [dict, list, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
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
        loss="log_loss",
        class_weight=None,
        dropout=0.0,
        weight_decay=0.01,
    ):
        self.class_weight = class_weight
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

    def _apply_class_weight(self, y, sample_weight, incremental: bool):
        """Sample weights times the weights of each sample's class."""
        if self.class_weight is None:
            return sample_weight
        if incremental and self.class_weight == "balanced":
            raise ValueError(
                "class_weight 'balanced' is not supported for partial_fit: the "
                "class frequencies of the whole data are not known. Compute them "
                "with sklearn.utils.class_weight.compute_class_weight and pass a "
                "dict instead."
            )
        # Class labels for single-output targets, the indicator matrix for
        # multilabel ones (whose class_weight is then one dict per label).
        multilabel = self._label_binarizer.y_type_.startswith("multilabel")
        labels = y if multilabel else self._label_binarizer.inverse_transform(y)
        weights = compute_sample_weight(self.class_weight, labels).astype(y.dtype)
        if not np.isfinite(weights).all():
            raise ValueError(f"class_weight must be finite, got {self.class_weight!r}.")
        if sample_weight is not None:
            weights *= sample_weight
        if not weights.any():
            raise ValueError(
                "class_weight gives every sample a weight of zero: the "
                "sample weights (class_weight times sample_weight) must "
                "contain at least one non-zero number."
            )
        return weights

    def _encode_validation_targets(self, y_val, dtype) -> np.ndarray:
        """y_val binarized like the training targets; its classes must be known."""
        check_classification_targets(y_val)
        binarizer = self._label_binarizer
        multilabel = type_of_target(y_val).startswith("multilabel")
        if multilabel != binarizer.y_type_.startswith("multilabel"):
            raise ValueError(
                f"y_val is {type_of_target(y_val)!r} but y is {binarizer.y_type_!r}: "
                "the validation targets must be of the kind the model is fitted on."
            )
        if not multilabel:
            known = set(self.classes_.tolist())
            unseen = [c for c in unique_labels(y_val).tolist() if c not in known]
            if unseen:
                raise ValueError(f"y_val contains previously unseen labels: {unseen}")
        return self._binarize(y_val, dtype)

    def _validation_weights(self, y, Y_val, sample_weight_val):
        """Validation weights times the class weights used in training."""
        if self.class_weight is None:
            return sample_weight_val
        multilabel = self._label_binarizer.y_type_.startswith("multilabel")
        decode = self._label_binarizer.inverse_transform
        labels_val = Y_val if multilabel else decode(Y_val)
        class_weight = self.class_weight
        if class_weight == "balanced":
            # The training set's frequencies, as for the training weights.
            labels = y if multilabel else decode(y)
            class_weight = _balanced_weights(labels)
        weights = compute_sample_weight(class_weight, labels_val).astype(y.dtype)
        return weights if sample_weight_val is None else weights * sample_weight_val

    def _stratify(self, Y) -> np.ndarray | None:
        # scikit-learn stratifies single-output targets, binarized to bool
        # (its error messages name those values).
        return Y.astype(bool) if self.n_outputs_ == 1 else None

    def _score_targets(self, Y) -> np.ndarray:
        # The score compares predicted labels with labels.
        return self._label_binarizer.inverse_transform(Y)

    def _encode_labels(self, y) -> np.ndarray:
        # LabelBinarizer would encode an unknown label as all zeros.
        unseen = np.setdiff1d(unique_labels(y), self.classes_)
        if len(unseen):
            raise ValueError(
                "`y` has classes not in `self.classes_`. "
                f"`self.classes_` has {self.classes_}. 'y' has "
                f"{unique_labels(y)}."
            )
        return self._label_binarizer.transform(y)

    def _output_activation(self) -> str:
        multiclass = self._label_binarizer.y_type_ == "multiclass"
        return estimator_loss(self, multiclass).link.name

    def _validate_input(self, X, y, incremental, reset):
        X, y = self._validate_fit_data(X, y, reset)
        y = self._check_targets(_column_or_1d(y))

        # A fresh fit defines the classes; warm starts and partial fits must
        # stay within the classes already known.
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same "
                        "classes as in the previous call to fit. Previously "
                        f"got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {classes}."
                )
        return X, self._binarize(y, X.dtype)

    def _check_targets(self, y: np.ndarray) -> np.ndarray:
        if y.dtype == object and len({isinstance(v, str) for v in y.ravel()}) > 1:
            # NumPy cannot sort such labels; say what is wrong instead.
            raise ValueError("Mix of label input types (string and number)")
        check_classification_targets(y)
        return y

    def _binarize(self, y, dtype) -> np.ndarray:
        """Targets as the engine reads them: one column per class, in ``dtype``.

        Multiclass targets are one-hot encoded straight into ``dtype``:
        LabelBinarizer's integer matrix would be the fit's largest temporary
        array (8 bytes per sample and class).
        """
        binarizer = self._label_binarizer
        if binarizer.y_type_ != "multiclass":
            return binarizer.transform(y).astype(dtype)
        Y = np.zeros((len(y), len(binarizer.classes_)), dtype=dtype)
        Y[np.arange(len(y)), np.searchsorted(binarizer.classes_, y)] = 1
        return Y

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
            The class labels (a label indicator matrix for multilabel).

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
            The class labels (a label indicator matrix for multilabel) of ``X_val``.

        sample_weight_val : array-like of shape (n_val,), default=None
            Weights of the validation samples in the validation score and
            loss.

        Returns
        -------
        self : MLPClassifier
            The fitted model.

        Examples
        --------
        >>> import numpy as np
        >>> from fastnn import MLPClassifier
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 10)
        >>> y = np.array([0, 1, 1, 0] * 10)
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
        ...                     random_state=0).fit(X, y)
        >>> clf.n_features_in_, clf.classes_
        (2, array([0, 1]))
        """
        validation = None
        if X_val is not None or y_val is not None or sample_weight_val is not None:
            validation = (X_val, y_val, sample_weight_val)
        return self._fit(X, y, sample_weight, incremental=False, validation=validation)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with one epoch over the given data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target labels.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        classes : array-like of shape (n_classes,), default=None
            All classes across calls; required on the first call.

        Returns
        -------
        self : MLPClassifier
            The updated model.

        Examples
        --------
        >>> import numpy as np
        >>> from fastnn import MLPClassifier
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 10)
        >>> y = np.array([0, 1, 1, 0] * 10)
        >>> clf = MLPClassifier(random_state=0)
        >>> clf = clf.partial_fit(X[:20], y[:20], classes=[0, 1])
        >>> clf = clf.partial_fit(X[20:], y[20:])
        >>> len(clf.loss_curve_), clf.t_
        (2, 40)
        """
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
            The predicted classes.

        Examples
        --------
        >>> import numpy as np
        >>> from fastnn import MLPClassifier
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 10)
        >>> y = np.array([0, 1, 1, 0] * 10)
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
        ...                     random_state=0).fit(X, y)
        >>> clf.predict(X[:4])
        array([0, 1, 1, 0])
        """
        self._check_is_fitted()
        return self._predict(X)

    def _predict(self, X, check_input: bool = True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return _decode(self._label_binarizer, y_pred)

    def _score(self, X, y, sample_weight=None) -> float:
        return self._score_with_function(X, y, sample_weight, accuracy_score)

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``.

        Examples
        --------
        >>> import numpy as np
        >>> from fastnn import MLPClassifier
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 10)
        >>> y = np.array([0, 1, 1, 0] * 10)
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
        ...                     random_state=0).fit(X, y)
        >>> proba = clf.predict_proba(X[:4])
        >>> proba.shape, bool(np.allclose(proba.sum(axis=1), 1))
        ((4, 2), True)
        """
        self._check_is_fitted()
        y_pred = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            return np.hstack([1 - y_pred, y_pred])
        return y_pred

    def predict_log_proba(self, X):
        """Logarithm of the probability estimates.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_y_prob : ndarray of shape (n_samples, n_classes)
            ``log(predict_proba(X))``.

        Examples
        --------
        >>> import numpy as np
        >>> from fastnn import MLPClassifier
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 10)
        >>> y = np.array([0, 1, 1, 0] * 10)
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
        ...                     random_state=0).fit(X, y)
        >>> bool(np.allclose(np.exp(clf.predict_log_proba(X)), clf.predict_proba(X)))
        True
        """
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


def _decode(binarizer: LabelBinarizer, y_pred: np.ndarray) -> np.ndarray:
    """``binarizer.inverse_transform(y_pred)``, without its overhead in the
    two common cases.

    The same operations as scikit-learn's: the first largest output's class
    for several classes, the second class where the output exceeds 0.5 for
    two (the binarizer's threshold, halfway between its labels 0 and 1).
    The rest (multilabel, a single class) goes to the binarizer.
    """
    classes = binarizer.classes_
    if binarizer.y_type_ == "multiclass" and y_pred.ndim == 2:
        return classes.take(y_pred.argmax(axis=1), mode="clip")
    if binarizer.y_type_ == "binary" and y_pred.ndim == 1 and len(classes) == 2:
        return classes[np.array(y_pred > 0.5, dtype=int)]
    return binarizer.inverse_transform(y_pred)


def _balanced_weights(labels: np.ndarray) -> dict | list[dict]:
    """'balanced' class weights of training labels, as explicit dicts."""
    if labels.ndim == 1:
        classes = np.unique(labels)
        weights = compute_class_weight("balanced", classes=classes, y=labels)
        return dict(zip(classes.tolist(), weights.tolist()))
    return [_balanced_weights(labels[:, k]) for k in range(labels.shape[1])]
