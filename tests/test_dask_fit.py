"""One L-BFGS model trained over a real LocalCluster's blocks, and lazy prediction."""

import os
import pickle
import signal
import time
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

distributed = pytest.importorskip("distributed")  # the `dask` extra
da = pytest.importorskip("dask.array")

import fastnn.dask._fit  # noqa: E402
from fastnn import MLPClassifier, MLPRegressor  # noqa: E402
from fastnn import dask as fdask  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(n=480, n_features=5, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, n_features))
    y = np.digitize(X[:, 0] + X[:, 1], [-1, 0, 1])
    return X, y


def _as_dask(a, chunks):
    return da.from_array(a, chunks=(chunks,) + a.shape[1:])


def _assert_same_model(dist, local, rtol):
    assert dist.n_iter_ == local.n_iter_
    assert_allclose(dist.loss_, local.loss_, rtol=rtol)
    for a, b in zip(dist.coefs_ + dist.intercepts_, local.coefs_ + local.intercepts_):
        assert a.dtype == b.dtype
        assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())


CHUNKINGS = [480, 100, (50, 200, 30, 200)]


@pytest.mark.parametrize("chunks", CHUNKINGS, ids=str)
def test_classifier_equals_the_local_fit(client, chunks):
    X, y = _data()
    sw = np.random.RandomState(1).uniform(0.5, 2, size=len(y))
    params = dict(
        hidden_layer_sizes=(7, 4),
        solver="lbfgs",
        activation="tanh",
        alpha=1e-3,
        class_weight="balanced",
        max_iter=15,
        random_state=0,
    )
    dist = fdask.fit(
        MLPClassifier(**params),
        _as_dask(X, chunks),
        _as_dask(y, chunks),
        sample_weight=_as_dask(sw, chunks),
    )
    local = MLPClassifier(**params).fit(X, y, sample_weight=sw)
    _assert_same_model(dist, local, 1e-6)
    assert_array_equal(dist.classes_, local.classes_)
    assert not hasattr(dist, "loss_curve_") and not hasattr(local, "loss_curve_")


@pytest.mark.parametrize(
    "chunks, loss",
    [*((c, "squared_error") for c in CHUNKINGS), (100, "huber"), (100, "poisson")],
    ids=str,
)
def test_regressor_equals_the_local_fit(client, chunks, loss):
    X, _ = _data()
    Y = np.column_stack([np.exp(0.3 * X[:, 0]), np.abs(X[:, 1] - X[:, 2])])
    params = dict(
        hidden_layer_sizes=(6,), solver="lbfgs", loss=loss, max_iter=15, random_state=0
    )
    dist = fdask.fit(MLPRegressor(**params), _as_dask(X, chunks), _as_dask(Y, chunks))
    local = MLPRegressor(**params).fit(X, Y)
    _assert_same_model(dist, local, 1e-6)


def test_one_block_is_bitwise_the_local_fit(client):
    # The blocks run the local fit's compiled code and the client finishes
    # the sums with it too: with one block nothing differs, not even rounding.
    X, y = _data()
    params = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=30, random_state=0)
    dist = fdask.fit(MLPClassifier(**params), _as_dask(X, 480), _as_dask(y, 480))
    local = MLPClassifier(**params).fit(X, y)
    for a, b in zip(dist.coefs_ + dist.intercepts_, local.coefs_ + local.intercepts_):
        assert_array_equal(a, b)


def test_a_one_worker_cluster_trains_the_local_model():
    # One worker: no block is placed anywhere, nothing is balanced.
    X, y = _data()
    params = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=30, random_state=0)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as one,
    ):
        with one.as_current():
            dist = fdask.fit(
                MLPClassifier(**params), _as_dask(X, 100), _as_dask(y, 100)
            )
    _assert_same_model(dist, MLPClassifier(**params).fit(X, y), rtol=1e-6)


