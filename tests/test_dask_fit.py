"""One L-BFGS model trained over a real LocalCluster's blocks, and lazy prediction."""

import os
import pickle
import signal
import threading
import time
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.utils.fixes import parse_version

distributed = pytest.importorskip("distributed")  # the `dask` extra
da = pytest.importorskip("dask.array")

from fastnn import MLPClassifier, MLPRegressor  # noqa: E402
from fastnn import dask as fdask  # noqa: E402
from fastnn._callbacks import _CALLBACK_ATTRIBUTES  # noqa: E402
from fastnn.dask import _backends  # noqa: E402

# scikit-learn refuses all-zero sample weights since 1.9; before, a fit
# (local or on the cluster) divides by their sum and reports a non-finite loss.
ZERO_WEIGHTS_REFUSED = parse_version(sklearn.__version__) >= parse_version("1.9")

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
    [
        *((c, "squared_error") for c in CHUNKINGS),
        *((100, loss) for loss in ("huber", "poisson", "gamma", "quantile")),
    ],
    ids=str,
)
def test_regressor_equals_the_local_fit(client, chunks, loss):
    X, _ = _data()
    Y = np.column_stack([np.exp(0.3 * X[:, 0]), np.abs(X[:, 1] - X[:, 2])])
    # quantile is read by loss='quantile' only (HistGradientBoosting's rule).
    params = dict(
        hidden_layer_sizes=(6,),
        solver="lbfgs",
        loss=loss,
        quantile=0.8,
        max_iter=15,
        random_state=0,
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
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
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
    evaluate = _backends.Cluster.evaluate
    calls = []

    def wrapped(self, *args):
        calls.append(None)
        action(len(calls))
        return evaluate(self, *args)

    monkeypatch.setattr(_backends.Cluster, "evaluate", wrapped)
    return calls


def _state(estimator) -> dict:
    """The estimator's attributes, pickled: equal means unchanged.

    scikit-learn's callback context, which every fit replaces, aside.
    """
    return {
        key: pickle.dumps(value)
        for key, value in vars(estimator).items()
        if key not in _CALLBACK_ATTRIBUTES
    }


def _their_data(client):
    """A persisted array the fits have nothing to do with, and its sum."""
    Z = client.persist(da.arange(1000, chunks=100) * 2)
    distributed.wait(Z)
    return Z, 999_000


def _assert_their_data_intact(theirs):
    Z, expected = theirs
    assert int(Z.sum().compute()) == expected


def test_a_killed_worker_changes_nothing(client, monkeypatch):
    X, y = _data()
    params = dict(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=15, random_state=0)
    Xd, yd = _as_dask(X, 60), _as_dask(y, 60)
    undisturbed = fdask.fit(MLPClassifier(**params), Xd, yd)
    theirs = _their_data(client)

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
    _assert_their_data_intact(theirs)


def _cluster_tasks(client) -> int:
    return client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))


def test_ctrl_c_releases_the_fits_blocks_only(client, monkeypatch):
    X, y = _data()
    theirs = _their_data(client)
    Xd = client.persist(_as_dask(X, 100))
    yd = client.persist(_as_dask(y, 100))
    distributed.wait([Xd, yd])
    baseline = _cluster_tasks(client)
    model = fdask.fit(
        MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=3), Xd, yd
    )
    model.set_params(warm_start=True, max_iter=50)
    before = _state(model)

    def interrupt(n):
        if n == 2:
            assert _cluster_tasks(client) > baseline  # the fit's blocks
            os.kill(os.getpid(), signal.SIGINT)

    _count_evaluations(monkeypatch, interrupt)
    with pytest.raises(KeyboardInterrupt):
        fdask.fit(model, Xd, yd)
    deadline = time.monotonic() + 30
    while _cluster_tasks(client) > baseline and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _cluster_tasks(client) == baseline
    _assert_their_data_intact(theirs)
    assert_array_equal(Xd.compute(), X)
    assert_array_equal(yd.compute(), y)
    # The interrupted fit left the model as it was.
    assert _state(model) == before


