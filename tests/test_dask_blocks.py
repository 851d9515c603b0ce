"""Blocks checked and encoded in groups and batches give each block exactly
what its own check and encoding give (``fastnn.dask._blocks``)."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.base import clone

da = pytest.importorskip("dask.array")

from fastnn import MLPClassifier, MLPRegressor  # noqa: E402
from fastnn import dask as fdask  # noqa: E402
from fastnn.dask import _blocks  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _blocks_of(a, rows):
    return [a[i : i + rows] for i in range(0, len(a), rows)]


def _assert_same_checked(batched, alone):
    assert len(batched) == len(alone)
    for i, (a, b) in enumerate(zip(batched, alone)):
        assert a.rows == b.rows, i
        assert type(a.error) is type(b.error), (i, a.error, b.error)
        assert str(a.error) == str(b.error), i
        for name in ("X", "y", "sample_weight"):
            u, v = getattr(a, name), getattr(b, name)
            assert (u is None) == (v is None), (i, name)
            if u is None:
                continue
            if sp.issparse(v):
                assert sp.issparse(u) and (u != v).nnz == 0, (i, name)
                continue
            assert u.dtype == v.dtype, (i, name)
            assert u.shape == v.shape, (i, name)
            assert u.flags.c_contiguous == v.flags.c_contiguous, (i, name)
            assert_array_equal(u, v)


def _check_both(xs, ys, sws, checker, dtype):
    """check_group on the blocks, against check_block on each alone."""
    batched = _blocks.check_group(xs, ys, sws, checker, dtype)
    alone = [
        _blocks.check_block(x, y, None if sws is None else sws[i], checker, dtype)
        for i, (x, y) in enumerate(zip(xs, ys))
    ]
    _assert_same_checked(batched, alone)
    return batched


def _data(n=300, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4))
    return X, np.digitize(X[:, 0], [-0.5, 0.5])


CLASSIFIER = MLPClassifier(solver="lbfgs")


@pytest.mark.parametrize(
    "x_dtype, dtype",
    [
        (np.float64, np.float64),
        (np.float32, np.float32),
        (np.float32, np.float64),  # a float64 model warm-started on float32
        (np.int64, np.float64),
        (np.int64, np.float32),
        (np.bool_, np.float64),
    ],
)
def test_a_batch_gives_each_block_its_own_check(x_dtype, dtype):
    X, y = _data()
    X = (3 * X).astype(x_dtype)
    sw = np.random.RandomState(1).uniform(0.5, 2, size=len(y))
    xs, ys, sws = _blocks_of(X, 20), _blocks_of(y, 20), _blocks_of(sw, 20)
    checked = _check_both(xs, ys, sws, CLASSIFIER, dtype)
    for x, block in zip(xs, checked):
        # A block already in the fit's dtype is kept as it is: no copy.
        assert (block.X is x) == (x.dtype == dtype)


def test_an_error_is_the_blocks_own_wherever_it_is_in_a_batch():
    X, y = _data()
    X[147, 2] = np.nan
    y = y.astype(float)
    y[263] = np.inf
    checked = _check_both(
        _blocks_of(X, 20), _blocks_of(y, 20), None, CLASSIFIER, X.dtype
    )
    errors = [i for i, block in enumerate(checked) if block.error is not None]
    assert errors == [7, 13]
    assert "Input X contains NaN" in str(checked[7].error)


def test_labels_of_another_type_in_some_blocks_fail_those_blocks_only():
    # The batch of all of them fails; each block then gets its own verdict.
    X, y = _data(n=60)
    labels = np.array(["a", "b", "c"] * 10 + [0, 1, 2] * 10, dtype=object)
    checked = _check_both(
        _blocks_of(X, 10), _blocks_of(labels, 10), None, CLASSIFIER, X.dtype
    )
    assert [block.error is None for block in checked] == [True] * 3 + [False] * 3


@pytest.mark.parametrize(
    "estimator, target",
    [
        (MLPClassifier(solver="lbfgs"), "column"),
        (MLPClassifier(solver="lbfgs"), "multilabel"),
        (MLPClassifier(solver="lbfgs"), "strings"),
        (MLPRegressor(solver="lbfgs"), "column"),
        (MLPRegressor(solver="lbfgs"), "two outputs"),
        (MLPRegressor(solver="lbfgs", loss="poisson"), "one negative"),
    ],
)
def test_targets_of_every_kind(estimator, target):
    X, y = _data()
    Y = {
        "column": y[:, None],
        "multilabel": np.c_[y == 0, y == 2].astype(int),
        "strings": np.array(["no", "maybe", "yes"])[y],
        "two outputs": np.c_[X[:, 0], X[:, 1]],
        "one negative": np.where(np.arange(len(y)) == 95, -1.0, np.abs(X[:, 0])),
    }[target]
    _check_both(_blocks_of(X, 15), _blocks_of(Y, 15), None, estimator, X.dtype)


def test_blocks_that_cannot_be_batched_are_checked_alone_among_the_rest():
    X, y = _data(n=120)
    xs, ys = _blocks_of(X, 10), _blocks_of(y, 10)
    xs[2] = np.asfortranarray(xs[2])
    xs[5] = sp.csr_matrix(xs[5])
    xs[8] = xs[8].astype(np.float32)  # another dtype: a batch of its own
    ys[10] = ys[10][:7]  # rows cut differently: refused by the client
    _check_both(xs, ys, None, CLASSIFIER, X.dtype)


def test_batches_stop_at_their_size(monkeypatch):
    X, y = _data()
    monkeypatch.setattr(_blocks, "_BATCH_BYTES", 3 * 20 * X.shape[1] * 8)
    checked = []
    original = _blocks.check_block

    def recording(Xb, *args):
        checked.append(len(Xb))
        return original(Xb, *args)

    monkeypatch.setattr(_blocks, "check_block", recording)
    _blocks.check_group(_blocks_of(X, 20), _blocks_of(y, 20), None, CLASSIFIER, X.dtype)
    # Three blocks of 20 rows a batch: 300 rows in five checks.
    assert checked == [60] * 5


@pytest.mark.parametrize("class_weight", [None, "balanced"])
@pytest.mark.parametrize("target", ["binary", "multiclass", "multilabel", "regression"])
def test_a_group_encodes_each_block_as_it_alone_encodes(class_weight, target):
    X, y = _data()
    estimator = MLPRegressor(solver="lbfgs") if target == "regression" else CLASSIFIER
    Y = {
        "binary": y == 1,
        "multiclass": y,
        "multilabel": np.c_[y == 0, y == 2].astype(int),
        "regression": X[:, 0],
    }[target]
    sw = np.random.RandomState(1).uniform(0.5, 2, size=len(y))
    checked = _blocks.check_group(
        _blocks_of(X, 20), _blocks_of(Y, 20), _blocks_of(sw, 20), estimator, X.dtype
    )
    checked.insert(3, _blocks.Checked(rows=(0, 0, 0)))  # an empty block: skipped
    encoder = class_weights = None
    if target != "regression":
        encoder = clone(estimator)
        encoder._validate_input(X, Y, False, True)
        if class_weight:
            columns = np.reshape(Y, (len(Y), -1)).T
            class_weights = [
                (np.unique(c), np.arange(1, len(np.unique(c)) + 1) / 3.0)
                for c in columns
            ]
    for dtype in (np.float64, np.float32):
        together = _blocks.encode_group(checked, encoder, class_weights, dtype)
        alone = [
            _blocks.encode(block, encoder, class_weights, dtype)
            for block in checked
            if block.X is not None
        ]
        assert len(together) == len(alone) == 15
        for a, b in zip(together, alone):
            assert a.X is b.X
            for u, v in ((a.Y, b.Y), (a.sample_weight, b.sample_weight)):
                assert u.dtype == v.dtype == dtype and u.flags.c_contiguous
                assert_array_equal(u, v)


def test_batched_set_up_trains_bitwise_the_block_by_block_model(monkeypatch):
    # Without a cluster: every block checked and encoded alone (batches of
    # at most one block) or in batches, the same model.
    X, y = _data(n=480)
    X = np.round(4 * X).astype(np.int64)  # converted by the checks
    sw = np.random.RandomState(1).uniform(0.5, 2, size=len(y))
    params = dict(
        hidden_layer_sizes=(5,),
        solver="lbfgs",
        class_weight="balanced",
        max_iter=10,
        random_state=0,
    )

    def fit():
        return fdask.fit(
            MLPClassifier(**params),
            da.from_array(X, chunks=(12, 4)),
            da.from_array(y, chunks=12),
            sample_weight=da.from_array(sw, chunks=12),
        )

    batched = fit()
    monkeypatch.setattr(_blocks, "_BATCH_BYTES", 0)
    alone = fit()
    for a, b in zip(
        batched.coefs_ + batched.intercepts_, alone.coefs_ + alone.intercepts_
    ):
        assert_array_equal(a, b)
    local = MLPClassifier(**params).fit(X, y, sample_weight=sw)
    for a, b in zip(batched.coefs_, local.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6 * np.abs(b).max())


def test_groups_are_runs_of_blocks_of_about_equal_rows():
    from fastnn.dask._fit import _groups

    assert _groups([], None, 4) == []
    assert _groups(list(range(10)), None, 4) == [[0, 1, 2], [3, 4], [5, 6, 7], [8, 9]]
    assert _groups([0, 1], None, 8) == [[0], [1]]
    rows = [100, 1, 1, 1, 1, 100, 0, 1]
    assert _groups([0, 1, 2, 3, 4, 5, 7], rows, 2) == [[0, 1, 2, 3], [4, 5, 7]]
