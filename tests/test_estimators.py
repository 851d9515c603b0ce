"""Behaviour of the public estimators: dtypes, layouts, API, errors."""

import pickle
import warnings

import numpy as np
import pytest
from _reference import activation
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from threadpoolctl import threadpool_limits

from fastnn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def numpy_forward(model, X):
    """Output activations from coefs_/intercepts_, computed by NumPy."""
    a = X
    for i, (w, b) in enumerate(zip(model.coefs_, model.intercepts_)):
        last = i == len(model.coefs_) - 1
        a = activation(model.out_activation_ if last else model.activation, a @ w + b)
    return a


@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
def test_float32_stays_float32(digits, Estimator):
    X, y = digits
    X32 = X.astype(np.float32)
    model = Estimator(hidden_layer_sizes=(20,), max_iter=5, random_state=0).fit(X32, y)
    assert all(c.dtype == np.float32 for c in model.coefs_ + model.intercepts_)
    out = model.predict_proba(X32) if Estimator is MLPClassifier else model.predict(X32)
    assert out.dtype == np.float32
    model64 = Estimator(hidden_layer_sizes=(20,), max_iter=5, random_state=0).fit(X, y)
    assert_allclose(model.loss_curve_, model64.loss_curve_, rtol=1e-4)


def test_predict_matches_numpy_forward_pass(digits):
    X, y = digits
    model = MLPClassifier(
        hidden_layer_sizes=(30, 20), activation="tanh", max_iter=5, random_state=0
    ).fit(X, y)
    # Large enough to span several prediction chunks.
    X_big = np.tile(X, (12, 1))
    proba = model.predict_proba(X_big)
    assert_allclose(proba, numpy_forward(model, X_big), rtol=1e-12, atol=1e-15)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert_array_equal(model.predict(X), model.classes_[proba[: len(X)].argmax(axis=1)])
    assert_allclose(model.predict_log_proba(X), np.log(proba[: len(X)]))


@pytest.mark.parametrize(
    "layout",
    ["F", "strided-rows", "strided-columns", "read-only"],
)
def test_every_memory_layout_gives_the_same_results(digits, layout):
    X, y = digits
    model = MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, random_state=0).fit(
        X, y
    )
    expected = model.predict_proba(X)
    if layout == "F":
        X2 = np.asfortranarray(X)
    elif layout == "strided-rows":
        X2 = np.repeat(X, 2, axis=0)[::2]
    elif layout == "strided-columns":
        X2 = np.repeat(X, 2, axis=1)[:, ::2]
    else:
        X2 = X.copy()
        X2.flags.writeable = False
    assert_allclose(model.predict_proba(X2), expected, rtol=1e-13)
    refit = MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, random_state=0).fit(
        X2, y
    )
    for a, b in zip(model.coefs_, refit.coefs_):
        assert_array_equal(a, b)


def test_binary_predict_proba_has_two_columns():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    y = np.where(X[:, 0] > 0, "b", "a")
    model = MLPClassifier(hidden_layer_sizes=(5,), max_iter=50, random_state=0).fit(
        X, y
    )
    proba = model.predict_proba(X)
    assert proba.shape == (60, 2)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert set(model.predict(X)) <= {"a", "b"}
    assert model.out_activation_ == "logistic"


def test_multilabel_and_multioutput_shapes():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 4))
    Y = (X[:, :3] > 0).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=20, random_state=0).fit(X, Y)
    assert clf.predict(X).shape == (80, 3)
    assert clf.predict_proba(X).shape == (80, 3)
    reg = MLPRegressor(hidden_layer_sizes=(5,), max_iter=20, random_state=0).fit(
        X, X[:, :2]
    )
    assert reg.predict(X).shape == (80, 2)


