"""The lean path of predict: plain float arrays skip the full validation.

A 2-D float32/float64 NumPy array of the fitted width, for a model fitted
without feature names, is handed to the engine without ``validate_data``;
everything else takes the full validation.  These tests hold the two paths
to the same answers (bitwise), the lean path to scikit-learn's own, and
every input the lean path must not take to scikit-learn's exact exception
or warning, at 1, 100 and 2,000 rows.
"""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.preprocessing import LabelBinarizer

import fastnn._base
import fastnn._threads
from fastnn import MLPClassifier, MLPRegressor, _engine
from fastnn._classifier import _decode

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ROWS = [1, 100, 2000]
PARAMS = dict(hidden_layer_sizes=(20,), max_iter=5, random_state=0)


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    X = X / 16
    X = np.vstack([X, X])  # 3,594 rows: enough for every row count
    y = np.concatenate([y, y])
    return X, y


@pytest.fixture(scope="module")
def models(data):
    X, y = data
    fitted = {}
    for name, ours, theirs, target in [
        ("multiclass", MLPClassifier, SkMLPClassifier, y),
        ("binary", MLPClassifier, SkMLPClassifier, np.where(y > 4, "big", "small")),
        ("regressor", MLPRegressor, SkMLPRegressor, y.astype(float)),
        ("regressor2", MLPRegressor, SkMLPRegressor, np.c_[y, -y].astype(float)),
    ]:
        fitted[name] = (ours(**PARAMS).fit(X, target), theirs(**PARAMS).fit(X, target))
    return fitted


def _methods(model):
    names = ["predict"]
    if hasattr(model, "predict_proba"):
        names += ["predict_proba", "predict_log_proba"]
    return names