def test_ctrl_c_while_waiting_leaves_no_orphaned_waits(client, caplog):
    # Interrupted while the client waited in its event loop, the loop's own
    # wait was left behind and logged "Task exception was never retrieved
    # ... AllExit" once the fit let its futures go.
    import gc

    X, y = _data(n=300)
    # Each block is checked a second after it is read: Ctrl-C comes while
    # the set-up waits for the checks.
    Xd = _as_dask(X, 50).map_blocks(lambda b: (time.sleep(1), b)[1])
    model = MLPClassifier(hidden_layer_sizes=(3,), solver="lbfgs", max_iter=5)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        timer.start()
        fdask.fit(model, Xd, _as_dask(y, 50))
    # The checks end, their futures are let go; the orphans would fail then.
    time.sleep(3)
    gc.collect()
    time.sleep(0.2)
    logged = [r.getMessage() for r in caplog.records]
    assert not [m for m in logged if "never retrieved" in m], logged
    assert not hasattr(model, "coefs_")


def _nan_in_block_2():
    X, y = _data()
    X[250, 3] = np.nan
    return _as_dask(X, 100), _as_dask(y, 100)


def _csr_block(block, block_info=None):
    A = sp.csr_matrix(block)
    if block_info[0]["chunk-location"][0] == 2:
        # One past the last column: the engine would read past the weights.
        A.indices[0] = block.shape[1]
    return A


def _malformed_csr_in_block_2():
    X, y = _data()
    return _as_dask(X, 100).map_blocks(_csr_block, dtype=X.dtype), _as_dask(y, 100)


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
            r"In row block 2 \(rows 200 to 300\): Input X contains NaN",
        ),
        (
            _malformed_csr_in_block_2,
            MLPClassifier(solver="lbfgs"),
            r"In row block 2 \(rows 200 to 300\): X is a malformed CSR matrix: "
            r"column indices must be < 5 \(X has 5 columns\); got 5\.",
        ),
        (
            lambda: (_as_dask(_data()[0], 100), _as_dask(-np.ones(480), 100)),
            MLPRegressor(solver="lbfgs", loss="poisson"),
            r"In row block 0 \(rows 0 to 100\): Some value\(s\) of y are negative",
        ),
        (
            lambda: (_as_dask(_data()[0], 100), _as_dask(np.zeros(480), 100)),
            MLPRegressor(solver="lbfgs", loss="gamma"),
            r"In row block 0 \(rows 0 to 100\): loss='gamma' requires strictly "
            r"positive y",
        ),
        (
            lambda: (_data()[0], _data()[1]),
            MLPClassifier(solver="lbfgs"),
            "must be a dask array",
        ),
    ],
    ids=[
        "row-chunks",
        "column-chunks",
        "solver",
        "nan-block",
        "malformed-csr-block",
        "poisson",
        "gamma",
        "numpy",
    ],
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


def test_blocks_are_spread_evenly_over_the_workers(client, monkeypatch):
    # Every evaluation waits for the busiest worker: blocks that all start
    # on one worker are moved until each holds its share of the rows, as
    # one range of consecutive blocks per worker (one thread each).
    X, y = _data()
    first = sorted(client.scheduler_info()["workers"])[0]
    Xd = client.persist(_as_dask(X, 60), workers=[first])
    yd = client.persist(_as_dask(y, 60), workers=[first])
    places = []
    evaluate = _backends.Cluster.evaluate

    def record(self, *args):
        if not places:
            futures = [f for _, blocks, _ in self.ranges for f in blocks]
            distributed.wait(futures)
            holders = client.who_has(futures)
            places.extend(
                [start, sorted({w for f in blocks for w in holders[f.key]})]
                for start, blocks, _ in self.ranges
            )
        return evaluate(self, *args)

    monkeypatch.setattr(_backends.Cluster, "evaluate", record)
    fdask.fit(
        MLPClassifier(hidden_layer_sizes=(3,), solver="lbfgs", max_iter=2), Xd, yd
    )
    assert [start for start, _ in places] == [0, 4]
    assert all(len(workers) == 1 for _, workers in places)
    assert places[0][1] != places[1][1]


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


# -- the caller's data, empty blocks, a closed client --------------------------


