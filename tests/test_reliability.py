"""Bad input, divergence, failed calls, threads and memory: never a crash."""

import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from fastnn._engine._threads import openmp_enabled
from numpy.testing import assert_array_equal
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.fixes import parse_version

from fastnn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

RNG = np.random.RandomState(0)
X = RNG.normal(size=(30, 4))
Y_CLASS = np.arange(30) % 3
Y_REG = X @ [1.0, -1.0, 0.5, 0.0]


def _with(value, **where):
    out = X.copy()
    out[1, 2] = value
    return out


# (estimator, X, y, fit kwargs, exception, message pattern); None = must work.
BAD_INPUTS = {
    "nan in X": (MLPClassifier, _with(np.nan), Y_CLASS, {}, ValueError, "NaN"),
    "inf in X": (MLPClassifier, _with(np.inf), Y_CLASS, {}, ValueError, "infinity"),
    "-inf in X": (MLPRegressor, _with(-np.inf), Y_REG, {}, ValueError, "infinity"),
    "nan in y": (
        MLPRegressor,
        X,
        np.where(Y_REG > 0, np.nan, 0),
        {},
        ValueError,
        "NaN",
    ),
    "inf in y": (
        MLPRegressor,
        X,
        np.where(Y_REG > 0, np.inf, 0),
        {},
        ValueError,
        "infinity",
    ),
    "empty X": (MLPClassifier, X[:0], Y_CLASS[:0], {}, ValueError, "0 sample"),
    "zero features": (MLPClassifier, X[:, :0], Y_CLASS, {}, ValueError, "0 feature"),
    "1-D X": (MLPClassifier, X[:, 0], Y_CLASS, {}, ValueError, "Expected 2D array"),
    "3-D X": (MLPClassifier, X[:, :, None], Y_CLASS, {}, ValueError, "dim 3"),
    "complex X": (MLPClassifier, X.astype(complex), Y_CLASS, {}, ValueError, "Complex"),
    "string X": (
        MLPClassifier,
        np.full(X.shape, "a"),
        Y_CLASS,
        {},
        ValueError,
        "could not convert",
    ),
    "mixed label types": (
        MLPClassifier,
        X,
        np.array([1, "a"] * 15, dtype=object),
        {},
        ValueError,
        "Mix of label input types",
    ),
    "y of wrong length": (
        MLPClassifier,
        X,
        Y_CLASS[:-1],
        {},
        ValueError,
        "inconsistent numbers of samples",
    ),
    "string regression target": (
        MLPRegressor,
        X,
        np.full(30, "a"),
        {},
        ValueError,
        # Refused as strings before any parsing (issue 21, item 12).
        "not compatible with arrays of bytes/strings",
    ),
    "negative poisson target": (
        MLPRegressor(loss="poisson"),
        X,
        -np.abs(Y_REG),
        {},
        ValueError,
        "negative",
    ),
    "all-zero sample weights": (
        MLPClassifier,
        X,
        Y_CLASS,
        {"sample_weight": np.zeros(30)},
        ValueError,
        "non-zero",
    ),
    "sample weights of wrong length": (
        MLPClassifier,
        X,
        Y_CLASS,
        {"sample_weight": np.ones(5)},
        ValueError,
        "sample_weight.shape",
    ),
    "values that overflow": (
        MLPRegressor,
        X * 1e300,
        Y_REG,
        {},
        ValueError,
        "non-finite",
    ),
    "targets that overflow": (
        MLPRegressor,
        X,
        Y_REG * 1e300,
        {},
        ValueError,
        "non-finite",
    ),
    "invalid parameter": (
        MLPClassifier(alpha=-1),
        X,
        Y_CLASS,
        {},
        InvalidParameterError,
        "alpha",
    ),
    "invalid hidden layer": (
        MLPClassifier(hidden_layer_sizes=(4, -1)),
        X,
        Y_CLASS,
        {},
        ValueError,
        "hidden_layer_sizes",
    ),
    # These must simply work.
    "one sample": (MLPClassifier, X[:1], Y_CLASS[:1], {}, None, None),
    "single class": (MLPClassifier, X, np.zeros(30), {}, None, None),
    "object X of numbers": (MLPClassifier, X.astype(object), Y_CLASS, {}, None, None),
    "bool X": (MLPClassifier, X > 0, Y_CLASS, {}, None, None),
    "int X": (MLPRegressor, (X * 10).astype(np.int64), Y_REG, {}, None, None),
    "list X": (MLPClassifier, X.tolist(), Y_CLASS.tolist(), {}, None, None),
    "F-ordered X": (MLPClassifier, np.asfortranarray(X), Y_CLASS, {}, None, None),
    "non-contiguous X": (
        MLPClassifier,
        np.repeat(X, 3, axis=1)[:, ::3],
        Y_CLASS,
        {},
        None,
        None,
    ),
    "sparse with explicit zeros": (
        MLPClassifier,
        sp.csr_matrix(
            (
                np.r_[X.ravel(), 0.0],
                (
                    np.r_[np.repeat(np.arange(30), 4), 0],
                    np.r_[np.tile(np.arange(4), 30), 1],
                ),
            ),
            shape=X.shape,
        ),
        Y_CLASS,
        {},
        None,
        None,
    ),
}


