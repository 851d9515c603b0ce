"""Never hang, never crash, never silently wrong.

Fork, a refit racing a predict, hand-edited fitted attributes, float64 input
to a float32 model, strides beyond BLAS's 32 bits, and the small cases of
the same family.  Whatever could hang or crash runs in a child process with
a timeout, so a regression fails the test instead of stopping the suite.
"""

import os
import subprocess
import sys
import tempfile
import textwrap
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor

from fastnn import MLPClassifier, MLPRegressor, check_gradients

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

RNG = np.random.RandomState(0)
X = RNG.normal(size=(60, 5))
Y_CLASS = np.arange(60) % 3
Y_REG = X @ [1.0, -1.0, 0.5, 0.0, 2.0]


def _run_child(script: str, timeout: float = 240, *args: str) -> str:
    """Run ``script`` in a fresh interpreter; fail on a crash or a hang."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        # A file, not ``-c``: spawned and forkserver children import it.
        f.write(textwrap.dedent(script))
    try:
        result = subprocess.run(
            [sys.executable, f.name, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            # Not the checkout: the child must import the installed fastnn
            # when one is (tools/asan.sh runs the suite from the sources).
            cwd=tempfile.gettempdir(),
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"child process hung (no exit within {timeout} s)")
    finally:
        os.unlink(f.name)
    assert result.returncode == 0, (
        f"child exited with {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


# -- fork -------------------------------------------------------------------

FORK_SCRIPT = """
import multiprocessing as mp
import sys
import warnings

import numpy as np
import scipy.linalg.blas

from fastnn import MLPClassifier, MLPRegressor

warnings.simplefilter("ignore")
# Large enough that the parent's calls run an OpenMP team.
X = np.random.RandomState(0).rand(3000, 50)
y = X[:, 0] > 0.5
clf = MLPClassifier(hidden_layer_sizes=(200,), max_iter=2, random_state=0)
after = sys.argv[1]
if after == "fit":
    clf.fit(X, y)
elif after == "predict":
    clf.fit(X, y)
    clf.predict(X)
else:  # a fit that fails inside the engine (divergence)
    clf.fit(X, y)
    try:
        MLPRegressor(solver="sgd", learning_rate_init=10.0, max_iter=50,
                     random_state=0).fit(X * 1000, X[:, 0] * 1000)
    except ValueError:
        pass
    else:
        raise AssertionError("the fit was meant to fail")


def job(seed):
    # BLAS outside the engine too (SciPy's OpenBLAS, multi-threaded here).
    a = np.random.RandomState(seed).rand(300, 300)
    assert np.allclose(scipy.linalg.blas.dgemm(1.0, a, a), a @ a)
    model = MLPClassifier(hidden_layer_sizes=(200,), max_iter=2,
                          random_state=seed).fit(X, y)
    return model.predict_proba(X), clf.predict_proba(X)


ctx = mp.get_context("fork")
# The issue's reproducer: a bare Process predicting.
p = ctx.Process(target=clf.predict, args=(X,))
p.start()
p.join(60)
if p.exitcode is None:
    p.kill()
    raise SystemExit("forked predict hung")
assert p.exitcode == 0, p.exitcode
# Pool.map over fit and predict; results identical to the parent's.
with ctx.Pool(2) as pool:
    results = pool.map_async(job, [0, 1]).get(timeout=120)
for seed, (proba, clf_proba) in zip([0, 1], results):
    expected, expected_clf = job(seed)
    assert np.array_equal(proba, expected)
    assert np.array_equal(clf_proba, expected_clf)
print("ok")
"""


@pytest.mark.parametrize("after", ["fit", "predict", "failed_fit"])
def test_forked_children_fit_and_predict_like_the_parent(after):
    script = FORK_SCRIPT.replace("sys.argv[1]", repr(after))
    assert _run_child(script).strip() == "ok"


FORK_DURING_FIT_SCRIPT = """
import os
import threading
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from fastnn import MLPClassifier

warnings.simplefilter("ignore")


