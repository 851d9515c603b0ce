"""The engine's phase clocks (benchmarks/phases.py reads them)."""

import time

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits

from fastnn import MLPClassifier, MLPRegressor
from fastnn._engine import _phases

PRODUCTS = ("forward products", "delta products", "gradient products")


@pytest.fixture
def clocks():
    _phases.reset()
    _phases.set_enabled(True)
    try:
        yield
    finally:
        _phases.set_enabled(False)
        _phases.reset()


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16, y


def _fit(X, y, **params):
    params = dict(hidden_layer_sizes=(32, 16), max_iter=3, random_state=0, **params)
    return MLPClassifier(**params).fit(X, y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_clocks_off_count_nothing(digits):
    _phases.reset()
    _fit(*digits)
    assert all(v == 0 for v in _phases.read().values())


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_stochastic_fit_spends_time_in_every_phase(digits, clocks):
    start = time.perf_counter()
    _fit(*digits)
    wall = time.perf_counter() - start
    counters = _phases.read()
    for name in _phases.NAMES:
        assert counters[name] > 0, name
    busy = sum(counters[name] for name in _phases.NAMES)
    # Phases are timed inside the passes, by the threads that run them.
    assert busy <= counters["pass threads"] * (1 + 1e-9)
    assert 0 < counters["pass wall"] <= wall
    assert counters["team shortfall"] >= 0


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_lbfgs_takes_no_optimizer_step(digits, clocks):
    _fit(*digits, solver="lbfgs")
    counters = _phases.read()
    assert counters["optimizer step"] == 0
    assert all(counters[name] > 0 for name in PRODUCTS)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sparse_input_is_clocked(clocks):
    rng = np.random.RandomState(0)
    X = sp.random(300, 500, density=0.02, format="csr", random_state=rng)
    y = rng.randint(3, size=300)
    MLPClassifier(hidden_layer_sizes=(20,), max_iter=2, random_state=0).fit(X, y)
    counters = _phases.read()
    for name in ("gather", "forward products", "gradient products", "optimizer step"):
        assert counters[name] > 0, name


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_the_clocks_change_no_result(digits):
    X, y = digits
    off = MLPRegressor(hidden_layer_sizes=(20,), max_iter=3, random_state=0).fit(X, y)
    _phases.set_enabled(True)
    try:
        on = MLPRegressor(hidden_layer_sizes=(20,), max_iter=3, random_state=0).fit(
            X, y
        )
    finally:
        _phases.set_enabled(False)
        _phases.reset()
    for a, b in zip(off.coefs_ + off.intercepts_, on.coefs_ + on.intercepts_):
        np.testing.assert_array_equal(a, b)
