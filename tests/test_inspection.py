"""fastnn.inspection against finite differences of the public predictions."""

import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.base import clone, is_classifier
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    RobustScaler,
    StandardScaler,
)

from fastnn import MLPClassifier, MLPRegressor
from fastnn.inspection import SensitivityDisplay, input_sensitivity

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

H = 1e-6


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _fd(f, X):
    """Central differences of f (rows -> per-row values, any trailing shape)
    with respect to each input feature: (n_samples, ..., n_features)."""
    columns = []
    for j in range(X.shape[1]):
        step = np.zeros_like(X)
        step[:, j] = H
        columns.append((f(X + step) - f(X - step)) / (2 * H))
    return np.stack(columns, axis=-1)


def _data(n=40, p=5, seed=0):
    rng = np.random.RandomState(seed)
    return rng, rng.normal(size=(n, p))


def _classifier(X, y, **params):
    params = {
        "hidden_layer_sizes": (7,),
        "activation": "tanh",
        "max_iter": 30,
        **params,
    }
    return MLPClassifier(random_state=0, **params).fit(X, y)


def test_loss_sensitivity_is_the_gradient_of_the_public_log_loss():
    rng, X = _data()
    y = rng.randint(3, size=len(X))
    clf = _classifier(X, y)
    onehot = np.eye(3)[y]
    fd = _fd(lambda Z: -(onehot * np.log(clf.predict_proba(Z))).sum(axis=1), X)
    w = rng.uniform(0.5, 2, size=len(X))

    expected = {"mean_abs": np.abs(fd), "mean": fd, "mean_squared": fd**2}
    for reduce, values in expected.items():
        result = input_sensitivity(clf, X, y, sample_weight=w, reduce=reduce)
        assert result.importances.shape == (5, len(X))
        assert_allclose(result.importances, values.T, rtol=1e-6, atol=1e-9)
        mean = (values * w[:, None]).sum(axis=0) / w.sum()
        assert_allclose(result.importances_mean, mean, rtol=1e-6, atol=1e-9)
        var = ((values - mean) ** 2 * w[:, None]).sum(axis=0) / w.sum()
        assert_allclose(result.importances_std, np.sqrt(var), rtol=1e-5, atol=1e-9)
    # Unweighted: permutation_importance's np.mean / np.std over the columns.
    result = input_sensitivity(clf, X, y)
    assert_allclose(result.importances_mean, result.importances.mean(axis=1))
    assert_allclose(result.importances_std, result.importances.std(axis=1))


def test_loss_sensitivity_of_a_regressor_is_that_of_half_the_squared_error():
    rng, X = _data()
    Y = np.c_[X[:, 0] - X[:, 1], X[:, 2] ** 2]
    reg = MLPRegressor(hidden_layer_sizes=(6,), max_iter=30, random_state=0)
    reg.fit(X, Y)
    fd = _fd(lambda Z: 0.5 * ((reg.predict(Z) - Y) ** 2).sum(axis=1), X)
    result = input_sensitivity(reg, X, Y, reduce="mean")
    assert_allclose(result.importances, fd.T, rtol=1e-6, atol=1e-9)


def test_output_sensitivity_has_one_row_per_output():
    rng, X = _data()
    y3 = rng.randint(3, size=len(X))
    clf = _classifier(X, y3)
    result = input_sensitivity(clf, X, reduce="mean")
    fd = _fd(clf.predict_proba, X)  # (n, 3, p)
    assert result.importances_mean.shape == (3, 5)
    assert result.importances.shape == (3, 5, len(X))
    assert_allclose(result.importances, np.moveaxis(fd, 0, -1), atol=1e-8)
    assert_allclose(result.importances_mean, fd.mean(axis=0), atol=1e-8)

    # One output: permutation_importance's shapes, the probability of classes_[1].
    binary = _classifier(X, y3 == 0)
    result = input_sensitivity(binary, X, reduce="mean")
    fd = _fd(lambda Z: binary.predict_proba(Z)[:, 1], X)
    assert result.importances.shape == (5, len(X))
    assert_allclose(result.importances, fd.T, atol=1e-8)

    reg = MLPRegressor(hidden_layer_sizes=(6,), max_iter=30, random_state=0)
    reg.fit(X, X[:, :2])
    result = input_sensitivity(reg, X, reduce="mean_abs")
    fd = _fd(reg.predict, X)
    assert_allclose(result.importances_mean, np.abs(fd).mean(axis=0), atol=1e-8)