def _refusals():
    X, y = _data()
    X_nan = X.copy()
    X_nan[250, 3] = np.nan
    lbfgs = dict(solver="lbfgs", max_iter=3)
    return [
        (MLPClassifier(**lbfgs), X, y, dict(classes=[0, 1]), "labels not in"),
        (MLPClassifier(**lbfgs), X_nan, y, {}, "Input X contains NaN"),
        (MLPClassifier(dropout=0.5, **lbfgs), X, y, {}, "dropout needs"),
        (
            MLPClassifier(warm_start=True, **lbfgs)
            .fit(X, y)
            .set_params(hidden_layer_sizes=(3,)),
            X,
            y,
            {},
            "coefs_ describe layers",
        ),
    ] + (
        [
            (
                MLPClassifier(**lbfgs),
                X,
                y,
                dict(sample_weight=np.zeros(len(y))),
                "at least one non-zero",
            )
        ]
        if ZERO_WEIGHTS_REFUSED
        else []
    )


def test_refusals_leave_the_callers_data_and_model_as_they_were(client):
    # Refusals come after the blocks were computed on the cluster; a
    # persisted X or y shares its keys with them.
    theirs = _their_data(client)
    for estimator, X, y, kwargs, message in _refusals():
        Xd = client.persist(_as_dask(X, 50))
        yd = client.persist(_as_dask(y, 50))
        if "sample_weight" in kwargs:
            kwargs["sample_weight"] = _as_dask(kwargs["sample_weight"], 50)
        before = _state(estimator)
        with pytest.raises(ValueError, match=message):
            fdask.fit(estimator, Xd, yd, **kwargs)
        assert_array_equal(Xd.compute(), X)
        assert_array_equal(yd.compute(), y)
        _assert_their_data_intact(theirs)
        assert _state(estimator) == before


def test_closing_the_client_mid_fit_raises_the_cause(client, monkeypatch):
    X, y = _data()
    theirs = _their_data(client)
    other = distributed.Client(client.scheduler.address, set_as_default=False)
    model = MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=50)

    def close(n):
        if n == 3:
            other.close()

    _count_evaluations(monkeypatch, close)
    with other.as_current():
        with pytest.raises(distributed.client.ClosedClientError) as caught:
            fdask.fit(model, _as_dask(X, 100), _as_dask(y, 100))
    # The closed client itself, not a failure to clean up after it.
    assert "cancel" not in str(caught.value)
    assert caught.value.__context__ is None
    assert not hasattr(model, "coefs_")  # no half-trained weights
    _assert_their_data_intact(theirs)


def _slow_ranges(dask_worker, seconds):
    """Make each range's sums on this worker take ``seconds`` longer
    (``seconds=None``: as they were)."""
    from fastnn.dask import _sums

    original = getattr(_sums, "_original_range_sums", _sums.range_sums)
    _sums._original_range_sums = original
    if seconds is None:
        _sums.range_sums = original
        return

    def slow(*args):
        time.sleep(seconds)
        return original(*args)

    _sums.range_sums = slow


def test_closing_the_client_while_an_evaluation_runs_raises_the_cause(
    client, monkeypatch
):
    # The client closes while the fit waits for an evaluation's sums: the
    # futures it waits for are cancelled with it.
    X, y = _data()
    other = distributed.Client(client.scheduler.address, set_as_default=False)
    model = MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=50)

    def close_soon(n):
        if n == 3:
            threading.Timer(0.3, other.close).start()

    _count_evaluations(monkeypatch, close_soon)
    client.run(_slow_ranges, seconds=1.0)
    try:
        with other.as_current():
            with pytest.raises(distributed.client.ClosedClientError) as caught:
                fdask.fit(model, _as_dask(X, 100), _as_dask(y, 100))
    finally:
        client.run(_slow_ranges, seconds=None)
    assert caught.value.__context__ is None
    assert not hasattr(model, "coefs_")


EMPTY = [(100, 0, 200, 0, 180), (100, 200, 180)]