def test_float32_input_trains_a_float32_model(client):
    X, _ = _data()
    X = X.astype(np.float32)
    y = X[:, 0] - 2 * X[:, 1]
    params = dict(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=15, random_state=0)
    dist = fdask.fit(MLPRegressor(**params), _as_dask(X, 100), _as_dask(y, 100))
    local = MLPRegressor(**params).fit(X, y)
    assert dist.coefs_[0].dtype == np.float32
    # Float32 sums in another order: the runs agree to float32 rounding,
    # amplified by a few L-BFGS iterations.
    _assert_same_model(dist, local, 1e-3)


def test_classes_are_discovered_on_the_cluster(client):
    X, y = _data()
    labels = np.array(["low", "mid", "high", "top"], dtype=object)[y]
    params = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=12, random_state=0)
    dist = fdask.fit(MLPClassifier(**params), _as_dask(X, 100), _as_dask(labels, 100))
    local = MLPClassifier(**params).fit(X, labels)
    assert_array_equal(dist.classes_, local.classes_)
    _assert_same_model(dist, local, 1e-6)
    assert_array_equal(dist.predict(X), local.predict(X))


def test_given_classes_may_add_labels_but_not_miss_any(client):
    X, y = _data()
    clf = MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=5)
    fdask.fit(clf, _as_dask(X, 100), _as_dask(y, 100), classes=[0, 1, 2, 3, 4])
    assert_array_equal(clf.classes_, [0, 1, 2, 3, 4])
    assert clf.predict_proba(X).shape == (len(X), 5)
    with pytest.raises(ValueError, match="labels not in `classes`"):
        fdask.fit(clf, _as_dask(X, 100), _as_dask(y, 100), classes=[0, 1])


def test_multilabel_classifier_equals_the_local_fit(client):
    X, _ = _data()
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0.5, X[:, 2] < 0]).astype(int)
    params = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=12, random_state=0)
    dist = fdask.fit(MLPClassifier(**params), _as_dask(X, 100), _as_dask(Y, 100))
    local = MLPClassifier(**params).fit(X, Y)
    _assert_same_model(dist, local, 1e-6)
    assert_array_equal(dist.predict(X), local.predict(X))


def test_the_result_pickles_exports_and_predicts_numpy(client):
    onnx_rt = pytest.importorskip("onnxruntime")
    from fastnn.onnx import to_onnx

    X, y = _data()
    X = X.astype(np.float32)  # what ONNX runtimes compute in
    clf = fdask.fit(
        MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=10),
        _as_dask(X, 240),
        _as_dask(y, 240),
    )
    clone = pickle.loads(pickle.dumps(clf))
    assert_array_equal(clone.predict_proba(X), clf.predict_proba(X))
    onx = to_onnx(clf, X[:1], options={"zipmap": False})
    session = onnx_rt.InferenceSession(onx.SerializeToString())
    labels, proba = session.run(None, {session.get_inputs()[0].name: X})
    assert_allclose(proba, clf.predict_proba(X), atol=1e-5)
    assert_array_equal(labels, clf.predict(X))


