"""Shared machinery of fastnn's multilayer perceptrons.

Python owns everything a user sees (parameters, validation, random state,
schedules, stopping, warnings); the Cython engine runs one whole epoch per
call.  Behaviour follows ``sklearn.neural_network`` so that the same
parameters, data and ``random_state`` give the same model.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
import scipy
import scipy.optimize
import scipy.sparse as sp
from sklearn import get_config
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import assert_all_finite, check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    _check_y,
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from . import _engine, _network
from ._callbacks import CallbackSupportMixin, FitTask, has_listeners, restore, snapshot
from ._optimizers import OPTIMIZERS
from ._threads import engine_threads, forward_threads, products_threads
from ._warnings import warn
from .activations import ACTIVATIONS, Activation, _hidden_activation_specs, _spec
from .losses import Loss, estimator_loss

_STOCHASTIC_SOLVERS = tuple(OPTIMIZERS)
# "('sgd', 'adam', 'adamw')", for messages.
_STOCHASTIC_NAMES = "(" + ", ".join(map(repr, _STOCHASTIC_SOLVERS)) + ")"

# scikit-learn's error for a fit that diverged; fastnn's explanation follows
# it, so that code matching scikit-learn's message keeps working.
_NON_FINITE_WEIGHTS = (
    "Solver produced non-finite parameter weights. The input data may"
    " contain large values and need to be preprocessed."
)


# The dtypes predict takes without conversion (native byte order).
_NATIVE_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))


class BaseMultilayerPerceptron(CallbackSupportMixin, BaseEstimator, metaclass=ABCMeta):
    """Base class of :class:`MLPClassifier` and :class:`MLPRegressor`.

    Not meant to be used directly.  What differs between classification and
    regression is behind the hooks the subclasses override: the target
    checks and encodings (``_numeric_targets``, ``_check_targets``,
    ``_encode_labels``, ``_encode_validation_targets``, ``_score_targets``,
    ``_validation_weights``), the split (``_stratify``) and the output
    activation.
    """

    # Whether scikit-learn's checks require numeric targets (False for
    # labels).
    _numeric_targets: bool = True

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        # A name, an Activation (with its own parameters), or a sequence of
        # those, one per hidden layer.
        "activation": [StrOptions(set(ACTIVATIONS)), Activation, list, tuple],
        "solver": [StrOptions({"lbfgs", *OPTIMIZERS})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        # One rate for every hidden layer, or one per hidden layer.
        "dropout": [Interval(Real, 0, 1, closed="left"), list, tuple],
    }

    @abstractmethod
    def __init__(
        self,
        hidden_layer_sizes,
        activation,
        solver,
        alpha,
        batch_size,
        learning_rate,
        learning_rate_init,
        power_t,
        max_iter,
        loss,
        shuffle,
        random_state,
        tol,
        verbose,
        warm_start,
        momentum,
        nesterovs_momentum,
        early_stopping,
        validation_fraction,
        beta_1,
        beta_2,
        epsilon,
        n_iter_no_change,
        max_fun,
        dropout=0.0,
        weight_decay=0.01,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.loss = loss
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.weight_decay = weight_decay

    # -- subclass hooks -----------------------------------------------------

    @abstractmethod
    def _validate_input(self, X, y, incremental: bool, reset: bool):
        """Validate X and y; return X and the 2-D float target matrix."""

    def _validate_fit_data(self, X, y, reset: bool, **kwargs):
        """``validate_data`` for training, its NaN and infinity test of X
        made by the engine's threads.

        scikit-learn's test reads X on one thread: a twentieth of a
        one-epoch fit on 60,000 x 784 values, and most of the work a fit
        cannot share among cores (``benchmarks/scaling.py``).  The errors
        are scikit-learn's, from its own test once the engine has found a
        bad value.
        """
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
            reset=reset,
            ensure_all_finite=False,
            **kwargs,
        )
        if get_config()["assume_finite"]:
            return X, y
        if sp.issparse(X):
            self._assert_finite(X)
            return X, y
        # engine_threads, not the bare ceiling: a forked child of a process
        # that ran a team must run on one thread, or OpenMP hangs it.
        with engine_threads(blas=False) as n_threads:
            finite = _engine.InputMatrix(X).all_finite(n_threads)
        if not finite:
            self._assert_finite(X)
        return X, y

    @abstractmethod
    def _check_targets(self, y: np.ndarray) -> np.ndarray:
        """The checks ``fit`` makes of validated targets beyond
        ``validate_data``'s; ``input_gradient`` makes them too."""

    @abstractmethod
    def _output_activation(self) -> str:
        """Name of the output activation for the fitted targets."""

    @abstractmethod
    def _score(self, X, y, sample_weight=None) -> float:
        """Score without input validation (used for early stopping)."""

    # -- network layout -----------------------------------------------------

    def _layer_units(self) -> list[int]:
        return [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]

    def _activation_specs(self) -> list[tuple[str, float, float]]:
        """Engine specs of every layer after the input (output last)."""
        return _network.layer_activation_specs(
            self.activation, len(self.coefs_) - 1, self.out_activation_
        )

    def _loss(self) -> Loss:
        """The loss trained (``fastnn.losses``), with its parameters."""
        multiclass = getattr(self, "out_activation_", None) == "softmax"
        return estimator_loss(self, multiclass)

    def _engine_loss(self) -> str:
        return self._loss().name

    def _loss_param(self) -> float:
        return self._loss().spec()[1]

    def _engine_spec(
        self,
        layer_units: list[int],
        activations: list | None = None,
        dropout: list[float] | None = None,
    ) -> _network.EngineSpec:
        """The network the engine runs: ``layer_units``, with
        ``activations`` (a snapshot's) or the estimator's own, and the hidden
        layers' ``dropout`` rates for a trainer that trains."""
        if activations is None:
            activations = self._activation_specs()
        return _network.EngineSpec(
            layer_units,
            activations,
            self._engine_loss(),
            self._loss_param(),
            dropout,
        )

    def _packed_params(self, dtype, layer_units: list[int]) -> np.ndarray:
        """Copy coefs_ and intercepts_ into one flat array and make them views.

        The flat layout is the engine's (and scikit-learn's ``_pack``): every
        coefficient matrix raveled, then every intercept vector.
        """
        # Edited or stale coefs_ must fit the layers about to be trained.
        flat, units, _ = _network.snapshot(self, None, dtype)
        if units != layer_units:
            raise ValueError(
                f"coefs_ describe layers of {units} units, but the estimator "
                f"trains {layer_units} (input, hidden_layer_sizes, outputs)."
            )
        self._set_params_views(flat, units)
        return flat

    def _set_params_views(self, flat: np.ndarray, units: list[int]) -> None:
        coef_slices, intercept_slices = _network.param_slices(units)
        coefs = [
            flat[where].reshape(fan_in, fan_out)
            for where, fan_in, fan_out in zip(coef_slices, units[:-1], units[1:])
        ]
        intercepts = [flat[where] for where in intercept_slices]
        self.coefs_, self.intercepts_ = coefs, intercepts

    # -- fitting ------------------------------------------------------------

    def _initialize(self, layer_units: list[int], dtype) -> None:
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = layer_units[-1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_activation()

        # Glorot uniform initialisation, drawn in the same order and from the
        # same stream as scikit-learn so that equal seeds give equal weights.
        # Sigmoid layers get scikit-learn's 'logistic' factor; the output
        # weights take the last hidden layer's.
        hidden = _hidden_activation_specs(self.activation, len(layer_units) - 2)
        if hidden:
            feeding = hidden + hidden[-1:]
        else:
            # Without hidden layers scikit-learn still picks the factor by
            # the activation's name; aliases must give the same weights.
            single = isinstance(self.activation, str | Activation)
            feeding = [_spec(self.activation) if single else ("", 0.0, 0.0)]
        # Built aside and assigned at once: a predict in another thread reads
        # these lists and must not see them half filled.
        coefs, intercepts = [], []
        for i, (fan_in, fan_out) in enumerate(zip(layer_units[:-1], layer_units[1:])):
            factor = 2.0 if feeding[i][0] == "logistic" else 6.0
            bound = np.sqrt(factor / (fan_in + fan_out))
            coef = self._random_state.uniform(-bound, bound, (fan_in, fan_out))
            intercept = self._random_state.uniform(-bound, bound, fan_out)
            coefs.append(coef.astype(dtype, copy=False))
            intercepts.append(intercept.astype(dtype, copy=False))
        self.coefs_, self.intercepts_ = coefs, intercepts
        self._best_coefs = [c.copy() for c in self.coefs_]
        self._best_intercepts = [b.copy() for b in self.intercepts_]

        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.validation_loss_curve_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.validation_loss_curve_ = None
                self.best_validation_score_ = None

    def _fit(
        self, X, y, sample_weight=None, incremental: bool = False, validation=None
    ):
        # A callback may raise in the middle of training; the estimator then
        # goes back to its state before this call (only paid for when
        # callbacks listen: nothing else can raise after the first epoch).
        state = snapshot(self) if has_listeners(self) else None
        try:
            return self._fit_unguarded(X, y, sample_weight, incremental, validation)
        except Exception:
            if state is not None:
                restore(self, state)
            raise

    def _fit_unguarded(self, X, y, sample_weight, incremental: bool, validation):
        hidden_layer_sizes = self._hidden_layer_sizes()
        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental
        )

        y_given = y
        X, y = _network.checked_validation(
            X, lambda X: self._validate_input(X, y, incremental, reset=first_pass)
        )
        if not first_pass:
            # Warm starts and partial fits keep the model's precision, as
            # scikit-learn's in-place updates do.
            X = X.astype(_network.model_dtype(self), copy=False)
        if sp.issparse(X):
            # The engine reads rows of CSR input in place.
            X = X.tocsr()
        n_samples, n_features = X.shape
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        # The engine reads targets in the working dtype, one row per sample.
        y = self._loss().cast_y(y, X.dtype)
        if validation is not None:
            validation = self._validate_validation_set(X, y, *validation)
        layer_units = [n_features] + hidden_layer_sizes + [y.shape[1]]
        batch_rows = self.batch_size if isinstance(self.batch_size, Integral) else 1

        # Refused class weights must leave the model untouched.
        sample_weight = self._apply_class_weight(y, sample_weight, incremental)
        params = self._prepare_fit(
            layer_units, X.dtype, first_pass, min(batch_rows, n_samples)
        )
        if validation is not None:
            X_val, Y_val, sw_val = validation
            validation = X_val, Y_val, self._validation_weights(y, Y_val, sw_val)

        stochastic = self.solver in _STOCHASTIC_SOLVERS
        n_epochs = (1 if incremental else self.max_iter) if stochastic else 0
        task = FitTask(self, X, y_given, sample_weight, n_epochs)
        if stochastic:
            self._fit_stochastic(
                X, y, sample_weight, layer_units, params, incremental, task, validation
            )
        else:
            self._fit_lbfgs(X, y, sample_weight, layer_units, params)
        task.end()
        return self._finish_fit()

    def _prepare_fit(
        self, layer_units: list[int], dtype, first_pass: bool, batch_rows: int = 1
    ) -> np.ndarray:
        """The step between checking the data and training, shared by
        ``fit``, ``partial_fit`` and :func:`fastnn.dask.fit`.

        Checks the layers' sizes, seeds the random state, draws the initial
        weights on a first pass (a warm start's weights are checked against
        the layers instead) and returns the flat parameters that training
        updates in place, ``coefs_`` and ``intercepts_`` being views of them.
        """
        _network.check_blas_sizes(layer_units, batch_rows)
        self.n_outputs_ = layer_units[-1]
        self._random_state = check_random_state(self.random_state)
        dropout = self._dropout_rates(len(layer_units) - 2)
        if any(dropout) and self.solver == "lbfgs":
            raise ValueError(
                f"dropout needs a stochastic solver {_STOCHASTIC_NAMES}: L-BFGS "
                "requires a deterministic objective."
            )
        if first_pass:
            self._initialize(layer_units, dtype)
            self._dropout_seed = None
            self._dropout_step = 0
        return self._packed_params(dtype, layer_units)

    def _finish_fit(self):
        """The last step of every fit: a model with non-finite weights is
        refused, whoever trained it."""
        if not all(np.isfinite(w).all() for w in self.coefs_ + self.intercepts_):
            raise ValueError(_NON_FINITE_WEIGHTS)
        return self

    def _hidden_layer_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        if not hasattr(sizes, "__iter__"):
            sizes = [sizes]
        sizes = list(sizes)
        if np.any(np.array(sizes) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return sizes

    def _apply_class_weight(self, y, sample_weight, incremental: bool):
        """Combine sample weights with class weights (classifiers only)."""
        return sample_weight

    def _dropout_rates(self, n_hidden: int) -> list[float]:
        if isinstance(self.dropout, Real):
            return [float(self.dropout)] * n_hidden
        rates = [float(r) for r in self.dropout]
        if len(rates) != n_hidden or not all(0 <= r < 1 for r in rates):
            raise ValueError(
                "dropout must be a rate in [0, 1) or one such rate per hidden "
                f"layer ({n_hidden}); got {self.dropout!r}."
            )
        return rates

    def _make_optimizer(self, n_params: int, dtype):
        return OPTIMIZERS[self.solver].from_estimator(self, n_params, dtype)

    def _validate_validation_set(self, X, y, X_val, y_val, sample_weight_val):
        """Check a validation set passed to fit; return it in the working dtype.

        The rules follow HistGradientBoosting's.  Its messages are reused
        where it has one: the two for a missing half verbatim, the one for
        ``early_stopping=False`` without its "'auto' or" (fastnn has no
        ``'auto'``) and with the space it lacks.  A lone
        ``sample_weight_val``, a non-stochastic solver and a one-row set are
        fastnn's checks (HistGradientBoosting ignores the first and has no
        such solvers), with fastnn's messages.
        """
        if y_val is None and X_val is not None:
            raise ValueError("X_val is provided, but y_val was not provided.")
        if X_val is None and y_val is not None:
            raise ValueError("y_val is provided, but X_val was not provided.")
        if X_val is None:
            raise ValueError(
                "sample_weight_val is provided, but X_val and y_val were not provided."
            )
        if not self.early_stopping:
            raise ValueError(
                "X_val and y_val are passed to fit while at the same time "
                "early_stopping is False. When passing X_val and y_val to fit, "
                "early_stopping should be set to True."
            )
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise ValueError(
                "X_val and y_val are used for early stopping, which only the "
                f"stochastic solvers {_STOCHASTIC_NAMES} do; solver={self.solver!r}."
            )
        X_val = _network.checked_validation(
            X_val,
            lambda X_val: validate_data(
                self, X_val, accept_sparse=["csr", "csc"], dtype=X.dtype, reset=False
            ),
            "X_val",
        )
        if sp.issparse(X_val):
            X_val = X_val.tocsr()
        y_val = check_array(
            y_val,
            ensure_2d=False,
            dtype="numeric" if self._numeric_targets else None,
            input_name="y_val",
            estimator=self,
        )
        check_consistent_length(X_val, y_val)
        if X_val.shape[0] < 2:
            raise ValueError(
                f"The validation set is too small: X_val has {X_val.shape[0]} "
                "sample; early stopping needs at least 2."
            )
        Y_val = self._encode_validation_targets(_column_or_1d(y_val), X.dtype)
        if Y_val.ndim == 1:
            Y_val = Y_val.reshape((-1, 1))
        Y_val = self._loss().cast_y(Y_val, X.dtype, "y_val")
        if Y_val.shape[1] != y.shape[1]:
            raise ValueError(
                f"y_val has {Y_val.shape[1]} outputs, but y has {y.shape[1]}."
            )
        if sample_weight_val is not None:
            sample_weight_val = _check_sample_weight(
                sample_weight_val, X_val, dtype=X.dtype
            )
        return X_val, Y_val, sample_weight_val

    def _encode_validation_targets(self, y_val, dtype) -> np.ndarray:
        """y_val as the training targets are encoded (subclass hook)."""
        return y_val

    def _validation_weights(self, y, Y_val, sample_weight_val):
        """Validation sample weights, with class weights where they apply."""
        return sample_weight_val

    def _stratify(self, Y) -> np.ndarray | None:
        """What the early-stopping split is stratified by (None: not at all)."""
        return None

    def _score_targets(self, Y) -> np.ndarray:
        """Encoded targets as the score reads them (subclass hook)."""
        return Y

    def _encode_labels(self, y) -> np.ndarray:
        """Targets of the fitted model as numbers (subclass hook)."""
        return y

    def _fit_stochastic(
        self, X, y, sample_weight, layer_units, params, incremental, task, validation
    ):
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._make_optimizer(params.shape[0], X.dtype)
        optimizer = self._optimizer
        optimizer.astype(X.dtype)

        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        if validation is not None:
            # The given set replaces the split: no rows of X are held out.
            X_train, y_train, sw_train = X, y, sample_weight
            X_val, y_val, sw_val = validation
        elif early_stopping:
            stratify = self._stratify(y)
            arrays = (X, y) if sample_weight is None else (X, y, sample_weight)
            split = train_test_split(
                *arrays,
                random_state=self._random_state,
                test_size=self.validation_fraction,
                stratify=stratify,
            )
            X_train, X_val, y_train, y_val = split[:4]
            sw_train, sw_val = split[4:] if sample_weight is not None else (None, None)
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset."
                )
        else:
            X_train, y_train, sw_train = X, y, sample_weight
            X_val = None
        validation_set = None
        if X_val is not None:
            # The validation loss reads encoded targets, the score labels.
            loss_rows = _EngineRows(
                _engine.InputMatrix(X_val),
                y_val,
                sw_val if sw_val is not None else np.ones(len(y_val), dtype=X.dtype),
            )
            validation_set = _ValidationSet(
                X_val, self._score_targets(y_val), sw_val, loss_rows
            )

        n_samples = X_train.shape[0]
        if sw_train is None:
            sw_train = np.ones(n_samples, dtype=X.dtype)

        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warn(
                    "Got `batch_size` less than 1 or larger than "
                    "sample size. It is going to be clipped"
                )
            batch_size = int(np.clip(self.batch_size, 1, n_samples))

        dropout = self._dropout_rates(len(layer_units) - 2)
        if any(dropout) and getattr(self, "_dropout_seed", None) is None:
            # Drawn only when dropout is on, so that without it the random
            # stream (and the model) stays scikit-learn's.
            self._dropout_seed = int(self._random_state.randint(np.iinfo(np.int32).max))
            self._dropout_step = 0
        # BLAS is pinned only if the products run on it: on the engine's
        # kernels a stochastic fit leaves the user's BLAS settings alone.
        with products_threads() as n_threads:
            trainer = self._engine_spec(layer_units, dropout=dropout).trainer(
                params,
                batch_size,
                n_threads,
                dropout_seed=getattr(self, "_dropout_seed", None) or 0,
                dropout_step=getattr(self, "_dropout_step", 0),
            )
            self._run_epochs(
                trainer,
                params,
                _EngineRows(_engine.InputMatrix(X_train), y_train, sw_train),
                validation_set,
                incremental,
                task,
            )
            self._dropout_step = trainer.dropout_step
        if early_stopping:
            self.coefs_ = self._best_coefs
            self.intercepts_ = self._best_intercepts

    def _run_epochs(
        self,
        trainer,
        params: np.ndarray,
        train: _EngineRows,
        validation: _ValidationSet | None,
        incremental: bool,
        task: FitTask,
    ) -> None:
        """The epochs of a stochastic fit, ``trainer`` updating ``params``;
        ``validation`` is the early-stopping set, if any."""
        optimizer = self._optimizer
        # Kept so that a diverging fit can hand back the last sound weights.
        epoch_start = params.copy()
        early_stopping = validation is not None
        n_samples = train.X.shape[0]
        sample_idx = np.arange(n_samples, dtype=np.intp)
        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                task.begin_epoch()
                epoch_start[:] = params
                if self.shuffle:
                    # sklearn.utils.shuffle draws a permutation of arange(n)
                    # and indexes with it; shuffling in place makes the same
                    # swaps from the same draws, without two new arrays.
                    self._random_state.shuffle(sample_idx)
                step = optimizer.engine_optimizer()
                try:
                    loss_sum = trainer.run_epoch(*train, sample_idx, step, self.alpha)
                finally:
                    optimizer.after_epoch(step)

                if not early_stopping and not np.isfinite(loss_sum):
                    # With early stopping scikit-learn trains on and ends
                    # with the best validated (finite) weights: so does fastnn.
                    self._diverged(params, epoch_start, loss_sum / n_samples)
                self.n_iter_ += 1
                self.loss_ = loss_sum / n_samples
                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print(f"Iteration {self.n_iter_:d}, loss = {self.loss_:.8f}")

                if early_stopping:
                    self.validation_loss_curve_.append(
                        trainer.evaluate_loss(*validation.loss_rows, self.alpha)
                    )
                self._update_no_improvement_count(validation)
                optimizer.iteration_ends(self.t_)
                if task.end_epoch():
                    break  # a callback asked to stop

                if self._no_improvement_count > self.n_iter_no_change:
                    if early_stopping:
                        msg = (
                            "Validation score did not improve more than "
                            f"tol={self.tol:f} for {self.n_iter_no_change:d} "
                            "consecutive epochs."
                        )
                    else:
                        msg = (
                            "Training loss did not improve more than "
                            f"tol={self.tol:f} for {self.n_iter_no_change:d} "
                            "consecutive epochs."
                        )
                    if optimizer.trigger_stopping(msg, self.verbose):
                        break
                    self._no_improvement_count = 0

                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warn(
                        f"Stochastic Optimizer: Maximum iterations ({self.max_iter:d}) "
                        "reached and the optimization hasn't converged yet.",
                        ConvergenceWarning,
                    )
        except KeyboardInterrupt:
            warn("Training interrupted by user.")
            return
        if early_stopping:
            return  # the best validated weights are restored, finite or not
        # The last step's effect is only seen by the next loss: look at the
        # outputs of the last batch once more, at negligible cost.
        last_batch = np.ascontiguousarray(sample_idx[-trainer.batch_size :])
        if not trainer.outputs_finite(*train, last_batch):
            self._diverged(params, epoch_start, np.inf)

    def _diverged(self, params, sound_params, loss) -> None:
        params[:] = sound_params
        raise ValueError(
            f"{_NON_FINITE_WEIGHTS} The training loss became non-finite ({loss}) "
            f"in epoch {self.n_iter_ + 1}: the learning rate (learning_rate_init="
            f"{self.learning_rate_init}) may be too large, or the data may contain "
            "large values that need scaling (e.g. with StandardScaler). The "
            "weights from the start of that epoch were restored."
        )

    def _update_no_improvement_count(self, validation: _ValidationSet | None):
        if validation is not None:
            score = self._score(
                validation.X, validation.y, sample_weight=validation.sample_weight
            )
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_coefs = [c.copy() for c in self.coefs_]
                self._best_intercepts = [b.copy() for b in self.intercepts_]
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _fit_lbfgs(self, X, y, sample_weight, layer_units, params):
        if sample_weight is None:
            sample_weight = np.ones(X.shape[0], dtype=X.dtype)
        grad = np.empty_like(params)
        X_in = _engine.InputMatrix(X)

        def loss_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
            params[:] = x
            loss = evaluator.loss_gradient(X_in, y, sample_weight, self.alpha, grad)
            return loss, grad.astype(np.float64)

        # BLAS pinned whatever the products: SciPy's L-BFGS-B calls BLAS
        # between the evaluations (see fastnn._threads).
        with engine_threads() as n_threads:
            evaluator = self._engine_spec(layer_units).trainer(
                params, min(X.shape[0], _LBFGS_CHUNK_ROWS), n_threads
            )
            self._minimize_lbfgs(loss_and_grad, params)

    def _minimize_lbfgs(self, loss_and_grad, params: np.ndarray) -> None:
        """Run SciPy's L-BFGS-B from ``params`` with this estimator's options.

        ``loss_and_grad(x)`` returns the objective and its float64 gradient
        at ``x``; it is a local evaluation for ``fit`` and a sum over a
        cluster's blocks for :func:`fastnn.dask.fit`.  The solution is left
        in ``params``.
        """
        options = {"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol}
        if _SCIPY_HAS_IPRINT:
            # SciPy 1.15 dropped L-BFGS-B's iprint; scikit-learn then prints
            # nothing for verbose L-BFGS fits, and neither does fastnn.
            options["iprint"] = 1 if self.verbose is True or self.verbose >= 1 else -1
        result = scipy.optimize.minimize(
            loss_and_grad,
            params.astype(np.float64),
            method="L-BFGS-B",
            jac=True,
            options=options,
        )
        params[:] = result.x
        self.loss_ = float(result.fun)
        if not np.isfinite(self.loss_):
            # scikit-learn returns such a model with a convergence warning;
            # fastnn treats it like a diverging stochastic fit.
            self.n_iter_ = min(result.nit, self.max_iter)
            raise ValueError(
                f"{_NON_FINITE_WEIGHTS} The training loss is non-finite "
                f"({self.loss_}) after {self.n_iter_} L-BFGS iteration(s): the data "
                "may contain large values that need scaling (e.g. with "
                "StandardScaler)."
            )
        self.n_iter_ = _check_lbfgs_result(result, self.max_iter)

    # -- prediction ---------------------------------------------------------

    def _forward_pass_fast(self, X, check_input: bool = True) -> np.ndarray:
        if check_input and not self._passes_validation_unchanged(X):
            # The engine checks a dense X for NaN and infinity as it reads
            # it, which saves a pass over the whole input.
            # Any numeric dtype, as scikit-learn's (strings are refused):
            # its promotion with the model's sets the output's dtype.
            X = _network.checked_validation(
                X,
                lambda X: validate_data(
                    self,
                    X,
                    accept_sparse=["csr", "csc"],
                    dtype="numeric",
                    ensure_all_finite=False,
                    reset=False,
                ),
            )
            if sp.issparse(X):
                self._assert_finite(X.data)
        # The lists are read once: a refit in another thread may replace
        # them at any moment (see _network).
        coefs, intercepts = self.coefs_, self.intercepts_
        network = _network.prepared(self, coefs, intercepts)
        model = network.dtype if network is not None else _network.model_dtype(self)
        dtype = model if X.dtype == model else _network.compute_dtype(X, model)
        if network is None or network.dtype != dtype:
            network = _engine.Network(
                *_network.snapshot(self, X.shape[1], dtype, coefs, intercepts)
            )
        n_features = network.layer_units[0]
        if X.shape[1] != n_features:
            raise ValueError(
                f"coefs_[0] has {n_features} rows, but X has {X.shape[1]} features."
            )
        check_finite = check_input and not sp.issparse(X)
        out = None
        with forward_threads(X.shape[0], network.largest_layer) as n_threads:
            for start, stop, block in _network.engine_blocks(X, dtype):
                inputs = _engine.InputMatrix(block)
                part = network.forward(inputs, n_threads, check_finite)
                if part is None:
                    # The engine found a NaN or an infinity: scikit-learn's
                    # error.
                    self._assert_finite(X)
                    part = network.forward(inputs, n_threads)
                if start == 0 and stop == X.shape[0]:
                    return part
                if out is None:
                    out = np.empty((X.shape[0], part.shape[1]), dtype=part.dtype)
                out[start:stop] = part
        return out

    def _passes_validation_unchanged(self, X) -> bool:
        """Whether ``validate_data`` would hand X back as it is, silently.

        True for the common case only: a 2-D float32/float64 NumPy array (not
        a subclass) in native byte order, with rows and the fitted number of
        columns, for a model fitted without feature names.  Checking that
        costs a microsecond where the full validation costs about fifty,
        most of a small prediction.  Anything else goes through the full
        validation and gets scikit-learn's exceptions and warnings; NaN and
        infinity are caught by the engine either way.
        """
        return (
            type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype in _NATIVE_FLOATS
            and X.shape[0] > 0
            and X.shape[1] == getattr(self, "n_features_in_", None)
            and not hasattr(self, "feature_names_in_")
        )

    def _assert_finite(self, X) -> None:
        assert_all_finite(X, estimator_name=type(self).__name__, input_name="X")

    def input_gradient(self, X, y=None):
        """Sensitivity of the loss, or of each output, to the input features.

        The cost's gradient with respect to the input layer's activations,
        ∂C/∂a, computed by the same backward
        kernels as training (one reverse pass per output, or one in all when
        ``y`` is given).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Dense input.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), \
                default=None
            Targets.  When given, the result is the gradient of each sample's
            own loss (the loss training follows, unit sample weight, no
            penalty term); otherwise the gradients of the output activations.

        Returns
        -------
        gradient : ndarray
            ``(n_samples, n_features)`` with ``y``; without it
            ``(n_samples, n_outputs, n_features)``, entry ``[i, k, j]`` being
            ∂ output_k(x_i) / ∂ x_ij, where the outputs are the output layer's
            activations (class probabilities for multiclass, the probability
            of each label for binary and multilabel, predictions for
            regressors).

        Examples
        --------
        >>> import numpy as np
        >>> from fastnn import MLPRegressor
        >>> X = np.random.RandomState(0).normal(size=(50, 3))
        >>> reg = MLPRegressor(hidden_layer_sizes=(5,), max_iter=5,
        ...                    random_state=0).fit(X, X[:, 0])
        >>> reg.input_gradient(X[:2]).shape
        (2, 1, 3)
        >>> reg.input_gradient(X[:2], X[:2, 0]).shape
        (2, 3)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        # As predict: one snapshot of the network, in the wider precision.
        dtype = _network.compute_dtype(X, _network.model_dtype(self))
        params, units, specs = _network.snapshot(self, X.shape[1], dtype)
        X = X.astype(dtype, copy=False)
        Y = None
        if y is not None:
            # The targets fit would accept, and nothing else.
            y = _check_y(
                y, multi_output=True, y_numeric=self._numeric_targets, estimator=self
            )
            Y = self._encode_targets(self._check_targets(y), X.shape[0], dtype)
        n_rows = 1 if Y is not None else self.n_outputs_
        out = np.empty((X.shape[0], n_rows, X.shape[1]), dtype=dtype)
        if X.shape[0]:
            # The input layer's product runs on BLAS: pinned.
            with engine_threads() as n_threads:
                trainer = self._engine_spec(units, specs).trainer(
                    params, min(X.shape[0], _network.EVALUATION_ROWS), n_threads
                )
                trainer.input_gradient(_engine.InputMatrix(X), Y, out)
        return out[:, 0, :] if Y is not None else out

    def _encode_targets(self, y, n_samples: int, dtype) -> np.ndarray:
        """Targets as the engine reads them: (n_samples, n_outputs) floats."""
        y = np.asarray(y)
        if y.shape[:1] != (n_samples,):
            raise ValueError(
                f"Found input variables with inconsistent numbers of samples: "
                f"[{n_samples}, {len(y)}]"
            )
        y = self._encode_labels(y)
        Y = self._loss().cast_y(np.reshape(y, (n_samples, -1)), dtype)
        if Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {Y.shape[1]} outputs, the model was fitted with "
                f"{self.n_outputs_}."
            )
        return Y

    def _score_with_function(self, X, y, sample_weight, score_function) -> float:
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        # A pickle (joblib, skops) or a deep copy stores every array of
        # coefs_ and intercepts_ on its own: make them views of one flat
        # array again, as a fit leaves them, which predictions read in place
        # instead of copying every weight on each call (_network.prepared).
        if "coefs_" in self.__dict__:
            try:
                flat, units, _ = _network.snapshot(
                    self, None, _network.model_dtype(self)
                )
            except (ValueError, AttributeError, TypeError):
                return  # edited layers: predictions say what is wrong
            self._set_params_views(flat, units)

    def _check_is_fitted(self) -> None:
        """``check_is_fitted(self)``, whose tags and checks cost a tenth of
        a one-row prediction, only when the model is not fitted (for its
        error)."""
        if not hasattr(self, "coefs_"):
            check_is_fitted(self)

    def __sklearn_is_fitted__(self) -> bool:
        # check_is_fitted would otherwise iterate over vars(self), which a
        # fit in another thread changes (scikit-learn's callback support
        # adds and deletes an attribute): the iteration raises RuntimeError.
        return hasattr(self, "coefs_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _check_solver(self) -> bool:
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic"
                f" optimizers. {self.solver} is not stochastic."
            )
        return True


def _column_or_1d(y: np.ndarray) -> np.ndarray:
    """``column_or_1d`` whose warning names the user's call to fit."""
    if y.ndim == 2 and y.shape[1] == 1:
        warn(
            "A column-vector y was passed when a 1d array was expected. Please "
            "change the shape of y to (n_samples, ), for example using ravel().",
            DataConversionWarning,
        )
        y = column_or_1d(y)
    return y


class _EngineRows(NamedTuple):
    """Rows as the engine's trainer reads them: an InputMatrix, the encoded
    targets and the sample weights, in the working dtype."""

    X: _engine.InputMatrix
    Y: np.ndarray
    sample_weight: np.ndarray


class _ValidationSet(NamedTuple):
    """The early-stopping set: the rows the score reads (labels for
    classifiers, ``sample_weight`` possibly None) and those the validation
    loss reads."""

    X: object
    y: np.ndarray
    sample_weight: np.ndarray | None
    loss_rows: _EngineRows


_SCIPY_HAS_IPRINT = tuple(int(p) for p in scipy.__version__.split(".")[:2]) < (1, 15)

# L-BFGS evaluates the full-batch loss over chunks of this many rows, so its
# workspace stays bounded on large inputs.
_LBFGS_CHUNK_ROWS = 4096


def _check_lbfgs_result(result, max_iter: int) -> int:
    """Warn as scikit-learn does when L-BFGS stopped without converging."""
    n_iter = min(result.nit, max_iter)
    if result.status != 0:
        message = result.message
        if isinstance(message, bytes):
            message = message.decode("latin1")
        text = (
            f"lbfgs failed to converge after {n_iter} iteration(s) "
            f"(status={result.status}):\n{message}\n"
        )
        # Only the iteration limit is worth raising; max_fun or a failed
        # line search are not cured by more iterations.
        if n_iter == max_iter:
            text += (
                "\nIncrease the number of iterations to improve the "
                f"convergence (max_iter={max_iter})."
            )
        text += (
            "\nYou might also want to scale the data as shown in:\n"
            "    https://scikit-learn.org/stable/modules/preprocessing.html"
        )
        warn(text, ConvergenceWarning)
    return n_iter
