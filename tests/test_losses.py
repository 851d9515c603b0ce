"""Costs beyond scikit-learn's and class weights, through the public API."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits, make_regression
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import mean_gamma_deviance, mean_pinball_loss, r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight

from fastnn import MLPClassifier, MLPRegressor, _engine, check_gradients
from fastnn.losses import LOSS_CLASSES

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:700] / 16.0, y[:700]


@pytest.mark.parametrize("target", ["multiclass", "binary"])
def test_classifier_trains_on_the_squared_error_of_probabilities(digits, target):
    X, y = digits
    if target == "binary":
        y = (y > 4).astype(int)
    model = MLPClassifier(
        loss="squared_error",
        hidden_layer_sizes=(32,),
        learning_rate_init=0.01,
        max_iter=80,
        random_state=0,
    )
    model.fit(X, y)
    assert model.loss_curve_[-1] < model.loss_curve_[0]
    # The reported loss is 0.5 * sum over classes of (p - y)^2, averaged.
    proba = model.predict_proba(X)
    onehot = np.eye(proba.shape[1])[np.searchsorted(model.classes_, y)]
    if target == "binary":
        proba, onehot = proba[:, 1:], onehot[:, 1:]
    reg = 0.5 * model.alpha * sum((w**2).sum() for w in model.coefs_) / len(y)
    final = 0.5 * ((proba - onehot) ** 2).sum(axis=1).mean() + reg
    assert final < model.loss_curve_[0]
    assert model.score(X, y) > 0.9


@pytest.mark.parametrize("loss", ["absolute_error", "huber"])
def test_robust_regression_losses_resist_outliers(loss):
    X, y = make_regression(n_samples=400, n_features=5, noise=1.0, random_state=0)
    y = y / y.std()
    y_dirty = y.copy()
    y_dirty[::10] += 50.0  # 10% gross outliers
    kwargs = dict(
        hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=300, random_state=0
    )
    robust = MLPRegressor(loss=loss, **kwargs).fit(X, y_dirty)
    plain = MLPRegressor(loss="squared_error", **kwargs).fit(X, y_dirty)
    clean = np.arange(len(y)) % 10 != 0
    err_robust = np.abs(robust.predict(X[clean]) - y[clean]).mean()
    err_plain = np.abs(plain.predict(X[clean]) - y[clean]).mean()
    assert err_robust < err_plain


def test_huber_with_a_huge_delta_is_the_squared_error():
    X, y = make_regression(n_samples=200, n_features=4, random_state=0)
    y = y / y.std()
    kwargs = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    huber = MLPRegressor(loss="huber", huber_delta=1e9, **kwargs).fit(X, y)
    squared = MLPRegressor(loss="squared_error", **kwargs).fit(X, y)
    # Same gradients (single output): same model; the squared error's
    # reported loss is the same half-squared residual.
    for a, b in zip(huber.coefs_, squared.coefs_):
        assert_allclose(a, b, rtol=1e-12)
    assert_allclose(huber.loss_curve_, squared.loss_curve_, rtol=1e-12)


def test_balanced_class_weight_equals_the_explicit_sample_weight(digits):
    X, y = digits
    y = np.where(y < 2, y, 2)  # imbalanced: 2 small classes, one large
    kwargs = dict(hidden_layer_sizes=(16,), max_iter=5, random_state=0)
    balanced = MLPClassifier(class_weight="balanced", **kwargs).fit(X, y)
    explicit = MLPClassifier(**kwargs).fit(
        X, y, sample_weight=compute_sample_weight("balanced", y)
    )
    for a, b in zip(balanced.coefs_, explicit.coefs_):
        assert_array_equal(a, b)


def test_class_weight_combines_with_sample_weight(digits):
    X, y = digits
    sw = np.random.RandomState(0).uniform(0.5, 2, len(y))
    cw = {c: 1.0 + c / 10 for c in range(10)}
    kwargs = dict(hidden_layer_sizes=(16,), max_iter=5, random_state=0)
    combined = MLPClassifier(class_weight=cw, **kwargs).fit(X, y, sample_weight=sw)
    explicit = MLPClassifier(**kwargs).fit(
        X, y, sample_weight=sw * compute_sample_weight(cw, y)
    )
    for a, b in zip(combined.coefs_, explicit.coefs_):
        assert_allclose(a, b, rtol=1e-12)


def test_balanced_class_weight_is_refused_by_partial_fit(digits):
    X, y = digits
    with pytest.raises(ValueError, match="not supported for partial_fit"):
        MLPClassifier(class_weight="balanced").partial_fit(X, y, classes=np.arange(10))


def test_grid_search_over_losses_in_a_pipeline():
    X, y = make_regression(n_samples=200, n_features=4, noise=5, random_state=0)
    pipe = make_pipeline(
        StandardScaler(),
        MLPRegressor(hidden_layer_sizes=(8,), max_iter=50, random_state=0),
    )
    grid = {
        "mlpregressor__loss": ["squared_error", "absolute_error", "huber"],
        "mlpregressor__huber_delta": [0.5, 2.0],
    }
    search = GridSearchCV(pipe, grid, cv=2).fit(X, y / y.std())
    assert len(search.cv_results_["params"]) == 6
    assert search.best_params_["mlpregressor__loss"] in grid["mlpregressor__loss"]


# --- dropout ---------------------------------------------------------------


def test_dropout_rate_zero_is_the_model_without_dropout(digits):
    X, y = digits
    kwargs = dict(hidden_layer_sizes=(32, 16), max_iter=5, random_state=0)
    a = MLPClassifier(dropout=0.0, **kwargs).fit(X, y)
    b = MLPClassifier(dropout=[0.0, 0.0], **kwargs).fit(X, y)
    c = MLPClassifier(**kwargs).fit(X, y)
    for p, q, r in zip(a.coefs_, b.coefs_, c.coefs_):
        assert_array_equal(p, r)
        assert_array_equal(q, r)


@pytest.mark.parametrize("dropout", [0.3, [0.5, 0.1]])
def test_dropout_is_reproducible_and_independent_of_threads(digits, dropout):
    from threadpoolctl import threadpool_limits

    X, y = digits
    models = []
    for n_threads in (1, 2, 2):
        with threadpool_limits(n_threads, user_api="openmp"):
            models.append(
                MLPClassifier(
                    hidden_layer_sizes=(300, 200),
                    dropout=dropout,
                    max_iter=3,
                    random_state=0,
                ).fit(X, y)
            )
    for other in models[1:]:
        for p, q in zip(
            models[0].coefs_ + models[0].intercepts_, other.coefs_ + other.intercepts_
        ):
            assert_array_equal(p, q)
    plain = MLPClassifier(
        hidden_layer_sizes=(300, 200), max_iter=3, random_state=0
    ).fit(X, y)
    assert not np.allclose(plain.coefs_[0], models[0].coefs_[0])


def test_dropout_is_off_at_predict_time_and_regularises(digits):
    X, y = digits
    model = MLPClassifier(
        hidden_layer_sizes=(64,), dropout=0.5, max_iter=50, random_state=0
    ).fit(X, y)
    first = model.predict_proba(X)
    assert_array_equal(model.predict_proba(X), first)  # deterministic
    assert model.score(X, y) > 0.9


def test_dropout_masks_advance_across_partial_fits(digits):
    X, y = digits
    runs = []
    for _ in range(2):
        model = MLPRegressor(hidden_layer_sizes=(200,), dropout=0.4, random_state=0)
        for _ in range(3):
            model.partial_fit(X, y.astype(float))
        runs.append(model)
    # One mask per batch, drawn from a counter that continues across calls.
    assert runs[0]._dropout_step == 3 * int(np.ceil(len(y) / 200))
    assert_array_equal(runs[0].coefs_[0], runs[1].coefs_[0])


def test_dropout_is_validated(digits):
    X, y = digits
    with pytest.raises(ValueError, match="one such rate per hidden layer"):
        MLPClassifier(hidden_layer_sizes=(8, 8), dropout=[0.1]).fit(X, y)
    with pytest.raises(ValueError, match="stochastic solver"):
        MLPClassifier(solver="lbfgs", dropout=0.2).fit(X, y)
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="dropout"):
        MLPClassifier(dropout=1.0).fit(X, y)


# --- fastnn.losses: one class per engine loss ------------------------------


def test_every_engine_loss_has_one_class_and_an_independent_reference():
    from _reference import OUTPUT_FOR_LOSS

    assert set(LOSS_CLASSES) == set(_engine.LOSS_CODES) == set(OUTPUT_FOR_LOSS)
    for name, cls in LOSS_CLASSES.items():
        assert cls.link.name == OUTPUT_FOR_LOSS[name], name
    # One loss per (estimator, loss=, kind of target): selection is unique.
    keys = [(c.estimator, c.option, c.multiclass) for c in LOSS_CLASSES.values()]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_loss_code_the_kernel_does_not_know_writes_nan(dtype):
    # A switch that misses a code must not fall back to some other loss.
    unknown = max(_engine.LOSS_CODES.values()) + 1
    P = np.full((3, 2), 0.5, dtype=dtype)
    losses, delta = _engine.output_loss_delta(P, P * 2, np.ones(3, dtype), unknown)
    assert np.isnan(losses).all() and np.isnan(delta).all()
    # Every known code has its case: finite values on valid targets.
    for name in _engine.LOSS_CODES:
        losses, delta = _engine.output_loss_delta(P, P, np.ones(3, dtype), name, 0.3)
        assert np.isfinite(losses).all() and np.isfinite(delta).all(), name


def test_estimator_parameters_derive_from_the_loss_classes():
    regressor = MLPRegressor._parameter_constraints
    assert regressor["loss"][0].options == {
        "squared_error",
        "poisson",
        "gamma",
        "absolute_error",
        "huber",
        "quantile",
    }
    assert MLPClassifier._parameter_constraints["loss"][0].options == {
        "log_loss",
        "squared_error",
    }
    for cls in LOSS_CLASSES.values():
        estimator = MLPRegressor if cls.estimator == "regressor" else MLPClassifier
        assert cls.option in estimator._parameter_constraints["loss"][0].options
        for name in cls._get_param_names():
            assert name in estimator().get_params(), (cls, name)
            assert (
                estimator._parameter_constraints[name]
                == (cls._parameter_constraints[name])
            )
    assert "quantile" not in MLPClassifier().get_params()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", ["quantile", "gamma"])
def test_quantile_and_gamma_kernels_match_scikit_learns_losses(dtype, loss):
    # scikit-learn's own loss objects are the reference: value (with the
    # constant that makes the minimum 0) and gradient in the raw prediction.
    from sklearn._loss.loss import HalfGammaLoss, PinballLoss

    rng = np.random.RandomState(0)
    Y = rng.gamma(2.0, size=(40, 3))
    if loss == "quantile":
        P = Y + rng.normal(size=Y.shape)
        P[:5] = Y[:5]  # ties: the gradient is -quantile there, as sklearn's
        reference = PinballLoss(quantile=0.3)
    else:
        P = Y * np.exp(rng.normal(0, 0.5, size=Y.shape))
        reference = HalfGammaLoss()
    P, Y = P.astype(dtype), Y.astype(dtype)
    sw = rng.uniform(0.5, 2, 40).astype(dtype)
    losses, delta = _engine.output_loss_delta(P, Y, sw, loss, 0.3)

    # The raw prediction is the output before the link (log for gamma).
    y64, p64 = Y.astype(np.float64).ravel(), P.astype(np.float64).ravel()
    raw64 = np.log(p64) if loss == "gamma" else p64
    values = reference.loss(y64, raw64)
    if loss == "gamma":
        values += reference.constant_to_optimal_zero(y64)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert_allclose(losses, values.reshape(Y.shape).sum(axis=1), rtol=rtol, atol=rtol)
    gradient = reference.gradient(y64, raw64).reshape(Y.shape)
    assert_allclose(delta, gradient * sw[:, None], rtol=rtol, atol=rtol)


def test_reference_losses_agree_with_scikit_learns_metrics():
    from _reference import row_losses
    from sklearn.metrics import mean_gamma_deviance, mean_pinball_loss

    rng = np.random.RandomState(1)
    y = rng.gamma(2.0, size=(50, 1))
    p = y * np.exp(rng.normal(0, 0.5, size=y.shape))
    sw = rng.uniform(0.5, 2, 50)
    assert_allclose(
        np.average(row_losses("quantile", p, y, 0.9), weights=sw),
        mean_pinball_loss(y, p, alpha=0.9, sample_weight=sw),
        rtol=1e-13,
    )
    # Half the deviance: scikit-learn's metric is the full deviance.
    assert_allclose(
        np.average(row_losses("gamma", p, y), weights=sw),
        mean_gamma_deviance(y, p, sample_weight=sw) / 2,
        rtol=1e-13,
    )


def _penalty(model, n_samples):
    return 0.5 * model.alpha * sum((w**2).sum() for w in model.coefs_) / n_samples


@pytest.fixture(scope="module")
def heteroscedastic():
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(1000, 2))
    y = X[:, 0] + (0.5 + 0.5 * np.abs(X[:, 1])) * rng.normal(size=1000)
    return X, y


@pytest.mark.parametrize("quantile", [0.1, 0.5, 0.9])
def test_a_quantile_model_leaves_that_share_of_targets_below_it(
    heteroscedastic, quantile
):
    X, y = heteroscedastic
    model = MLPRegressor(
        loss="quantile",
        quantile=quantile,
        hidden_layer_sizes=(16,),
        solver="lbfgs",
        max_iter=500,
        random_state=0,
    ).fit(X, y)
    below = np.mean(y <= model.predict(X))
    assert abs(below - quantile) < 0.03, below
    # The reported loss is the pinball loss (plus the L2 penalty).
    expected = mean_pinball_loss(y, model.predict(X), alpha=quantile)
    assert_allclose(model.loss_, expected + _penalty(model, len(y)), rtol=1e-10)
    assert model.score(X, y) == r2_score(y, model.predict(X))  # still R²


def test_gamma_reports_half_the_gamma_deviance_and_predicts_the_mean():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(2000, 2))
    mean = np.exp(1.0 + X[:, 0] - 0.5 * X[:, 1])
    y = rng.gamma(4.0, mean / 4.0)  # shape 4: E[y | x] = mean
    sw = rng.uniform(0.5, 2, len(y))
    model = MLPRegressor(
        loss="gamma", hidden_layer_sizes=(8,), solver="lbfgs", random_state=0
    ).fit(X, y, sample_weight=sw)
    assert model.out_activation_ == "exp"
    pred = model.predict(X)
    assert (pred > 0).all()
    expected = mean_gamma_deviance(y, pred, sample_weight=sw) / 2
    assert_allclose(model.loss_, expected + _penalty(model, sw.sum()), rtol=1e-10)
    assert np.median(np.abs(np.log(pred / mean))) < 0.1
    assert model.score(X, y) == r2_score(y, pred)


def _hgb_error(**params):
    X = np.random.RandomState(0).normal(size=(30, 2))
    y = np.abs(X[:, 0]) + 0.1
    try:
        HistGradientBoostingRegressor(max_iter=2, **params).fit(X, y)
    except Exception as exc:  # what HGB raises is what is compared
        return type(exc), str(exc)
    return None


@pytest.mark.parametrize(
    "params",
    [
        dict(loss="quantile"),
        dict(loss="quantile", quantile=None),
        dict(loss="quantile", quantile=0),
        dict(loss="quantile", quantile=1),
        dict(loss="quantile", quantile=1.5),
        dict(loss="quantile", quantile=-0.1),
        dict(loss="quantile", quantile="0.5"),
        dict(loss="quantile", quantile=0.5),
        dict(loss="squared_error", quantile=0.5),  # ignored, as HGB does
        dict(loss="gamma", quantile=2.0),  # invalid whatever the loss
    ],
    ids=str,
)
def test_quantile_follows_histgradientboostings_rules_and_messages(params):
    X = np.random.RandomState(0).normal(size=(30, 2))
    y = np.abs(X[:, 0]) + 0.1
    expected = _hgb_error(**params)
    model = MLPRegressor(hidden_layer_sizes=(3,), max_iter=2, **params)
    try:
        model.fit(X, y)
        got = None
    except Exception as exc:
        message = str(exc).replace("MLPRegressor", "HistGradientBoostingRegressor")
        got = type(exc), message
    assert got == expected
    # Refused before anything is fitted.
    assert hasattr(model, "coefs_") == (expected is None)


@pytest.mark.parametrize("bad", ["zero", "negative"])
def test_gamma_needs_positive_targets_with_histgradientboostings_message(bad):
    X = np.random.RandomState(0).normal(size=(30, 2))
    y = np.abs(X[:, 0]) + 0.1
    y[3] = 0.0 if bad == "zero" else -1.0
    with pytest.raises(ValueError) as hgb:
        HistGradientBoostingRegressor(loss="gamma", max_iter=2).fit(X, y)
    model = MLPRegressor(loss="gamma", hidden_layer_sizes=(3,), max_iter=2)
    with pytest.raises(ValueError) as ours:
        model.fit(X, y)
    assert str(ours.value) == str(hgb.value)
    assert not hasattr(model, "coefs_")
    # A validation set of one's own is held to the same rule.
    with pytest.raises(ValueError, match="requires strictly positive y_val"):
        model.set_params(early_stopping=True).fit(X, np.abs(y) + 0.1, X_val=X, y_val=y)


@pytest.mark.parametrize("loss", ["quantile", "gamma"])
def test_input_gradient_and_check_gradients_for_the_new_losses(loss):
    from _reference import row_losses

    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 3))
    y = rng.gamma(2.0, size=30) if loss == "gamma" else X[:, 0] + rng.normal(size=30)
    model = MLPRegressor(
        loss=loss, quantile=0.7, hidden_layer_sizes=(6,), max_iter=20, random_state=0
    ).fit(X, y)
    assert check_gradients(model, X, y) < 1e-6

    # d(sample's loss)/dx by central differences of the reference loss.
    def sample_losses(Xs):
        p = model.predict(Xs)[:, None]
        return row_losses(loss, p, y[:, None], 0.7)

    h = 1e-6
    expected = np.empty_like(X)
    for j in range(X.shape[1]):
        step = np.zeros_like(X)
        step[:, j] = h
        expected[:, j] = (sample_losses(X + step) - sample_losses(X - step)) / (2 * h)
    assert_allclose(model.input_gradient(X, y), expected, rtol=1e-5, atol=1e-8)


def test_a_loss_object_validates_its_parameters_like_an_activation():
    from sklearn.utils._param_validation import InvalidParameterError

    from fastnn.losses import Huber, Quantile

    with pytest.raises(InvalidParameterError, match="'huber_delta' parameter of Huber"):
        Huber(huber_delta=-1.0).spec()
    with pytest.raises(InvalidParameterError, match="'quantile' parameter of Quantile"):
        Quantile(quantile=1.5).spec()
    assert Quantile(quantile=0.25).spec() == ("quantile", 0.25)


# --- targets at the edges of the working dtype's range ---------------------


def _gamma_data(scale):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 3))
    return X, scale * np.exp(0.5 * X[:, 0])


def _orders_of_magnitude_off(pred, y):
    return np.median(np.abs(np.log10(np.asarray(pred, dtype=np.float64) / y)))


@pytest.mark.parametrize(
    "dtype, scale",
    [(np.float64, 1e-310), (np.float32, 1e-40)],
    ids=["float64-subnormal", "float32-subnormal"],
)
def test_gamma_fits_subnormal_targets_as_histgradientboosting_does(dtype, scale):
    # log(p / y) overflowed at y = 1e-310 in double (p / y = 1e310) and at
    # y = 1e-40 in float: the fit stopped in its first epoch with the
    # "learning rate may be too large" error.
    X, y = _gamma_data(scale)
    hgb = HistGradientBoostingRegressor(loss="gamma", max_iter=5).fit(X, y)
    assert np.isfinite(hgb.predict(X)).all()
    model = MLPRegressor(
        loss="gamma",
        hidden_layer_sizes=(8,),
        activation="tanh",
        learning_rate_init=0.3,
        max_iter=2000,
        n_iter_no_change=50,
        random_state=0,
    ).fit(X.astype(dtype), y)
    assert model.coefs_[0].dtype == dtype
    assert all(np.isfinite(w).all() for w in model.coefs_ + model.intercepts_)
    # From the initial predictions near 1, half the deviance is about
    # -log(y) - 1 per sample; then it falls by orders of magnitude.
    assert_allclose(model.loss_curve_[0], -np.log(scale), rtol=0.05)
    assert np.isfinite(model.loss_curve_).all()
    assert model.loss_ < 1e-2 * model.loss_curve_[0]
    pred = model.predict(X.astype(dtype))
    assert (pred > 0).all()
    # Predictions of y's order of magnitude (HGB's start from its baseline,
    # clipped at 2.2e-15: fastnn gets closer here).
    assert _orders_of_magnitude_off(pred, y) < 0.5


@pytest.mark.parametrize(
    "scale, message",
    [
        (
            1e-50,
            "y has positive values as small as {min:.3g}, which float32, the "
            "dtype of X, rounds to 0; loss='gamma' requires strictly positive y. "
            "Fit on float64 X, or rescale y.",
        ),
        (
            1e39,
            "y has values of magnitude up to {max:.3g}, beyond the range of float32 "
            "(about 3.4e+38), the dtype of X. Fit on float64 X, or rescale y.",
        ),
    ],
    ids=["underflow", "overflow"],
)
def test_gamma_refuses_float32_fits_of_targets_float32_cannot_hold(scale, message):
    # The targets became 0 or inf in the cast to float32, after the check of
    # y > 0: the fit then failed with the learning-rate message.
    X, y = _gamma_data(scale)
    # HistGradientBoosting fits them in float64...
    assert np.isfinite(
        HistGradientBoostingRegressor(loss="gamma").fit(X, y).predict(X)
    ).all()
    model = MLPRegressor(
        loss="gamma", hidden_layer_sizes=(8,), activation="tanh", random_state=0
    )
    X32 = X.astype(np.float32)
    with pytest.raises(ValueError) as refused:
        model.fit(X32, y)
    assert str(refused.value) == message.format(min=y.min(), max=y.max())
    assert not hasattr(model, "coefs_")
    y_val = np.full(10, scale)
    with pytest.raises(ValueError, match="^y_val has .*rescale y_val.$"):
        model.set_params(early_stopping=True).fit(
            X32, _gamma_data(1.0)[1], X_val=X32[:10], y_val=y_val
        )
    # ...and so does fastnn, with float64 X as the message says.
    model.set_params(early_stopping=False, solver="lbfgs").fit(X, y)
    assert _orders_of_magnitude_off(model.predict(X), y) < 0.1


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_float32_regression_of_targets_near_1e19_matches_scikit_learn(solver):
    # (p - y)^2 overflowed in float32 for |p - y| > 1.8e19 before the loss
    # was summed in double; scikit-learn fits these (its float32 model
    # computes the loss from float64 y).
    from sklearn.neural_network import MLPRegressor as SkMLPRegressor

    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = 1.45e19 * (X[:, 0] - 0.5 * X[:, 1] + 0.5 * rng.normal(size=200))
    assert np.abs(y).max() > 4e19
    # Few enough epochs that the no-improvement rule does not stop either
    # fit: at 1e38 the loss changes below double's resolution.
    kwargs = dict(hidden_layer_sizes=(8,), solver=solver, max_iter=10, random_state=0)
    ours = MLPRegressor(**kwargs).fit(X, y)
    theirs = SkMLPRegressor(**kwargs).fit(X, y)
    assert ours.coefs_[0].dtype == np.float32
    assert ours.n_iter_ == theirs.n_iter_
    assert_allclose(ours.loss_, theirs.loss_, rtol=1e-6)
    assert_allclose(ours.loss_, 0.5 * np.mean(y**2), rtol=1e-3)
    if solver == "adam":
        assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-6)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _reference_losses(loss, p, y, z, param):
    """Row losses in float64 NumPy: logs for the log-link losses, z = log p."""
    p, y, z = (np.asarray(a, dtype=np.float64) for a in (p, y, z))
    r = p - y
    if loss == "squared_error":
        values = r**2
    elif loss == "absolute_error":
        values = np.abs(r)
    elif loss == "huber":
        a = np.abs(r)
        values = np.where(a <= param, 0.5 * r**2, param * (a - 0.5 * param))
    elif loss == "quantile":
        values = np.where(r <= 0, -param * r, (1 - param) * r)
    elif loss == "poisson":
        values = y * (np.log(y) - z) - y + p
    else:  # gamma
        values = z - np.log(y) + np.exp(np.log(y) - z) - 1
    return values.sum(axis=1)


# Rows of (p or, for the log-link losses, z = log p; y) where the working
# dtype's own arithmetic overflows or underflows, and the kernel's parameter.
_EXTREMES = {
    np.float32: {
        "squared_error": ([[0.0, 1.0], [-3e19, 2.0]], [[3e19, 1.5], [3e19, 2.0]], 0),
        "huber": ([[0.0], [1e21], [3e38]], [[3e19], [0.0], [-3e38]], 3e19),
        "absolute_error": ([[-3e38, 1.0]], [[3e38, -1.0]], 0),
        "quantile": ([[-3e38], [3e38]], [[3e38], [-3e38]], 0.3),
        # y / p overflows, y / p underflows to 0, y log(y / p) overflows,
        # and p = exp(-110) underflows to 0.
        "poisson": (
            [[-45.0], [12.0], [0.0], [-110.0]],
            [[1e30], [1e-40], [3e38], [1e-40]],
            0,
        ),
        # p / y overflows (a subnormal y), p / y is subnormal (y / p is
        # near float32's largest), p = exp(-110) underflows to 0.
        "gamma": ([[0.0], [-41.5], [-110.0]], [[1e-40], [1e20], [1e-45]], 0),
    },
    np.float64: {
        "poisson": ([[23.0], [-800.0]], [[1e-310], [1e-320]], 0),
        "gamma": ([[0.0], [-800.0], [700.0]], [[1e-310], [1e-320], [1e300]], 0),
    },
}


@pytest.mark.parametrize(
    "dtype, loss",
    [(dtype, loss) for dtype, cases in _EXTREMES.items() for loss in cases],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_kernel_loss_values_at_extreme_targets_match_a_float64_reference(dtype, loss):
    values, Y, param = _EXTREMES[dtype][loss]
    values, Y = np.array(values), np.array(Y, dtype=dtype)
    log_link = loss in ("poisson", "gamma")
    Z = values.astype(dtype) if log_link else None
    P = np.exp(Z) if log_link else values.astype(dtype)
    sw = np.full(len(Y), 0.5, dtype=dtype)
    raw = {"Z": Z} if log_link else {}
    losses, delta = _engine.output_loss_delta(P, Y, sw, loss, param, **raw)
    z64 = Z.astype(np.float64) if log_link else np.zeros(Y.shape)
    expected = _reference_losses(loss, P, Y, z64, param)
    assert np.isfinite(expected).all()
    assert_allclose(losses, expected, rtol=1e-6 if dtype == np.float32 else 1e-12)
    # The deltas stay in the working dtype and finite.
    assert delta.dtype == dtype and np.isfinite(delta).all()
    if loss == "gamma":  # 1 - y / p, through y exp(-z) where p underflowed
        y64 = Y.astype(np.float64)
        expected_delta = 1 - np.exp(np.log(y64) - z64)
        assert_allclose(delta, expected_delta * 0.5, rtol=1e-6)


@pytest.mark.parametrize(
    "loss", ["squared_error", "huber", "absolute_error", "quantile"]
)
def test_float32_loss_values_of_ordinary_data_keep_float32s_rounding(loss):
    # The double fallbacks apply past float32's range only: the loss curves
    # of ordinary fits keep every bit.  (The log-link losses' logs are
    # glibc's, which NumPy's float32 log need not round alike:
    # tools/compare_builds.py checks their fits instead.)
    rng = np.random.RandomState(0)
    P = rng.normal(size=(50, 3)).astype(np.float32)
    Y = rng.normal(size=(50, 3)).astype(np.float32)
    param = np.float32(0.3)
    losses, _ = _engine.output_loss_delta(P, Y, np.ones(50, np.float32), loss, param)
    r = P - Y
    a = np.abs(r)
    if loss == "squared_error":
        terms = (r * r).astype(np.float64)
    elif loss == "huber":
        terms = np.where(
            a <= param,
            0.5 * (r * r).astype(np.float64),
            (param * (a - np.float32(0.5) * param)).astype(np.float64),
        )
    elif loss == "absolute_error":
        terms = a.astype(np.float64)
    else:
        terms = np.where(r <= 0, -param * r, (np.float32(1) - param) * r)
        terms = terms.astype(np.float64)
    # Summed in double, output after output.
    expected = [sum(row.tolist()) for row in terms]
    assert_array_equal(losses, expected)