def blas_threads():
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


rng = np.random.RandomState(0)
X = rng.normal(size=(4000, 60))
y = (X[:, 0] > 0).astype(int)
A = rng.normal(size=(400, 400))
AA = A @ A
# The user's setting, made in the main thread: threadpoolctl then obeys
# only the main thread on OpenBLAS.
threadpool_limits(limits=3, user_api="blas")
user = blas_threads()
pinned = [1] * len(user)
MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=2).fit(X[:100], y[:100])
done = threading.Event()


def fit_in_a_loop():
    while not done.is_set():
        MLPClassifier(hidden_layer_sizes=(256, 128), solver="lbfgs", max_iter=5,
                      random_state=0).fit(X, y)


worker = threading.Thread(target=fit_in_a_loop)
worker.start()
try:
    for i in range(8):
        # Fork while the worker's fit is inside the engine (BLAS pinned).
        deadline = time.monotonic() + 60
        while blas_threads() != pinned:
            assert time.monotonic() < deadline, "the worker's fit never pinned BLAS"
            time.sleep(0.001)
        pid = os.fork()
        if pid == 0:
            status = 3
            try:
                # The fit that pinned BLAS does not exist here: the child gets
                # the user's settings back, and threaded BLAS and fastnn work.
                if blas_threads() == user:
                    assert np.allclose(A @ A, AA)
                    MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
                                  max_iter=3).fit(X[:200], y[:200])
                    status = 0
            finally:
                os._exit(status)
        deadline = time.monotonic() + 60
        while True:
            finished, status = os.waitpid(pid, os.WNOHANG)
            if finished:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                print(f"child {i} hung", flush=True)
                os._exit(5)
            time.sleep(0.01)
        # 3: the child's BLAS stayed pinned (or its work failed).
        code = os.waitstatus_to_exitcode(status)
        assert code == 0, (i, code)
finally:
    done.set()
    worker.join()
assert blas_threads() == user
print("ok")
"""


def test_fork_while_a_worker_thread_fits_neither_hangs_nor_keeps_blas_pinned():
    assert _run_child(FORK_DURING_FIT_SCRIPT).strip() == "ok"


FORKSERVER_SCRIPT = """
import io
import multiprocessing as mp
import sys
import warnings

import numpy as np

import fastnn
from fastnn import MLPClassifier

warnings.simplefilter("ignore")


def job(seed):
    # Large enough to run an OpenMP team.
    X = np.random.RandomState(0).rand(3000, 50)
    model = MLPClassifier(hidden_layer_sizes=(200,), max_iter=2, random_state=seed)
    model.fit(X, X[:, 0] > 0.5)
    n_threads = fastnn.show_config(file=io.StringIO())["n_threads"]
    return n_threads, model.predict_proba(X)


if __name__ == "__main__":
    full_team, _ = job(0)  # this process runs a team before any child starts
    ctx = mp.get_context("forkserver")
    if sys.argv[1] == "preload":
        ctx.set_forkserver_preload(["fastnn"])
    with ctx.Pool(2) as pool:
        results = pool.map_async(job, [0, 1]).get(timeout=120)
    # The server process started fresh and never ran a team: its children
    # run the full one, and get the parent's results.
    for seed, (n_threads, proba) in zip([0, 1], results):
        assert n_threads == full_team, (n_threads, full_team)
        assert np.array_equal(proba, job(seed)[1])
    # A child forked from this process, which ran a team, runs on one.
    with mp.get_context("fork").Pool(1) as pool:
        n_threads, proba = pool.apply_async(job, (1,)).get(timeout=120)
    assert n_threads == 1 and np.array_equal(proba, job(1)[1])
    print("ok")
"""


@pytest.mark.parametrize("preload", ["preload", "no preload"])
def test_forkserver_children_run_the_full_team(preload):
    assert _run_child(FORKSERVER_SCRIPT, 240, preload).strip() == "ok"


# -- a refit racing a predict -----------------------------------------------

RACE_SCRIPT = """
import sys
import threading
import warnings