def test_the_features_that_matter_rank_first():
    rng, X = _data(n=300, p=6)
    y = X[:, 0] + 2 * X[:, 1]
    reg = MLPRegressor(hidden_layer_sizes=(16,), max_iter=300, random_state=0)
    reg.fit(X, y)
    for reduce in ("mean_abs", "mean_squared"):
        ranking = input_sensitivity(reg, X, reduce=reduce).importances_mean.argsort()
        assert list(ranking[::-1][:2]) == [1, 0]
    # The loss sensitivity of a classifier of the same signal.
    clf = _classifier(X, y > 0, hidden_layer_sizes=(16,), max_iter=200)
    ranking = input_sensitivity(clf, X, y > 0).importances_mean.argsort()
    assert list(ranking[::-1][:2]) == [1, 0]


@pytest.mark.parametrize(
    "steps",
    [
        [StandardScaler()],
        [StandardScaler(with_std=False), MinMaxScaler((-1, 2))],
        [MaxAbsScaler(), "passthrough", RobustScaler()],
        [StandardScaler(), PCA(n_components=4)],
        [PCA(whiten=True)],
    ],
    ids=["standard", "center+minmax", "maxabs+robust", "scaler+pca", "pca-whiten"],
)
def test_pipeline_gradients_follow_the_chain_rule(steps):
    rng, X = _data()
    X = X * [1, 10, 0.1, 3, 100] + [0, 5, -2, 0, 50]
    y = rng.randint(3, size=len(X))
    pipe = make_pipeline(*steps, MLPClassifier(max_iter=30, random_state=0))
    pipe.fit(X, y)
    onehot = np.eye(3)[y]
    fd = _fd(lambda Z: -(onehot * np.log(pipe.predict_proba(Z))).sum(axis=1), X)
    result = input_sensitivity(pipe, X, y, reduce="mean")
    scale = np.abs(fd).max()
    assert np.abs(result.importances - fd.T).max() <= 1e-6 * scale
    fd = _fd(pipe.predict_proba, X)
    result = input_sensitivity(pipe, X, reduce="mean")
    assert np.abs(result.importances - np.moveaxis(fd, 0, -1)).max() <= 1e-6 * scale


def test_pipeline_with_a_scaler_divides_by_its_scale():
    rng, X = _data()
    X = X * [1, 10, 0.1, 3, 100]
    y = X[:, 0] + X[:, 1] / 10
    pipe = make_pipeline(
        StandardScaler(), MLPRegressor(max_iter=30, random_state=0)
    ).fit(X, y)
    scaler, reg = pipe[0], pipe[-1]
    inner = reg.input_gradient(scaler.transform(X), y)
    result = input_sensitivity(pipe, X, y, reduce="mean")
    assert_allclose(result.importances, (inner / scaler.scale_).T, rtol=1e-12)


