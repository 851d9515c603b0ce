"""Latency of small predictions: fastnn, scikit-learn, PyTorch, ONNX Runtime.

One digits model ((100,) hidden units, float64) is fitted by fastnn; the
same weights are loaded into a scikit-learn estimator, a PyTorch module and
an ONNX Runtime session (fastnn's own ONNX export), so every contender
computes the same function.  Each figure is the median (with min and max) of
many single calls on 1, 10, 100 and 1,000 rows, each contender's calls in
a row::

    python benchmarks/latency.py                 # table on stdout
    python benchmarks/latency.py --calls 2000
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor

from fastnn import MLPClassifier, MLPRegressor

ROWS = (1, 10, 100, 1000)


def _copy_weights(src: Any, dst: Any, X: np.ndarray, y: np.ndarray) -> Any:
    """``dst`` fitted briefly (for its attributes), then given src's weights."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dst.set_params(max_iter=1).fit(X, y)
    dst.coefs_ = [c.copy() for c in src.coefs_]
    dst.intercepts_ = [b.copy() for b in src.intercepts_]
    return dst


def _torch_model(est: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    try:
        import torch
    except ImportError:
        return None
    layers: list[Any] = []
    for i, (W, b) in enumerate(zip(est.coefs_, est.intercepts_, strict=True)):
        linear = torch.nn.Linear(*W.shape).double()
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.T))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        if i < len(est.coefs_) - 1:
            layers.append(torch.nn.ReLU())
    if isinstance(est, MLPClassifier):
        layers.append(torch.nn.Softmax(dim=1))
    model = torch.nn.Sequential(*layers).eval()

    def predict(X: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(X)).numpy()

    return predict


def _onnx_session(est: Any, X: np.ndarray) -> Callable[[np.ndarray], Any] | None:
    try:
        import onnxruntime

        from fastnn.onnx import to_onnx
    except ImportError:
        return None
    options = {"zipmap": False} if isinstance(est, MLPClassifier) else None
    model = to_onnx(est, X[:1], options=options)
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name
    outputs = [o.name for o in session.get_outputs()]
    # Probabilities for a classifier (its second output), values otherwise.
    wanted = [outputs[-1]]
    return lambda X: session.run(wanted, {name: X})


def contenders() -> dict[str, dict[str, Callable]]:
    """For each model kind, each contender's prediction function."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(100,), max_iter=30, random_state=0)
        clf.fit(X, y)
        reg = MLPRegressor(hidden_layer_sizes=(100,), max_iter=30, random_state=0)
        reg.fit(X, y.astype(float))
    sk_clf = _copy_weights(clf, SkMLPClassifier(hidden_layer_sizes=(100,)), X, y)
    sk_reg = _copy_weights(reg, SkMLPRegressor(hidden_layer_sizes=(100,)), X, y)
    kinds: dict[str, dict[str, Callable]] = {
        "classifier predict": {"fastnn": clf.predict, "sklearn": sk_clf.predict},
        "classifier predict_proba": {
            "fastnn": clf.predict_proba,
            "sklearn": sk_clf.predict_proba,
        },
        "regressor predict": {"fastnn": reg.predict, "sklearn": sk_reg.predict},
    }
    for kind, est in (("classifier predict_proba", clf), ("regressor predict", reg)):
        torch_fn = _torch_model(est)
        if torch_fn is not None:
            kinds[kind]["torch"] = torch_fn
        onnx_fn = _onnx_session(est, X.astype(np.float64))
        if onnx_fn is not None:
            kinds[kind]["onnxruntime"] = onnx_fn
    return kinds


def measure(calls: int = 500, rows: tuple[int, ...] = ROWS) -> list[dict[str, Any]]:
    """Median, min and max seconds per call, for every kind, size and contender."""
    X, _ = load_digits(return_X_y=True)
    X = X[: max(rows)] / 16.0
    results = []
    for kind, fns in contenders().items():
        for n in rows:
            Xn = np.ascontiguousarray(X[:n])
            times: dict[str, list[float]] = {name: [] for name in fns}
            # One contender's calls in a row, as a service answering requests
            # makes them: interleaved, each would run beside the others'
            # still-spinning thread pools.
            for name, fn in fns.items():
                time.sleep(0.2)
                for _ in range(5):  # warm-up
                    fn(Xn)
                for _ in range(calls):
                    start = time.perf_counter()
                    fn(Xn)
                    times[name].append(time.perf_counter() - start)
            results.append(
                {
                    "kind": kind,
                    "rows": n,
                    "seconds": {
                        name: {
                            "median": statistics.median(t),
                            "min": min(t),
                            "max": max(t),
                        }
                        for name, t in times.items()
                    },
                }
            )
    return results


def markdown(results: list[dict[str, Any]]) -> str:
    names = ["fastnn", "sklearn", "torch", "onnxruntime"]
    head = ["call", "rows"] + [f"{n} (µs)" for n in names] + ["sklearn / fastnn"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        s = r["seconds"]
        cells = [r["kind"], f"{r['rows']:,}"]
        for n in names:
            if n in s:
                t = {k: v * 1e6 for k, v in s[n].items()}
                cells.append(f"{t['median']:.0f} ({t['min']:.0f}–{t['max']:.0f})")
            else:
                cells.append("—")
        cells.append(f"{s['sklearn']['median'] / s['fastnn']['median']:.1f}x")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="calls per figure")
    args = parser.parse_args()
    print(markdown(measure(args.calls)))


if __name__ == "__main__":
    main()
