"""The engine's own products (csrc/fastnn_gemm.h) against NumPy, and the
fused training path against the BLAS one."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from fastnn import MLPClassifier, MLPRegressor
from fastnn._engine import _kernels, _layers

# Every kernel this CPU runs: on an AVX-512 machine, all three.
LEVELS = [
    name
    for name, code in _kernels.GEMM_LEVELS.items()
    if code <= _kernels.GEMM_LEVELS[_kernels.BEST_GEMM_LEVEL]
]
DTYPES = [np.float32, np.float64]
# Tiles are 4 or 8 rows by 2 vectors of 1, 4, 8 or 16 elements: sizes on
# both sides of every edge.
ROWS = [1, 3, 4, 5, 7, 8, 9, 17]
COLS = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


@pytest.fixture
def products():
    """Set training's products for one test, restored afterwards."""
    previous = _layers.products()
    yield _layers._set_products
    _layers._set_products(previous)


def _all_levels(run):
    """run(level) at every level: the same bits from each."""
    results = [run(level) for level in LEVELS]
    for other in results[1:]:
        assert_array_equal(other, results[0])
    return results[0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", ROWS)
def test_row_product_matches_numpy_at_every_tile_edge(dtype, m):
    rng = np.random.default_rng(m)
    for n in COLS:
        for k in (0, 1, 5, 67):
            # Slices of wider arrays: every leading dimension differs from
            # the row length.
            A = rng.standard_normal((m, k + 3)).astype(dtype)[:, 1 : k + 1]
            B = rng.standard_normal((k, n + 5)).astype(dtype)[:, 2 : n + 2]

            def run(level, A=A, B=B, n=n):
                C = np.full((m, n + 1), np.nan, dtype)[:, :n]
                _kernels.product(A, B, C, level=level)
                return C

            C = _all_levels(run)
            assert_allclose(C, A @ B, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_row_product_reads_rows_by_index_and_accumulates(dtype):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((50, 70)).astype(dtype)
    ids = np.array([49, 0, 7, 7, 3, 12, 40, 1, 2, 30, 31], dtype=np.intp)
    W = rng.standard_normal((70, 37)).astype(dtype)
    C0 = rng.standard_normal((ids.size, 37)).astype(dtype)

    def run(level):
        C = C0.copy()
        _kernels.product(X, W, C, ids=ids, accumulate=True, level=level)
        return C

    assert_allclose(_all_levels(run), C0 + X[ids] @ W, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", ROWS)
def test_transposed_product_matches_numpy_at_every_tile_edge(dtype, m):
    rng = np.random.default_rng(100 + m)
    A = rng.standard_normal((40, 30)).astype(dtype)
    ids = rng.permutation(40)[:23].astype(np.intp)
    for n in COLS:
        D = rng.standard_normal((ids.size, n)).astype(dtype)
        for i0 in (0, 30 - m):

            def run(level, D=D, n=n, i0=i0):
                C = np.full((m, n), np.nan, dtype)
                _kernels.product(A, D, C, ids=ids, transposed=True, i0=i0, level=level)
                return C

            expected = A[ids][:, i0 : i0 + m].T @ D
            assert_allclose(_all_levels(run), expected, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_transposed_product_accumulates_over_consecutive_rows(dtype):
    rng = np.random.default_rng(2)
    A = rng.standard_normal((200, 13)).astype(dtype)
    D = rng.standard_normal((200, 41)).astype(dtype)
    G0 = rng.standard_normal((13, 41)).astype(dtype)

    def run(level):
        G = G0.copy()
        _kernels.product(A, D, G, transposed=True, accumulate=True, level=level)
        return G

    assert_allclose(_all_levels(run), G0 + A.T @ D, **TOL[dtype])


def test_products_refuse_a_kernel_the_cpu_lacks_and_bad_shapes():
    with pytest.raises(ValueError, match="unknown product kernel"):
        _kernels.product(np.ones((2, 2)), np.ones((2, 2)), np.ones((2, 2)), level="x")
    with pytest.raises(ValueError, match="B does not match"):
        _kernels.product(np.ones((2, 3)), np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="ids out of range"):
        _kernels.product(
            np.ones((2, 2)), np.ones((2, 2)), np.ones((1, 2)), ids=np.array([2])
        )
    with pytest.raises(ValueError, match="unknown product kernel"):
        _layers._set_products("gpu")


def _fit_both_paths(products, make, X, y):
    fits = {}
    for path in ("blas", _kernels.BEST_GEMM_LEVEL):
        products(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits[path] = make().fit(X, y)
    return fits.values()


def _assert_close_models(a, b, rtol):
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert_allclose(q, p, rtol=rtol, atol=rtol)


@pytest.mark.parametrize(
    "activation",
    ["logistic", "tanh", "relu", "identity", "gelu", "silu", "gaussian", "elu"],
)
@pytest.mark.parametrize("solver", ["adam", "sgd", "adamw", "lbfgs"])
def test_fused_path_matches_blas_for_every_activation_and_optimizer(
    products, activation, solver
):
    """The element work fused into the panels is the same as after BLAS's
    products: the two paths differ by the products' rounding only."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 37))
    y = (X[:, :3].sum(axis=1) > 0).astype(int) + (X[:, 3] > 0.5)
    params = dict(
        hidden_layer_sizes=(29, 17),
        activation=activation,
        solver=solver,
        alpha=1e-3,
        batch_size=64,
        max_iter=4,
        random_state=0,
    )
    if solver == "sgd":
        params.update(momentum=0.9, nesterovs_momentum=True)
    blas, fused = _fit_both_paths(products, lambda: MLPClassifier(**params), X, y)
    _assert_close_models(blas, fused, 1e-9)
    assert_allclose(
        fused.loss_curve_ if solver != "lbfgs" else fused.loss_,
        blas.loss_curve_ if solver != "lbfgs" else blas.loss_,
        rtol=1e-10,
    )


@pytest.mark.parametrize("order", ["C", "F"])
def test_fused_path_reads_rows_in_place_or_gathered_in_float32(products, order):
    rng = np.random.RandomState(1)
    X = np.asarray(rng.normal(size=(500, 70)), dtype=np.float32, order=order)
    y = X[:, :5] @ rng.normal(size=(5, 2))
    blas, fused = _fit_both_paths(
        products,
        lambda: MLPRegressor(
            hidden_layer_sizes=(33,), batch_size=100, max_iter=3, random_state=0
        ),
        X,
        y,
    )
    assert fused.coefs_[0].dtype == np.float32
    _assert_close_models(blas, fused, 2e-4)


def test_fused_path_keeps_sparse_first_layers_and_dropout(products):
    rng = np.random.RandomState(2)
    X = sp.random(400, 90, density=0.1, format="csr", random_state=rng)
    y = (X @ rng.normal(size=90) > 0).astype(int)
    blas, fused = _fit_both_paths(
        products,
        lambda: MLPClassifier(
            hidden_layer_sizes=(40, 20), dropout=0.2, max_iter=3, random_state=0
        ),
        X,
        y,
    )
    _assert_close_models(blas, fused, 1e-9)


def test_fused_path_reads_nothing_of_a_wide_sparse_input_as_dense(products):
    # Far fewer stored entries than features: a dense gather of these rows
    # would read past the CSR arrays (AddressSanitizer reports it) and copy
    # megabytes per batch.
    rng = np.random.RandomState(4)
    X = sp.random(200, 50_000, density=2e-5, format="csr", random_state=rng)
    y = rng.randint(2, size=200)
    blas, fused = _fit_both_paths(
        products,
        lambda: MLPClassifier(hidden_layer_sizes=(16,), max_iter=2, random_state=0),
        X,
        y,
    )
    _assert_close_models(blas, fused, 1e-9)


def test_fused_path_gives_the_same_bits_at_any_thread_count_and_level(products):
    rng = np.random.RandomState(3)
    X = rng.normal(size=(1100, 45))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    params = dict(
        hidden_layer_sizes=(70, 33), batch_size=512, max_iter=2, random_state=0
    )
    models = []
    for level in LEVELS:
        products(level)
        for n_threads in (1, 2, 3):
            with (
                threadpool_limits(n_threads, user_api="openmp"),
                warnings.catch_warnings(),
            ):
                warnings.simplefilter("ignore", ConvergenceWarning)
                models.append(MLPClassifier(**params).fit(X, y))
    for other in models[1:]:
        for a, b in zip(
            models[0].coefs_ + models[0].intercepts_, other.coefs_ + other.intercepts_
        ):
            assert_array_equal(a, b)