@pytest.mark.parametrize(
    "kind", ["classifier", "balanced", "multilabel", "regressor"], ids=str
)
def test_empty_blocks_are_skipped(client, kind):
    X, y = _data()
    params = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=8, random_state=0)
    if kind == "multilabel":
        y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(int)
    if kind == "regressor":
        make = lambda: MLPRegressor(**params)  # noqa: E731
        y = X[:, 0] - X[:, 1]
    else:
        weight = "balanced" if kind == "balanced" else None
        make = lambda: MLPClassifier(class_weight=weight, **params)  # noqa: E731
    with_empty, without = (
        fdask.fit(make(), _as_dask(X, chunks), _as_dask(y, chunks)) for chunks in EMPTY
    )
    # The same non-empty blocks, added in the same tree.
    for a, b in zip(
        with_empty.coefs_ + with_empty.intercepts_,
        without.coefs_ + without.intercepts_,
    ):
        assert_array_equal(a, b)


def test_empty_partitions_of_a_filtered_dataframe(client):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X, y = _data()
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)]).assign(target=y)
    ddf = dd.from_pandas(frame.assign(row=np.arange(480)), npartitions=4)
    kept = ddf[ddf.row >= 240]  # the first two partitions are empty
    features = kept[[f"f{i}" for i in range(5)]]
    params = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=8, random_state=0)
    dist = fdask.fit(MLPClassifier(**params), features, kept["target"])
    local = MLPClassifier(**params).fit(frame.iloc[240:, :5], y[240:])
    _assert_same_model(dist, local, 1e-6)

    stochastic = dict(hidden_layer_sizes=(5,), random_state=0)
    blocks = fdask.partial_fit_blocks(
        MLPClassifier(**stochastic), features, kept["target"], classes=[0, 1, 2, 3]
    )
    reference = MLPClassifier(**stochastic)
    for start in (240, 360):
        part = frame.iloc[start : start + 120]
        reference.partial_fit(part.iloc[:, :5], part["target"], classes=[0, 1, 2, 3])
    for a, b in zip(blocks.coefs_, reference.coefs_):
        assert_array_equal(a, b)
    assert list(blocks.feature_names_in_) == list(frame.columns[:5])


def test_partial_fit_blocks_skips_empty_blocks(client):
    X, y = _data()
    model = fdask.partial_fit_blocks(
        MLPClassifier(hidden_layer_sizes=(5,), random_state=0),
        _as_dask(X, EMPTY[0]),
        _as_dask(y, EMPTY[0]),
        classes=[0, 1, 2, 3],
    )
    reference = MLPClassifier(hidden_layer_sizes=(5,), random_state=0)
    for start, stop in ((0, 100), (100, 300), (300, 480)):
        reference.partial_fit(X[start:stop], y[start:stop], classes=[0, 1, 2, 3])
    for a, b in zip(model.coefs_, reference.coefs_):
        assert_array_equal(a, b)
    assert len(model.loss_curve_) == 3


@pytest.mark.parametrize("helper", ["fit", "partial_fit_blocks"])
def test_unknown_chunk_sizes_point_at_compute_chunk_sizes(helper):
    X, y = _data()
    Xd, yd = _as_dask(X, 100), _as_dask(y, 100)
    keep = Xd[:, 0] > 0
    with pytest.raises(ValueError, match=r"unknown chunk sizes.*compute_chunk_sizes"):
        getattr(fdask, helper)(MLPClassifier(solver="lbfgs"), Xd[keep], yd[keep])


# -- warm starts and messages --------------------------------------------------


def test_warm_start_with_the_same_classes_given_twice(client):
    X, y = _data()
    two = y % 2  # y holds 0 and 1 only
    model = MLPClassifier(
        hidden_layer_sizes=(5,), solver="lbfgs", max_iter=5, warm_start=True
    )
    for _ in range(2):
        fdask.fit(model, _as_dask(X, 100), _as_dask(two, 100), classes=[0, 1, 2])
    assert_array_equal(model.classes_, [0, 1, 2])
    # Without classes=, fit's rule: y must hold the classes of the first fit.
    with pytest.raises(ValueError, match="warm_start can only be used where `y`"):
        fdask.fit(model, _as_dask(X, 100), _as_dask(two, 100))


