"""Benchmark suite: fastnn against scikit-learn, PyTorch and a BLAS GEMM floor.

Every workload runs all its contenders in this one process, alternating
(fastnn, sklearn, torch, floor, fastnn, ...) after one warm-up call each,
in two modes: *paused*, with a short pause before every timed call (see
``COOL_DOWN_S``), and *back-to-back*, with none, as a user's script runs
them (each contender then starts beside the previous one's still-spinning
BLAS or OpenMP workers).  The tables report the median, min and max of the
timed repeats.  All fits run the same number of epochs (``tol=0`` and an
unreachable ``n_iter_no_change``), so the times compare equal work.

Three more tables: small-prediction latency (``latency.py``), calls right
after NumPy/SciPy BLAS work, and fits in two processes at once or beside a
busy one (``conditions.py``).

Contenders:

* ``fastnn``: ``fastnn.MLPClassifier`` / ``fastnn.MLPRegressor``.
* ``sklearn``: the scikit-learn estimators with identical parameters.
* ``torch``: the same network in PyTorch on the CPU (Linear + ReLU, Adam,
  batch 200, shuffled each epoch), dense workloads only; skipped when
  PyTorch is not importable.
* ``floor``: NumPy's BLAS alone doing the minibatch matrix products of one
  fit (forward, weight gradients, hidden deltas), a lower bound for any
  implementation that uses the same BLAS.
* ``numpy``: for predictions, NumPy doing fastnn's forward pass on the same
  row chunks as fastnn's engine (products, bias, activations).

Every fit workload is also run once more per contender (fastnn, sklearn) in
a fresh process to measure the peak resident memory the fit adds over the
loaded data (Linux: the kernel's high-water mark, reset just before ``fit``).

Writes ``results.json``, ``results.md`` and ``ratios.png`` into the output
directory (default ``benchmarks/results/``)::

    python benchmarks/suite.py                 # full suite, several minutes
    python benchmarks/suite.py --quick         # every workload shrunk, < ~60 s
    python benchmarks/suite.py --only digits --only regression-50k
    python benchmarks/suite.py --mode back-to-back --only latency
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import math
import multiprocessing
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import scipy.sparse as sp
import sklearn
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from threadpoolctl import threadpool_info

import fastnn
from fastnn import MLPClassifier, MLPRegressor

# The sparse generator lives in the older single-purpose script; share it so
# both scripts time the same data.
sys.path.insert(0, str(Path(__file__).parent))
import conditions  # noqa: E402
import latency  # noqa: E402
from compare_sklearn import sparse_20k  # noqa: E402

try:
    import torch
except ImportError:  # torch is optional: its columns then show "—"
    torch = None

# Idle time before each timed call.  BLAS and OpenMP worker threads keep
# spinning for a while after a call returns and would steal cores from
# whichever contender runs next; the pause lets each start on quiet cores.
COOL_DOWN_S = 0.3
MODES = {"paused": COOL_DOWN_S, "back-to-back": 0.0}
BATCH_SIZE = 200  # scikit-learn's default batch_size="auto" for n >= 200
SAME_EPOCHS: dict[str, Any] = dict(tol=0.0, n_iter_no_change=10**9, random_state=0)
DASH = "—"


# -- data -------------------------------------------------------------------


def digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def synthetic(n: int, n_features: int = 784) -> tuple[np.ndarray, np.ndarray]:
    """Ten Gaussian classes in float32, separable enough to learn."""
    rng = np.random.RandomState(0)
    centers = rng.normal(scale=0.05, size=(10, n_features))
    y = rng.randint(10, size=n)
    X = (rng.standard_normal((n, n_features)) + centers[y]).astype(np.float32)
    return X, y


def regression(n: int) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_regression(n_samples=n, n_features=100, noise=10, random_state=0)
    # Standardised targets keep Adam's default learning rate sensible.
    return X, (y - y.mean()) / y.std()


# -- workloads --------------------------------------------------------------


@dataclass
class Workload:
    """One benchmark; ``predict_only`` workloads time predict on fitted models."""

    name: str
    description: str
    task: str  # "classification" or "regression"
    make_data: Callable[[bool], tuple[Any, np.ndarray]]
    params: Callable[[bool], dict[str, Any]]
    torch: bool = True
    floor: bool = True
    # For predict-only workloads: the workloads whose models are timed.
    predict_models: tuple[str, ...] = ()


def _adam(hidden: tuple[int, ...], epochs: int) -> dict[str, Any]:
    return dict(
        hidden_layer_sizes=hidden, solver="adam", max_iter=epochs, **SAME_EPOCHS
    )


WORKLOADS: list[Workload] = [
    Workload(
        "digits",
        "digits 1,797x64 f64, (100,), adam, 30 epochs",
        "classification",
        lambda quick: digits(),
        lambda quick: _adam((100,), 5 if quick else 30),
    ),
    Workload(
        "synthetic-60k",
        "60,000x784 f32, 10 classes, (100,), adam, 5 epochs",
        "classification",
        lambda quick: synthetic(10_000 if quick else 60_000),
        lambda quick: _adam((100,), 2 if quick else 5),
    ),
    Workload(
        "synthetic-60k-deep",
        "60,000x784 f32, 10 classes, (512, 256), adam, 2 epochs",
        "classification",
        lambda quick: synthetic(10_000 if quick else 60_000),
        lambda quick: _adam((512, 256), 1 if quick else 2),
    ),
    Workload(
        "regression-50k",
        "make_regression 50,000x100 f64, (64, 64), adam, 10 epochs",
        "regression",
        lambda quick: regression(10_000 if quick else 50_000),
        lambda quick: _adam((64, 64), 2 if quick else 10),
    ),
    Workload(
        "sparse-20k",
        "CSR 20,000x20,000, ~100 nnz/row, 20 classes, (100,), adam, 3 epochs",
        "classification",
        lambda quick: sparse_20k(n=5_000 if quick else 20_000),
        lambda quick: _adam((100,), 1 if quick else 3),
        torch=False,
        floor=False,
    ),
    Workload(
        "digits-lbfgs",
        "digits 1,797x64 f64, (100,), lbfgs, 100 iterations",
        "classification",
        lambda quick: digits(),
        lambda quick: dict(
            hidden_layer_sizes=(100,),
            solver="lbfgs",
            max_iter=20 if quick else 100,
            random_state=0,
        ),
        torch=False,
        floor=False,
    ),
    Workload(
        "predict-200k",
        "predict 200,000x784 f32 with the models of the two synthetic workloads",
        "classification",
        lambda quick: synthetic(20_000 if quick else 200_000),
        lambda quick: {},
        floor=False,
        predict_models=("synthetic-60k", "synthetic-60k-deep"),
    ),
]
WORKLOADS_BY_NAME = {w.name: w for w in WORKLOADS}


# -- contenders -------------------------------------------------------------


class TorchMLP:
    """The scikit-learn network and Adam minibatch loop, written in PyTorch."""

    def __init__(self, task: str, hidden_layer_sizes: tuple[int, ...], max_iter: int):
        self.task = task
        self.hidden_layer_sizes = hidden_layer_sizes
        self.max_iter = max_iter

    def _build(self, n_in: int, n_out: int, dtype: Any) -> Any:
        layers: list[Any] = []
        for n_hidden in self.hidden_layer_sizes:
            layers += [torch.nn.Linear(n_in, n_hidden), torch.nn.ReLU()]
            n_in = n_hidden
        layers.append(torch.nn.Linear(n_in, n_out))
        return torch.nn.Sequential(*layers).to(dtype)

    def fit(self, X: np.ndarray, y: np.ndarray) -> TorchMLP:
        torch.manual_seed(0)
        Xt = torch.from_numpy(np.ascontiguousarray(X))
        if self.task == "classification":
            self.classes_, codes = np.unique(y, return_inverse=True)
            yt = torch.from_numpy(codes.astype(np.int64))
            n_out, loss_fn = len(self.classes_), torch.nn.CrossEntropyLoss()
        else:
            yt = torch.from_numpy(y.astype(X.dtype).reshape(-1, 1))
            n_out, loss_fn = 1, torch.nn.MSELoss()
        self.model_ = self._build(X.shape[1], n_out, Xt.dtype)
        opt = torch.optim.Adam(
            self.model_.parameters(), lr=0.001, betas=(0.9, 0.999), eps=1e-8
        )
        n = Xt.shape[0]
        for _ in range(self.max_iter):
            perm = torch.randperm(n)
            for start in range(0, n, BATCH_SIZE):
                idx = perm[start : start + BATCH_SIZE]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(self.model_(Xt[idx]), yt[idx])
                loss.backward()
                opt.step()
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = self.model_(torch.from_numpy(np.ascontiguousarray(X))).numpy()
        if self.task == "classification":
            return self.classes_[out.argmax(axis=1)]
        return out.ravel()


class GemmFloor:
    """NumPy BLAS doing only the matrix products of one minibatch fit.

    Per batch: A_{l+1} = A_l @ W_l for every layer, G_l = A_l^T @ D_{l+1}
    for every layer and D_l = D_{l+1} @ W_l^T for every layer but the
    first (nobody needs the gradient of the input).  No activations, loss,
    shuffling or updates: what is left is what the BLAS alone costs.
    """

    def __init__(self, layer_units: list[int], epochs: int, dtype: Any):
        self.layer_units = layer_units
        self.epochs = epochs
        self.dtype = dtype

    def fit(self, X: np.ndarray, y: np.ndarray) -> GemmFloor:
        units, b = self.layer_units, BATCH_SIZE
        rng = np.random.RandomState(0)
        W = [
            rng.standard_normal((i, o)).astype(self.dtype) * 0.01
            for i, o in zip(units[:-1], units[1:], strict=True)
        ]
        G = [np.empty_like(w) for w in W]
        # A[0] is the batch itself (a view of X); A[l] / D[l] are layer l's
        # activations / deltas, preallocated so no product allocates.
        A: list[np.ndarray] = [np.empty((0, 0), self.dtype)]
        A += [np.empty((b, u), self.dtype) for u in units[1:]]
        D = [np.full((b, u), 1e-3, self.dtype) for u in units]
        X = np.ascontiguousarray(X, dtype=self.dtype)
        n = X.shape[0]
        for _ in range(self.epochs):
            for start in range(0, n, b):
                A[0] = X[start : start + b]
                m = A[0].shape[0]
                for layer, w in enumerate(W):
                    np.matmul(A[layer][:m], w, out=A[layer + 1][:m])
                for layer in range(len(W) - 1, -1, -1):
                    np.matmul(A[layer][:m].T, D[layer + 1][:m], out=G[layer])
                    if layer > 0:
                        np.matmul(D[layer + 1][:m], W[layer].T, out=D[layer][:m])
        return self

    def predict(self, X: np.ndarray) -> None:
        return None


class NumpyChunks:
    """A fitted fastnn model's forward pass in NumPy, on the row chunks
    fastnn's engine uses (``fastnn/_engine/_predict.pyx``): the reference
    for fastnn's prediction speed."""

    def __init__(self, model: Any):
        self.coefs = model.coefs_
        self.intercepts = model.intercepts_
        self.softmax = model.out_activation_ == "softmax"
        width = max(max(c.shape) for c in self.coefs)
        self.chunk = max(64, (1 << 19) // width)

    def predict(self, X: np.ndarray) -> np.ndarray:
        n = X.shape[0]
        out = np.empty((n, self.coefs[-1].shape[1]), dtype=X.dtype)
        last = len(self.coefs) - 1
        for start in range(0, n, self.chunk):
            a = X[start : start + self.chunk]
            for i, (W, b) in enumerate(zip(self.coefs, self.intercepts, strict=True)):
                z = a @ W
                z += b
                if i < last:
                    np.maximum(z, 0, out=z)
                a = z
            if self.softmax:
                a -= a.max(axis=1, keepdims=True)
                np.exp(a, out=a)
                a /= a.sum(axis=1, keepdims=True)
            out[start : start + a.shape[0]] = a
        return out


def _batches(n: int) -> int:
    return math.ceil(n / min(BATCH_SIZE, n))


# -- running ----------------------------------------------------------------


@dataclass
class Row:
    """One line of the results table; times are medians in seconds."""

    workload: str
    data: str
    mode: str = "paused"
    fit_s: dict[str, float] = field(default_factory=dict)
    predict_s: dict[str, float] = field(default_factory=dict)
    score: dict[str, float] = field(default_factory=dict)
    score_name: str = "accuracy"
    repeats: int = 0
    floor_gemm_gflop: float | None = None
    # NumPy's large GEMM in the workload's dtype, measured in the same run.
    peak_gflops: float | None = None
    # Peak resident memory one fit adds (MiB), measured in a fresh process.
    fit_peak_mib: dict[str, float] = field(default_factory=dict)
    # Every timed repeat, in order: the spread behind the medians.
    fit_runs_s: dict[str, list[float]] = field(default_factory=dict)
    predict_runs_s: dict[str, list[float]] = field(default_factory=dict)

    def ratio(self, times: dict[str, float], other: str) -> float | None:
        if other in times and "fastnn" in times:
            return times[other] / times["fastnn"]
        return None


def _timed(fn: Callable[[], Any], pause: float) -> tuple[float, Any]:
    if pause:
        time.sleep(pause)
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _shape(X: Any) -> str:
    kind = "csr" if sp.issparse(X) else str(X.dtype)
    return f"{X.shape[0]:,}x{X.shape[1]:,} {kind}"


def _score(task: str, model: Any, X: Any, y: np.ndarray) -> float:
    # Scores on the training data: the point is equality, not generalisation.
    pred = model.predict(X)
    if task == "classification":
        return float((pred == y).mean())
    return float(r2_score(y, pred))


def _fit_contenders(w: Workload, X: Any, y: np.ndarray, quick: bool) -> dict:
    params = w.params(quick)
    clf = w.task == "classification"
    makers: dict[str, Callable[[], Any]] = {
        "fastnn": lambda: (MLPClassifier if clf else MLPRegressor)(**params),
        "sklearn": lambda: (SkMLPClassifier if clf else SkMLPRegressor)(**params),
    }
    if w.torch and torch is not None:
        makers["torch"] = lambda: TorchMLP(
            w.task, params["hidden_layer_sizes"], params["max_iter"]
        )
    if w.floor:
        n_out = len(np.unique(y)) if clf else 1
        n_out = 1 if n_out == 2 else n_out  # binary: one logistic unit
        units = [X.shape[1], *params["hidden_layer_sizes"], n_out]
        makers["floor"] = lambda: GemmFloor(units, params["max_iter"], X.dtype)
    return makers


def run_fit(w: Workload, quick: bool, repeats: int, models: dict, mode: str) -> Row:
    X, y = w.make_data(quick)
    pause = MODES[mode]
    makers = _fit_contenders(w, X, y, quick)
    fit_t: dict[str, list[float]] = {k: [] for k in makers}
    pred_t: dict[str, list[float]] = {k: [] for k in makers if k != "floor"}
    fitted: dict[str, Any] = {}
    for name, make in makers.items():  # warm-up: imports, caches, page faults
        fitted[name] = make().fit(X, y)
    for _ in range(repeats):
        for name, make in makers.items():
            seconds, fitted[name] = _timed(lambda make=make: make().fit(X, y), pause)
            fit_t[name].append(seconds)
            if name in pred_t:
                seconds, _ = _timed(lambda name=name: fitted[name].predict(X), pause)
                pred_t[name].append(seconds)
    models[w.name] = fitted
    row = Row(
        w.name,
        _shape(X),
        mode,
        fit_s={k: statistics.median(v) for k, v in fit_t.items()},
        predict_s={k: statistics.median(v) for k, v in pred_t.items()},
        fit_runs_s=fit_t,
        predict_runs_s=pred_t,
        score={k: _score(w.task, m, X, y) for k, m in fitted.items() if k in pred_t},
        score_name="accuracy" if w.task == "classification" else "R²",
        repeats=repeats,
    )
    if "floor" in makers:
        f = fitted["floor"]
        row.floor_gemm_gflop = product_flops(f.layer_units, X.shape[0]) * f.epochs / 1e9
        row.peak_gflops = gemm_peak_gflops(X.dtype)
    return row


def product_flops(units: list[int], rows: int) -> float:
    """FLOPs of one pass of a network's matrix products over ``rows`` rows:
    forward and weight gradients for every layer, input deltas for all but
    the first, 2 per multiply-add."""
    macs = [a * b for a, b in zip(units[:-1], units[1:], strict=True)]
    return 2.0 * rows * (2 * sum(macs) + sum(macs[1:]))


_PEAKS: dict[str, float] = {}


def gemm_peak_gflops(dtype: Any, n: int = 2048) -> float:
    """The machine's GEMM peak: NumPy's n x n x n product on every core in
    ``dtype``, best of 3 after a warm-up; measured once per run and dtype."""
    name = np.dtype(dtype).name
    if name not in _PEAKS:
        a = np.random.default_rng(0).standard_normal((n, n)).astype(dtype)
        a @ a
        best = min(_timed(lambda: a @ a, 0.0)[0] for _ in range(3))
        _PEAKS[name] = 2 * n**3 / best / 1e9
    return _PEAKS[name]


def _status_kib(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise KeyError(field_name)


def _fit_peak_mib(name: str, contender: str, quick: bool) -> float:
    """In a fresh process: the peak memory one fit adds over the loaded data."""
    warnings.simplefilter("ignore", ConvergenceWarning)
    w = WORKLOADS_BY_NAME[name]
    X, y = w.make_data(quick)
    model = _fit_contenders(w, X, y, quick)[contender]()
    gc.collect()
    # Writing 5 resets the high-water mark (VmHWM) to the current RSS.
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kib("VmRSS")
    model.fit(X, y)
    return (_status_kib("VmHWM") - before) / 1024


def measure_fit_memory(w: Workload, quick: bool, row: Row) -> None:
    if not Path("/proc/self/clear_refs").exists():  # Linux only
        return
    spawn = multiprocessing.get_context("spawn")
    for contender in ("fastnn", "sklearn"):
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            row.fit_peak_mib[contender] = pool.submit(
                _fit_peak_mib, w.name, contender, quick
            ).result()


def run_predict(
    w: Workload, quick: bool, repeats: int, models: dict, mode: str
) -> list[Row]:
    X, y = w.make_data(quick)
    pause = MODES[mode]
    rows = []
    for source in w.predict_models:
        if source not in models:  # not run in this invocation: fit once, untimed
            src = WORKLOADS_BY_NAME[source]
            Xs, ys = src.make_data(quick)
            makers = _fit_contenders(src, Xs, ys, quick)
            models[source] = {k: m().fit(Xs, ys) for k, m in makers.items()}
            del Xs, ys
        fitted = {
            k: m
            for k, m in models[source].items()
            if k != "floor" and (k != "torch" or w.torch)
        }
        fitted["numpy"] = NumpyChunks(fitted["fastnn"])
        pred_t: dict[str, list[float]] = {k: [] for k in fitted}
        for m in fitted.values():  # warm-up
            m.predict(X)
        for _ in range(repeats):
            for name, m in fitted.items():
                seconds, _ = _timed(lambda m=m: m.predict(X), pause)
                pred_t[name].append(seconds)
        hidden = fitted["fastnn"].hidden_layer_sizes
        rows.append(
            Row(
                f"{w.name} {tuple(hidden)}",
                _shape(X),
                mode,
                predict_s={k: statistics.median(v) for k, v in pred_t.items()},
                predict_runs_s=pred_t,
                score={
                    k: _score(w.task, m, X, y)
                    for k, m in fitted.items()
                    if k != "numpy"
                },
                repeats=repeats,
            )
        )
    return rows


# The tables beyond the workloads: name -> run(quick).
EXTRA: dict[str, Callable[[bool], Any]] = {
    "latency": lambda quick: latency.measure(calls=30 if quick else 500),
    "interference": lambda quick: conditions.interference(2 if quick else 7),
    "contention": lambda quick: conditions.contention(2 if quick else 5),
}


# -- reporting --------------------------------------------------------------


def _cpu() -> dict[str, str]:
    """Vendor and model name of the CPU (Linux's /proc/cpuinfo)."""
    found = {"vendor": platform.machine(), "model": platform.processor()}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return found
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "vendor_id":
            found["vendor"] = value.strip()
        elif key.strip() == "model name":
            found["model"] = value.strip()
            break
    return found


def machine() -> dict[str, Any]:
    """What the numbers depend on; call after importing every contender."""
    info = threadpool_info()
    cpu = _cpu()
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": f"{cpu['vendor']} {cpu['model']}",
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(affinity) if affinity is not None else os.cpu_count(),
        "fastnn_threads": fastnn.show_config(file=io.StringIO())["n_threads"],
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "fastnn": fastnn.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        # Reported, never changed: it is part of the machine being measured.
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        # Other busy processes skew every time here; make that visible.
        "loadavg_1_5_15": [round(v, 2) for v in os.getloadavg()],
        "blas": [
            f"{i['internal_api']} {i['version']} {i.get('architecture')} "
            f"({i['num_threads']} threads) {Path(i['filepath']).name}"
            for i in info
            if i["user_api"] == "blas"
        ],
        "openmp": [
            f"{i['internal_api']} ({i['num_threads']} threads) "
            f"{Path(i['filepath']).name}"
            for i in info
            if i["user_api"] == "openmp"
        ],
    }


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return DASH if value is None else f"{value:{spec}}{suffix}"


COLUMNS = [
    "workload",
    "mode",
    "data",
    "fit fastnn (s)",
    "fit sklearn (s)",
    "fit torch (s)",
    "sklearn / fastnn",
    "torch / fastnn",
    "fastnn / floor",
    "share of GEMM peak fastnn / floor / torch",
    "predict fastnn (s)",
    "predict sklearn (s)",
    "predict torch (s)",
    "predict sklearn / fastnn",
    "predict fastnn / NumPy",
    "fit peak MiB fastnn / sklearn",
    "score fastnn / sklearn",
]


def _spread(runs: dict[str, list[float]], name: str, spec: str) -> str:
    """``median (min–max)`` of a contender's timed repeats."""
    if name not in runs:
        return DASH
    t = runs[name]
    return f"{statistics.median(t):{spec}} ({min(t):{spec}}–{max(t):{spec}})"


def _peak_shares(r: Row) -> str:
    """The fit's products as a share of the GEMM peak, per contender."""
    if r.floor_gemm_gflop is None or r.peak_gflops is None:
        return DASH
    rate = r.floor_gemm_gflop / r.peak_gflops
    shares = [
        f"{rate / r.fit_s[c]:.0%}" if c in r.fit_s else DASH
        for c in ("fastnn", "floor", "torch")
    ]
    return " / ".join(shares)


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        score = DASH
        if "fastnn" in r.score and "sklearn" in r.score:
            score = f"{r.score_name} {r.score['fastnn']:.4f} / {r.score['sklearn']:.4f}"
        floor = r.fit_s.get("floor")
        numpy_s = r.predict_s.get("numpy")
        peak = DASH
        if r.fit_peak_mib:
            peak = f"{r.fit_peak_mib['fastnn']:.1f} / {r.fit_peak_mib['sklearn']:.1f}"
        cells = [
            r.workload,
            r.mode,
            r.data,
            _spread(r.fit_runs_s, "fastnn", ".3f"),
            _spread(r.fit_runs_s, "sklearn", ".3f"),
            _spread(r.fit_runs_s, "torch", ".3f"),
            _fmt(r.ratio(r.fit_s, "sklearn"), ".2f", "x"),
            _fmt(r.ratio(r.fit_s, "torch"), ".2f", "x"),
            _fmt(r.fit_s["fastnn"] / floor if floor else None, ".2f"),
            _peak_shares(r),
            _spread(r.predict_runs_s, "fastnn", ".4f"),
            _spread(r.predict_runs_s, "sklearn", ".4f"),
            _spread(r.predict_runs_s, "torch", ".4f"),
            _fmt(r.ratio(r.predict_s, "sklearn"), ".2f", "x"),
            _fmt(r.predict_s["fastnn"] / numpy_s if numpy_s else None, ".2f"),
            peak,
            score,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_ratios(rows: list[Row], path: Path) -> None:
    """Grouped bars of time(other) / time(fastnn); > 1 means fastnn is faster."""
    # What users get: the back-to-back figures when they were measured.
    if any(r.mode == "back-to-back" for r in rows):
        rows = [r for r in rows if r.mode == "back-to-back"]
    labels, sk, th = [], [], []
    for r in rows:
        # Predict-only rows have no fit time: plot their predict ratio instead.
        times = r.fit_s if r.fit_s else r.predict_s
        labels.append(r.workload)  # the predict rows' names start "predict-"
        sk.append(r.ratio(times, "sklearn") or 0.0)
        th.append(r.ratio(times, "torch") or 0.0)
    draw_ratios(labels, sk, th, rows[0].mode, path)


def draw_ratios(
    labels: list[str], sk: list[float], th: list[float], mode: str, path: Path
) -> None:
    """Draw the ratio chart: one group of bars per workload (0 for none)."""
    try:
        import matplotlib
    except ImportError:  # optional: the JSON and Markdown are already written
        print("matplotlib is not installed: no ratios.png")
        return
    matplotlib.use("Agg")  # headless: only a file is wanted
    import matplotlib.pyplot as plt

    x = np.arange(len(labels))
    # Readable where the docs show it, scaled to a page's width: labels as
    # large as the body text of the figure, workloads on two lines, no
    # rotation.
    fig, ax = plt.subplots(
        figsize=(max(7.0, 1.4 * len(labels)), 5.0), layout="constrained"
    )
    bars = ax.bar(x - 0.2, sk, 0.4, label="scikit-learn / fastnn")
    ax.bar_label(bars, fmt="%.2f", fontsize=12)
    if any(th):
        bars = ax.bar(x + 0.2, th, 0.4, label="PyTorch / fastnn")
        ax.bar_label(bars, labels=[f"{v:.2f}" if v else "" for v in th], fontsize=12)
    ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    # Two short lines each: "synthetic-" / "60k", "predict-200k" / "(100,)".
    wrapped = [
        label.replace(" ", "\n", 1) if " " in label else label.replace("-", "-\n", 1)
        for label in labels
    ]
    ax.set_xticks(x, wrapped, fontsize=13)
    ax.tick_params(axis="y", labelsize=13)
    ax.set_ylabel("time of the other / time of fastnn", fontsize=13)
    ax.set_title(
        f"How many times longer the others take ({mode} medians of the fit;\n"
        'of the prediction for the "predict-" workloads)',
        fontsize=14,
    )
    ax.legend(fontsize=12)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _peak_note() -> str:
    return ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in _PEAKS.items()) or "not run"


def write_results(
    out: Path,
    rows: list[Row],
    extra: dict[str, Any],
    info: dict,
    args: argparse.Namespace,
    total_s: float,
) -> str:
    out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(rows) if rows else ""
    payload = {
        "machine": info,
        "quick": args.quick,
        "repeats": args.repeats,
        "modes": {m: MODES[m] for m in args.modes},
        "total_s": total_s,
        "results": [asdict(r) for r in rows],
        **extra,
    }
    (out / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
    notes = "\n".join(f"- {k}: {v}" for k, v in info.items())
    size = "quick" if args.quick else "full"
    sections = [f"# fastnn benchmark suite ({size})\n\n## Machine\n\n{notes}\n"]
    if rows:
        sections.append(
            f"## Fit and predict\n\n{table}\n\n"
            f"Median (min–max) of {args.repeats} alternating repeats after one "
            f"warm-up each; paused: {COOL_DOWN_S} s before every timed call, "
            f"back-to-back: none. Ratios are time(other) / time(fastnn) of the "
            f"medians; fastnn / floor is fastnn's fit time over the BLAS-only "
            f"GEMM floor; the share of GEMM peak is the rate of a fit's matrix "
            f"products (the floor's FLOPs over the median fit time) over NumPy's "
            f"2048^3 product on every core in the same dtype, measured in this "
            f"run ({_peak_note()}); fastnn / NumPy is the predict time over "
            f"NumPy's forward pass on the same chunks. Fit peak memory is what "
            f"one fit adds to the resident memory over the loaded data, each in "
            f"a fresh process. Scores are on the training data.\n"
        )
    if "latency" in extra:
        sections.append(
            "## Predictions by size\n\n"
            f"{latency.markdown(extra['latency'])}\n\n"
            "Median (min–max) per call on digits (100,) models, float64 and "
            "float32, with the same weights in every library; paused and "
            "right after a NumPy product (`python benchmarks/latency.py`).\n"
        )
    if "interference" in extra:
        sections.append(
            "## Right after NumPy / SciPy BLAS work\n\n"
            f"{conditions.interference_markdown(extra['interference'])}\n"
        )
    if "contention" in extra:
        sections.append(
            "## Two processes at once, or beside a busy one\n\n"
            f"{conditions.contention_markdown(extra['contention'])}\n\n"
            "Each process fresh (spawn), default thread counts, no environment "
            "variable set.\n"
        )
    sections.append(f"Total {total_s:.0f} s.\n")
    (out / "results.md").write_text("\n".join(sections))
    if rows:
        plot_ratios(rows, out / "ratios.png")
    return "\n".join(sections[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="shrunk workloads, 1 repeat (< ~60 s)"
    )
    parser.add_argument("--repeats", type=int, help="timed repeats (default 3)")
    parser.add_argument(
        "--only",
        action="append",
        choices=[*WORKLOADS_BY_NAME, *EXTRA],
        metavar="NAME",
        help="a workload, or latency / interference / contention",
    )
    parser.add_argument(
        "--mode",
        choices=["both", *MODES],
        default="both",
        help="paused, back-to-back or both (default)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results", help="output"
    )
    args = parser.parse_args()
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    args.modes = list(MODES) if args.mode == "both" else [args.mode]

    if torch is not None:
        torch.set_num_threads(os.cpu_count() or 1)
    info = machine()
    for key, value in info.items():
        print(f"{key:>18}: {value}", flush=True)

    start = time.perf_counter()
    rows: list[Row] = []
    models: dict[str, dict[str, Any]] = {}
    with warnings.catch_warnings():
        # Fixed epoch counts are the point; the warning would only be noise.
        warnings.simplefilter("ignore", ConvergenceWarning)
        for w in WORKLOADS:
            if args.only and w.name not in args.only:
                continue
            t0 = time.perf_counter()
            for mode in args.modes:
                if w.predict_models:
                    rows += run_predict(w, args.quick, args.repeats, models, mode)
                else:
                    rows.append(run_fit(w, args.quick, args.repeats, models, mode))
            if not w.predict_models:
                measure_fit_memory(w, args.quick, rows[-len(args.modes)])
            print(f"{w.name}: done in {time.perf_counter() - t0:.1f} s", flush=True)
        extra = {}
        for name, run in EXTRA.items():
            if not args.only or name in args.only:
                t0 = time.perf_counter()
                extra[name] = run(args.quick)
                print(f"{name}: done in {time.perf_counter() - t0:.1f} s", flush=True)
    total = time.perf_counter() - start
    table = write_results(args.out, rows, extra, info, args, total)
    print(f"\n{table}\n\ntotal {total:.1f} s; results in {args.out}/")


if __name__ == "__main__":
    main()