def test_bad_input_is_rejected():
    rng, X = _data()
    y = rng.randint(2, size=len(X))
    clf = _classifier(X, y)
    with pytest.raises(ValueError, match="Cannot differentiate through step"):
        input_sensitivity(make_pipeline(Normalizer(), clf).fit(X, y), X)
    with pytest.raises(ValueError, match=r"clip=True\) is not linear"):
        input_sensitivity(make_pipeline(MinMaxScaler(clip=True), clf).fit(X, y), X)
    with pytest.raises(TypeError, match="fastnn MLPClassifier or MLPRegressor"):
        sk = make_pipeline(StandardScaler(), SkMLPClassifier(max_iter=5))
        input_sensitivity(sk.fit(X, y), X)
    with pytest.raises(ValueError, match="The 'estimator' parameter"):
        input_sensitivity(SkMLPClassifier(), X)
    with pytest.raises(NotFittedError):
        input_sensitivity(MLPClassifier(), X)
    with pytest.raises(ValueError, match="The 'reduce' parameter"):
        input_sensitivity(clf, X, reduce="max")
    with pytest.raises(ValueError, match="features"):
        input_sensitivity(clf, X[:, :3])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        input_sensitivity(clf, X, y[:-1])
    with pytest.raises(ValueError, match="sample_weight"):
        input_sensitivity(clf, X, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="0 sample"):
        input_sensitivity(clf, X[:0])
    with pytest.raises(TypeError, match="The 'X' parameter"):
        input_sensitivity(clf, sp.csr_matrix(X))


def _bad_targets():
    rng, X = _data()
    y_reg = np.abs(X[:, 0]) + 0.1
    y_class = (X[:, 0] > 0).astype(float)
    return {
        "nan y": (MLPRegressor(), X, np.where(X[:, 1] > 0, np.nan, y_reg)),
        "inf y": (MLPRegressor(), X, np.where(X[:, 1] > 0, np.inf, y_reg)),
        "negative y, poisson": (MLPRegressor(loss="poisson"), X, y_reg - 1),
        "nan label": (MLPClassifier(), X, np.where(X[:, 1] > 0, np.nan, y_class)),
        "string y, regressor": (MLPRegressor(), X, y_reg.astype(str)),
    }


@pytest.mark.parametrize("case", list(_bad_targets()))
def test_input_gradient_and_sensitivity_refuse_the_targets_fit_refuses(case):
    model, X, y_bad = _bad_targets()[case]
    y_good = np.abs(X[:, 0]) + 0.1 if not is_classifier(model) else X[:, 0] > 0
    model.set_params(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    with pytest.raises(ValueError) as refused_by_fit:
        clone(model).fit(X, y_bad)
    model.fit(X, y_good)
    for call in (model.input_gradient, lambda X, y: input_sensitivity(model, X, y)):
        with pytest.raises(ValueError) as refused:
            call(X, y_bad)
        assert str(refused.value) == str(refused_by_fit.value)


def test_bar_chart_carries_the_top_features_and_the_estimators_names():
    rng, X = _data(p=12)
    names = [f"f{j}" for j in range(12)]
    df = pd.DataFrame(X, columns=names)
    y = rng.randint(3, size=len(X))
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=30, random_state=0))
    pipe.fit(df, y)
    _, ax = plt.subplots()
    disp = SensitivityDisplay.from_estimator(pipe, df, y, max_features=5, ax=ax)
    expected = input_sensitivity(pipe, df, y)
    top = np.argsort(-expected.importances_mean)[:5]
    assert disp.ax_ is ax and disp.figure_ is ax.figure
    assert disp.images_ is None and len(disp.bars_) == 5
    widths = [bar.get_width() for bar in disp.bars_]
    assert_allclose(widths, expected.importances_mean[top])
    # Largest at the top, named from the estimator's feature_names_in_.
    heights = [bar.get_y() for bar in disp.bars_]
    assert heights == sorted(heights, reverse=True)
    labels = {t.get_position()[1]: t.get_text() for t in ax.get_yticklabels()}
    ticks = [labels[bar.get_y() + bar.get_height() / 2] for bar in disp.bars_]
    assert ticks == [names[j] for j in top]
    assert disp.bars_.errorbar is not None


