"""A validation set passed to fit (``X_val``, ``y_val``, ``sample_weight_val``).

The reference for the path is fastnn's own split: a model given as ``X_val``
the rows that ``validation_fraction`` would have held out (and as ``X`` the
rest) must be the model that made the split itself.  The reference for the
rules, messages and metadata routing is scikit-learn's
HistGradientBoostingClassifier, run on the same input.
"""

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import config_context
from sklearn.datasets import load_digits
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from fastnn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X_DIGITS, Y_DIGITS = load_digits(return_X_y=True)
X = X_DIGITS[:600] / 16
Y_CLASS = Y_DIGITS[:600]
Y_BINARY = (Y_CLASS > 4).astype(int)
Y_REG = X[:, 10] * 2 + Y_CLASS / 10


def _split_as_fit_does(model, X, y, *arrays):
    """The split that ``model.fit(X, y)`` makes with early stopping.

    The split is drawn from the model's random stream after the initial
    weights (one uniform draw per coefficient and intercept), stratified on
    single-output classification targets.
    """
    rng = np.random.RandomState(model.random_state)
    n_outputs = 1 if y.ndim == 1 else y.shape[1]
    if isinstance(model, MLPClassifier) and y.ndim == 1:
        n_classes = len(np.unique(y))
        n_outputs = n_classes if n_classes > 2 else 1
    units = [X.shape[1], *model.hidden_layer_sizes, n_outputs]
    for fan_in, fan_out in zip(units[:-1], units[1:]):
        rng.uniform(size=fan_in * fan_out)
        rng.uniform(size=fan_out)
    stratify = y if isinstance(model, MLPClassifier) and n_outputs == 1 else None
    return train_test_split(
        X,
        y,
        *arrays,
        random_state=rng,
        test_size=model.validation_fraction,
        stratify=stratify,
    )


def _assert_same_model(a, b, rtol):
    assert a.n_iter_ == b.n_iter_
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_allclose(p, q, rtol=rtol, atol=1e-14)
    np.testing.assert_allclose(a.validation_scores_, b.validation_scores_, rtol=rtol)
    np.testing.assert_allclose(
        a.validation_loss_curve_, b.validation_loss_curve_, rtol=rtol
    )
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=rtol)
    assert a.best_validation_score_ == pytest.approx(b.best_validation_score_, rtol)


@pytest.mark.parametrize(
    "Estimator, y",
    [(MLPClassifier, Y_CLASS), (MLPClassifier, Y_BINARY), (MLPRegressor, Y_REG)],
    ids=["multiclass", "binary", "regression"],
)
@pytest.mark.parametrize(
    "shuffle, batch_size, rtol",
    # In minibatches the split's order must be kept (shuffle=False): the
    # split draws from the random stream that shuffling uses.  In one full
    # batch per epoch (540 training rows) shuffling only reorders sums: equal
    # to rounding.
    [(False, 64, 0), (True, 540, 1e-9)],
    ids=["minibatches", "full_batch_shuffled"],
)
def test_validation_set_equal_to_the_split_gives_the_same_model(
    Estimator, y, shuffle, batch_size, rtol
):
    params = dict(
        hidden_layer_sizes=(16,),
        early_stopping=True,
        max_iter=12,
        n_iter_no_change=4,
        random_state=0,
        shuffle=shuffle,
        batch_size=batch_size,
        learning_rate_init=0.01,
    )
    split = Estimator(**params).fit(X, y)
    model = Estimator(**params)
    X_train, X_val, y_train, y_val = _split_as_fit_does(model, X, y)
    model.fit(X_train, y_train, X_val=X_val, y_val=y_val)
    _assert_same_model(model, split, rtol)
    # No rows of X were held out.
    assert model.t_ == model.n_iter_ * len(X_train)


@pytest.mark.parametrize(
    "Estimator, y", [(MLPClassifier, Y_CLASS), (MLPRegressor, Y_REG)]
)
def test_weighted_validation_set_equal_to_the_split(Estimator, y):
    extra = {"class_weight": {k: 1 + k % 3 for k in range(10)}}
    params = dict(
        hidden_layer_sizes=(16,),
        early_stopping=True,
        max_iter=8,
        n_iter_no_change=3,
        random_state=1,
        shuffle=False,
        **(extra if Estimator is MLPClassifier else {}),
    )
    weights = np.random.RandomState(0).uniform(0.1, 3, len(X))
    split = Estimator(**params).fit(X, y, sample_weight=weights)
    model = Estimator(**params)
    X_train, X_val, y_train, y_val, w_train, w_val = _split_as_fit_does(
        model, X, y, weights
    )
    model.fit(
        X_train, y_train, w_train, X_val=X_val, y_val=y_val, sample_weight_val=w_val
    )
    _assert_same_model(model, split, rtol=0)
    # The weights are used: unit validation weights give other scores.
    unweighted = Estimator(**params).fit(
        X_train, y_train, w_train, X_val=X_val, y_val=y_val
    )
    assert unweighted.validation_loss_curve_ != model.validation_loss_curve_


