"""
======================================
Benchmark: fastnn against scikit-learn
======================================

Times fastnn and scikit-learn on a few small workloads, measured here when
the example runs (so the chart shows this machine, not stored figures), and
draws how many times faster fastnn fits and predicts.  Both libraries run
on one thread (``threadpool_limits(1)`` caps BLAS and OpenMP alike): the
figures then compare the code rather than how each copes with the other
processes of a busy build machine, where scikit-learn's threaded BLAS can
lose far more than fastnn.  The workloads are scaled-down versions of
``benchmarks/suite.py``'s, which times larger ones on all cores, against
PyTorch and a NumPy floor as well.

These are not the figures the README and the home page quote: those are
``benchmarks/suite.py``'s back-to-back medians on all cores of a 2-vCPU
machine (each contender right after the previous one, as in a user's
script), stated with their method on :doc:`/user_guide/performance`.
"""

import os
import platform
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn import neural_network as sk
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

import fastnn
from fastnn import MLPClassifier, MLPRegressor

rng = np.random.RandomState(0)
X_digits, y_digits = load_digits(return_X_y=True)
X_digits = X_digits / 16
X_reg, y_reg = make_regression(n_samples=20_000, n_features=50, random_state=0)
y_reg /= y_reg.std()
X_sparse = sp.random(4000, 4000, density=0.005, format="csr", random_state=rng)
y_sparse = np.asarray(X_sparse[:, :200].sum(axis=1)).ravel() > 0

# Each workload: a name, the two estimator classes, their parameters, X, y.
WORKLOADS = [
    (
        "digits, (100,),\n30 epochs of Adam",
        (sk.MLPClassifier, MLPClassifier),
        dict(hidden_layer_sizes=(100,), max_iter=30),
        X_digits,
        y_digits,
    ),
    (
        "digits, (100,),\n50 L-BFGS iterations",
        (sk.MLPClassifier, MLPClassifier),
        dict(hidden_layer_sizes=(100,), solver="lbfgs", max_iter=50),
        X_digits,
        y_digits,
    ),
    (
        "regression 20,000x50,\n(64, 64), 5 epochs",
        (sk.MLPRegressor, MLPRegressor),
        dict(hidden_layer_sizes=(64, 64), max_iter=5),
        X_reg,
        y_reg,
    ),
    (
        "sparse 4,000x4,000 CSR,\n(100,), 3 epochs",
        (sk.MLPClassifier, MLPClassifier),
        dict(hidden_layer_sizes=(100,), max_iter=3),
        X_sparse,
        y_sparse,
    ),
]


def best_time(call, repeats: int = 2) -> float:
    """The best of ``repeats`` timed calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


# %%
# Measure
# -------
# The same parameters and seed for both; each fit is timed twice and the best
# kept, then each fitted model predicts its training set.  Times in seconds
# (fit) and milliseconds (predict).


def cpu_name() -> str:
    """The CPU's model name where the OS tells it."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


print(
    f"{cpu_name()}, {os.cpu_count()} logical CPUs; Python "
    f"{platform.python_version()}, fastnn {fastnn.__version__}, scikit-learn "
    f"{sklearn.__version__}, NumPy {np.__version__}"
)
fit_ratio, predict_ratio = [], []
print(f"{'workload':<42}{'fit fastnn':>11}{'sklearn':>9}{'predict':>9}{'sklearn':>9}")
with warnings.catch_warnings(), threadpool_limits(1):
    warnings.simplefilter("ignore", ConvergenceWarning)  # short fits on purpose
    for name, classes, params, X, y in WORKLOADS:
        fit_s, predict_s = [], []
        for cls in classes:
            model = cls(random_state=0, **params)
            fit_s.append(best_time(lambda m=model, X=X, y=y: m.fit(X, y)))
            predict_s.append(best_time(lambda m=model, X=X: m.predict(X), repeats=3))
        fit_ratio.append(fit_s[0] / fit_s[1])
        predict_ratio.append(predict_s[0] / predict_s[1])
        label = name.replace("\n", " ")
        print(
            f"{label:<42}{fit_s[1]:>11.3f}{fit_s[0]:>9.3f}"
            f"{predict_s[1] * 1e3:>9.1f}{predict_s[0] * 1e3:>9.1f}"
        )

# %%
# The chart
# ---------

names = [w[0] for w in WORKLOADS]
y_pos = np.arange(len(names))
fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
ax.barh(y_pos - 0.2, fit_ratio, height=0.4, label="fit")
ax.barh(y_pos + 0.2, predict_ratio, height=0.4, label="predict")
for pos, ratios in ((y_pos - 0.2, fit_ratio), (y_pos + 0.2, predict_ratio)):
    for p, r in zip(pos, ratios):
        ax.annotate(f" {r:.1f}x", (r, p), va="center", fontsize=9)
ax.axvline(1, color="0.3", lw=1)
ax.set_yticks(y_pos, names)
ax.invert_yaxis()
ax.set_xlim(0, max(fit_ratio + predict_ratio) * 1.2)
ax.set(xlabel="scikit-learn's time / fastnn's time (higher: fastnn faster)")
ax.set_title(f"Measured when this page was built, one thread each\n{cpu_name()}")
ax.legend(loc="lower right")
plt.show()
