"""Benchmark fastnn against scikit-learn: fit and predict time, same process.

Both contenders fit the same ``MLPClassifier`` with identical parameters and
seed.  Each gets one untimed warm-up fit, then the timed repeats alternate
(sklearn, fastnn, sklearn, fastnn, ...) and the medians are compared.  Every
fit runs exactly ``max_iter`` epochs (``tol=0`` and an unreachable
``n_iter_no_change``), so the times measure equal work.

    PYTHONPATH=. python benchmarks/bench_sklearn.py
    PYTHONPATH=. python benchmarks/bench_sklearn.py --only digits --repeats 5

If ``OPENBLAS_CORETYPE`` is set on the machine, unset it for the benchmark
command only (this script never changes it)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_sklearn.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import sklearn
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from threadpoolctl import threadpool_info

import fastnn
from fastnn import MLPClassifier

# Parameters shared by every workload: a fixed seed, and stopping criteria
# that can never fire, so both libraries run exactly ``max_iter`` epochs.
SAME_WORK: dict[str, Any] = {
    "random_state": 0,
    "tol": 0.0,
    "n_iter_no_change": 10**9,
}

# Idle time before each timed call.  OpenBLAS and OpenMP leave worker threads
# spinning for a while after a call returns; on a 2-core machine those steal
# a core from whichever contender runs next, which would bias the alternation.
COOL_DOWN_S = 0.3

# Ratio of slowest to fastest timed fit above which a result is flagged.
NOISY_SPREAD = 1.5

CONTENDERS: dict[str, type] = {"sklearn": SkMLPClassifier, "fastnn": MLPClassifier}

Data = tuple[np.ndarray, np.ndarray]


@dataclass
class Workload:
    """A named data set plus the classifier parameters to fit on it."""

    name: str
    make_data: Callable[[], Data]
    params: dict[str, Any]


@dataclass
class Result:
    """Medians and model comparison for one workload."""

    workload: str
    data: str
    epochs: int
    repeats: int
    sklearn_fit_s: float
    fastnn_fit_s: float
    fit_speedup: float
    sklearn_predict_s: float
    fastnn_predict_s: float
    predict_speedup: float
    sklearn_train_acc: float
    fastnn_train_acc: float
    prediction_agreement: float
    max_abs_coef_diff: float
    sklearn_fit_times: list[float]
    fastnn_fit_times: list[float]


def digits() -> Data:
    """scikit-learn's 8x8 digits, scaled to [0, 1], float64."""
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def synthetic(n_samples: int = 60_000, n_features: int = 784) -> Data:
    """Deterministic ten-class float32 set shaped like MNIST.

    Labels are the argmax of a random linear map plus noise: learnable by a
    (100,) net (about 80% training accuracy in 5 epochs) but not trivially.
    """
    rng = np.random.RandomState(0)
    X = rng.standard_normal((n_samples, n_features)).astype(np.float32)
    W = rng.standard_normal((n_features, 10))
    # The scores X @ W have std sqrt(n_features); noise at half that keeps
    # the classes overlapping, so accuracy is informative, not saturated.
    noise = rng.standard_normal((n_samples, 10)) * 0.5 * np.sqrt(n_features)
    y = np.argmax(X @ W + noise, axis=1)
    return X, y