def test_validation_set_drives_early_stopping_and_best_weights():
    X_train, X_val, y_train, y_val = train_test_split(
        X, Y_CLASS, test_size=0.3, random_state=0
    )
    model = MLPClassifier(
        hidden_layer_sizes=(16,),
        early_stopping=True,
        max_iter=200,
        n_iter_no_change=3,
        learning_rate_init=0.05,
        random_state=0,
    ).fit(X_train, y_train, X_val=X_val, y_val=y_val)
    assert model.n_iter_ < 200
    best = int(np.argmax(model.validation_scores_))
    assert model.best_validation_score_ == model.validation_scores_[best]
    # The restored weights are the best epoch's: they score its score.
    assert model.score(X_val, y_val) == model.best_validation_score_


@pytest.mark.parametrize(
    "kind", ["sparse", "float32", "multilabel", "multioutput", "strings"]
)
def test_validation_set_of_every_kind(kind):
    Estimator, X_, y = MLPClassifier, X, Y_CLASS
    if kind == "sparse":
        X_ = sp.csr_matrix(X)
    elif kind == "float32":
        X_ = X.astype(np.float32)
    elif kind == "multilabel":
        y = np.c_[Y_CLASS > 4, Y_CLASS % 2 == 0].astype(int)
    elif kind == "multioutput":
        Estimator, y = MLPRegressor, np.c_[Y_REG, -Y_REG]
    else:
        y = np.array(["abcdefghij"[k] for k in Y_CLASS])
    model = Estimator(
        hidden_layer_sizes=(8,), early_stopping=True, max_iter=3, random_state=0
    )
    model.fit(X_[:500], y[:500], X_val=X_[500:], y_val=y[500:])
    assert len(model.validation_scores_) == len(model.validation_loss_curve_) == 3
    assert model.coefs_[0].dtype == X_.dtype
    assert np.isfinite(model.validation_loss_curve_).all()
    assert model.t_ == 3 * 500


def _pipeline(step):
    return Pipeline(
        [("scale", StandardScaler()), ("model", step)], transform_input=["X_val"]
    )


@pytest.mark.parametrize("routed", ["fastnn", "hgb"])
def test_pipeline_routes_and_transforms_the_validation_set(routed):
    X_train, X_val = X_DIGITS[:500], X_DIGITS[500:700]
    y_train, y_val = Y_CLASS[:500], Y_DIGITS[500:700]
    if routed == "hgb":
        # The reference: HistGradientBoosting's own routing, same pipeline.
        make = lambda: HistGradientBoostingClassifier(  # noqa: E731
            early_stopping=True, max_iter=3, random_state=0
        )
    else:
        make = lambda: MLPClassifier(  # noqa: E731
            hidden_layer_sizes=(8,), early_stopping=True, max_iter=4, random_state=0
        )
    with config_context(enable_metadata_routing=True):
        step = make().set_fit_request(X_val=True, y_val=True, sample_weight_val=True)
        weights = np.linspace(0.5, 2, len(y_val))
        pipe = _pipeline(step).fit(
            X_train, y_train, X_val=X_val, y_val=y_val, sample_weight_val=weights
        )
    scaler = StandardScaler().fit(X_train)
    direct = make().fit(
        scaler.transform(X_train),
        y_train,
        X_val=scaler.transform(X_val),
        y_val=y_val,
        sample_weight_val=weights,
    )
    np.testing.assert_array_equal(
        pipe.predict_proba(X_val), direct.predict_proba(scaler.transform(X_val))
    )
    scores = "validation_scores_" if routed == "fastnn" else "validation_score_"
    np.testing.assert_array_equal(getattr(pipe[-1], scores), getattr(direct, scores))


def _hgb_error(**fit_params):
    with pytest.raises(ValueError) as exc:
        HistGradientBoostingClassifier(early_stopping=True).fit(
            X, Y_CLASS, **fit_params
        )
    return str(exc.value)


@pytest.mark.parametrize("missing", ["X_val", "y_val"])
def test_half_a_validation_set_raises_hgbs_error(missing):
    given = {"X_val": X[:50], "y_val": Y_CLASS[:50]}
    del given[missing]
    expected = _hgb_error(**given)
    for Estimator in (MLPClassifier, MLPRegressor):
        with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
            Estimator(early_stopping=True).fit(X, Y_CLASS, **given)


