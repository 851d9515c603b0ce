"""Narrow layers train as scikit-learn's do, however finely they are cut.

Phase 2 of a batch cuts each layer's coefficient rows into blocks, and the
block that starts at row 0 also sums and steps the layer's intercepts.  A
layer with fewer input units than blocks once got several (empty) blocks at
row 0, so its intercepts were stepped more than once per batch, by threads
racing on one buffer: a different model with no error, on a 2-CPU machine
from one feature on.  These tests sweep the whole class -- every width from
1 to 17 in every position of the network, the default cut and the finest
(``_set_unit_floor(1)``), every solver (L-BFGS over several chunks), dense
and sparse input -- against scikit-learn and for the same bits at 2 and 3
threads.
"""

import math
import warnings
from unittest import mock

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.neural_network as sk
from fastnn._engine._tuning import PARALLEL_MIN_ELEMENTS
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

import fastnn._base
import fastnn._threads
from fastnn import MLPRegressor, _engine
from fastnn._engine import PARALLEL_MIN_MACS
from fastnn._network import EngineSpec

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

WIDTHS = range(1, 18)
# The default unit floor and the finest cut.
FLOORS = (32768, 1)
SOLVERS = ("adam", "sgd", "lbfgs")
ROWS, BATCH = 400, 200
# Just wide enough that a 1-unit neighbour still makes a batch's product
# large enough to be cut into blocks.
WIDE = 336
assert BATCH * WIDE >= PARALLEL_MIN_MACS
SPARSE_ROWS, SPARSE_BATCH = 96, 48

# (n_features, hidden_layer_sizes, n_outputs) with the narrow layer of width
# w in each position.
POSITIONS = {
    "first": lambda w: (w, (WIDE,), 1),
    "hidden": lambda w: (6, (w, WIDE), 1),
    "bottleneck": lambda w: (6, (WIDE, w, WIDE), 1),
    "output": lambda w: (6, (WIDE,), w),
}


def _data(n_features: int, n_outputs: int, sparse: bool = False):
    rng = np.random.RandomState(n_features * 100 + n_outputs)
    # The sparse layer's cut does not depend on the rows: fewer suffice.
    X = rng.uniform(-2, 2, size=(SPARSE_ROWS if sparse else ROWS, n_features))
    if sparse:
        X[rng.uniform(size=X.shape) < 0.4] = 0
        X = sp.csr_matrix(X)
    y = np.sin(X @ rng.normal(size=(n_features, n_outputs)))
    return X, y[:, 0] if n_outputs == 1 else y


def _params(hidden, solver, batch_size=BATCH) -> dict:
    return dict(
        hidden_layer_sizes=hidden,
        solver=solver,
        batch_size=batch_size,
        max_iter=2,
        learning_rate_init=0.01,
        random_state=0,
    )


def _fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


@pytest.fixture
def lbfgs_chunks(monkeypatch):
    """L-BFGS sums its gradient over chunks of a batch's rows: several per
    evaluation."""

    def chunk_rows(rows: int) -> None:
        monkeypatch.setattr(fastnn._base, "_LBFGS_CHUNK_ROWS", rows)

    return chunk_rows


@pytest.fixture
def teams():
    """Fit with a team of exactly n threads, even on a 2-CPU machine."""

    def fit_with(n_threads, fit):
        _engine._set_counting(False)  # the full team, however busy the machine
        try:
            with mock.patch.object(
                fastnn._threads, "engine_n_threads", lambda: n_threads
            ):
                return fit()
        finally:
            _engine._set_counting(True)

    return fit_with


def _weights(model) -> list[np.ndarray]:
    return model.coefs_ + model.intercepts_


# (unit floor, team, fits): each floor once, then the repeats on the finest
# cut (the most threads that could race).
RUNS = [(32768, 1, 1), (32768, 2, 1), (1, 3, 1), (1, 2, 5), (1, 3, 5)]


