"""Scale-out on Dask: grid search on a real LocalCluster, out-of-core training."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

distributed = pytest.importorskip("distributed")  # the `dask` extra
da = pytest.importorskip("dask.array")

import joblib  # noqa: E402

from fastnn import MLPClassifier  # noqa: E402
from fastnn.dask import partial_fit_blocks  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 6))
    return X, (X[:, 0] - X[:, 1] > 0).astype(int)


def test_workers_import_fastnn_and_respect_their_thread_limit(client):
    def engine_threads():
        from fastnn._engine._threads import effective_n_threads

        return effective_n_threads()

    # distributed starts workers with OMP_NUM_THREADS=1, which fastnn obeys.
    assert set(client.run(engine_threads).values()) == {1}


def test_grid_search_on_a_local_cluster_matches_a_local_search(client):
    X, y = _data()
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=20, random_state=0))
    grid = {
        "mlpclassifier__hidden_layer_sizes": [(4,), (8,)],
        "mlpclassifier__alpha": [1e-4, 1e-1],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with joblib.parallel_config(backend="dask"):
            on_cluster = GridSearchCV(pipe, grid, cv=3).fit(X, y)
        local = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    assert_allclose(
        on_cluster.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    assert on_cluster.best_params_ == local.best_params_


def test_partial_fit_over_dask_blocks_on_the_cluster(client):
    X, y = _data()
    X_dask = da.from_array(X, chunks=(100, 6))
    y_dask = da.from_array(y, chunks=100)
    model = partial_fit_blocks(
        MLPClassifier(hidden_layer_sizes=(8,), random_state=0),
        X_dask,
        y_dask,
        classes=[0, 1],
        n_epochs=2,
    )
    reference = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    for _ in range(2):
        for start in range(0, 400, 100):
            reference.partial_fit(
                X[start : start + 100], y[start : start + 100], classes=[0, 1]
            )
    for a, b in zip(model.coefs_, reference.coefs_):
        assert_array_equal(a, b)
    assert len(model.loss_curve_) == 8


def test_blocks_must_split_rows_only():
    X = da.ones((10, 4), chunks=(5, 2))
    with pytest.raises(ValueError, match="rows only"):
        partial_fit_blocks(MLPClassifier(), X, da.ones(10, chunks=5), classes=[0, 1])


def test_dask_ml_incremental_wraps_fastnn(client):
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X, y = _data()
    X_dask = da.from_array(X, chunks=(100, 6))
    y_dask = da.from_array(y, chunks=100)
    inc = wrappers.Incremental(
        MLPClassifier(hidden_layer_sizes=(8,), random_state=0), shuffle_blocks=False
    ).fit(X_dask, y_dask, classes=[0, 1])
    reference = partial_fit_blocks(
        MLPClassifier(hidden_layer_sizes=(8,), random_state=0),
        X_dask,
        y_dask,
        classes=[0, 1],
    )
    for a, b in zip(inc.estimator_.coefs_, reference.coefs_):
        assert_array_equal(a, b)


def test_example_runs_against_a_scheduler_address(client, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "examples" / "dask_grid_search.py"
    result = subprocess.run(
        [sys.executable, str(script), "--scheduler", client.scheduler.address],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "best cv accuracy" in result.stdout