def test_a_float32_model_stays_float32_when_warm_started_on_float64(client):
    X, _ = _data()
    y = X[:, 0] - 2 * X[:, 1]
    params = dict(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=5, random_state=0)
    dist = MLPRegressor(warm_start=True, **params).fit(X.astype(np.float32), y)
    local = MLPRegressor(warm_start=True, **params).fit(X.astype(np.float32), y)
    fdask.fit(dist, _as_dask(X, 100), _as_dask(y, 100))
    local.fit(X, y)
    assert dist.coefs_[0].dtype == local.coefs_[0].dtype == np.float32
    _assert_same_model(dist, local, 1e-3)


@pytest.mark.parametrize(
    "case",
    ["zero-weights", "nan-in-weights", "mixed-labels", "nan-in-y", "no-features"],
)
def test_refusals_carry_the_local_fits_message(client, monkeypatch, case):
    X, y = _data()
    sw = None
    # The block named in the message (None: a property of all the data),
    # whose local fit gives the same error.
    block = None
    if case == "zero-weights":
        if not ZERO_WEIGHTS_REFUSED:
            pytest.skip("needs scikit-learn >= 1.9")
        sw = np.zeros(len(y))
    elif case == "nan-in-weights":
        sw = np.ones(len(y))
        sw[420] = np.inf
        block = 4
    elif case == "mixed-labels":
        y = np.array(["a", 1] * 240, dtype=object)
        block = 0
    elif case == "nan-in-y":
        y = y.astype(float)
        y[310] = np.nan
        block = 3
    else:
        X = X[:, :0]
        block = 0
    rows = slice(None) if block is None else slice(100 * block, 100 * block + 100)
    with pytest.raises((ValueError, TypeError)) as local:
        MLPClassifier(solver="lbfgs").fit(
            X[rows], y[rows], sample_weight=None if sw is None else sw[rows]
        )
    calls = _count_evaluations(monkeypatch, lambda n: None)
    with pytest.raises(type(local.value)) as caught:
        fdask.fit(
            MLPClassifier(solver="lbfgs"),
            _as_dask(X, 100),
            _as_dask(y, 100),
            sample_weight=None if sw is None else _as_dask(sw, 100),
        )
    expected = str(local.value)
    if block is not None:
        start = 100 * block
        stop = min(start + 100, len(y))
        expected = f"In row block {block} (rows {start} to {stop}): {expected}"
    assert str(caught.value) == expected
    assert not calls  # refused before training


def test_inputs_a_local_fit_accepts(client):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X, y = _data()
    params = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=8, random_state=0)
    # bool X and a bool target for a regressor.
    Xb, yb = X > 0, X[:, 0] + X[:, 1] > 0
    dist = fdask.fit(MLPRegressor(**params), _as_dask(Xb, 100), _as_dask(yb, 100))
    _assert_same_model(dist, MLPRegressor(**params).fit(Xb, yb), 1e-6)
    # Nullable Int64 columns.
    frame = pd.DataFrame(
        {
            f"f{i}": pd.array(np.round(3 * X[:, i]).astype(int), dtype="Int64")
            for i in range(5)
        }
    )
    ddf = dd.from_pandas(frame, npartitions=3)
    dist = fdask.fit(MLPClassifier(**params), ddf, dd.from_array(y, chunksize=160))
    _assert_same_model(dist, MLPClassifier(**params).fit(frame, y), 1e-6)
    # SciPy sparse blocks.
    Xs = np.where(np.abs(X) > 1, X, 0)
    Xsd = _as_dask(Xs, 100).map_blocks(sp.csr_matrix)
    dist = fdask.fit(MLPClassifier(**params), Xsd, _as_dask(y, 100))
    _assert_same_model(dist, MLPClassifier(**params).fit(sp.csr_matrix(Xs), y), 1e-6)