def _check_sweep(X, y, hidden, solver, teams, batch_size=BATCH):
    """scikit-learn's model at the default and the finest cut and at every
    team size, and the same bits over 5 runs at 2 and 3 threads on the
    finest cut."""
    ref = _fit(sk.MLPRegressor(**_params(hidden, solver, batch_size)), X, y)
    fits = []
    previous = _engine._set_unit_floor(1)
    try:
        for floor, team, runs in RUNS:
            _engine._set_unit_floor(floor)
            for _ in range(runs):
                model = MLPRegressor(**_params(hidden, solver, batch_size))
                fits.append((floor, teams(team, lambda m=model: _fit(m, X, y))))
    finally:
        _engine._set_unit_floor(previous)
    for floor, model in fits:
        for a, b in zip(_weights(ref), _weights(model)):
            assert_allclose(b, a, rtol=1e-7, atol=1e-10, err_msg=f"floor {floor}")
        assert_allclose(model.loss_, ref.loss_, rtol=1e-7)
        if solver != "lbfgs":
            assert_allclose(model.loss_curve_, ref.loss_curve_, rtol=1e-7)
    # The engine's kernels give the same bits for any cut of the work; BLAS
    # only for the same cut.
    same_bits = [m for f, m in fits if _engine.products() != "blas" or f == 1]
    for model in same_bits[1:]:
        for a, b in zip(_weights(same_bits[0]), _weights(model)):
            assert_array_equal(a, b)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("width", WIDTHS)
def test_narrow_dense_layer_matches_sklearn(
    width, position, solver, lbfgs_chunks, teams
):
    n_features, hidden, n_outputs = POSITIONS[position](width)
    X, y = _data(n_features, n_outputs)
    lbfgs_chunks(BATCH)
    _check_sweep(X, y, hidden, solver, teams)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("width", WIDTHS)
def test_narrow_sparse_first_layer_matches_sklearn(width, solver, lbfgs_chunks, teams):
    # The sparse first layer is cut into blocks by its size alone: just
    # wide enough to be cut, however few features there are.
    hidden = (math.ceil(PARALLEL_MIN_ELEMENTS / width),)
    X, y = _data(width, 1, sparse=True)
    lbfgs_chunks(SPARSE_BATCH)
    _check_sweep(X, y, hidden, solver, teams, SPARSE_BATCH)


@pytest.mark.parametrize("floor", FLOORS)
@pytest.mark.parametrize("sparse", [False, True])
def test_every_plan_covers_each_layer_once_with_one_intercept_owner(floor, sparse):
    previous = _engine._set_unit_floor(floor)
    try:
        for n_features in (1, 2, 3, 5, 8, 17):
            for hidden in [(1,), (3, 2048), (2048, 1, 2048), (7, 5, 300), (600,)]:
                units = [n_features, *hidden, 4]
                n_params = sum(a * b + b for a, b in zip(units, units[1:]))
                acts = [("relu", 0, 0)] * len(hidden) + [("identity", 0, 0)]
                spec = EngineSpec(units, acts, "squared_error")
                trainer = _engine.Trainer(spec, np.zeros(n_params), 256, 1)
                X = np.ones((256, n_features))
                X = _engine.InputMatrix(sp.csr_matrix(X) if sparse else X)
                for rows in (1, 7, 64, 200, 256):
                    stages = trainer._batch_plan(X, rows)
                    kind, _, _, plan = stages[-1]
                    assert kind == "gradient"
                    for layer, n_in in enumerate(units[:-1]):
                        mine = [u[1:] for u in plan if u[0] == layer]
                        # Non-empty blocks tiling the coefficients, so each
                        # intercept has exactly one owner: the block at row
                        # 0 of its column.
                        assert all(r0 < r1 and c0 < c1 for r0, r1, c0, c1 in mine)
                        count = np.zeros((n_in, units[layer + 1]), dtype=int)
                        owners = np.zeros(units[layer + 1], dtype=int)
                        for r0, r1, c0, c1 in mine:
                            count[r0:r1, c0:c1] += 1
                            owners[c0:c1] += r0 == 0
                        assert (count == 1).all() and (owners == 1).all(), units
    finally:
        _engine._set_unit_floor(previous)