def test_fitted_attributes(digits):
    X, y = digits
    model = MLPClassifier(hidden_layer_sizes=(12, 8), max_iter=4, random_state=0).fit(
        X, y
    )
    assert model.n_layers_ == 4
    assert model.n_outputs_ == 10
    assert model.out_activation_ == "softmax"
    assert model.n_features_in_ == 64
    assert model.n_iter_ == 4 and len(model.loss_curve_) == 4
    assert model.t_ == 4 * X.shape[0]
    assert model.best_loss_ == min(model.loss_curve_)
    assert [c.shape for c in model.coefs_] == [(64, 12), (12, 8), (8, 10)]
    assert_array_equal(model.classes_, np.arange(10))


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_dataframe_input_keeps_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = make_regression(n_samples=50, n_features=3, random_state=0)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    model = MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(df, y)
    assert_array_equal(model.feature_names_in_, ["a", "b", "c"])
    assert_allclose(model.predict(df), model.predict(df.to_numpy()))


@pytest.mark.parametrize(
    "params",
    [
        {"activation": "softsign"},
        {"solver": "newton"},
        {"alpha": -1.0},
        {"learning_rate_init": 0.0},
        {"batch_size": 0},
        {"momentum": 1.5},
        {"max_iter": 0},
        {"n_iter_no_change": 0},
    ],
)
@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
def test_invalid_parameters_raise_sklearns_error(Estimator, params):
    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(InvalidParameterError, match=next(iter(params))):
        Estimator(**params).fit(X, y)


def test_regressor_loss_is_validated():
    with pytest.raises(InvalidParameterError, match="loss"):
        MLPRegressor(loss="epsilon_insensitive").fit(np.zeros((4, 2)), np.zeros(4))


def test_hidden_layer_sizes_must_be_positive():
    with pytest.raises(ValueError, match="hidden_layer_sizes must be > 0"):
        MLPClassifier(hidden_layer_sizes=(3, 0)).fit(np.zeros((4, 2)), [0, 1, 0, 1])


def test_bad_input_raises_clear_errors(digits):
    X, y = digits
    model = MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0)
    X_nan = X.copy()
    X_nan[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(X_nan, y)
    model.fit(X, y)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :10])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        model.fit(X, y[:-1])
    with pytest.raises(ValueError, match="negative"):
        MLPRegressor(loss="poisson").fit(X, -np.ones(len(X)))


def test_unfitted_model_raises_not_fitted(digits):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MLPClassifier().predict(digits[0])


def test_pickle_and_clone_round_trip(digits):
    X, y = digits
    model = MLPClassifier(hidden_layer_sizes=(10,), max_iter=3, random_state=0).fit(
        X, y
    )
    restored = pickle.loads(pickle.dumps(model))
    assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    fresh = clone(model)
    assert fresh.get_params() == model.get_params()
    assert not hasattr(fresh, "coefs_")
    assert_array_equal(fresh.fit(X, y).coefs_[0], model.coefs_[0])


def test_set_params_and_partial_fit_availability():
    model = MLPClassifier().set_params(solver="lbfgs", alpha=0.1)
    assert model.get_params()["alpha"] == 0.1
    assert not hasattr(model, "partial_fit")
    assert hasattr(MLPRegressor(solver="sgd"), "partial_fit")


def test_pipeline_grid_search_and_cross_validation(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=30, random_state=0))
    search = GridSearchCV(
        pipe, {"mlpclassifier__hidden_layer_sizes": [(8,), (16,)]}, cv=3, n_jobs=2
    )
    search.fit(X, y)
    # The same search over scikit-learn's estimator scores the same.
    reference = clone(search).set_params(
        estimator__mlpclassifier=SkMLPClassifier(max_iter=30, random_state=0)
    )
    reference.fit(X, y)
    assert_allclose(
        search.cv_results_["mean_test_score"], reference.cv_results_["mean_test_score"]
    )
    assert search.best_params_ == reference.best_params_
    scores = cross_val_score(MLPRegressor(max_iter=20, random_state=0), X, y, cv=3)
    reference_scores = cross_val_score(
        SkMLPRegressor(max_iter=20, random_state=0), X, y, cv=3
    )
    assert_allclose(scores, reference_scores, rtol=1e-6)


