"""
=====================================
fastnn and scikit-learn, same model
=====================================

Trains scikit-learn's :class:`~sklearn.neural_network.MLPClassifier` and
:class:`fastnn.MLPClassifier` with the same parameters and seed on the digits
images that ship with scikit-learn, then compares what they learned and how
long they took.  In float64 the two draw the same initial weights, visit the
batches in the same order and take the same steps, so the fitted weights
agree to rounding error.
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn import neural_network as sk
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from fastnn import MLPClassifier

X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
params = dict(hidden_layer_sizes=(100,), max_iter=30, random_state=0)

# %%
# Fit both, a few times each
# --------------------------
# The fit times are the best of three, alternating the libraries so that
# neither always runs on a warmer machine.

times = {"scikit-learn": [], "fastnn": []}
models = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # 30 epochs on purpose
    for _ in range(3):
        for name, cls in (
            ("scikit-learn", sk.MLPClassifier),
            ("fastnn", MLPClassifier),
        ):
            start = time.perf_counter()
            models[name] = cls(**params).fit(X_train, y_train)
            times[name].append(time.perf_counter() - start)

sk, fast = models["scikit-learn"], models["fastnn"]
for name, model in models.items():
    print(
        f"{name:>12}: test accuracy {model.score(X_test, y_test):.4f}, "
        f"fit {min(times[name]) * 1e3:.0f} ms"
    )

# %%
# The same weights
# ----------------

for i, (a, b) in enumerate(zip(sk.coefs_, fast.coefs_)):
    print(f"layer {i}: max |coef difference| {np.max(np.abs(a - b)):.1e}")
curve_gap = np.max(np.abs(np.subtract(sk.loss_curve_, fast.loss_curve_)))
print(f"loss curves: max difference {curve_gap:.1e}")
print(f"same predictions: {np.array_equal(sk.predict(X_test), fast.predict(X_test))}")

# %%
# Loss curves and fit times
# -------------------------

fig, (ax_loss, ax_time) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
ax_loss.plot(sk.loss_curve_, lw=4, alpha=0.4, label="scikit-learn")
ax_loss.plot(fast.loss_curve_, "k--", label="fastnn")
ax_loss.set(xlabel="epoch", ylabel="training loss", yscale="log", title="Same steps")
ax_loss.legend()
names = list(times)
best = [min(times[n]) * 1e3 for n in names]
ax_time.barh(names, best, color=["tab:orange", "tab:blue"])
for i, t in enumerate(best):
    ax_time.annotate(f" {t:.0f} ms", (t, i), va="center")
ax_time.set(xlabel="fit time (ms, best of 3)", title="30 epochs of Adam, digits")
ax_time.set_xlim(0, max(best) * 1.25)
plt.show()