def make_workloads(epochs_synthetic: int) -> list[Workload]:
    """The benchmark workloads, in the order they run."""
    net = {"hidden_layer_sizes": (100,), "solver": "adam", **SAME_WORK}
    return [
        Workload("digits", digits, {**net, "max_iter": 30}),
        Workload("synthetic-60k", synthetic, {**net, "max_iter": epochs_synthetic}),
    ]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of ``fn()`` after a cool-down pause, and its result."""
    time.sleep(COOL_DOWN_S)
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def run(workload: Workload, repeats: int) -> Result:
    """Warm up, time alternating fits and predicts, and compare the models."""
    X, y = workload.make_data()
    fit_times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    predict_times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    models: dict[str, Any] = {}

    def fit(cls: type) -> Any:
        return cls(**workload.params).fit(X, y)

    with warnings.catch_warnings():
        # max_iter is reached on purpose; the warning would only add noise.
        warnings.simplefilter("ignore", ConvergenceWarning)
        # Warm-up: the first fit pays for imports, BLAS thread start-up and
        # page faults (over 4x the steady time for sklearn on synthetic-60k).
        for name, cls in CONTENDERS.items():
            models[name] = fit(cls)
            models[name].predict(X)
        for _ in range(repeats):
            for name, cls in CONTENDERS.items():
                seconds, models[name] = timed(lambda cls=cls: fit(cls))
                fit_times[name].append(seconds)
                seconds, _ = timed(lambda m=models[name]: m.predict(X))
                predict_times[name].append(seconds)

    fit_med = {k: statistics.median(v) for k, v in fit_times.items()}
    pred_med = {k: statistics.median(v) for k, v in predict_times.items()}
    # Accuracy on the training data: the question is whether both libraries
    # learn the same model, not how well it generalises.
    preds = {k: m.predict(X) for k, m in models.items()}
    acc = {k: float(np.mean(p == y)) for k, p in preds.items()}
    sk, fn = models["sklearn"], models["fastnn"]
    coef_diff = max(
        float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
        for a, b in zip(sk.coefs_ + sk.intercepts_, fn.coefs_ + fn.intercepts_)
    )
    return Result(
        workload=workload.name,
        data=f"{X.shape[0]}x{X.shape[1]} {X.dtype}",
        epochs=workload.params["max_iter"],
        repeats=repeats,
        sklearn_fit_s=fit_med["sklearn"],
        fastnn_fit_s=fit_med["fastnn"],
        fit_speedup=fit_med["sklearn"] / fit_med["fastnn"],
        sklearn_predict_s=pred_med["sklearn"],
        fastnn_predict_s=pred_med["fastnn"],
        predict_speedup=pred_med["sklearn"] / pred_med["fastnn"],
        sklearn_train_acc=acc["sklearn"],
        fastnn_train_acc=acc["fastnn"],
        prediction_agreement=float(np.mean(preds["sklearn"] == preds["fastnn"])),
        max_abs_coef_diff=coef_diff,
        sklearn_fit_times=fit_times["sklearn"],
        fastnn_fit_times=fit_times["fastnn"],
    )


def environment() -> dict[str, Any]:
    """Versions, CPU count and BLAS libraries that the timings depend on."""
    return {
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "fastnn": fastnn.__version__,
        "cpu_count": os.cpu_count(),
        # Other work on the machine skews every number below; show it.
        "load_average_1m": os.getloadavg()[0],
        # Reported only: changing it here would be too late (OpenBLAS reads
        # it at load time) and would hide the machine's real configuration.
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "blas": [
            f"{i['internal_api']} {i['version']} {i.get('architecture')} "
            f"({i['num_threads']} threads) {os.path.basename(i['filepath'])}"
            for i in threadpool_info()
            if i["user_api"] == "blas"
        ],
    }


def print_environment(env: dict[str, Any]) -> None:
    """Print the environment header."""
    for key in ("numpy", "scikit-learn", "fastnn", "cpu_count", "load_average_1m"):
        print(f"{key:>17}: {env[key]}")
    for lib in env["blas"]:
        print(f"{'blas':>17}: {lib}")
    coretype = env["OPENBLAS_CORETYPE"]
    state = f"set ({coretype})" if coretype is not None else "not set"
    print(f"{'OPENBLAS_CORETYPE':>17}: {state}")
    if coretype is not None:
        print(
            "  note: it can slow OpenBLAS; rerun with "
            "`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python ...`"
        )


def describe_match(r: Result) -> str:
    """One line saying whether both models are the same, or how they differ."""
    if r.sklearn_train_acc == r.fastnn_train_acc and r.prediction_agreement == 1.0:
        same = "identical accuracy and predictions"
    else:
        delta = r.fastnn_train_acc - r.sklearn_train_acc
        same = (
            f"accuracy differs by {delta:+.4f}, "
            f"predictions agree on {r.prediction_agreement:.2%}"
        )
    return f"{r.workload} ({r.data}): {same}; max |coef diff| {r.max_abs_coef_diff:.2e}"


def main() -> None:
    """Parse arguments, run the workloads and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed fits each")
    parser.add_argument(
        "--epochs-synthetic", type=int, default=5, help="epochs on synthetic-60k"
    )
    names = [w.name for w in make_workloads(1)]
    parser.add_argument("--only", choices=names, help="run this workload only")
    parser.add_argument("--json", metavar="PATH", help="also write results as JSON")
    args = parser.parse_args()
    if args.repeats < 1 or args.epochs_synthetic < 1:
        parser.error("--repeats and --epochs-synthetic must be >= 1")

    env = environment()
    print_environment(env)
    workloads = [
        w for w in make_workloads(args.epochs_synthetic) if args.only in (None, w.name)
    ]

    header = (
        f"{'workload':<14} {'epochs':>6} {'sklearn fit s':>13} {'fastnn fit s':>12} "
        f"{'fit x':>6} {'sk pred s':>9} {'fn pred s':>9} {'pred x':>6} "
        f"{'sklearn acc':>11} {'fastnn acc':>10}"
    )
    print()
    print(header)
    print("-" * len(header), flush=True)
    results = []
    for workload in workloads:
        r = run(workload, args.repeats)
        results.append(r)
        print(
            f"{r.workload:<14} {r.epochs:>6} {r.sklearn_fit_s:>13.3f} "
            f"{r.fastnn_fit_s:>12.3f} {r.fit_speedup:>5.2f}x "
            f"{r.sklearn_predict_s:>9.4f} {r.fastnn_predict_s:>9.4f} "
            f"{r.predict_speedup:>5.2f}x {r.sklearn_train_acc:>11.4f} "
            f"{r.fastnn_train_acc:>10.4f}",
            flush=True,
        )
    print()
    print(
        f"Medians of {args.repeats} alternating timed repeats after one warm-up "
        "each.\nfit x / pred x = sklearn time / fastnn time; accuracy is on the "
        "training data."
    )
    for r in results:
        print(describe_match(r))
    for r in results:
        for name, times in (
            ("sklearn", r.sklearn_fit_times),
            ("fastnn", r.fastnn_fit_times),
        ):
            spread = max(times) / min(times)
            line = f"  {r.workload} {name} fit times: " + ", ".join(
                f"{t:.3f}" for t in times
            )
            # Repeats of one deterministic fit should agree closely; a wide
            # spread means other processes were competing for the cores.
            if spread > NOISY_SPREAD:
                line += f"  <- max/min {spread:.1f}, noisy: rerun on a quiet machine"
            print(line)

    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"environment": env, "results": [asdict(r) for r in results]},
                f,
                indent=2,
            )
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