@pytest.mark.parametrize("fitted_on", ["numpy", "cluster"])
def test_lazy_prediction_and_score_match_numpy(client, fitted_on):
    X, y = _data()
    Xd, yd = _as_dask(X, (100, 200, 180)), _as_dask(y, (100, 200, 180))
    sw = np.random.RandomState(2).uniform(0.5, 2, size=len(y))
    clf = MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=15)
    clf = clf.fit(X, y) if fitted_on == "numpy" else fdask.fit(clf, Xd, yd)
    labels = fdask.predict(clf, Xd)
    assert isinstance(labels, da.Array) and labels.chunks == ((100, 200, 180),)
    assert_array_equal(labels.compute(), clf.predict(X))
    assert_array_equal(fdask.predict_proba(clf, Xd).compute(), clf.predict_proba(X))
    accuracy = fdask.score(clf, Xd, yd, sample_weight=_as_dask(sw, (100, 200, 180)))
    assert isinstance(accuracy, da.Array)
    assert_allclose(float(accuracy.compute()), clf.score(X, y, sample_weight=sw))

    Y = np.column_stack([X[:, 0] - X[:, 1], X[:, 2] ** 2])
    reg = MLPRegressor(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=15)
    Yd = _as_dask(Y, (100, 200, 180))
    reg = reg.fit(X, Y) if fitted_on == "numpy" else fdask.fit(reg, Xd, Yd)
    assert_array_equal(fdask.predict(reg, Xd).compute(), reg.predict(X))
    assert_allclose(float(fdask.score(reg, Xd, Yd).compute()), reg.score(X, Y))
    reg1 = MLPRegressor(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=15).fit(
        X, Y[:, 0]
    )
    r2 = fdask.score(reg1, Xd, Yd[:, 0], sample_weight=_as_dask(sw, (100, 200, 180)))
    assert_allclose(float(r2.compute()), reg1.score(X, Y[:, 0], sample_weight=sw))


def test_dask_dataframes_keep_feature_names(client):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X, y = _data()
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame["target"] = y
    ddf = dd.from_pandas(frame, npartitions=3)
    features = ddf[[f"f{i}" for i in range(X.shape[1])]]
    params = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=15, random_state=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*feature names")
        dist = fdask.fit(MLPClassifier(**params), features, ddf["target"])
        proba = fdask.predict_proba(dist, features).compute()
    local = MLPClassifier(**params).fit(frame.drop(columns="target"), y)
    assert list(dist.feature_names_in_) == list(local.feature_names_in_)
    _assert_same_model(dist, local, 1e-6)
    assert_allclose(proba, local.predict_proba(frame.drop(columns="target")))


def _count_evaluations(monkeypatch, action):
    """Run ``action(n)`` before the n-th distributed evaluation."""
    evaluate = fastnn.dask._fit._evaluate
    calls = []

    def wrapped(*args):
        calls.append(None)
        action(len(calls))
        return evaluate(*args)

    monkeypatch.setattr(fastnn.dask._fit, "_evaluate", wrapped)
    return calls


def test_a_killed_worker_changes_nothing(client, monkeypatch):
    X, y = _data()
    params = dict(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=15, random_state=0)
    Xd, yd = _as_dask(X, 60), _as_dask(y, 60)
    undisturbed = fdask.fit(MLPClassifier(**params), Xd, yd)

    pids = client.run(os.getpid)
    victim = sorted(pids)[0]

    def kill(n):
        if n == 3:
            # Holds half the blocks; the nanny starts a fresh process.
            os.kill(pids[victim], signal.SIGKILL)

    calls = _count_evaluations(monkeypatch, kill)
    disturbed = fdask.fit(MLPClassifier(**params), Xd, yd)
    assert len(calls) > 3
    client.wait_for_workers(2, timeout=60)
    assert pids[victim] not in client.run(os.getpid).values()
    # Same tree of sums over the same blocks: bitwise the same model.
    assert disturbed.n_iter_ == undisturbed.n_iter_
    for a, b in zip(
        disturbed.coefs_ + disturbed.intercepts_,
        undisturbed.coefs_ + undisturbed.intercepts_,
    ):
        assert_array_equal(a, b)


def _cluster_tasks(client) -> int:
    return client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))


def test_ctrl_c_releases_the_blocks(client, monkeypatch):
    X, y = _data()

    def interrupt(n):
        if n == 2:
            assert _cluster_tasks(client) > 0  # the blocks are on the cluster
            os.kill(os.getpid(), signal.SIGINT)

    _count_evaluations(monkeypatch, interrupt)
    with pytest.raises(KeyboardInterrupt):
        fdask.fit(
            MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=50),
            _as_dask(X, 100),
            _as_dask(y, 100),
        )
    deadline = time.monotonic() + 30
    while _cluster_tasks(client) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _cluster_tasks(client) == 0