import numpy as np

from fastnn import MLPClassifier

warnings.simplefilter("ignore")
# Switch threads often, so the predicts land inside the refits.
sys.setswitchinterval(1e-5)
rng = np.random.RandomState(0)
X = rng.rand(300, 20)
y = np.arange(300) % 3
clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=1, random_state=0).fit(X, y)
done = threading.Event()
shapes = {"ok": 0, "raised": 0, "wrong": 0, "other errors": []}


def refit():
    for i in range(N_REFITS):
        clf.set_params(hidden_layer_sizes=[(64,), (8, 300), (300,)][i % 3])
        clf.fit(X, y)
    done.set()


def predict():
    while not done.is_set():
        try:
            proba = clf.predict_proba(X)
        except ValueError:
            shapes["raised"] += 1
            continue
        except Exception as exc:
            shapes["other errors"].append(repr(exc))
            continue
        if proba.shape == (300, 3) and np.isfinite(proba).all():
            shapes["ok"] += 1
        else:
            shapes["wrong"] += 1


threads = [threading.Thread(target=refit), threading.Thread(target=predict)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert shapes["wrong"] == 0 and not shapes["other errors"], (
    {k: v if k != "other errors" else set(v) for k, v in shapes.items()})
assert shapes["ok"] > 0, shapes
print(shapes)
"""


def test_predict_while_another_thread_refits_sees_one_model_or_raises():
    _run_child(RACE_SCRIPT.replace("N_REFITS", "150"))


# -- hand-edited coefs_ and intercepts_ --------------------------------------


def _fitted_pair():
    ours = MLPClassifier(hidden_layer_sizes=(100,), max_iter=5, random_state=0)
    ours.fit(X, Y_CLASS)
    theirs = SkMLPClassifier(hidden_layer_sizes=(100,), max_iter=5, random_state=0)
    theirs.fit(X, Y_CLASS)
    return ours, theirs


def test_consistently_pruned_network_predicts_as_sklearn_does():
    ours, theirs = _fitted_pair()
    keep = slice(0, 50)
    coefs = [ours.coefs_[0][:, keep], ours.coefs_[1][keep]]
    intercepts = [ours.intercepts_[0][keep], ours.intercepts_[1]]
    ours.coefs_[0], ours.coefs_[1] = coefs
    ours.intercepts_[0] = intercepts[0]
    theirs.coefs_ = [c.copy() for c in coefs]
    theirs.intercepts_ = [b.copy() for b in intercepts]
    assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-12)


EDIT_SCRIPT = """
import copy
import warnings

import numpy as np

from fastnn import MLPClassifier

warnings.simplefilter("ignore")
rng = np.random.RandomState(0)
X = rng.normal(size=(60, 5))
y = np.arange(60) % 3
clf = MLPClassifier(hidden_layer_sizes=(100, 30), max_iter=5,
                    random_state=0).fit(X, y)
# edit -> the layer the error must name
EDITS = [
    ("coefs_[0]", lambda m: m.coefs_.__setitem__(0, m.coefs_[0][:, :50])),
    ("coefs_[1]", lambda m: m.coefs_.__setitem__(1, m.coefs_[1][:5])),
    ("coefs_[2]", lambda m: m.coefs_.__setitem__(2, np.zeros((30, 7)))),
    ("intercepts_[1]", lambda m: m.intercepts_.__setitem__(1, m.intercepts_[1][:2])),
    ("coefs_[0]", lambda m: m.coefs_.__setitem__(0, np.zeros((9, 100)))),
    ("coefs_[1]", lambda m: m.coefs_.__setitem__(1, m.coefs_[1].ravel())),
    ("intercepts_", lambda m: m.coefs_.pop()),
]
for layer, edit in EDITS:
    model = copy.deepcopy(clf)
    edit(model)
    for call in (model.predict_proba, model.predict,
                 lambda X: model.input_gradient(X, y),
                 lambda X: model.partial_fit(X, y)):
        try:
            call(X)
        except ValueError as exc:
            message = str(exc)
            assert layer in message or "hidden_layer_sizes" in message, (
                layer, message)
        else:
            raise AssertionError(f"{layer}: no error")
print("ok")
"""


def test_inconsistent_edits_raise_naming_the_layer_and_never_read_past_a_buffer():
    assert _run_child(EDIT_SCRIPT).strip() == "ok"


def test_warm_start_on_edited_layers_that_do_not_match_hidden_layer_sizes_raises():
    clf = MLPClassifier(hidden_layer_sizes=(10,), max_iter=5, warm_start=True)
    clf.fit(X, Y_CLASS)
    clf.coefs_[0] = clf.coefs_[0][:, :5]
    clf.coefs_[1] = clf.coefs_[1][:5]
    clf.intercepts_[0] = clf.intercepts_[0][:5]
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        clf.fit(X, Y_CLASS)


# -- float64 input, float32 model --------------------------------------------


def test_float32_model_gives_sklearns_finite_answer_on_huge_float64_input():
    ours = MLPRegressor(max_iter=5, random_state=0).fit(X.astype(np.float32), Y_REG)
    theirs = SkMLPRegressor(max_iter=5, random_state=0).fit(X.astype(np.float32), Y_REG)
    theirs.coefs_ = [c.copy() for c in ours.coefs_]
    theirs.intercepts_ = [b.copy() for b in ours.intercepts_]
    big = np.full((2, 5), 1e300)
    expected = theirs.predict(big)
    assert np.isfinite(expected).all()
    got = ours.predict(big)
    assert got.dtype == expected.dtype == np.float64
    assert_allclose(got, expected, rtol=1e-12)
    assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-12)


@pytest.mark.parametrize(
    "model_dtype, input_dtype", [(np.float32, np.float64), (np.float64, np.float32)]
)
def test_predict_never_casts_the_whole_input(model_dtype, input_dtype):
    model = MLPRegressor(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    model.fit(X.astype(model_dtype), Y_REG)
    big = np.random.RandomState(1).normal(size=(800_000, 5)).astype(input_dtype)

    def peak_mb(inputs) -> float:
        tracemalloc.start()
        try:
            model.predict(inputs)
            return tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()

    # Predictions are made in float64; a whole cast would take this much.
    cast_mb = big.size * 8 / 2**20
    baseline = peak_mb(big.astype(np.float64))
    assert peak_mb(big) < baseline + cast_mb / 2, (baseline, cast_mb)
    out = model.predict(big)
    assert out.dtype == np.float64
    assert_allclose(out[:100], model.predict(big[:100]), rtol=1e-12)


# -- strides beyond 32 bits ----------------------------------------------------

STRIDE_SCRIPT = """
import os
import sys
import warnings

import numpy as np

from fastnn import MLPRegressor

warnings.simplefilter("ignore")
path = sys.argv[1]
# A sparse file: rows of 2**31 + 8 float32 values, of which we touch five.
mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(40, 2**31 + 8))
try:
    view = mm[:, :5]
    assert view.strides[0] // 4 > 2**31 - 1
    rng = np.random.RandomState(0)
    dense = rng.normal(size=(40, 5)).astype(np.float32)
    view[:] = dense
    y = dense @ np.array([1, -1, 0.5, 0, 2], dtype=np.float32)
    model = MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    reference = model.fit(dense, y).predict(dense)
    assert np.array_equal(model.predict(view), reference)
    refit = MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    assert np.array_equal(refit.fit(view, y).predict(dense), reference)
    # Column-major: a column stride beyond int32.
    columns = mm[:5, :40].T
    columns[:] = dense
    assert np.array_equal(model.predict(columns), reference)
    print("ok")
