"""
=====================================
ONNX export and prediction latency
=====================================

Converts a fitted classifier with :func:`fastnn.onnx.to_onnx`, checks that
ONNX Runtime gives the same probabilities, and times one call of each for
batches of 1 to 1,000 rows.  Needs ``pip install "fastnn-mlp[onnx]"``.
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime as ort
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from fastnn import MLPClassifier
from fastnn.onnx import to_onnx

X, y = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32)
model = MLPClassifier(hidden_layer_sizes=(100,), max_iter=100, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    model.fit(X, y)

# %%
# Convert and check
# -----------------
# ``zipmap=False`` makes the probabilities one array instead of a list of
# dictionaries.

onx = to_onnx(model, X[:1], options={"zipmap": False})
options = ort.SessionOptions()
options.intra_op_num_threads = 1  # single calls: threads only add overhead
session = ort.InferenceSession(
    onx.SerializeToString(), options, providers=["CPUExecutionProvider"]
)
labels, proba = session.run(None, {"X": X})
print(f"ONNX model: {len(onx.SerializeToString()) / 1024:.0f} KiB")
print(f"same labels: {np.array_equal(labels, model.predict(X))}")
print(
    f"max |probability difference|: {np.abs(proba - model.predict_proba(X)).max():.1e}"
)

# %%
# Latency of one call
# -------------------
# The median of repeated calls, after a warm-up call, for each batch size.


def latency(call, repeats: int) -> float:
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e6


rows = [1, 10, 100, 1000]
fastnn_us, onnx_us = [], []
for n in rows:
    batch = X[:n]
    repeats = 200 if n < 1000 else 50
    fastnn_us.append(latency(lambda b=batch: model.predict_proba(b), repeats))
    onnx_us.append(latency(lambda b=batch: session.run(None, {"X": b}), repeats))
    print(
        f"{n:5d} rows: fastnn {fastnn_us[-1]:7.0f} µs, "
        f"ONNX Runtime {onnx_us[-1]:7.0f} µs"
    )

fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
ax.plot(rows, fastnn_us, "o-", label="fastnn predict_proba")
ax.plot(rows, onnx_us, "s-", label="ONNX Runtime session.run")
ax.set(
    xscale="log",
    yscale="log",
    xlabel="rows per call",
    ylabel="median µs per call",
    title="digits, hidden (100,), float32",
)
ax.legend()
plt.show()