def _nan_in_block_2():
    X, y = _data()
    X[250, 3] = np.nan
    return _as_dask(X, 100), _as_dask(y, 100)


@pytest.mark.parametrize(
    "make_input, estimator, message",
    [
        (
            lambda: (_as_dask(_data()[0], 100), _as_dask(_data()[1], 120)),
            MLPClassifier(solver="lbfgs"),
            "X and y must have the same row chunks",
        ),
        (
            lambda: (
                da.from_array(_data()[0], chunks=(100, 2)),
                _as_dask(_data()[1], 100),
            ),
            MLPClassifier(solver="lbfgs"),
            r"chunked along rows only .*X.rechunk",
        ),
        (
            lambda: (_as_dask(_data()[0], 100), _as_dask(_data()[1], 100)),
            MLPClassifier(solver="adam"),
            "solver='adam'.*partial_fit_blocks",
        ),
        (
            _nan_in_block_2,
            MLPClassifier(solver="lbfgs"),
            r"X contains NaN or infinity in row block 2 \(rows 200 to 300\)",
        ),
        (
            lambda: (_as_dask(_data()[0], 100), _as_dask(-np.ones(480), 100)),
            MLPRegressor(solver="lbfgs", loss="poisson"),
            r"negative .* in row block 0",
        ),
        (
            lambda: (_data()[0], _data()[1]),
            MLPClassifier(solver="lbfgs"),
            "must be a dask array",
        ),
    ],
    ids=["row-chunks", "column-chunks", "solver", "nan-block", "poisson", "numpy"],
)
def test_bad_input_is_refused_before_training(client, make_input, estimator, message):
    X, y = make_input()
    with pytest.raises(
        ValueError if "dask array" not in message else TypeError, match=message
    ):
        fdask.fit(estimator, X, y)
    assert not hasattr(estimator, "coefs_")  # no weights were drawn


def test_example_trains_on_a_scheduler_address(client, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "examples" / "dask_lbfgs_fit.py"
    result = subprocess.run(
        [
            sys.executable,
            str(script),
            "--scheduler",
            client.scheduler.address,
            "--n-samples",
            "3000",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "training accuracy" in result.stdout
    predictions = result.stdout.split("first predictions")[1].splitlines()[0]
    assert predictions in result.stdout.split("local predictions")[1]


def test_blocks_are_spread_evenly_over_the_workers(client):
    # Every evaluation waits for the busiest worker: blocks that all start
    # on one worker are moved until each holds its share of the rows.
    from collections import Counter

    X, y = _data()
    first = sorted(client.scheduler_info()["workers"])[0]
    Xd = client.persist(_as_dask(X, 60), workers=[first])
    yd = client.persist(_as_dask(y, 60), workers=[first])
    blocks = fastnn.dask._fit._Blocks(client, Xd, yd, None)
    try:
        blocks.summarise(False, "squared_error")
        blocks.encode(None, None, np.float64)
        distributed.wait(blocks.futures)
        places = Counter(w[0] for w in client.who_has(blocks.futures).values())
    finally:
        blocks.release()
    assert sorted(places.values()) == [4, 4]


def test_warm_start_and_class_weight_dict_equal_the_local_fit(client):
    X, y = _data()
    params = dict(
        hidden_layer_sizes=(5,),
        solver="lbfgs",
        max_iter=8,
        warm_start=True,
        class_weight={0: 2.0, 1: 0.5, 2: 1.0, 3: 3.0},
        random_state=0,
    )
    dist, local = MLPClassifier(**params), MLPClassifier(**params)
    for _ in range(2):  # the second fit continues from the first
        fdask.fit(dist, _as_dask(X, 100), _as_dask(y, 100))
        local.fit(X, y)
        _assert_same_model(dist, local, 1e-6)
