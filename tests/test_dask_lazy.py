"""Dask DataFrames are read when computed, not before: a partition-read counter."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

pd = pytest.importorskip("pandas")
dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
da = pytest.importorskip("dask.array")

from fastnn import MLPClassifier, MLPRegressor  # noqa: E402
from fastnn import dask as fdask  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ROWS, PARTITIONS = 240, 4
COLUMNS = ["a", "b", "c"]


# The lengths of the partitions read, in order.  One list for the module:
# dask names a graph by its function's code, and reuses an equal graph built
# earlier with another closure.
READ: list[int] = []


def _counted(df):
    # dask's own probes of the function on one- or two-row stand-ins are
    # not reads.
    if len(df) > 2:
        READ.append(len(df))
    return df


@pytest.fixture
def reads():
    read = READ
    read.clear()
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(rng.normal(size=(ROWS, 3)), columns=COLUMNS)
    frame["y"] = (frame["a"] > 0).astype(int)
    ddf = dd.from_pandas(frame, npartitions=PARTITIONS).map_partitions(_counted)
    # No cluster: dask's scheduler in this process, where the counter is.
    with dask.config.set(scheduler="sync"):
        yield read, frame, ddf


def test_predictions_and_scores_read_nothing_until_computed(reads):
    read, frame, ddf = reads
    X = frame[COLUMNS]
    clf = MLPClassifier(
        hidden_layer_sizes=(4,), solver="lbfgs", max_iter=5, random_state=0
    )
    clf.fit(X, frame["y"])
    reg = MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=5)
    reg.fit(X, frame["a"])
    proba = fdask.predict_proba(clf, ddf[COLUMNS])
    labels = fdask.predict(clf, ddf[COLUMNS])
    accuracy = fdask.score(clf, ddf[COLUMNS], ddf["y"])
    r2 = fdask.score(reg, ddf[COLUMNS], ddf["a"])
    assert read == []
    assert_allclose(proba.compute(), clf.predict_proba(X))
    # Each partition once: nothing was read to learn the lengths first.
    assert read == [ROWS // PARTITIONS] * PARTITIONS
    np.testing.assert_array_equal(labels.compute(), clf.predict(X))
    assert float(accuracy.compute()) == pytest.approx(clf.score(X, frame["y"]))
    assert float(r2.compute()) == pytest.approx(reg.score(X, frame["a"]))


def test_a_fit_reads_each_partition_for_its_checks_only(reads):
    read, frame, ddf = reads
    fitted = fdask.fit(
        MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", random_state=0),
        ddf[COLUMNS],
        ddf["y"],
    )
    # X and y each read once per partition, for the checks; no pass over the
    # data for the partitions' lengths.
    assert read == [ROWS // PARTITIONS] * (2 * PARTITIONS), read
    local = MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", random_state=0)
    local.fit(frame[COLUMNS], frame["y"])
    for a, b in zip(fitted.coefs_, local.coefs_):
        assert_allclose(a, b, rtol=1e-6)


def test_y_partitioned_otherwise_is_refused_before_anything_is_read(reads):
    read, _, ddf = reads
    model = MLPClassifier(solver="lbfgs", max_iter=5)
    y = ddf["y"].repartition(npartitions=2)
    with pytest.raises(ValueError, match="same row chunks"):
        fdask.fit(model, ddf[COLUMNS], y)
    with pytest.raises(ValueError, match="same row chunks"):
        fdask.fit(model, ddf[COLUMNS], da.zeros(ROWS, chunks=ROWS // 3))
    assert read == []
    assert not hasattr(model, "coefs_")
