"""The NaN and infinity test of a fit's X, made by the engine's threads.

``InputMatrix.all_finite`` against NumPy for every layout the engine reads,
and the errors a fit raises against scikit-learn's own.
"""

import re
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor

from fastnn import MLPClassifier, MLPRegressor, _engine


def _layouts(X):
    yield "C", X
    yield "F", np.asfortranarray(X)
    # Strided both ways: neither rows nor columns are contiguous.
    yield "strided", np.repeat(np.repeat(X, 2, axis=0), 3, axis=1)[::2, ::3]
    yield "CSR", sp.csr_matrix(X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (1, 300_000), (300_000, 1), (700, 300)])
@pytest.mark.parametrize("bad", [None, np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("n_threads", [1, 4])
def test_all_finite_is_numpys_answer_for_every_layout(dtype, shape, bad, n_threads):
    rng = np.random.default_rng(0)
    X = rng.standard_normal(shape).astype(dtype)
    # The first, the last and a middle value: each piece's edges.
    for where in ([0, 0], [-1, -1], [shape[0] // 2, shape[1] // 2]):
        Xw = X.copy()
        if bad is not None:
            Xw[tuple(where)] = bad
        for layout, Xl in _layouts(Xw):
            expected = bool(np.isfinite(Xw).all())
            got = _engine.InputMatrix(Xl).all_finite(n_threads)
            assert got is expected, (layout, where)


def test_all_finite_sees_a_bad_value_in_every_piece():
    X = np.ones((4096, 513), dtype=np.float32)
    for row in range(0, 4096, 97):
        X[row, row % 513] = np.nan
        assert not _engine.InputMatrix(X).all_finite(2)
        X[row, row % 513] = 1.0
    assert _engine.InputMatrix(X).all_finite(2)


def _sklearn_error(Estimator, X, y):
    with pytest.raises(ValueError) as caught:
        Estimator(max_iter=1).fit(X, y)
    return str(caught.value)


@pytest.mark.parametrize(
    "ours, theirs", [(MLPClassifier, SkMLPClassifier), (MLPRegressor, SkMLPRegressor)]
)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize(
    "layout, dtype",
    [
        *(
            (layout, dtype)
            for layout in ("C", "F", "strided", "CSR")
            for dtype in (np.float32, np.float64)
        ),
        # Validation converts object input to float64, NaN and all.
        ("C", object),
    ],
)
def test_fit_refuses_nan_and_infinity_with_sklearns_message(
    ours, theirs, bad, layout, dtype
):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 20))
    y = np.arange(300) % 3
    X[123, 7] = bad
    X = dict(_layouts(X))[layout].astype(dtype)
    expected = _sklearn_error(theirs, X, y)
    with pytest.raises(ValueError, match=re.escape(expected)):
        ours(max_iter=1).fit(X, y)
    classes = {"classes": [0, 1, 2]} if ours is MLPClassifier else {}
    with pytest.raises(ValueError, match=re.escape(expected)):
        ours().partial_fit(X, y, **classes)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_assume_finite_skips_the_test_as_sklearn_does(monkeypatch):
    X = np.random.default_rng(2).standard_normal((100, 5))
    y = np.arange(100) % 2
    calls = []
    all_finite = _engine.InputMatrix.all_finite

    class Counting(_engine.InputMatrix):
        def all_finite(self, n_threads):
            calls.append(n_threads)
            return all_finite(self, n_threads)

    monkeypatch.setattr(_engine, "InputMatrix", Counting)
    MLPClassifier(max_iter=2).fit(X, y)
    assert len(calls) == 1
    with sklearn.config_context(assume_finite=True):
        MLPClassifier(max_iter=2).fit(X, y)
    assert len(calls) == 1


FORK_AFTER_CHECK = """
import multiprocessing as mp
import warnings

import numpy as np

import fastnn
from fastnn import MLPClassifier

warnings.simplefilter("ignore")
fastnn._engine._set_counting(False)  # the full team, however busy the machine
X = np.random.RandomState(0).rand(3000, 200)
X[-1, -1] = np.nan
try:  # the test of X is this process's only OpenMP team
    MLPClassifier(max_iter=1).fit(X, np.arange(3000) % 2)
except ValueError as exc:
    assert "NaN" in str(exc)


def job(_):
    Xc = np.nan_to_num(X)
    return MLPClassifier(max_iter=1).fit(Xc, np.arange(3000) % 2).n_iter_


with mp.get_context("fork").Pool(1) as pool:
    assert pool.apply_async(job, (0,)).get(timeout=120) == 1
print("ok")
"""


def test_a_child_forked_after_the_test_of_x_neither_hangs_nor_fails(tmp_path):
    # OpenMP's team does not survive fork(): the child must run on one thread.
    script = tmp_path / "child.py"
    script.write_text(FORK_AFTER_CHECK)
    try:
        done = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            timeout=240,
            cwd=tmp_path,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the forked child hung")
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