finally:
    del mm
    os.remove(path)
"""


def test_input_whose_row_stride_exceeds_int32_predicts_and_fits_correctly(tmp_path):
    path = tmp_path / "sparse.bin"
    script = STRIDE_SCRIPT.replace("sys.argv[1]", repr(str(path)))
    assert _run_child(script).strip() == "ok"
    assert not path.exists()


def test_layers_wider_than_blas_sizes_are_refused_before_any_allocation():
    model = MLPRegressor(hidden_layer_sizes=(2**31,), max_iter=1)
    with pytest.raises(ValueError, match="Layer 1 has 2147483648 units"):
        model.fit(X, Y_REG)


# -- the small ones ------------------------------------------------------------


def test_check_gradients_refuses_a_nan_loss():
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    clf.fit(X, Y_CLASS)
    clf.coefs_[0][0, 0] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        check_gradients(clf, X, Y_CLASS)


@pytest.mark.parametrize("Estimator", [MLPRegressor, SkMLPRegressor])
def test_partial_fit_keeps_the_dtype_of_the_first_call(Estimator):
    model = Estimator(hidden_layer_sizes=(5,), random_state=0)
    model.partial_fit(X, Y_REG)
    model.partial_fit(X.astype(np.float32), Y_REG)
    assert all(c.dtype == np.float64 for c in model.coefs_ + model.intercepts_)


def test_partial_fit_dtype_matches_sklearn_numbers():
    ours = MLPRegressor(hidden_layer_sizes=(5,), random_state=0)
    theirs = SkMLPRegressor(hidden_layer_sizes=(5,), random_state=0)
    for model in (ours, theirs):
        model.partial_fit(X, Y_REG)
        model.partial_fit(X.astype(np.float32), Y_REG)
    for a, b in zip(ours.coefs_, theirs.coefs_):
        assert_allclose(a, b, rtol=1e-6)


def test_input_gradient_refuses_unseen_labels_with_sklearns_message():
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    clf.fit(X, Y_CLASS)
    y_bad = Y_CLASS.copy()
    y_bad[0] = 7
    sk = SkMLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    sk.fit(X, Y_CLASS)
    with pytest.raises(ValueError) as expected:
        sk.partial_fit(X, y_bad)
    with pytest.raises(ValueError) as got:
        clf.input_gradient(X, y_bad)
    assert str(got.value) == str(expected.value)


def test_partial_fit_blocks_trains_on_sparse_blocks_as_on_dense_ones():
    da = pytest.importorskip("dask.array")
    from fastnn.dask import partial_fit_blocks

    X_dense = da.from_array(X, chunks=(20, 5))
    X_sparse = X_dense.map_blocks(sp.csr_matrix)
    y = da.from_array(Y_CLASS, chunks=20)
    dense = partial_fit_blocks(
        MLPClassifier(random_state=0), X_dense, y, classes=[0, 1, 2]
    )
    sparse = partial_fit_blocks(
        MLPClassifier(random_state=0), X_sparse, y, classes=[0, 1, 2]
    )
    for a, b in zip(dense.coefs_, sparse.coefs_):
        assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert_array_equal(dense.predict(X), sparse.predict(X))


# -- the L-BFGS convergence warning -------------------------------------------


def _convergence_messages(estimator, X, y) -> list[str]:
    from sklearn.exceptions import ConvergenceWarning

    with pytest.warns(ConvergenceWarning) as record:
        estimator.fit(X, y)
    return [str(w.message) for w in record if w.category is ConvergenceWarning]


@pytest.mark.parametrize(
    "limit", [{"max_iter": 3}, {"max_iter": 200, "max_fun": 4}], ids=str
)
def test_lbfgs_convergence_warning_is_sklearns(limit):
    params = dict(solver="lbfgs", hidden_layer_sizes=(20,), random_state=0, **limit)
    expected = _convergence_messages(SkMLPRegressor(**params), X, Y_REG)
    assert _convergence_messages(MLPRegressor(**params), X, Y_REG) == expected
    # More iterations are suggested only when max_iter stopped the fit.
    assert ("Increase the number of iterations" in expected[0]) == (
        limit["max_iter"] == 3
    )


def test_lbfgs_convergence_warning_after_an_abnormal_stop_is_sklearns():
    import warnings

    from scipy.optimize import OptimizeResult
    from sklearn.utils.optimize import _check_optimize_result

    from fastnn._base import _check_lbfgs_result

    result = OptimizeResult(
        status=2, nit=0, message="ABNORMAL: ", x=np.zeros(1), fun=0.0
    )
    messages = []
    for check in (
        lambda: _check_optimize_result("lbfgs", result, 200),
        lambda: _check_lbfgs_result(result, 200),
    ):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            assert check() == 0
        messages.append([str(w.message) for w in record])
    assert messages[1] == messages[0] and len(messages[0]) == 1


# -- remaining differences from scikit-learn ----------------------------------


def test_partial_fit_with_lbfgs_is_sklearns_for_each_estimator():
    params = dict(solver="lbfgs", hidden_layer_sizes=(10,), max_iter=20, random_state=0)
    # scikit-learn's MLPRegressor runs a whole L-BFGS fit from the current
    # weights; its MLPClassifier has no partial_fit with L-BFGS.
    ours = MLPRegressor(**params).partial_fit(X, Y_REG).partial_fit(X, Y_REG)
    theirs = SkMLPRegressor(**params).partial_fit(X, Y_REG).partial_fit(X, Y_REG)
    assert ours.n_iter_ == theirs.n_iter_
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert_allclose(a, b, rtol=1e-8, atol=1e-10)
    with pytest.raises(AttributeError) as expected:
        SkMLPClassifier(**params).partial_fit(X, Y_CLASS, classes=[0, 1, 2])
    with pytest.raises(AttributeError) as got:
        MLPClassifier(**params).partial_fit(X, Y_CLASS, classes=[0, 1, 2])
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize("kind", ["str", "bytes"])
def test_regressor_refuses_string_targets_before_training(kind):
    y = Y_REG.astype(kind)
    # scikit-learn's fails inside its loss with NumPy's UFuncTypeError.
    with pytest.raises(TypeError, match="ufunc"):
        SkMLPRegressor(max_iter=5).fit(X, y)
    model = MLPRegressor(max_iter=5)
    with pytest.raises(ValueError, match="not compatible with arrays of bytes/str"):
        model.fit(X, y)
    assert not hasattr(model, "coefs_")


def test_object_targets_with_none_are_refused_with_a_valueerror():
    y_reg = Y_REG.astype(object)
    y_reg[3] = None
    # scikit-learn's MLPRegressor trains on the NaN None becomes.
    with pytest.raises(ValueError, match="Input y contains NaN"):
        MLPRegressor(max_iter=5).fit(X, y_reg)
    # scikit-learn's MLPClassifier fails sorting the labels (TypeError);
    # fastnn runs check_classification_targets first, as most of
    # scikit-learn's classifiers do.
    for y, message in [
        (np.array([None, 1] * 30, dtype=object), "Unknown label type: unknown"),
        (np.array(["a", 1] * 30, dtype=object), "Mix of label input types"),
    ]:
        with pytest.raises(TypeError, match="not supported between instances"):
            SkMLPClassifier(max_iter=5).fit(X, y)
        with pytest.raises(ValueError, match=message):
            MLPClassifier(max_iter=5).fit(X, y)


@pytest.mark.parametrize("solver", ["lbfgs", "adam", "sgd"])
def test_float32_fits_keep_float32_weights_with_every_solver(solver):
    X32 = X.astype(np.float32)
    model = MLPRegressor(solver=solver, max_iter=5, random_state=0).fit(X32, Y_REG)
    assert {w.dtype for w in model.coefs_ + model.intercepts_} == {np.dtype(np.float32)}
    assert model.predict(X32).dtype == np.float32
    # scikit-learn's L-BFGS alone widens the weights to float64 (SciPy's
    # solution vector is float64).
    sk = SkMLPRegressor(solver=solver, max_iter=5, random_state=0).fit(X32, Y_REG)
    expected = np.float64 if solver == "lbfgs" else np.float32
    assert sk.coefs_[0].dtype == expected