def test_helper_arguments_are_checked():
    X, y = _data()
    sklearn_errors = pytest.importorskip("sklearn.utils._param_validation")
    with pytest.raises(TypeError, match="classes is only accepted for classifiers"):
        fdask.fit(
            MLPRegressor(solver="lbfgs"),
            _as_dask(X, 100),
            _as_dask(y, 100),
            classes=[0, 1],
        )
    with pytest.raises(TypeError, match="classes is only accepted for classifiers"):
        fdask.partial_fit_blocks(
            MLPRegressor(), _as_dask(X, 100), _as_dask(y, 100), classes=[0, 1]
        )
    with pytest.raises(
        sklearn_errors.InvalidParameterError, match="'n_epochs' parameter"
    ):
        fdask.partial_fit_blocks(
            MLPClassifier(), _as_dask(X, 100), _as_dask(y, 100), n_epochs=0
        )
    with pytest.raises(TypeError, match="y must be a dask array"):
        fdask.partial_fit_blocks(
            MLPClassifier(), _as_dask(X, 100), y, classes=[0, 1, 2, 3]
        )


def test_partial_fit_blocks_takes_a_dataframe(client):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X, y = _data()
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    ddf = dd.from_pandas(frame, npartitions=2)
    model = fdask.partial_fit_blocks(
        MLPClassifier(hidden_layer_sizes=(5,), random_state=0),
        ddf,
        dd.from_array(y, chunksize=240),
        classes=[0, 1, 2, 3],
    )
    reference = MLPClassifier(hidden_layer_sizes=(5,), random_state=0)
    for start in (0, 240):
        reference.partial_fit(
            frame.iloc[start : start + 240],
            y[start : start + 240],
            classes=[0, 1, 2, 3],
        )
    for a, b in zip(model.coefs_, reference.coefs_):
        assert_array_equal(a, b)


# -- what equals the local fit, and what an evaluation costs -------------------


def _evaluations(monkeypatch, fit, points) -> list:
    """The objective a fit hands to L-BFGS, evaluated at ``points``."""
    from fastnn._base import BaseMultilayerPerceptron

    values = []

    def minimize(self, loss_and_grad, params):
        values.extend(loss_and_grad(x) for x in points)

    monkeypatch.setattr(BaseMultilayerPerceptron, "_minimize_lbfgs", minimize)
    fit()
    monkeypatch.undo()
    return values


@pytest.mark.parametrize(
    "chunks, dtype",
    [
        *((c, np.float64) for c in (480, 100, (50, 200, 30, 200), 7)),
        ((50, 200, 30, 200), np.float32),
    ],
    ids=str,
)
def test_each_evaluation_equals_the_local_one(client, monkeypatch, chunks, dtype):
    # The tolerances of the Dask page, per dtype.
    X, y = _data()
    X = X.astype(dtype)
    sw = np.random.RandomState(1).uniform(0.5, 2, size=len(y))
    params = dict(
        hidden_layer_sizes=(32, 16),
        solver="lbfgs",
        alpha=1e-3,
        class_weight="balanced",
        random_state=0,
    )
    rng = np.random.RandomState(0)
    n_params = 5 * 32 + 32 + 32 * 16 + 16 + 16 * 4 + 4
    points = [rng.normal(scale=0.5, size=n_params) for _ in range(3)]
    local = _evaluations(
        monkeypatch, lambda: MLPClassifier(**params).fit(X, y, sample_weight=sw), points
    )
    dist = _evaluations(
        monkeypatch,
        lambda: fdask.fit(
            MLPClassifier(**params),
            _as_dask(X, chunks),
            _as_dask(y, chunks),
            sample_weight=_as_dask(sw, chunks),
        ),
        points,
    )
    for (loss_l, grad_l), (loss_d, grad_d) in zip(local, dist):
        if chunks == 480:  # one block: the local evaluation, bit for bit
            assert loss_d == loss_l
            assert_array_equal(grad_d, grad_l)
        elif dtype == np.float64:  # the same sums in another order
            assert_allclose(loss_d, loss_l, rtol=1e-13)
            assert_allclose(
                grad_d, grad_l, rtol=1e-11, atol=1e-14 * np.abs(grad_l).max()
            )
        else:  # each block's gradient rounded to float32 before the sums
            assert_allclose(loss_d, loss_l, rtol=1e-13)
            assert_allclose(grad_d, grad_l, rtol=0, atol=2e-6 * np.abs(grad_l).max())


