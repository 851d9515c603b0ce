"""fastnn against scikit-learn: fit and predict time on the same workloads.

Both contenders run in this process with identical parameters and seeds,
alternating (sklearn, fastnn, sklearn, fastnn, ...) after one warm-up fit
each, with a short pause before every timed call (see ``COOL_DOWN_S``),
and the medians of the timed repeats are compared.  Every fit runs
exactly the same number of epochs (``tol=0`` and an unreachable
``n_iter_no_change``), so the times compare equal work.

Run from anywhere once fastnn is installed::

    python benchmarks/compare_sklearn.py            # all workloads
    python benchmarks/compare_sklearn.py --only digits --repeats 5

On machines where ``OPENBLAS_CORETYPE`` is set (it slows current OpenBLAS),
unset it for the benchmark command only::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/compare_sklearn.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from threadpoolctl import threadpool_info

import fastnn


@dataclass
class Workload:
    name: str
    make_data: Callable[[], tuple]
    params: dict


@dataclass
class Result:
    workload: str
    shape: str
    sklearn_fit_s: float
    fastnn_fit_s: float
    fit_speedup: float
    sklearn_predict_s: float
    fastnn_predict_s: float
    predict_speedup: float
    sklearn_accuracy: float
    fastnn_accuracy: float


def digits() -> tuple:
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def synthetic_60k(n_samples: int = 60_000, n_features: int = 784) -> tuple:
    """Ten Gaussian classes in float32, separable enough to learn."""
    rng = np.random.RandomState(0)
    centers = rng.normal(scale=0.05, size=(10, n_features)).astype(np.float32)
    y = rng.randint(10, size=n_samples)
    X = rng.standard_normal((n_samples, n_features)).astype(np.float32)
    X += centers[y]
    return X, y


def sparse_20k(n: int = 20_000, nnz_per_row: int = 100, n_classes: int = 20) -> tuple:
    """CSR 20,000 x 20,000 with ~100 non-zeros per row, 20 classes."""
    rng = np.random.RandomState(0)
    y = rng.randint(n_classes, size=n)
    # Each class prefers its own block of features, so the task is learnable.
    block = n // n_classes
    cols = rng.randint(block, size=(n, nnz_per_row)) + (y * block)[:, None]
    noise = rng.randint(n, size=(n, nnz_per_row // 2))
    cols = np.concatenate([cols[:, : nnz_per_row // 2], noise], axis=1)
    rows = np.repeat(np.arange(n), nnz_per_row)
    X = sp.csr_matrix(
        (np.ones(rows.size), (rows, cols.ravel())), shape=(n, n), dtype=np.float64
    )
    X.sum_duplicates()
    return X, y


SAME_EPOCHS = dict(tol=0.0, n_iter_no_change=10**9, random_state=0)
WORKLOADS = [
    Workload(
        "digits",
        digits,
        dict(hidden_layer_sizes=(100,), solver="adam", max_iter=30, **SAME_EPOCHS),
    ),
    Workload(
        "synthetic-60k-f32",
        synthetic_60k,
        dict(hidden_layer_sizes=(100,), solver="adam", max_iter=5, **SAME_EPOCHS),
    ),
    Workload(
        "digits-lbfgs",
        digits,
        dict(hidden_layer_sizes=(100,), solver="lbfgs", max_iter=100, random_state=0),
    ),
    Workload(
        "sparse-20k",
        sparse_20k,
        dict(hidden_layer_sizes=(100,), solver="adam", max_iter=3, **SAME_EPOCHS),
    ),
]


# Idle time before each timed call.  Both libraries leave worker threads
# spinning after they return (OpenBLAS's for ~0.1 s, OpenMP's briefly), and
# those steal cores from whichever contender runs next; a pause lets every
# contender start on quiet cores.
COOL_DOWN_S = 0.3


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    time.sleep(COOL_DOWN_S)
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def run(workload: Workload, repeats: int) -> Result:
    X, y = workload.make_data()
    contenders = {"sklearn": SkMLPClassifier, "fastnn": fastnn.MLPClassifier}
    fit_times: dict[str, list[float]] = {name: [] for name in contenders}
    predict_times: dict[str, list[float]] = {name: [] for name in contenders}
    models = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, cls in contenders.items():  # warm-up: imports, caches, pages
            models[name] = cls(**workload.params).fit(X, y)
        for _ in range(repeats):
            for name, cls in contenders.items():
                seconds, models[name] = _timed(
                    lambda cls=cls: cls(**workload.params).fit(X, y)
                )
                fit_times[name].append(seconds)
                seconds, _ = _timed(lambda name=name: models[name].predict(X))
                predict_times[name].append(seconds)
    fit = {k: statistics.median(v) for k, v in fit_times.items()}
    predict = {k: statistics.median(v) for k, v in predict_times.items()}
    # Accuracy on the training data: the point is equality, not generalisation.
    accuracy = {k: float((m.predict(X) == y).mean()) for k, m in models.items()}
    return Result(
        workload=workload.name,
        shape=f"{X.shape[0]}x{X.shape[1]} {'csr' if sp.issparse(X) else X.dtype}",
        sklearn_fit_s=fit["sklearn"],
        fastnn_fit_s=fit["fastnn"],
        fit_speedup=fit["sklearn"] / fit["fastnn"],
        sklearn_predict_s=predict["sklearn"],
        fastnn_predict_s=predict["fastnn"],
        predict_speedup=predict["sklearn"] / predict["fastnn"],
        sklearn_accuracy=accuracy["sklearn"],
        fastnn_accuracy=accuracy["fastnn"],
    )


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "fastnn": fastnn.__version__,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "blas": [
            f"{i['internal_api']} {i['version']} {i.get('architecture')} "
            f"({i['num_threads']} threads)"
            for i in threadpool_info()
            if i["user_api"] == "blas"
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=[w.name for w in WORKLOADS], action="append")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    info = machine()
    for key, value in info.items():
        print(f"{key:>18}: {value}")
    results = []
    header = (
        f"\n| workload | data | sklearn fit (s) | fastnn fit (s) | fit speed-up "
        f"| predict speed-up | accuracy sklearn / fastnn |\n|{'---|' * 7}"
    )
    print(header)
    for workload in WORKLOADS:
        if args.only and workload.name not in args.only:
            continue
        r = run(workload, args.repeats)
        results.append(r)
        print(
            f"| {r.workload} | {r.shape} "
            f"| {r.sklearn_fit_s:.3f} | {r.fastnn_fit_s:.3f} "
            f"| {r.fit_speedup:.2f}x | {r.predict_speedup:.2f}x "
            f"| {r.sklearn_accuracy:.4f} / {r.fastnn_accuracy:.4f} |",
            flush=True,
        )
    print(f"\nmedians of {args.repeats} alternating repeats after one warm-up each")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "results": [asdict(r) for r in results]}, f)


if __name__ == "__main__":
    main()
