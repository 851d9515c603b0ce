"""A batch's cut: every element covered once, the same bits on any team.

``_plan`` cuts each batch into stages of units from the problem's sizes
only.  These tests check the cut itself for batch sizes 1 to 2048 (each
phase-1 stage covers every row and column of its layer exactly once, the
gradient stage every coefficient row once, with one intercept owner per
layer), and that fits, L-BFGS and predictions give the same bits with teams
of 1 to 64 threads, forced on a 2-CPU machine.
"""

import warnings
from unittest import mock

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning

import fastnn._threads
from fastnn import MLPClassifier, MLPRegressor, _engine
from fastnn._network import EngineSpec

TEAMS = (1, 2, 3, 7, 16, 64)
NETWORKS = {
    # (units, activations): wide and narrow, softmax output (whole rows)
    # and a wide identity output (cut into columns, loss in its own stage).
    "mnist-like": ([784, 100, 10], ["relu", "softmax"]),
    "deep": ([784, 512, 256, 10], ["relu", "relu", "softmax"]),
    "narrow": ([3, 5, 1], ["tanh", "identity"]),
    "wide-output": ([20, 64, 300], ["logistic", "identity"]),
}


def _trainer(units, acts, batch_size):
    n_params = sum(a * b + b for a, b in zip(units, units[1:]))
    spec = EngineSpec(units, [(a, 0, 0) for a in acts], "squared_error")
    return _engine.Trainer(spec, np.zeros(n_params), batch_size, 1)


def _check_cover(stages, units, rows):
    """Each stage of a plan covers its layer once; returns the kinds."""
    for kind, layer, with_loss, plan in stages:
        if kind == "gradient":
            for at, n_in in enumerate(units[:-1]):
                count = np.zeros((n_in, units[at + 1]), dtype=int)
                owners = np.zeros(units[at + 1], dtype=int)
                for _, r0, r1, c0, c1 in (u for u in plan if u[0] == at):
                    assert r0 < r1 and c0 < c1
                    count[r0:r1, c0:c1] += 1
                    owners[c0:c1] += r0 == 0
                assert (count == 1).all(), (kind, at)
                # The blocks at row 0 own the intercepts, each column once.
                assert (owners == 1).all(), (kind, at)
            continue
        width = {"gather": units[0], "loss": units[-1]}.get(kind)
        if width is None:  # forward: the layer's outputs; backward: inputs
            width = units[layer + 1] if kind == "forward" else units[layer]
        count = np.zeros((rows, width), dtype=int)
        for at, r0, r1, c0, c1 in plan:
            assert at == layer and r0 < r1 and c0 < c1
            count[r0:r1, c0:c1] += 1
        assert (count == 1).all(), (kind, layer, rows)
        if with_loss:
            assert all((u[3], u[4]) == (0, units[-1]) for u in plan)
    return [kind for kind, *_ in stages]


@pytest.mark.parametrize("floor", [32768, 1])
@pytest.mark.parametrize("network", NETWORKS)
def test_every_row_and_column_is_covered_once(network, floor):
    units, acts = NETWORKS[network]
    L = len(units) - 1
    trainer = _trainer(units, acts, 2048)
    X = _engine.InputMatrix(np.ones((2048, units[0])))
    previous = _engine._set_unit_floor(floor)
    try:
        # Every size up to 300, then a stride that meets every residue of
        # the panels (8 rows) and tiles (32 columns), and the largest.
        for rows in [*range(1, 301), *range(301, 2048, 13), 2048]:
            kinds = _check_cover(trainer._batch_plan(X, rows), units, rows)
            # Forward through every layer, the loss (in the last forward
            # stage or its own), every hidden layer's deltas, the gradients.
            assert kinds.count("forward") == L and kinds.count("backward") == L - 1
            assert kinds[-1] == "gradient" and kinds.count("gradient") == 1
            kinds = _check_cover(trainer._batch_plan(X, rows, False), units, rows)
            assert "gradient" not in kinds and "backward" not in kinds
    finally:
        _engine._set_unit_floor(previous)


def test_the_cut_feeds_many_threads_at_the_default_batch_size():
    # 200 rows of a 784-100-10 network: enough units per stage for 64
    # threads to share, and none smaller than a register tile's columns
    # except at a layer's edge.
    units, acts = NETWORKS["mnist-like"]
    trainer = _trainer(units, acts, 200)
    X = _engine.InputMatrix(np.ones((200, 784)))
    stages = trainer._batch_plan(X, 200)
    forward0 = stages[0][3]
    assert len(forward0) >= 64
    assert all(c0 % 32 == 0 for _, _, _, c0, _ in forward0)
    assert len(stages[-1][3]) >= 48