@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("kind", ["multiclass", "binary", "regressor", "regressor2"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lean_path_is_bitwise_the_full_path_and_matches_sklearn(
    data, models, kind, rows, dtype, monkeypatch
):
    X = np.ascontiguousarray(data[0][:rows], dtype=dtype)
    ours, theirs = models[kind]
    lean = {m: getattr(ours, m)(X) for m in _methods(ours)}
    with monkeypatch.context() as patch:
        patch.setattr(
            fastnn._base.BaseMultilayerPerceptron,
            "_passes_validation_unchanged",
            lambda self, X: False,
        )
        full = {m: getattr(ours, m)(X) for m in _methods(ours)}
    for m in lean:
        assert lean[m].dtype == full[m].dtype and lean[m].shape == full[m].shape
        np.testing.assert_array_equal(lean[m], full[m], err_msg=m)
    # The two libraries' weights differ only by the fit's rounding, so the
    # labels agree and the values to the fit's precision.
    ref = theirs.predict(X)
    assert lean["predict"].dtype == ref.dtype
    if kind in ("multiclass", "binary"):
        assert (lean["predict"] == ref).mean() > 0.99


def test_plain_float_input_skips_validate_data(models, data, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("validate_data called on a plain float array")

    monkeypatch.setattr(fastnn._base, "validate_data", refuse)
    ours, _ = models["multiclass"]
    for rows in ROWS:
        X = data[0][:rows]
        ours.predict(X)
        ours.predict_proba(X)
        ours.predict_log_proba(X.astype(np.float32))
        models["regressor"][0].predict(X)


class _RecordingBlas:
    """A BLAS library controller, at two threads, that records what the
    engine sets."""

    def __init__(self, calls: list):
        self.calls = calls
        self.n = 2

    def get_num_threads(self) -> int:
        return self.n

    def set_num_threads(self, n: int) -> None:
        self.calls.append(n)
        self.n = n


@pytest.mark.parametrize("products", ["blas", "kernels"])
def test_blas_is_pinned_only_for_products_big_enough_to_thread_on_it(
    models, data, monkeypatch, products
):
    # (20,) hidden units on 64 features: 1,280 products per row, so one
    # row stays below the size at which BLAS or the engine would split a
    # product, 100 rows do not.  Predictions on the engine's kernels never
    # call BLAS, so they leave it alone at any size.
    calls: list = []
    blas = [_RecordingBlas(calls)]
    monkeypatch.setattr(fastnn._threads, "_blas_libraries", lambda: blas)
    ours, theirs = models["multiclass"]
    X = data[0]
    previous = _engine._set_products("blas" if products == "blas" else "portable")
    if products == "kernels" and previous != "blas":
        _engine._set_products(previous)
    try:
        for rows, pinned in [(1, []), (10, []), (100, [1, 2]), (2000, [1, 2])]:
            calls.clear()
            np.testing.assert_allclose(
                ours.predict_proba(X[:rows]),
                theirs.predict_proba(X[:rows]),
                rtol=1e-7,
            )
            assert calls == (pinned if products == "blas" else []), rows
    finally:
        _engine._set_products(previous)


def _outcome(model, method: str, X):
    """What ``model.method(X)`` did: its exception (type, message), or the
    shape of its result and its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = getattr(model, method)(X)
        except Exception as exc:  # noqa: BLE001 (compared, not swallowed)
            return "raised", type(exc), str(exc)
    messages = sorted(
        str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)
    )
    return "returned", np.asarray(out).shape, messages


class _Subclass(np.ndarray):
    pass


def _bad_inputs(X: np.ndarray) -> dict:
    rows = X.shape[0]
    nan, inf = X.copy(), X.copy()
    nan[rows // 2, 3] = np.nan
    inf[rows - 1, 0] = np.inf
    return {
        "nan": nan,
        "inf": inf,
        "-inf float32": (-inf).astype(np.float32),
        "too few features": X[:, :-1],
        "too many features": np.c_[X, X[:, :1]],
        "1-D": X[0],
        "3-D": X[None],
        "0 rows": X[:0],
        "complex": X.astype(np.complex128),
        "object strings": X.astype(str).astype(object),
        "strings": X.astype(str),
        "bytes": X.astype(bytes),
        "int": (X * 16).astype(np.int64),
        "bool": X > 0.5,
        "big-endian": X.astype(">f8"),
        "F-ordered": np.asfortranarray(X),
        "strided": np.repeat(X, 2, axis=1)[:, ::2],
        "ndarray subclass": X.view(_Subclass),
        "list": X.tolist(),
        "csr": sp.csr_matrix(X),
        "dataframe": pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])]),
    }


@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("kind", ["multiclass", "regressor"])
def test_every_other_input_gets_sklearns_exception_or_warning(data, models, kind, rows):
    ours, theirs = models[kind]
    for name, X in _bad_inputs(data[0][:rows]).items():
        for method in _methods(ours):
            got = _outcome(ours, method, X)
            want = _outcome(theirs, method, X)
            # sklearn names itself in some messages; so does fastnn.
            assert got == want, (name, method)


# The output's dtype is NumPy's promotion of the input's and the model's,
# as in scikit-learn, whose products promote.
INPUT_DTYPES = [
    "float16",
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    ">f4",
    ">f8",
    "float32",
    "float64",
]


@pytest.mark.parametrize("model_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["multiclass", "regressor"])
def test_output_dtype_is_sklearns_for_every_input_dtype(data, kind, model_dtype):
    X, y = data[0][:300], data[1][:300]
    ours, theirs = (
        (MLPClassifier, SkMLPClassifier)
        if kind == "multiclass"
        else (MLPRegressor, SkMLPRegressor)
    )
    target = y if kind == "multiclass" else y.astype(float)
    ours = ours(**PARAMS).fit(X.astype(model_dtype), target)
    theirs = theirs(**PARAMS).fit(X.astype(model_dtype), target)
    for name in INPUT_DTYPES:
        # Digits are integers from 0 to 16: every dtype holds them exactly.
        Xd = X > 0.5 if name == "bool" else (X * 16).astype(name)
        for method in _methods(ours):
            got = getattr(ours, method)(Xd)
            want = getattr(theirs, method)(Xd)
            assert got.dtype == want.dtype, (name, method)
            if method != "predict" or kind == "regressor":
                # Computed in that dtype, not widened and cast back.
                same = getattr(ours, method)(Xd.astype(want.dtype.newbyteorder("=")))
                np.testing.assert_array_equal(got, same)


@pytest.mark.parametrize("kind", ["multiclass", "regressor"])
def test_long_double_input_is_predicted_in_float64(data, models, kind):
    # The engine has float32 and float64 kernels only; scikit-learn returns
    # long doubles computed from the same float64 weights.
    X = data[0][:100]
    ours, theirs = models[kind]
    for method in _methods(ours):
        got = getattr(ours, method)(X.astype(np.longdouble))
        np.testing.assert_array_equal(got, getattr(ours, method)(X))
        if method != "predict" or kind == "regressor":
            assert got.dtype == np.float64
            want = getattr(theirs, method)(X.astype(np.longdouble))
            assert want.dtype == np.longdouble


def test_feature_names_are_checked_both_ways(data):
    X, y = data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    for fit_on, predict_on in [(frame, X[:5]), (X, frame.iloc[:5])]:
        ours = MLPClassifier(**PARAMS).fit(fit_on, y)
        theirs = SkMLPClassifier(**PARAMS).fit(fit_on, y)
        for method in _methods(ours):
            got = _outcome(ours, method, predict_on)
            want = _outcome(theirs, method, predict_on)
            assert got[0] == want[0] == "returned"
            assert [m.replace("MLPClassifier", "?") for m in got[2]] == [
                m.replace("MLPClassifier", "?") for m in want[2]
            ]
            assert got[2], "a warning was expected"


def test_unfitted_model_raises_sklearns_error(data):
    for ours, theirs in [
        (MLPClassifier(), SkMLPClassifier()),
        (MLPRegressor(), SkMLPRegressor()),
    ]:
        for method in _methods(ours):
            got = _outcome(ours, method, data[0][:1])
            want = _outcome(theirs, method, data[0][:1])
            assert got[0] == "raised" and got[1] is NotFittedError
            assert got == want


def test_assume_finite_is_honoured_like_sklearn(data, models):
    X = data[0][:10].copy()
    X[2, 5] = np.nan
    ours, theirs = models["regressor"]
    with sklearn.config_context(assume_finite=True):
        got, want = ours.predict(X), theirs.predict(X)
    assert np.isnan(got[2]) and np.isnan(want[2])
    np.testing.assert_allclose(np.delete(got, 2), np.delete(want, 2), rtol=1e-6)
    with pytest.raises(ValueError, match=re.escape("Input X contains NaN.")):
        ours.predict(X)


@pytest.mark.parametrize(
    "labels", [np.arange(7), np.array(["a", "b"]), np.array([3, 9])]
)
def test_decoding_is_the_binarizers(labels):
    rng = np.random.default_rng(0)
    binarizer = LabelBinarizer().fit(labels)
    n_out = 1 if len(labels) == 2 else len(labels)
    y = rng.random((500, n_out))
    y[:50] = 0.5  # ties with each other and with the binary threshold
    y[50:60, 0] = np.nan
    if n_out == 1:
        y = y.ravel()
    got, want = _decode(binarizer, y), binarizer.inverse_transform(y)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
