"""Prediction latency: fastnn, scikit-learn and ONNX Runtime.

Digits models ((100,) hidden units) are fitted by fastnn, once on float64
data and once on float32 data, so the float32 models' weights are float32.
The same weights are copied into scikit-learn estimators, which skl2onnx
converts (in the same dtype; classifiers with ``zipmap=False``) for ONNX
Runtime (one ``InferenceSession`` reused, asked for the ``label`` output
for ``predict`` and ``probabilities`` for ``predict_proba``).  Every
contender computes the same function on the same rows: 1, 10, 100 and
1,000 digits rows, and 60,000 rows made by tiling digits (nothing is
downloaded).  Calls: classifier ``predict``, classifier ``predict_proba``,
regressor ``predict``.

Two modes:

* *paused*: 0.2 s of sleep before each contender's series, so each series
  starts on quiet cores;
* *after NumPy*: a 512 x 512 float64 ``A @ A`` right before every timed
  call (not timed), so the call starts while OpenBLAS's workers still spin,
  as after a ``StandardScaler`` in a ``Pipeline`` or any NumPy
  preprocessing.

Below 10,000 rows each contender makes ``--calls`` calls in a row (in
``--rounds`` series, contenders alternating A B C A B C between series);
at 60,000 rows they make ``--repeats`` single calls, alternating A B C
A B C.  Each contender gets warm-up calls before its first series in a
mode.

Two more tables: a ``Pipeline([StandardScaler(), MLPClassifier()])``
predicting 20,000 x 784 float32 generated rows (fastnn's pipeline against
scikit-learn's with the same scaler and weights, and the skl2onnx export
of that pipeline), median of ``--repeats`` alternating calls in each mode;
and the phases of one fastnn ``predict`` of 1 row (digits, float64) along
its real call path (``_forward_pass_fast``): fitted and input checks, the
kept network, thread count and row blocks, ``InputMatrix``, the forward
pass, decoding, and the whole call.

Ratios are time(other) / time(fastnn) of the medians: above 1, fastnn is
faster.  The full run takes several minutes; ``--quick`` takes a few calls
of each, to check that the script runs::

    python benchmarks/latency.py                    # tables on stdout
    python benchmarks/latency.py --calls 2000 --repeats 15 --json out.json
    python benchmarks/latency.py --quick
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import fastnn
from fastnn import MLPClassifier, MLPRegressor

ROWS = (1, 10, 100, 1000, 60_000)
# From this many rows on, single calls alternate between contenders.
LARGE_ROWS = 10_000
DTYPES = ("float64", "float32")
MODES = ("paused", "after NumPy")
PAUSE_S = 0.2
# NumPy's product before each call in the "after NumPy" mode: large enough
# for OpenBLAS to run it on all its threads.
WAKE_SIZE = 512
KINDS = ("classifier predict", "classifier predict_proba", "regressor predict")
CONTENDERS = ("fastnn", "sklearn", "onnxruntime")
PIPELINE_SHAPE = (20_000, 784)
WHOLE = "(f) whole predict"
EMPTY = "empty call (timing overhead, not subtracted)"
DASH = "—"


# -- models ------------------------------------------------------------------


def _digits(dtype: str = "float64") -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(dtype), y


def _rows(X: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` rows of X repeated as often as needed, C-contiguous."""
    reps = -(-n // X.shape[0])
    return np.ascontiguousarray(np.tile(X, (reps, 1))[:n])


def _copy_weights(src: Any, dst: Any, X: np.ndarray, y: np.ndarray) -> Any:
    """``dst`` fitted briefly (for its attributes), then given src's weights."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dst.set_params(max_iter=1).fit(X, y)
    dst.coefs_ = [c.copy() for c in src.coefs_]
    dst.intercepts_ = [b.copy() for b in src.intercepts_]
    return dst


def _onnx_run(
    est: Any, X: np.ndarray, output: str, options: dict | None = None
) -> Callable[[np.ndarray], Any] | None:
    """``session.run([output], ...)`` on the skl2onnx export of ``est`` in
    X's dtype, or None without onnxruntime or skl2onnx."""
    try:
        import onnxruntime
        from skl2onnx import to_onnx
    except ImportError:
        return None
    model = to_onnx(est, X[:1], options=options)
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name
    outputs = [o.name for o in session.get_outputs()]
    if output not in outputs:
        raise ValueError(f"the ONNX model has outputs {outputs}, not {output!r}")
    return lambda X: session.run([output], {name: X})


def _fit_fastnn(dtype: str) -> tuple[MLPClassifier, MLPRegressor]:
    X, y = _digits(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(100,), max_iter=30, random_state=0)
        reg = MLPRegressor(hidden_layer_sizes=(100,), max_iter=30, random_state=0)
        clf.fit(X, y)
        reg.fit(X, y.astype(dtype))
    return clf, reg


def contenders(dtype: str = "float64") -> dict[str, dict[str, Callable]]:
    """For each call, each contender's prediction function, on models whose
    weights are in ``dtype``."""
    X, y = _digits(dtype)
    clf, reg = _fit_fastnn(dtype)
    assert clf.coefs_[0].dtype == reg.coefs_[0].dtype == np.dtype(dtype)
    sk_clf = _copy_weights(clf, SkMLPClassifier(hidden_layer_sizes=(100,)), X, y)
    sk_reg = _copy_weights(
        reg, SkMLPRegressor(hidden_layer_sizes=(100,)), X, y.astype(dtype)
    )
    kinds: dict[str, dict[str, Callable]] = {
        "classifier predict": {"fastnn": clf.predict, "sklearn": sk_clf.predict},
        "classifier predict_proba": {
            "fastnn": clf.predict_proba,
            "sklearn": sk_clf.predict_proba,
        },
        "regressor predict": {"fastnn": reg.predict, "sklearn": sk_reg.predict},
    }
    zipmap = {"zipmap": False}
    onnx = {
        "classifier predict": _onnx_run(sk_clf, X, "label", zipmap),
        "classifier predict_proba": _onnx_run(sk_clf, X, "probabilities", zipmap),
        "regressor predict": _onnx_run(sk_reg, X, "variable"),
    }
    for kind, fn in onnx.items():
        if fn is not None:
            kinds[kind]["onnxruntime"] = fn
    return kinds


# -- timing ------------------------------------------------------------------


def _waker() -> Callable[[], None]:
    """NumPy's product that leaves OpenBLAS's workers spinning."""
    A = np.random.default_rng(0).random((WAKE_SIZE, WAKE_SIZE))
    out = np.empty_like(A)

    def wake() -> None:
        np.matmul(A, A, out=out)

    return wake


def _stats(times: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(times), "min": min(times), "max": max(times)}


def _alternating(
    fns: dict[str, Callable[[], Any]],
    mode: str,
    series: int,
    per_series: int,
    warmup: int,
    wake: Callable[[], None],
) -> dict[str, list[float]]:
    """Seconds of each timed call: ``series`` series of ``per_series`` calls
    per contender, contenders alternating between series."""
    before = wake if mode == "after NumPy" else None
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    for _ in range(series):
        for name, fn in fns.items():
            if mode == "paused":
                time.sleep(PAUSE_S)
            out = times[name]
            for _ in range(per_series):
                if before is not None:
                    before()
                start = time.perf_counter()
                fn()
                out.append(time.perf_counter() - start)
    return times


def _large_repeats(calls: int) -> int:
    return max(3, min(11, calls // 40))


def measure(
    calls: int = 500,
    rows: Sequence[int] = ROWS,
    *,
    repeats: int | None = None,
    rounds: int = 1,
    modes: Sequence[str] = MODES,
    dtypes: Sequence[str] = DTYPES,
) -> list[dict[str, Any]]:
    """Median, min and max seconds per call, for every call, dtype, size,
    mode and contender.

    ``calls`` calls per contender below ``LARGE_ROWS`` rows (in ``rounds``
    series), ``repeats`` single calls from there on (default: ``calls`` / 40,
    between 3 and 11).
    """
    if repeats is None:
        repeats = _large_repeats(calls)
    wake = _waker()
    results = []
    for dtype in dtypes:
        X, _ = _digits(dtype)
        X = _rows(X, max(rows))
        for kind, fns in contenders(dtype).items():
            for n in rows:
                Xn = np.ascontiguousarray(X[:n])
                bound = {name: (lambda f=fn, X=Xn: f(X)) for name, fn in fns.items()}
                if n < LARGE_ROWS:
                    series, per = rounds, math.ceil(calls / rounds)
                    warmup = 5
                else:
                    series, per, warmup = repeats, 1, 1
                for mode in modes:
                    times = _alternating(bound, mode, series, per, warmup, wake)
                    results.append(
                        {
                            "kind": kind,
                            "dtype": dtype,
                            "rows": n,
                            "mode": mode,
                            "calls": series * per,
                            "seconds": {k: _stats(t) for k, t in times.items()},
                        }
                    )
    return results


# -- the pipeline -------------------------------------------------------------


def _pipeline_data(n: int, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Ten Gaussian classes in float32, offset and scaled per feature (work
    for the scaler)."""
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=0.5, size=(10, n_features))
    y = rng.integers(10, size=n)
    X = rng.standard_normal((n, n_features), dtype=np.float32)
    X += centers[y].astype(np.float32)
    X *= rng.uniform(0.5, 20.0, size=n_features).astype(np.float32)
    X += rng.uniform(-5.0, 5.0, size=n_features).astype(np.float32)
    return X, y


def pipeline(
    repeats: int = 11,
    modes: Sequence[str] = MODES,
    shape: tuple[int, int] = PIPELINE_SHAPE,
) -> list[dict[str, Any]]:
    """``predict`` of ``Pipeline([StandardScaler(), MLPClassifier()])`` on
    float32 rows: fastnn's pipeline, scikit-learn's with the same scaler and
    weights, and ONNX Runtime on the skl2onnx export of scikit-learn's."""
    X, y = _pipeline_data(*shape)
    fast = Pipeline(
        [
            ("scaler", StandardScaler()),
            (
                "mlp",
                MLPClassifier(hidden_layer_sizes=(100,), max_iter=2, random_state=0),
            ),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fast.fit(X, y)
    scaler = fast.named_steps["scaler"]
    head = scaler.transform(X[:1000])
    sk_mlp = _copy_weights(
        fast.named_steps["mlp"],
        SkMLPClassifier(hidden_layer_sizes=(100,)),
        head,
        y[:1000],
    )
    sk = Pipeline([("scaler", copy.deepcopy(scaler)), ("mlp", sk_mlp)])
    fns: dict[str, Callable[[], Any]] = {
        "fastnn": lambda: fast.predict(X),
        "sklearn": lambda: sk.predict(X),
    }
    onnx = _onnx_run(sk, X, "label", {id(sk_mlp): {"zipmap": False}})
    if onnx is not None:
        fns["onnxruntime"] = lambda: onnx(X)
    wake = _waker()
    return [
        {
            "rows": shape[0],
            "features": shape[1],
            "dtype": "float32",
            "mode": mode,
            "calls": repeats,
            "seconds": {
                k: _stats(t)
                for k, t in _alternating(fns, mode, repeats, 1, 1, wake).items()
            },
        }
        for mode in modes
    ]


# -- phases of one small call ------------------------------------------------


def phases(
    calls: int = 500, inner: int = 10, modes: Sequence[str] = MODES
) -> list[dict[str, Any]]:
    """Seconds per call of each step of fastnn's ``predict`` on 1 row
    (digits classifier, float64), mirroring ``_forward_pass_fast``.

    Each sample times ``inner`` calls in a row and divides; ``calls``
    samples per step, each step's samples in a row (in the "after NumPy"
    mode, NumPy's product before each sample).
    """
    from fastnn import _engine, _network
    from fastnn._classifier import _decode
    from fastnn._threads import forward_threads

    clf, _ = _fit_fastnn("float64")
    X1 = np.ascontiguousarray(_digits("float64")[0][:1])
    network = _network.prepared(clf, clf.coefs_, clf.intercepts_)
    if network is None:
        raise RuntimeError("the fitted model has no kept network")
    dtype = network.dtype
    inputs = _engine.InputMatrix(X1)
    proba = network.forward(inputs, 1, True)
    binarizer = clf._label_binarizer

    def threads_and_blocks() -> None:
        with forward_threads(X1.shape[0], network.largest_layer):
            for _ in _network.engine_blocks(X1, dtype):
                pass

    # The steps of one call, in order, then the whole call and the loop's
    # own cost.
    steps: dict[str, Callable[[], Any]] = {
        "(a) fitted check + input check": lambda: (
            clf._check_is_fitted(),
            clf._passes_validation_unchanged(X1),
        ),
        "(b) kept network (_network.prepared)": lambda: _network.prepared(
            clf, clf.coefs_, clf.intercepts_
        ),
        "thread count + row blocks (forward_threads, engine_blocks)": (
            threads_and_blocks
        ),
        "(c) _engine.InputMatrix(X)": lambda: _engine.InputMatrix(X1),
        "(d) network.forward(inputs, 1, True)": lambda: network.forward(
            inputs, 1, True
        ),
        "(e) _decode(label binarizer, proba)": lambda: _decode(binarizer, proba),
        WHOLE: lambda: clf.predict(X1),
        EMPTY: lambda: None,
    }
    wake = _waker()
    results = []
    for mode in modes:
        for name, step in steps.items():
            for _ in range(50):  # warm-up
                step()
            if mode == "paused":
                time.sleep(PAUSE_S)
            samples = []
            for _ in range(calls):
                if mode == "after NumPy":
                    wake()
                start = time.perf_counter()
                for _ in range(inner):
                    step()
                samples.append((time.perf_counter() - start) / inner)
            results.append(
                {
                    "phase": name,
                    "mode": mode,
                    "inner": inner,
                    "part": name not in (WHOLE, EMPTY),
                    **_stats(samples),
                }
            )
    return results


# -- reporting ---------------------------------------------------------------


def _cpu() -> str:
    """Model name, family and model of the CPU (Linux's /proc/cpuinfo)."""
    found: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "cpu family", "model", "stepping"):
            found.setdefault(key, value.strip())
        elif not key and found:
            break  # the end of the first processor's block
    name = found.get("model name", platform.machine())
    return (
        f"{name} (family {found.get('cpu family', '?')}, "
        f"model {found.get('model', '?')}, stepping {found.get('stepping', '?')})"
    )


def machine() -> dict[str, Any]:
    """What the figures depend on."""
    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = None
    try:
        import skl2onnx

        skl2onnx_version = skl2onnx.__version__
    except ImportError:
        skl2onnx_version = None
    try:
        from threadpoolctl import threadpool_info

        blas = [
            f"{i['internal_api']} {i['version']} ({i['num_threads']} threads)"
            for i in threadpool_info()
            if i["user_api"] == "blas"
        ]
    except ImportError:
        blas = []
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": _cpu(),
        "cpus_usable": len(affinity) if affinity is not None else os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "onnxruntime": ort_version,
        "skl2onnx": skl2onnx_version,
        "fastnn": fastnn.__version__,
        "blas": blas,
        "loadavg_1_5_15": [round(v, 2) for v in os.getloadavg()],
    }


def header(info: dict[str, Any]) -> str:
    return (
        f"CPU: {info['cpu']}, {info['cpus_usable']} usable CPUs; "
        f"Python {info['python']}, NumPy {info['numpy']}, "
        f"scikit-learn {info['scikit-learn']}, "
        f"onnxruntime {info['onnxruntime'] or DASH}, "
        f"skl2onnx {info['skl2onnx'] or DASH}, fastnn {info['fastnn']}; "
        f"BLAS {', '.join(info['blas']) or DASH}; "
        f"load average {' '.join(map(str, info['loadavg_1_5_15']))}"
    )


def _time(t: dict[str, float]) -> str:
    """Median (min–max), in µs below a millisecond, in ms from there."""
    if t["median"] >= 1e-3:
        return f"{t['median'] * 1e3:.2f} ms ({t['min'] * 1e3:.2f}–{t['max'] * 1e3:.2f})"
    digits = 1 if t["median"] < 1e-5 else 0
    return (
        f"{t['median'] * 1e6:.{digits}f} µs "
        f"({t['min'] * 1e6:.{digits}f}–{t['max'] * 1e6:.{digits}f})"
    )


def _ratio(s: dict[str, dict[str, float]], name: str) -> str:
    if name not in s or "fastnn" not in s:
        return DASH
    return f"{s[name]['median'] / s['fastnn']['median']:.2f}x"


def _table(results: list[dict[str, Any]], first: list[str]) -> list[str]:
    head = [*first, *CONTENDERS, "sklearn / fastnn", "onnxruntime / fastnn"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        s = r["seconds"]
        cells = [str(r[k]) if k != "rows" else f"{r[k]:,}" for k in first]
        cells += [_time(s[n]) if n in s else DASH for n in CONTENDERS]
        cells += [_ratio(s, "sklearn"), _ratio(s, "onnxruntime")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(results: list[dict[str, Any]]) -> str:
    """One table per mode: median (min–max) per call and the ratios."""
    parts = []
    for mode in dict.fromkeys(r["mode"] for r in results):
        rows = [r for r in results if r["mode"] == mode]
        calls = sorted({r["calls"] for r in rows})
        parts.append(
            f"**{mode}** ({' / '.join(map(str, calls))} timed calls per figure)\n"
        )
        parts += _table(rows, ["kind", "dtype", "rows"])
        parts.append("")
    return "\n".join(parts).rstrip()


def pipeline_markdown(results: list[dict[str, Any]]) -> str:
    rows = [{**r, "shape": f"{r['rows']:,} x {r['features']}"} for r in results]
    return "\n".join(_table(rows, ["mode", "shape", "dtype"]))


def phases_markdown(results: list[dict[str, Any]]) -> str:
    modes = list(dict.fromkeys(r["mode"] for r in results))
    names = list(dict.fromkeys(r["phase"] for r in results))
    by = {(r["phase"], r["mode"]): r for r in results}
    head = ["step", *(f"{m} (µs)" for m in modes)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cell(t: dict[str, float]) -> str:
        return f"{t['median'] * 1e6:.2f} ({t['min'] * 1e6:.2f}–{t['max'] * 1e6:.2f})"

    for name in names:
        lines.append(
            "| " + " | ".join([name, *(cell(by[name, m]) for m in modes)]) + " |"
        )
    parts = [n for n in names if by[n, modes[0]]["part"]]
    sums, rest = [], []
    for m in modes:
        total = sum(by[n, m]["median"] for n in parts)
        sums.append(f"{total * 1e6:.2f}")
        rest.append(f"{(by[WHOLE, m]['median'] - total) * 1e6:.2f}")
    lines.append("| sum of the steps before (f), medians | " + " | ".join(sums) + " |")
    lines.append("| (f) − that sum: the rest of predict | " + " | ".join(rest) + " |")
    return "\n".join(lines)


def report(
    info: dict[str, Any],
    latency: list[dict[str, Any]],
    pipe: list[dict[str, Any]],
    steps: list[dict[str, Any]],
) -> str:
    sections = [
        f"# Prediction latency\n\n{header(info)}\n",
        "## Digits (100,) models: fastnn, scikit-learn, ONNX Runtime\n\n"
        f"{markdown(latency)}\n\n"
        f"Median (min–max) per call. paused: {PAUSE_S} s sleep before each "
        f"contender's series; after NumPy: a {WAKE_SIZE} x {WAKE_SIZE} float64 "
        f"A @ A right before every timed call. Below {LARGE_ROWS:,} rows each "
        "contender's calls in a row; from there single calls alternating "
        "contenders. Ratios are the other's median over fastnn's: above 1, "
        "fastnn is faster.\n",
    ]
    if pipe:
        sections.append(
            "## Pipeline([StandardScaler(), MLPClassifier()]).predict\n\n"
            f"{pipeline_markdown(pipe)}\n\n"
            "Generated float32 rows, (100,) hidden units, the same scaler and "
            "weights in both pipelines (ONNX Runtime: skl2onnx export of "
            "scikit-learn's); single calls alternating contenders.\n"
        )
    if steps:
        inner = steps[0]["inner"]
        sections.append(
            "## Phases of fastnn's predict on 1 row (digits, float64)\n\n"
            f"{phases_markdown(steps)}\n\n"
            f"Median (min–max) µs per call; each sample is {inner} calls in a "
            "row, divided. The steps of `_forward_pass_fast` for a dense, "
            "fitted-dtype input; the empty call is the timing loop's own "
            "cost per call, included in every row.\n"
        )
    return "\n".join(sections)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--calls",
        type=int,
        default=500,
        help="timed calls per contender below 10,000 rows (and phase samples)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=11,
        help="timed calls per contender from 10,000 rows on, and for the pipeline",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="series the --calls are split into, contenders alternating",
    )
    parser.add_argument(
        "--rows", type=int, nargs="+", default=list(ROWS), help="input sizes"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a few calls of each (5 calls, 2 repeats, 20 phase samples)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="results as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.repeats, args.rounds = 5, 2, 1
    phase_calls = 20 if args.quick else args.calls

    info = machine()
    start = time.perf_counter()
    latency = measure(args.calls, args.rows, repeats=args.repeats, rounds=args.rounds)
    pipe = pipeline(args.repeats)
    steps = phases(phase_calls)
    total = time.perf_counter() - start
    print(report(info, latency, pipe, steps))
    print(f"Total {total:.0f} s.")
    if args.json is not None:
        payload = {
            "machine": info,
            "settings": {
                "calls": args.calls,
                "repeats": args.repeats,
                "rounds": args.rounds,
                "rows": args.rows,
                "quick": args.quick,
                "pause_s": PAUSE_S,
                "wake_size": WAKE_SIZE,
                "large_rows": LARGE_ROWS,
            },
            "latency": latency,
            "pipeline": pipe,
            "phases": steps,
            "total_s": total,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