def _submitted_per_evaluation(client, monkeypatch, n_blocks: int) -> list[int]:
    X, y = _data(n=64 * 8)
    counts = []
    submit = client.submit

    def counting(*args, **kwargs):
        if counts:  # after the blocks were set up
            counts[-1] += 1
        return submit(*args, **kwargs)

    def start(n):
        counts.append(0)

    _count_evaluations(monkeypatch, start)
    monkeypatch.setattr(client, "submit", counting)
    rows = len(y) // n_blocks
    fdask.fit(
        MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=3),
        _as_dask(X, rows),
        _as_dask(y, rows),
    )
    monkeypatch.undo()
    return counts


def test_tasks_per_evaluation_do_not_grow_with_the_blocks(client, monkeypatch):
    # The parameters, one task per worker thread's range of blocks, one merge.
    for n_blocks in (8, 64):
        counts = _submitted_per_evaluation(client, monkeypatch, n_blocks)
        assert counts and set(counts) == {1 + 2 + 1}, (n_blocks, counts)


def _futures_before_training(client, monkeypatch, n_blocks: int) -> int:
    """How many futures the fit creates before its first evaluation."""
    X, y = _data(n=64 * 8)
    created = []
    own = _backends.Cluster._own
    evaluations = _count_evaluations(monkeypatch, lambda n: None)

    def counting(self, futures):
        if not evaluations:
            created.append(len(futures))
        return own(self, futures)

    monkeypatch.setattr(_backends.Cluster, "_own", counting)
    rows = len(y) // n_blocks
    fdask.fit(
        MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=2),
        _as_dask(X, rows),
        _as_dask(y, rows),
    )
    monkeypatch.undo()
    return sum(created)


def test_set_up_tasks_do_not_grow_with_the_blocks(client, monkeypatch):
    # Blocks are checked, summarised and encoded in groups: a few tasks per
    # worker thread each, not one per block.
    counts = [_futures_before_training(client, monkeypatch, n) for n in (8, 64, 512)]
    assert counts[0] == counts[1] == counts[2] <= 3 * 4 * 2, counts


def test_an_error_in_one_of_many_small_blocks_names_that_block(client):
    # Blocks are checked in batches: the error is still the block's own.
    X, y = _data()
    X[313, 1] = np.nan
    with pytest.raises(
        ValueError, match=r"^In row block 31 \(rows 310 to 320\): Input X contains NaN"
    ):
        fdask.fit(MLPClassifier(solver="lbfgs"), _as_dask(X, 10), _as_dask(y, 10))


def test_large_parameters_are_not_sent_in_the_graph(client):
    # distributed warns about graphs over a threshold (10 MB by default, a
    # model of 1.3M float64 parameters); here lowered below this model's
    # 68 kB of parameters, above the 25 kB of the data's own graph.
    import dask

    X, y = _data()
    model = MLPClassifier(hidden_layer_sizes=(600, 8), solver="lbfgs", max_iter=3)
    threshold = {"distributed.admin.large-graph-warning-threshold": "40kB"}
    with dask.config.set(threshold):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fdask.fit(model, _as_dask(X, 100), _as_dask(y, 100))
    large = [str(w.message) for w in caught if "large graph" in str(w.message)]
    assert not large, large[0]


