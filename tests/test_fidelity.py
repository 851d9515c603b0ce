"""Drop-in fidelity: scikit-learn's own behaviours, run side by side.

Each test runs the same code on scikit-learn's MLP and on fastnn's and
compares outcomes and messages: divergence with and without early stopping,
the stratification error, where warnings point, and activation aliases.
"""

import os
import warnings

import numpy as np
import pytest
import sklearn
import sklearn.neural_network as skl
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.fixes import parse_version

import fastnn
from fastnn import MLPClassifier, MLPRegressor
from fastnn.activations import ACTIVATIONS

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
SKLEARN_VERSION = parse_version(sklearn.__version__)


def _outcome(make, X, y):
    """(fitted model, None) or (None, the error's message)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return make().fit(X, y), None
        except ValueError as exc:
            return None, str(exc)


def test_diverging_fit_with_early_stopping_is_rescued_as_in_sklearn():
    # scikit-learn's non-regression test for its issue 29504.
    params = dict(
        hidden_layer_sizes=100,
        activation="identity",
        solver="sgd",
        learning_rate_init=1,
        early_stopping=True,
        n_iter_no_change=10,
        max_iter=20,
        random_state=0,
    )
    ref, ref_error = _outcome(lambda: skl.MLPRegressor(**params), X_IRIS, Y_IRIS)
    model, error = _outcome(lambda: MLPRegressor(**params), X_IRIS, Y_IRIS)
    assert ref_error is None and error is None
    assert model.n_iter_ == ref.n_iter_ == 20
    scores, ref_scores = np.array(model.validation_scores_), ref.validation_scores_
    assert np.isnan(ref_scores[-1]) and isinstance(model.validation_scores_[-1], float)
    np.testing.assert_array_equal(np.isnan(scores), np.isnan(ref_scores))
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-7)
    # Once the sums overflow, inf or nan depends on the order the products
    # add them in, which the engine's kernels choose differently from BLAS.
    loss, ref_loss = np.array(model.loss_curve_), np.array(ref.loss_curve_)
    np.testing.assert_array_equal(np.isfinite(loss), np.isfinite(ref_loss))
    finite = np.isfinite(ref_loss)
    np.testing.assert_allclose(loss[finite], ref_loss[finite], rtol=1e-7)
    assert model.best_validation_score_ == pytest.approx(ref.best_validation_score_)
    for ours, theirs in zip(
        model.coefs_ + model.intercepts_, ref.coefs_ + ref.intercepts_
    ):
        np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-12)
    assert np.isfinite(model.predict(X_IRIS)).all()


@pytest.mark.parametrize(
    "Estimator, params, scale",
    [
        (
            "MLPRegressor",
            dict(
                activation="identity",
                solver="sgd",
                learning_rate_init=1,
                max_iter=20,
                random_state=0,
            ),
            1.0,
        ),
        ("MLPRegressor", dict(max_iter=20, random_state=0), 1e200),
    ],
)
def test_diverging_fit_raises_sklearns_message_first(Estimator, params, scale):
    X = X_IRIS * scale
    _, ref_error = _outcome(lambda: getattr(skl, Estimator)(**params), X, Y_IRIS)
    _, error = _outcome(lambda: getattr(fastnn, Estimator)(**params), X, Y_IRIS)
    assert ref_error == (
        "Solver produced non-finite parameter weights. The input data may contain "
        "large values and need to be preprocessed."
    )
    assert error.startswith(ref_error)
    assert "learning_rate_init" in error[len(ref_error) :]


def test_lbfgs_fit_with_a_non_finite_loss_raises_like_adam():
    X = X_IRIS * 1e200
    ref_lbfgs, _ = _outcome(
        lambda: skl.MLPRegressor(solver="lbfgs", random_state=0), X, Y_IRIS
    )
    _, ref_adam_error = _outcome(lambda: skl.MLPRegressor(random_state=0), X, Y_IRIS)
    # scikit-learn returns that L-BFGS model (loss_ nan) and raises for adam.
    assert np.isnan(ref_lbfgs.loss_) and ref_adam_error is not None
    for solver in ("lbfgs", "adam"):
        _, error = _outcome(
            lambda s=solver: MLPRegressor(solver=s, random_state=0), X, Y_IRIS
        )
        assert error is not None and error.startswith(ref_adam_error)


def test_early_stopping_names_too_small_classes_as_sklearn_does():
    X, y = [[1, 2], [2, 3], [3, 4], [4, 5]], [0, 0, 0, 1]
    _, ref_error = _outcome(lambda: skl.MLPClassifier(early_stopping=True), X, y)
    _, error = _outcome(lambda: MLPClassifier(early_stopping=True), X, y)
    assert ref_error is not None and error == ref_error
    if SKLEARN_VERSION >= parse_version("1.8"):  # names the classes since 1.8
        assert ref_error.endswith("Classes with too few members are: ['True']")


@pytest.mark.skipif(
    SKLEARN_VERSION < parse_version("1.9"),
    reason="needs scikit-learn >= 1.9: before, its MLPClassifier raises TypeError "
    "on string labels with early_stopping, so there is no reference",
)
def test_stratified_split_matches_sklearn():
    rng = np.random.RandomState(0)
    X = rng.rand(60, 3)
    y = np.where(rng.rand(60) < 0.2, "rare", "common")
    params = dict(
        hidden_layer_sizes=(5,), early_stopping=True, max_iter=5, random_state=0
    )
    ref, _ = _outcome(lambda: skl.MLPClassifier(**params), X, y)
    model, _ = _outcome(lambda: MLPClassifier(**params), X, y)
    np.testing.assert_allclose(model.validation_scores_, ref.validation_scores_)
    np.testing.assert_allclose(model.loss_curve_, ref.loss_curve_, rtol=1e-7)


def _warnings_of(call) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    assert caught
    return caught


X_SMALL = np.random.RandomState(0).rand(20, 3)
Y_SMALL = (X_SMALL[:, 0] > 0.5).astype(int)


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: MLPClassifier(max_iter=2).fit(X_SMALL, Y_SMALL), ConvergenceWarning),
        (
            lambda: MLPClassifier(solver="lbfgs", max_iter=1).fit(X_SMALL, Y_SMALL),
            ConvergenceWarning,
        ),
        (
            lambda: MLPClassifier(batch_size=50, max_iter=300).fit(X_SMALL, Y_SMALL),
            UserWarning,
        ),
        (
            lambda: MLPRegressor(max_iter=300).fit(X_SMALL, Y_SMALL[:, None]),
            DataConversionWarning,
        ),
        (
            lambda: MLPClassifier(batch_size=50).partial_fit(
                X_SMALL, Y_SMALL, classes=[0, 1]
            ),
            UserWarning,
        ),
        (
            lambda: MLPRegressor(batch_size=50).partial_fit(X_SMALL, Y_SMALL),
            UserWarning,
        ),
    ],
    ids=["max_iter", "lbfgs", "batch_size", "column_y", "partial", "partial_reg"],
)
def test_warnings_point_at_the_users_line(make, expected):
    caught = [w for w in _warnings_of(make) if issubclass(w.category, expected)]
    assert caught
    for w in caught:
        assert w.filename == __file__, (w.filename, str(w.message))


def test_warnings_inside_a_pipeline_name_the_caller_not_fastnn_or_a_wrapper():
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=2))
    caught = _warnings_of(lambda: pipe.fit(X_SMALL, Y_SMALL))
    sklearn_dir = os.path.dirname(sklearn.__file__)
    for w in caught:
        assert not w.filename.startswith(os.path.dirname(fastnn.__file__))
        assert w.filename != os.path.join(sklearn_dir, "base.py")
        assert w.filename == os.path.join(sklearn_dir, "pipeline.py")


def _bits(model) -> list[bytes]:
    return [w.tobytes() for w in model.coefs_ + model.intercepts_]


@pytest.mark.parametrize("hidden", [(), (6,), (5, 4)])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_alias_gives_bitwise_the_canonical_model(name, hidden):
    canonical = ACTIVATIONS[name]()
    models = [
        MLPRegressor(
            hidden_layer_sizes=hidden, activation=a, max_iter=3, random_state=0
        )
        for a in (name, canonical, canonical.name if name == "sigmoid" else name)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bits = [_bits(m.fit(X_IRIS, Y_IRIS)) for m in models]
    assert bits[0] == bits[1] == bits[2]


def test_sigmoid_without_hidden_layers_gets_sklearns_logistic_initialisation():
    ref = skl.MLPRegressor(
        hidden_layer_sizes=(), activation="logistic", max_iter=1, random_state=0
    )
    model = MLPRegressor(
        hidden_layer_sizes=(), activation="sigmoid", max_iter=1, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref.fit(X_IRIS, Y_IRIS)
        model.fit(X_IRIS, Y_IRIS)
    np.testing.assert_allclose(model.coefs_[0], ref.coefs_[0], rtol=1e-7)