def test_validation_set_without_early_stopping_raises_hgbs_error():
    with pytest.raises(ValueError) as exc:
        HistGradientBoostingClassifier(early_stopping=False).fit(
            X, Y_CLASS, X_val=X[:50], y_val=Y_CLASS[:50]
        )
    first_sentence = str(exc.value).split(". ")[0]
    assert first_sentence.endswith("early_stopping is False")
    with pytest.raises(ValueError, match=re.escape(first_sentence)):
        MLPClassifier().fit(X, Y_CLASS, X_val=X[:50], y_val=Y_CLASS[:50])


def test_feature_count_mismatch_raises_sklearns_error():
    expected = _hgb_error(X_val=X[:50, :10], y_val=Y_CLASS[:50]).replace(
        "HistGradientBoostingClassifier", "MLPClassifier"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        MLPClassifier(early_stopping=True).fit(
            X, Y_CLASS, X_val=X[:50, :10], y_val=Y_CLASS[:50]
        )


@pytest.mark.parametrize(
    "Estimator, fit_params, message",
    [
        (MLPClassifier, {"sample_weight_val": np.ones(50)}, "X_val and y_val were not"),
        (
            MLPClassifier,
            {"X_val": X[:50], "y_val": Y_CLASS[:40]},
            r"inconsistent numbers of samples: \[50, 40\]",
        ),
        (
            MLPClassifier,
            {"X_val": X[:50], "y_val": Y_CLASS[:50] + 10},
            r"y_val contains previously unseen labels: \[10, 11",
        ),
        (
            MLPClassifier,
            {"X_val": X[:50], "y_val": np.c_[Y_BINARY, Y_BINARY][:50]},
            "y_val is 'multilabel-indicator' but y is 'multiclass'",
        ),
        (
            MLPClassifier,
            {"X_val": X[:50], "y_val": Y_REG[:50]},
            "Unknown label type",
        ),
        (
            MLPRegressor,
            {"X_val": X[:50], "y_val": np.c_[Y_REG, Y_REG][:50]},
            "y_val has 2 outputs, but y has 1",
        ),
        (
            MLPClassifier,
            {"X_val": np.where(X[:50] > 0.5, np.nan, X[:50]), "y_val": Y_CLASS[:50]},
            "Input X contains NaN",
        ),
        (
            MLPRegressor,
            {"X_val": X[:50], "y_val": np.r_[np.nan, Y_REG[1:50]]},
            "Input y_val contains NaN",
        ),
        (
            MLPClassifier,
            {"X_val": X[:50], "y_val": Y_CLASS[:50], "sample_weight_val": np.ones(3)},
            r"sample_weight.shape == \(3,\), expected \(50,\)",
        ),
        (
            MLPClassifier,
            {"X_val": X[:1], "y_val": Y_CLASS[:1]},
            "The validation set is too small: X_val has 1 sample",
        ),
    ],
    ids=[
        "weights_alone",
        "lengths",
        "unseen_labels",
        "multilabel_vs_multiclass",
        "continuous_labels",
        "outputs",
        "nan_X",
        "nan_y",
        "weights_length",
        "one_row",
    ],
)
def test_bad_validation_sets_raise_clear_errors(Estimator, fit_params, message):
    y = Y_CLASS if Estimator is MLPClassifier else Y_REG
    with pytest.raises(ValueError, match=message):
        Estimator(early_stopping=True).fit(X, y, **fit_params)


def test_poisson_rejects_negative_validation_targets():
    with pytest.raises(ValueError, match="y_val are negative"):
        MLPRegressor(loss="poisson", early_stopping=True).fit(
            X, Y_REG, X_val=X[:50], y_val=-Y_REG[:50]
        )


def test_lbfgs_and_partial_fit_take_no_validation_set():
    with pytest.raises(ValueError, match="stochastic solvers"):
        MLPClassifier(solver="lbfgs", early_stopping=True).fit(
            X, Y_CLASS, X_val=X[:50], y_val=Y_CLASS[:50]
        )
    with pytest.raises(TypeError, match="X_val"):
        MLPClassifier().partial_fit(X, Y_CLASS, classes=np.arange(10), X_val=X)


def test_failed_validation_leaves_a_fitted_model_untouched():
    model = MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, Y_CLASS)
    before = [w.copy() for w in model.coefs_]
    with pytest.raises(ValueError, match="unseen"):
        model.fit(X, Y_CLASS, X_val=X[:50], y_val=Y_CLASS[:50] + 10)
    for a, b in zip(before, model.coefs_):
        np.testing.assert_array_equal(a, b)