def test_the_result_is_the_same_on_any_number_of_workers(client, tmp_path, monkeypatch):
    # The tree of sums is fixed by the block indices: one worker with two
    # threads (two ranges), two workers, or dask's default scheduler in a
    # process without a Client add the same numbers in the same order.
    import subprocess
    import sys

    X, y = _data()
    params = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=20, random_state=0)
    chunks = (50, 200, 30, 60, 140)
    two = fdask.fit(MLPClassifier(**params), _as_dask(X, chunks), _as_dask(y, chunks))
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as one_client,
        one_client.as_current(),
    ):
        ranges = []
        evaluate = _backends.Cluster.evaluate

        def record(self, *args):
            ranges.append(len(self.ranges))
            return evaluate(self, *args)

        monkeypatch.setattr(_backends.Cluster, "evaluate", record)
        one = fdask.fit(
            MLPClassifier(**params), _as_dask(X, chunks), _as_dask(y, chunks)
        )
        monkeypatch.undo()
        assert set(ranges) == {2}  # one range per thread
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    script = f"""
import pickle, warnings
import dask.array as da, numpy as np
import fastnn.dask
from fastnn import MLPClassifier
warnings.simplefilter("ignore")
X, y = np.load("X.npy"), np.load("y.npy")
chunks = {chunks!r}
model = fastnn.dask.fit(MLPClassifier(**{params!r}),
    da.from_array(X, chunks=(chunks, 5)), da.from_array(y, chunks=chunks))
pickle.dump(model, open("model.pkl", "wb"))
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "model.pkl", "rb") as f:
        threads = pickle.load(f)
    for other in (one, threads):
        for a, b in zip(two.coefs_ + two.intercepts_, other.coefs_ + other.intercepts_):
            assert_array_equal(a, b)


def _pairwise(leaves, start, size):
    """The tree by its definition: halves at powers of two."""
    if size == 1:
        return leaves[start]
    half = size // 2
    if start + half >= len(leaves):
        return _pairwise(leaves, start, half)
    left = _pairwise(leaves, start, half)
    right = _pairwise(leaves, start + half, half)
    return left[0] + right[0], left[1] + right[1], left[2] + right[2]


def test_any_ranges_of_blocks_add_up_to_the_same_bits():
    from fastnn.dask import _sums

    rng = np.random.RandomState(0)
    for n in (1, 2, 3, 5, 8, 13, 64, 100):
        # Values of very different sizes: any other order of additions
        # rounds differently.
        leaves = [
            (
                rng.normal() * 10.0 ** rng.randint(-8, 8),
                rng.uniform(),
                rng.normal(size=6) * 10.0 ** rng.randint(-8, 8, 6),
            )
            for _ in range(n)
        ]

        expected = _pairwise(leaves, 0, 1 << max(n - 1, 0).bit_length())
        for _ in range(6):
            k = rng.randint(0, min(n, 6))
            cuts = (
                sorted(rng.choice(np.arange(1, n), size=k, replace=False)) if k else []
            )
            bounds = [0, *cuts, n]
            ranges = [
                _sums.merge(n, *[[((0, i), leaves[i])] for i in range(a, b)])
                for a, b in zip(bounds[:-1], bounds[1:])
            ]
            for node_list in ranges:  # O(log n) nodes per range
                assert len(node_list) <= 2 * max(n - 1, 1).bit_length()
            while len(ranges) > 1:  # merged a few at a time, as on a cluster
                ranges = [
                    _sums.merge(n, *ranges[i : i + 2]) for i in range(0, len(ranges), 2)
                ]
            loss, weight, grad = _sums.total(n, ranges[0])
            assert (loss, weight) == expected[:2]
            assert_array_equal(grad, expected[2])


@pytest.mark.parametrize("estimator", [MLPClassifier, MLPRegressor])
def test_a_column_vector_y_warns_as_fit_does(client, estimator):
    from sklearn.exceptions import DataConversionWarning

    X, y = _data()
    params = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=5, random_state=0)
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        column = fdask.fit(
            estimator(**params), _as_dask(X, 100), _as_dask(y[:, None], 100)
        )
    flat = fdask.fit(estimator(**params), _as_dask(X, 100), _as_dask(y, 100))
    for a, b in zip(column.coefs_, flat.coefs_):
        assert_array_equal(a, b)


PROGRESS_BAR_FIT = """
import numpy as np
import dask.array as da
from sklearn.callback import ProgressBar
from fastnn import MLPClassifier
from fastnn import dask as fdask

rng = np.random.RandomState(0)
X = rng.normal(size=(200, 3))
y = (X[:, 0] > 0).astype(int)
clf = MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=5)
clf.set_callbacks(ProgressBar())
fdask.fit(clf, da.from_array(X, chunks=(100, 3)), da.from_array(y, chunks=100))
print("fitted")
"""


def test_a_progress_bar_lets_the_process_exit(tmp_path):
    # The callbacks' teardown stops the progress bar's monitor thread, which
    # is not a daemon: left running, the interpreter never exits.
    import subprocess
    import sys

    pytest.importorskip("sklearn.callback")
    pytest.importorskip("rich")
    # Outside the checkout: ``-c`` puts the working folder first on the
    # path, whose uncompiled fastnn/ would shadow the installed build.
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", PROGRESS_BAR_FIT],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "fitted" in result.stdout