def test_sparse_first_layer_is_cut_in_whole_rows():
    units, acts = NETWORKS["mnist-like"]
    trainer = _trainer(units, acts, 200)
    X = _engine.InputMatrix(sp.random(200, 784, density=0.1, format="csr"))
    stages = trainer._batch_plan(X, 200)
    _check_cover(stages, units, 200)
    assert all((u[3], u[4]) == (0, 100) for u in stages[0][3])


def _with_team(n_threads, fit):
    _engine._set_counting(False)
    try:
        with mock.patch.object(fastnn._threads, "engine_n_threads", lambda: n_threads):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                return fit()
    finally:
        _engine._set_counting(True)


def _data(sparse: bool):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(2100, 40))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int) + (X[:, 3] > 1)
    if sparse:
        X = sp.csr_matrix(np.where(np.abs(X) > 1, X, 0.0))
    return X, y


CASES = [
    (solver, kind, batch)
    for solver in ("adam", "sgd", "lbfgs")
    for kind in ("dense", "sparse", "dropout")
    for batch in (1, 7, 200, 2048)
    # L-BFGS ignores batch_size and refuses dropout.
    if solver != "lbfgs" or (batch == 200 and kind != "dropout")
]


@pytest.mark.parametrize("solver, kind, batch", CASES)
def test_same_bits_on_every_team(solver, kind, batch):
    X, y = _data(kind == "sparse")
    params = dict(
        hidden_layer_sizes=(70, 33),
        solver=solver,
        batch_size=batch,
        max_iter=1 if batch < 200 else 3,
        random_state=0,
        dropout=0.25 if kind == "dropout" else 0.0,
    )
    if batch < 200:
        X, y = X[:300], y[:300]
    models = [_with_team(t, lambda: MLPClassifier(**params).fit(X, y)) for t in TEAMS]
    ref = models[0]
    for team, model in zip(TEAMS[1:], models[1:]):
        for a, b in zip(ref.coefs_ + ref.intercepts_, model.coefs_ + model.intercepts_):
            assert_array_equal(a, b, err_msg=f"{team} threads")
        assert_array_equal(
            ref.loss_curve_ if solver != "lbfgs" else [ref.loss_],
            model.loss_curve_ if solver != "lbfgs" else [model.loss_],
        )
        proba = _with_team(team, lambda m=model: m.predict_proba(X))
        assert_array_equal(proba, ref.predict_proba(X))


def test_float32_regression_same_bits_on_every_team():
    rng = np.random.RandomState(3)
    X = rng.normal(size=(3000, 64)).astype(np.float32)
    y = (X @ rng.normal(size=(64, 3))).astype(np.float32)
    params = dict(hidden_layer_sizes=(256,), batch_size=200, max_iter=2, random_state=0)
    models = [_with_team(t, lambda: MLPRegressor(**params).fit(X, y)) for t in TEAMS]
    for model in models[1:]:
        for a, b in zip(models[0].coefs_, model.coefs_):
            assert_array_equal(a, b)
        assert_array_equal(models[0].loss_curve_, model.loss_curve_)


@pytest.mark.parametrize("floor", [32768, 1])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_a_wide_output_cut_into_columns_matches_sklearn(floor, solver):
    # On the finest cut the 100-unit output layer is cut into column blocks,
    # so the loss and output deltas run in a stage of their own.
    import sklearn.neural_network as sk
    from numpy.testing import assert_allclose

    rng = np.random.RandomState(4)
    X = rng.normal(size=(600, 20))
    y = np.tanh(X @ rng.normal(size=(20, 100)))
    params = dict(
        hidden_layer_sizes=(64,),
        solver=solver,
        batch_size=200,
        max_iter=3,
        random_state=0,
    )
    previous = _engine._set_unit_floor(floor)
    try:
        trainer = _trainer([20, 64, 100], ["relu", "identity"], 200)
        kinds = [k for k, *_ in trainer._batch_plan(_engine.InputMatrix(X), 200)]
        assert ("loss" in kinds) == (floor == 1)
        ours = _with_team(3, lambda: MLPRegressor(**params).fit(X, y))
    finally:
        _engine._set_unit_floor(previous)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = sk.MLPRegressor(**params).fit(X, y)
    for a, b in zip(ref.coefs_ + ref.intercepts_, ours.coefs_ + ours.intercepts_):
        assert_allclose(b, a, rtol=1e-9, atol=1e-12)
    assert_allclose(ours.loss_, ref.loss_, rtol=1e-9)