def test_long_feature_names_fit_in_the_saved_figure(tmp_path):
    # The longest of load_breast_cancer's names, in a pipeline: the saved
    # picture must show every tick label whole ("nsion error" was what was
    # left of "mean fractal dimension error").
    rng, X = _data(p=6)
    names = [
        "mean fractal dimension error",
        "worst concave points",
        "fractal dimension error",
        "mean smoothness",
        "area error",
        "worst symmetry and fractal dimension",
    ]
    df = pd.DataFrame(X, columns=names)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=30, random_state=0))
    pipe.fit(df, rng.randint(2, size=len(X)))
    disp = SensitivityDisplay.from_estimator(pipe, df)
    figure = disp.figure_
    figure.savefig(tmp_path / "sensitivity.png")  # draws with the layout
    renderer = figure.canvas.get_renderer()
    assert {t.get_text() for t in disp.ax_.get_yticklabels()} == set(names)
    # The x axis also lists ticks outside its limits, which are not drawn.
    low, high = disp.ax_.get_xlim()
    labels = disp.ax_.get_yticklabels() + [
        t for t in disp.ax_.get_xticklabels() if low <= t.get_position()[0] <= high
    ]
    box = figure.bbox
    for label in labels:
        extent = label.get_window_extent(renderer)
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1, label.get_text()
        assert box.y0 <= extent.y0 and extent.y1 <= box.y1, label.get_text()


def test_from_sensitivity_bar_chart_of_one_output():
    rng, X = _data()
    clf = _classifier(X, rng.randint(3, size=len(X)))
    result = input_sensitivity(clf, X)
    with pytest.raises(ValueError, match="choose one with target="):
        SensitivityDisplay.from_sensitivity(result)
    disp = SensitivityDisplay.from_sensitivity(result, target=2, max_features=3)
    top = np.argsort(-result.importances_mean[2])[:3]
    assert_allclose(
        [b.get_width() for b in disp.bars_], result.importances_mean[2, top]
    )
    assert [t.get_text() for t in disp.ax_.get_yticklabels()] == [f"x{j}" for j in top]
    with pytest.raises(ValueError, match="output index"):
        SensitivityDisplay.from_sensitivity(result, target=3)
    images = SensitivityDisplay.from_sensitivity(result, image_shape=(1, 5))
    assert images.images_.shape == (1, 3)
    for k in range(3):
        assert_allclose(
            images.images_[0, k].get_array(), result.importances_mean[k : k + 1]
        )


def test_heat_maps_show_signed_and_absolute_means_per_class():
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(60, 16))
    y = rng.randint(3, size=60)
    clf = _classifier(X, y, max_iter=50)
    disp = SensitivityDisplay.from_estimator(clf, X, target=[2, 0], image_shape=(4, 4))
    signed = input_sensitivity(clf, X, reduce="mean").importances_mean
    absolute = input_sensitivity(clf, X, reduce="mean_abs").importances_mean
    assert disp.images_.shape == disp.ax_.shape == (2, 2)
    for c, k in enumerate([2, 0]):
        assert_allclose(disp.images_[0, c].get_array(), signed[k].reshape(4, 4))
        assert_allclose(disp.images_[1, c].get_array(), absolute[k].reshape(4, 4))
    # The signed row is centred on zero on one scale shared by its panels.
    vmin, vmax = disp.images_[0, 0].get_clim()
    assert vmin == -vmax == -np.abs(signed[[2, 0]]).max()
    assert disp.images_[1, 1].get_clim()[0] == 0
    assert [a.get_title() for a in disp.ax_[0]] == ["class 2", "class 0"]

    # With y: the loss, drawn inside a bounding axes.
    _, ax = plt.subplots()
    disp = SensitivityDisplay.from_estimator(clf, X, y, image_shape=(4, 4), ax=ax)
    assert disp.bounding_ax_ is ax and disp.images_.shape == (2, 1)
    loss = input_sensitivity(clf, X, y, reduce="mean").importances_mean
    assert_allclose(disp.images_[0, 0].get_array(), loss.reshape(4, 4))

    # Every class when no target is given.
    disp = SensitivityDisplay.from_estimator(clf, X, kind="image", image_shape=(4, 4))
    assert disp.images_.shape == (2, 3)