def _estimator(spec):
    return (
        spec().set_params(max_iter=5, random_state=0)
        if isinstance(spec, type)
        else (spec.set_params(max_iter=5, random_state=0))
    )


# Cases whose message comes from scikit-learn's validation, and the version
# that first gives it.
BAD_INPUTS_NEED_SKLEARN = {
    # _check_sample_weight refuses all-zero weights since 1.9; before, a fit
    # divides by their sum.
    "all-zero sample weights": "1.9",
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_gives_a_clear_error_or_a_correct_result(case):
    needed = BAD_INPUTS_NEED_SKLEARN.get(case)
    if needed and parse_version(sklearn.__version__) < parse_version(needed):
        pytest.skip(f"needs scikit-learn >= {needed}")
    spec, X_, y_, kwargs, error, message = BAD_INPUTS[case]
    model = _estimator(spec)
    if error is None:
        model.fit(X_, y_, **kwargs)
        out = model.predict(X_)
        assert out.shape[0] == np.asarray(
            X_.shape[0] if hasattr(X_, "shape") else len(X_)
        )
        if isinstance(model, MLPRegressor):
            assert np.isfinite(out).all()
    else:
        with pytest.raises(error, match=message):
            model.fit(X_, y_, **kwargs)


def test_predict_rejects_bad_input():
    model = MLPClassifier(max_iter=5, random_state=0).fit(X, Y_CLASS)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        model.predict(_with(np.nan))
    with pytest.raises(ValueError, match="Expected 2D array"):
        model.predict(X[0])


@pytest.mark.parametrize("layout", ["C", "F", "strided", "csr", "chunked"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_rejects_non_finite_input_with_sklearns_message(layout, value, dtype):
    # fastnn checks dense input inside the engine, block by block; the error
    # must still be scikit-learn's, wherever the bad value is.
    from sklearn.neural_network import MLPRegressor as SkMLPRegressor

    rng = np.random.RandomState(0)
    X_fit = rng.normal(size=(40, 6)).astype(dtype)
    params = dict(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    ours = MLPRegressor(**params).fit(X_fit, X_fit[:, 0])
    ref = SkMLPRegressor(**params).fit(X_fit, X_fit[:, 0])
    # The engine predicts in chunks of about 4 MiB of activations: 200,000
    # rows of 6 features are three of them.
    n = 200_000 if layout == "chunked" else 40
    X_bad = np.resize(X_fit, (n, 6))
    X_bad[n - 3, 4] = value
    if layout == "F":
        X_bad = np.asfortranarray(X_bad)
    elif layout == "strided":
        X_bad = np.repeat(X_bad, 2, axis=1)[:, ::2]
    elif layout == "csr":
        X_bad = sp.csr_matrix(X_bad)
    with pytest.raises(ValueError) as expected:
        ref.predict(X_bad)
    with pytest.raises(ValueError) as got:
        ours.predict(X_bad)
    assert str(got.value) == str(expected.value)


def test_predict_in_float32_accepts_input_finite_only_in_float64():
    # scikit-learn validates X before any cast; so does fastnn.
    X32 = X.astype(np.float32)
    model = MLPRegressor(max_iter=5, random_state=0).fit(X32, Y_REG)
    big = X.copy()
    big[1, 2] = 1e300  # finite, but infinite once cast to float32
    out = model.predict(big)
    assert out.shape == (30,)
    # Float64 input is predicted in float64: within float32 rounding of the
    # float32 input's predictions, and finite where scikit-learn's are.
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[2:], model.predict(X32)[2:], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_sparse_index_types_and_unsorted_indices_work(index_dtype):
    A = sp.random(40, 12, density=0.3, format="csr", random_state=0)
    y = np.arange(40) % 2
    reference = MLPClassifier(max_iter=5, random_state=0).fit(A.toarray(), y)
    # Reverse each row's stored order and widen or narrow the indices.
    B = A.copy()
    for i in range(B.shape[0]):
        lo, hi = B.indptr[i], B.indptr[i + 1]
        B.indices[lo:hi] = B.indices[lo:hi][::-1].copy()
        B.data[lo:hi] = B.data[lo:hi][::-1].copy()
    B.has_sorted_indices = False
    B.indices = B.indices.astype(index_dtype)
    B.indptr = B.indptr.astype(index_dtype)
    model = MLPClassifier(max_iter=5, random_state=0).fit(B, y)
    np.testing.assert_allclose(
        model.predict_proba(B), reference.predict_proba(A.toarray()), rtol=1e-10
    )


def test_divergence_raises_naming_the_learning_rate_and_keeps_finite_weights():
    Xd = X * 1000
    model = MLPRegressor(
        solver="sgd", learning_rate_init=10.0, max_iter=50, random_state=0
    )
    with pytest.raises(ValueError, match="learning_rate_init=10.0"):
        model.fit(Xd, Y_REG * 1000)
    assert all(np.isfinite(w).all() for w in model.coefs_ + model.intercepts_)
    assert np.isfinite(model.predict(Xd)).all()


def test_failed_partial_fit_leaves_the_model_intact():
    model = MLPClassifier(random_state=0)
    model.partial_fit(X, Y_CLASS, classes=[0, 1, 2])
    before = [w.copy() for w in model.coefs_ + model.intercepts_]
    state = (model.n_iter_, model.t_, list(model.loss_curve_))
    with pytest.raises(ValueError, match="features"):
        model.partial_fit(X[:, :2], Y_CLASS)
    with pytest.raises(ValueError, match="classes"):
        model.partial_fit(X, Y_CLASS + 5)
    with pytest.raises(ValueError, match="NaN"):
        model.partial_fit(_with(np.nan), Y_CLASS)
    for a, b in zip(before, model.coefs_ + model.intercepts_):
        assert_array_equal(a, b)
    assert (model.n_iter_, model.t_, model.loss_curve_) == state


@pytest.mark.parametrize(
    "class_weight, sample_weight, message",
    [
        ({0: 0, 1: 0, 2: 0}, None, "every sample a weight of zero"),
        ({0: 0, 1: 1, 2: 1}, Y_CLASS == 0, "every sample a weight of zero"),
        ({0: np.nan, 1: 1, 2: 1}, None, "class_weight must be finite"),
        ({0: 1, 1: np.inf, 2: 1}, None, "class_weight must be finite"),
    ],
)
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_zero_or_non_finite_class_weights_are_refused_before_training(
    class_weight, sample_weight, message, solver
):
    params = dict(hidden_layer_sizes=(5,), solver=solver, max_iter=5, random_state=0)
    model = MLPClassifier(class_weight=class_weight, **params)
    with pytest.raises(ValueError, match=message):
        model.fit(X, Y_CLASS, sample_weight=sample_weight)
    assert not hasattr(model, "coefs_")
    if solver == "adam":
        model = MLPClassifier(**params).fit(X, Y_CLASS)
        before = [w.copy() for w in model.coefs_ + model.intercepts_]
        model.set_params(class_weight=class_weight)
        with pytest.raises(ValueError, match=message):
            model.partial_fit(X, Y_CLASS, sample_weight=sample_weight)
        for a, b in zip(before, model.coefs_ + model.intercepts_):
            assert_array_equal(a, b)


def test_refits_are_bitwise_identical():
    fits = [
        MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=5, random_state=3).fit(
            X, Y_CLASS
        )
        for _ in range(2)
    ]
    for a, b in zip(
        fits[0].coefs_ + fits[0].intercepts_, fits[1].coefs_ + fits[1].intercepts_
    ):
        assert_array_equal(a, b)


def test_predict_from_eight_threads_matches_serial_and_restores_blas():
    from threadpoolctl import threadpool_info

    blas_before = [
        i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"
    ]
    rng = np.random.RandomState(1)
    Xb = rng.normal(size=(20000, 30))
    model = MLPClassifier(hidden_layer_sizes=(64,), max_iter=2, random_state=0).fit(
        Xb, (Xb[:, 0] > 0).astype(int)
    )
    expected = model.predict_proba(Xb)
    results = [None] * 8

    def work(i):
        for _ in range(3):
            results[i] = model.predict_proba(Xb)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        assert_array_equal(r, expected)
    blas_after = [
        i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"
    ]
    assert blas_after == blas_before


# -- BLAS settings and fits in other threads ----------------------------------
#
# OpenBLAS's thread limit (pthreads builds, as NumPy and SciPy ship) is one
# number for the whole process; threadpoolctl lets only the first thread that
# set it change it. Each test holds a limit of 3 from the main thread, so the
# main thread owns threadpoolctl's control and the user's setting is one no
# default produces.

BLAS_X = np.random.RandomState(0).normal(size=(3000, 40))
BLAS_Y = (BLAS_X[:, 0] + BLAS_X[:, 1] ** 2 > 1).astype(int)
# Fits whose products OpenBLAS would split if it were allowed two threads.
BLAS_FITS = {
    "lbfgs": dict(solver="lbfgs", max_iter=10),
    "adam": dict(solver="adam", batch_size=2000, max_iter=3),
    "sgd": dict(solver="sgd", batch_size=2000, max_iter=3),
}


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def _blas_threads_in_a_new_thread() -> list[int]:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_blas_threads).result()


def _blas_fit(solver: str, max_iter: int | None = None) -> MLPClassifier:
    params = {**BLAS_FITS[solver], "hidden_layer_sizes": (128, 64), "tol": 0.0}
    if max_iter is not None:
        params["max_iter"] = max_iter
    return MLPClassifier(random_state=0, **params).fit(BLAS_X, BLAS_Y)


def _assert_same_weights(a, b):
    for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert_array_equal(wa, wb)


@pytest.fixture
def user_blas_limit():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=3, user_api="blas"):
        assert _blas_threads() == [3] * len(_blas_threads())
        yield _blas_threads()


@pytest.mark.parametrize("solver", BLAS_FITS)
def test_a_fit_in_a_worker_thread_is_bitwise_the_main_thread_fit(
    solver, user_blas_limit
):
    from concurrent.futures import ThreadPoolExecutor

    expected = _blas_fit(solver)
    out = []
    worker = threading.Thread(target=lambda: out.append(_blas_fit(solver)))
    worker.start()
    worker.join()
    _assert_same_weights(out[0], expected)
    with ThreadPoolExecutor(3) as pool:
        for model in pool.map(_blas_fit, list(BLAS_FITS) * 2):
            _assert_same_weights(model, _blas_fit(model.solver))
    assert _blas_threads() == user_blas_limit
    assert _blas_threads_in_a_new_thread() == user_blas_limit


def _wait_until_blas_is_pinned(n_libraries: int, fitting: threading.Thread) -> None:
    deadline = time.monotonic() + 60
    while _blas_threads() != [1] * n_libraries:
        assert fitting.is_alive() and time.monotonic() < deadline, (
            "a fit never pinned BLAS to one thread"
        )
        time.sleep(0.001)


@pytest.mark.parametrize("first", ["worker", "main"])
def test_overlapping_fits_in_threads_pin_blas_and_the_last_restores_it(
    first, user_blas_limit
):
    n_libs = len(user_blas_limit)
    long_iter, short_iter = 150, 20
    out = []
    if first == "worker":
        # The worker's fit holds the pin (as the main thread sees it) while
        # a short fit in the main thread starts and ends; the worker's,
        # ending last, restores the settings.
        worker = threading.Thread(
            target=lambda: out.append(_blas_fit("lbfgs", long_iter))
        )
        worker.start()
        _wait_until_blas_is_pinned(n_libs, worker)
        main_fit = _blas_fit("lbfgs", short_iter)
        assert worker.is_alive(), "the worker's fit must outlast the main thread's"
        assert _blas_threads() == [1] * n_libs
    else:
        # The main thread's short fit pins BLAS; a long fit starts in a
        # worker meanwhile and ends last, so the worker restores it.
        def later_and_longer():
            _wait_until_blas_is_pinned(n_libs, threading.main_thread())
            out.append(_blas_fit("lbfgs", long_iter))

        worker = threading.Thread(target=later_and_longer)
        worker.start()
        main_fit = _blas_fit("lbfgs", short_iter)
        assert worker.is_alive(), "the worker's fit must outlast the main thread's"
    worker.join()
    assert _blas_threads() == user_blas_limit
    assert _blas_threads_in_a_new_thread() == user_blas_limit
    _assert_same_weights(out[0], _blas_fit("lbfgs", long_iter))
    _assert_same_weights(main_fit, _blas_fit("lbfgs", short_iter))


class _HeldFit:
    """Fits held at the start of ``method`` (which runs inside the fit's
    engine call, BLAS pinned or not) until the test has done there what
    it does while a fit runs."""

    def __init__(self, monkeypatch, method: str):
        self.inside, self.go = threading.Event(), threading.Event()
        original = getattr(MLPClassifier, method)

        def held(estimator, *args, **kwargs):
            self.inside.set()
            assert self.go.wait(60), "the test never let the fit go on"
            return original(estimator, *args, **kwargs)

        monkeypatch.setattr(MLPClassifier, method, held)

    def fit(self, solver: str, during) -> MLPClassifier:
        """A fit in a worker thread, with ``during()`` run in this thread
        while the worker is inside the fit."""
        self.inside.clear()
        self.go.clear()
        out = []
        worker = threading.Thread(target=lambda: out.append(_blas_fit(solver, 5)))
        worker.start()
        try:
            assert self.inside.wait(60), "the fit never started"
            during()
        finally:
            self.go.set()
            worker.join()
        return out[0]


@pytest.fixture
def kernel_products():
    from fastnn import _engine

    if _engine.products() == "blas":
        pytest.skip("this CPU has no AVX2: training's products run on BLAS")


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_blas_limits_the_user_sets_during_a_stochastic_fit_win(
    solver, user_blas_limit, kernel_products, monkeypatch
):
    from contextlib import ExitStack

    from threadpoolctl import threadpool_limits

    one = [1] * len(user_blas_limit)
    held = _HeldFit(monkeypatch, "_run_epochs")
    # A `with threadpool_limits(1)` opened while the fit runs and closed
    # after it ends.
    with ExitStack() as block:
        held.fit(
            solver,
            lambda: block.enter_context(threadpool_limits(limits=1, user_api="blas")),
        )
        assert _blas_threads() == one
        assert _blas_threads_in_a_new_thread() == one
    assert _blas_threads() == user_blas_limit
    # A global limit set while the fit runs.
    held.fit(solver, lambda: threadpool_limits(limits=1, user_api="blas"))
    assert _blas_threads() == one
    assert _blas_threads_in_a_new_thread() == one
    threadpool_limits(limits=2, user_api="blas")
    held.fit(solver, lambda: None)
    assert _blas_threads() == [2] * len(user_blas_limit)


@pytest.fixture(params=["lbfgs", "adam on BLAS products"])
def pinning_fit(request):
    """A fit that pins BLAS: L-BFGS (SciPy's L-BFGS-B calls BLAS between
    the evaluations), or a stochastic fit whose products run on BLAS."""
    from fastnn import _engine

    if request.param == "lbfgs":
        yield "lbfgs", "_minimize_lbfgs"
        return
    previous = _engine._set_products("blas")
    try:
        yield "adam", "_run_epochs"
    finally:
        _engine._set_products(previous)


def test_blas_counts_the_user_sets_during_a_pinning_fit_win(
    pinning_fit, user_blas_limit, monkeypatch
):
    from threadpoolctl import threadpool_limits

    solver, method = pinning_fit
    n_libs = len(user_blas_limit)
    held = _HeldFit(monkeypatch, method)

    def set_two():
        assert _blas_threads() == [1] * n_libs  # the fit's pin
        threadpool_limits(limits=2, user_api="blas")

    held.fit(solver, set_two)
    assert _blas_threads() == [2] * n_libs
    assert _blas_threads_in_a_new_thread() == [2] * n_libs
    threadpool_limits(limits=3, user_api="blas")

    def open_and_close_a_limit():
        with threadpool_limits(limits=2, user_api="blas"):
            assert _blas_threads() == [2] * n_libs

    held.fit(solver, open_and_close_a_limit)
    assert _blas_threads() == user_blas_limit


class _CountingBlas:
    """A BLAS library controller that records the counts set on it."""

    def __init__(self, n: int):
        self.n = n
        self.calls: list = []

    def get_num_threads(self) -> int:
        return self.n

    def set_num_threads(self, n: int) -> None:
        self.calls.append(n)
        self.n = n


def test_which_fits_pin_blas(monkeypatch):
    import fastnn._threads
    from fastnn import _engine

    lib = _CountingBlas(2)
    monkeypatch.setattr(fastnn._threads, "_blas_libraries", lambda: [lib])
    expected = {"adam": [], "sgd": [], "lbfgs": [1, 2]}
    if _engine.products() == "blas":
        expected = {solver: [1, 2] for solver in expected}
    for solver, calls in expected.items():
        lib.calls.clear()
        _blas_fit(solver, 2)
        assert lib.calls == calls, solver
    previous = _engine._set_products("blas")
    try:
        lib.calls.clear()
        _blas_fit("adam", 2)
        assert lib.calls == [1, 2]
    finally:
        _engine._set_products(previous)


def test_overlapping_pins_keep_the_users_newest_count(monkeypatch):
    import fastnn._threads
    from fastnn._threads import engine_threads

    libs = [_CountingBlas(2), _CountingBlas(1)]
    monkeypatch.setattr(fastnn._threads, "_blas_libraries", lambda: libs)
    with engine_threads():
        assert [lib.n for lib in libs] == [1, 1]
        libs[0].n = 3  # the user, in another thread
        with engine_threads():  # a call that overlaps: takes 3 as the user's
            assert [lib.n for lib in libs] == [1, 1]
        assert [lib.n for lib in libs] == [1, 1]
    assert [lib.n for lib in libs] == [3, 1]
    assert libs[1].calls == []  # at one thread already: never touched
    with engine_threads():
        libs[0].n = 4  # the user's, after the pin: it stands
    assert libs[0].calls == [1, 1, 3, 1]
    assert libs[0].n == 4
    with engine_threads(blas=False):
        pass
    assert libs[0].calls == [1, 1, 3, 1]


@pytest.mark.parametrize("call", ["fit", "predict"])
def test_gil_is_released_while_the_engine_runs(call):
    rng = np.random.RandomState(0)
    Xg = rng.normal(size=(60000, 200)).astype(np.float32)
    yg = (Xg[:, 0] > 0).astype(int)
    model = MLPClassifier(hidden_layer_sizes=(256,), max_iter=1, random_state=0)
    if call == "predict":
        model.fit(Xg[:500], yg[:500])
        Xg = np.tile(Xg, (4, 1))
    stamps = []
    done = threading.Event()

    def ticker():
        while not done.is_set():
            stamps.append(time.perf_counter())

    t = threading.Thread(target=ticker)
    start = time.perf_counter()
    t.start()
    try:
        model.fit(Xg, yg) if call == "fit" else model.predict(Xg)
    finally:
        elapsed = time.perf_counter() - start
        done.set()
        t.join()
    gaps = np.diff([start, *stamps])
    # Holding the GIL through the engine would starve the ticker for about
    # the whole call; released, it only waits on the OS scheduler.
    assert elapsed > 0.2, "workload too small to tell"
    assert gaps.max() < 0.5 * elapsed


# Prologue of the memory tests' subprocesses: `peak_growth_mb(call)` runs
# call() and returns how far anonymous memory (RssAnon: the process's own
# allocations, not the pages of mapped files) rose above its level before.
# AddressSanitizer quarantines freed memory and pads every allocation, so
# resident-memory bounds mean nothing under tools/asan.sh.
under_asan = pytest.mark.skipif(
    "asan" in os.environ.get("LD_PRELOAD", ""),
    reason="AddressSanitizer inflates resident memory by design",
)

RSS_SAMPLER = textwrap.dedent(
    """
    import sys, threading, time
    import numpy as np

    def rss_anon_kb():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])

    def peak_growth_mb(call):
        peak, stop = [0], threading.Event()
        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_anon_kb())
                time.sleep(0.002)
        base = rss_anon_kb()
        t = threading.Thread(target=sample)
        t.start()
        try:
            out = call()
        finally:
            stop.set()
            t.join()
        return (peak[0] - base) / 1024.0, out
    """
)

MEMMAP_SCRIPT = RSS_SAMPLER + textwrap.dedent(
    """
    from fastnn import MLPRegressor

    path, n_rows, n_cols = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    X = np.memmap(path, dtype=np.float32, mode="r", shape=(n_rows, n_cols))
    model = MLPRegressor(hidden_layer_sizes=(32, 16), max_iter=2, random_state=0)
    model.fit(np.asarray(X[:2000]), np.asarray(X[:2000, 0]))
    grown, out = peak_growth_mb(lambda: model.predict(X))
    assert out.shape == (n_rows,) and np.isfinite(out).all()
    print(grown, out.nbytes / 2**20)
    """
)


@under_asan
def test_predict_on_a_large_memmap_runs_in_bounded_memory(tmp_path):
    n_cols = 128
    n_rows = (2 << 30) // (4 * n_cols)  # 2 GiB of float32
    if shutil.disk_usage(tmp_path).free < 3 << 30:
        pytest.skip("needs 3 GiB of free disk for the memory-mapped input")
    path = tmp_path / "X.f32"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(n_rows, n_cols))
    rng = np.random.RandomState(0)
    block = rng.normal(size=(1 << 15, n_cols)).astype(np.float32)
    for start in range(0, n_rows, block.shape[0]):
        mm[start : start + block.shape[0]] = block[: n_rows - start]
    mm.flush()
    del mm
    result = subprocess.run(
        [sys.executable, "-c", MEMMAP_SCRIPT, str(path), str(n_rows), str(n_cols)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stderr
    grown_mb, output_mb = map(float, result.stdout.split())
    # Anonymous memory (the file's pages are not ours to count): the output
    # plus the engine's chunk buffers and a little slack.
    assert grown_mb < output_mb + 24, (grown_mb, output_mb)


def test_training_continues_identically_after_a_pickle_round_trip():
    import pickle

    model = MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, random_state=0)
    model.fit(X, Y_CLASS)
    restored = pickle.loads(pickle.dumps(model))
    for m in (model, restored):
        m.partial_fit(X, Y_CLASS)
    for a, b in zip(
        model.coefs_ + model.intercepts_, restored.coefs_ + restored.intercepts_
    ):
        assert_array_equal(a, b)


FIT_MEMORY_SCRIPT = RSS_SAMPLER + textwrap.dedent(
    """
    from fastnn import MLPClassifier

    rng = np.random.RandomState(0)
    X = rng.standard_normal((200_000, 256)).astype(np.float32)  # 195 MiB
    y = rng.randint(10, size=X.shape[0])
    model = MLPClassifier(hidden_layer_sizes=(64,), max_iter=1, random_state=0)
    grown, _ = peak_growth_mb(lambda: model.fit(X, y))
    print(grown, X.nbytes / 2**20)
    """
)


@under_asan
def test_fit_does_not_copy_a_training_set_in_the_working_dtype(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", FIT_MEMORY_SCRIPT],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    grown_mb, x_mb = map(float, result.stdout.split())
    # Beyond X: the float32 label matrix (200k x 10, 7.6 MiB), two index
    # arrays and the sample weights (about 4 MiB), parameters, optimizer
    # state and one batch of activations; far below a copy of X.
    assert grown_mb < 32, (grown_mb, x_mb)


THREADS_SCRIPT = textwrap.dedent(
    """
    import hashlib
    import numpy as np
    from fastnn import MLPClassifier
    from fastnn._engine._threads import effective_n_threads

    rng = np.random.RandomState(0)
    X = rng.normal(size=(2000, 120))
    y = rng.randint(4, size=2000)
    model = MLPClassifier(hidden_layer_sizes=(300, 100), dropout=0.2, max_iter=2,
                          random_state=0).fit(X, y)
    digest = hashlib.sha256()
    for w in model.coefs_ + model.intercepts_:
        digest.update(w.tobytes())
    print(effective_n_threads(), digest.hexdigest())
    """
)


def test_bitwise_identical_models_under_omp_num_threads_1_and_2(tmp_path):
    outputs = {}
    for n in ("1", "2"):
        result = subprocess.run(
            [sys.executable, "-c", THREADS_SCRIPT],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
            env={**os.environ, "OMP_NUM_THREADS": n},
        )
        assert result.returncode == 0, result.stderr
        threads, digest = result.stdout.split()
        outputs[n] = digest
        # A serial build (no OpenMP) runs one thread whatever the setting.
        expected = min(int(n), len(os.sched_getaffinity(0))) if openmp_enabled() else 1
        assert int(threads) == expected
    assert outputs["1"] == outputs["2"]