@pytest.mark.parametrize("hidden", [(300, 200), (512, 256, 64), (100,)])
def test_float64_results_identical_for_one_and_two_threads(digits, hidden):
    # Small products are where BLAS switches kernels with the block size.
    X, y = digits
    models = []
    for n_threads in (1, 2):
        with threadpool_limits(n_threads, user_api="openmp"):
            models.append(
                MLPClassifier(
                    hidden_layer_sizes=hidden, max_iter=2, random_state=0
                ).fit(X, y)
            )
    for a, b in zip(
        models[0].coefs_ + models[0].intercepts_,
        models[1].coefs_ + models[1].intercepts_,
    ):
        assert_array_equal(a, b)
    assert_array_equal(models[0].predict_proba(X), models[1].predict_proba(X))


def test_results_identical_for_one_and_two_threads():
    rng = np.random.RandomState(0)
    # Wide enough that every pass splits across threads.
    X = rng.normal(size=(3000, 300)).astype(np.float32)
    y = rng.randint(5, size=3000)
    models = []
    for n_threads in (1, 2):
        with threadpool_limits(n_threads, user_api="openmp"):
            models.append(
                MLPClassifier(
                    hidden_layer_sizes=(256, 64), max_iter=2, random_state=0
                ).fit(X, y)
            )
    for a, b in zip(
        models[0].coefs_ + models[0].intercepts_,
        models[1].coefs_ + models[1].intercepts_,
    ):
        assert_array_equal(a, b)
    assert models[0].loss_curve_ == models[1].loss_curve_


def test_max_iter_reached_warns(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with pytest.raises(ConvergenceWarning, match="Maximum iterations"):
            MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0).fit(X, y)


def test_joblib_round_trip_and_html_repr(tmp_path, digits):
    import joblib

    X, y = digits
    model = MLPClassifier(hidden_layer_sizes=(10,), max_iter=3, random_state=0).fit(
        X, y
    )
    joblib.dump(model, tmp_path / "model.joblib")
    restored = joblib.load(tmp_path / "model.joblib")
    assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    assert "MLPClassifier" in model._repr_html_()


def test_sample_weight_is_routed_as_metadata(digits):
    from sklearn import config_context

    X, y = digits
    sw = np.random.RandomState(0).uniform(0, 2, len(y))
    with config_context(enable_metadata_routing=True):
        model = MLPClassifier(hidden_layer_sizes=(10,), max_iter=3, random_state=0)
        # MinMaxScaler consumes no sample_weight, so only the MLP asks for it.
        pipe = make_pipeline(MinMaxScaler(), model.set_fit_request(sample_weight=True))
        pipe.fit(X, y, sample_weight=sw)
    direct = MLPClassifier(hidden_layer_sizes=(10,), max_iter=3, random_state=0)
    direct.fit(MinMaxScaler().fit_transform(X), y, sample_weight=sw)
    assert_array_equal(pipe[-1].coefs_[0], direct.coefs_[0])


def test_partial_fit_with_sample_weight_matches_sklearn(digits):
    X, y = digits
    sw = np.random.RandomState(0).uniform(0, 2, len(y))
    ours = MLPClassifier(hidden_layer_sizes=(10,), random_state=0)
    ref = SkMLPClassifier(hidden_layer_sizes=(10,), random_state=0)
    for model in (ours, ref):
        model.partial_fit(
            X[:900], y[:900], sample_weight=sw[:900], classes=np.arange(10)
        )
        model.partial_fit(X[900:], y[900:], sample_weight=sw[900:])
    assert_allclose(ours.coefs_[0], ref.coefs_[0], rtol=1e-7, atol=1e-12)
    assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-7)