def test_binary_classifier_target_picks_the_sign():
    rng, X = _data()
    y = np.where(X[:, 0] > 0, "yes", "no")
    clf = _classifier(X, y)
    positive = input_sensitivity(clf, X, reduce="mean").importances_mean
    for label, sign in [("yes", 1), ("no", -1)]:
        disp = SensitivityDisplay.from_estimator(
            clf, X, target=label, image_shape=(1, 5)
        )
        assert_allclose(disp.images_[0, 0].get_array(), sign * positive[None])
    disp = SensitivityDisplay.from_estimator(clf, X, image_shape=(1, 5))
    assert disp.ax_[0, 0].get_title() == "class yes"
    assert_allclose(disp.images_[0, 0].get_array(), positive[None])
    with pytest.raises(ValueError, match="not one of the classes"):
        SensitivityDisplay.from_estimator(clf, X, target="maybe", image_shape=(1, 5))


def test_display_rejects_bad_arguments():
    rng, X = _data()
    y = rng.randint(3, size=len(X))
    clf = _classifier(X, y)
    with pytest.raises(ValueError, match="loss, which has none"):
        SensitivityDisplay.from_estimator(clf, X, y, target=1)
    with pytest.raises(ValueError, match="choose one with target="):
        SensitivityDisplay.from_estimator(clf, X)
    with pytest.raises(ValueError, match="product must equal"):
        SensitivityDisplay.from_estimator(clf, X, y, image_shape=(2, 2))
    with pytest.raises(ValueError, match="kind must be one of"):
        SensitivityDisplay.from_estimator(clf, X, y, kind="pie")
    with pytest.raises(ValueError, match="Expected ax to have 6 axes"):
        _, axes = plt.subplots(1, 2)
        SensitivityDisplay.from_estimator(clf, X, image_shape=(1, 5), ax=axes)
    with pytest.raises(ValueError, match="feature_names has 2 names"):
        SensitivityDisplay.from_estimator(clf, X, y, feature_names=["a", "b"])
    reg = MLPRegressor(max_iter=5, random_state=0).fit(X, X[:, :2])
    with pytest.raises(ValueError, match="output index"):
        SensitivityDisplay.from_estimator(reg, X, target=2)


@pytest.mark.parametrize(
    "image_shape", [(-1, -5), (1, 5, 1), (5,), (0, 5), (1.0, 5.0), (True, 5), 5, "15"]
)
def test_image_shape_must_hold_two_positive_integers(image_shape):
    rng, X = _data()
    clf = _classifier(X, rng.randint(3, size=len(X)))
    message = "image_shape must hold 2 positive integers"
    with pytest.raises(ValueError, match=message):
        SensitivityDisplay.from_estimator(clf, X, target=0, image_shape=image_shape)
    values = np.ones((1, 1, 5))
    with pytest.raises(ValueError, match=message):
        SensitivityDisplay(values, image_shape=image_shape).plot(kind="image")
    plt.close("all")


def test_matplotlib_is_only_needed_to_plot(monkeypatch, tmp_path):
    code = "import sys, fastnn.inspection; print('matplotlib' in sys.modules)"
    # Outside the checkout, so that the child imports the fastnn under test
    # (an installed build) rather than the uncompiled sources in the cwd.
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert out.stdout.strip() == "False"

    rng, X = _data()
    clf = _classifier(X, rng.randint(2, size=len(X)))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    message = "SensitivityDisplay.from_estimator requires matplotlib"
    with pytest.raises(ImportError, match=message):
        SensitivityDisplay.from_estimator(clf, X)
    assert input_sensitivity(clf, X).importances.shape == (5, len(X))


def test_digits_example_writes_the_readme_picture(tmp_path):
    script = Path(__file__).parents[1] / "examples" / "digits_sensitivity.py"
    output = tmp_path / "map.png"
    result = subprocess.run(
        [
            sys.executable,
            "-W",
            "ignore",
            str(script),
            "--output",
            str(output),
            "--max-iter",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout
    image = plt.imread(output)
    assert image.shape[0] > 100 and image.shape[1] > 500
