"""
==========================================
Prediction intervals from quantile models
==========================================

Three :class:`fastnn.MLPRegressor` models with ``loss="quantile"`` (the
pinball loss, with the parameter names of scikit-learn's
:class:`~sklearn.ensemble.HistGradientBoostingRegressor`) predict the 5%,
50% and 95% quantiles of a noisy target; the outer two bound a 90%
prediction interval, whose coverage is checked on held-out data.  The noise
grows with ``x`` and is skewed, so the interval widens and is asymmetric
around the median, where a single squared-error model would only give the
mean.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastnn import MLPRegressor

rng = np.random.RandomState(0)


def f(x):
    return x * np.sin(x)


x = rng.uniform(0, 10, size=2000)
# Log-normal noise, growing with x: skewed upwards.
noise = (0.5 + 0.15 * x) * (rng.lognormal(sigma=0.5, size=x.size) - 1)
y = f(x) + noise
X = x[:, None]
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

# %%
# One model per quantile
# ----------------------

models = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for q in (0.05, 0.5, 0.95):
        models[q] = make_pipeline(
            StandardScaler(),
            MLPRegressor(
                loss="quantile",
                quantile=q,
                hidden_layer_sizes=(64, 64),
                learning_rate_init=0.01,
                max_iter=300,
                random_state=0,
            ),
        ).fit(X_train, y_train)

# %%
# Coverage on held-out data
# -------------------------
# About 5% of the test targets should fall below the lower model's
# predictions, and about 90% between the two outer models'.

low, median, high = (models[q].predict(X_test) for q in (0.05, 0.5, 0.95))
print(f"below the 5% model:  {np.mean(y_test < low):.3f}")
print(f"below the 50% model: {np.mean(y_test < median):.3f}")
print(f"below the 95% model: {np.mean(y_test < high):.3f}")
print(f"inside the interval: {np.mean((low <= y_test) & (y_test <= high)):.3f}")

# %%
# The interval
# ------------

grid = np.linspace(0, 10, 500)[:, None]
fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
ax.plot(X_test[:, 0], y_test, ".", color="0.6", ms=3, label="test data")
ax.plot(grid[:, 0], f(grid[:, 0]), "k:", label="x sin x")
ax.plot(grid[:, 0], models[0.5].predict(grid), "tab:red", label="predicted median")
ax.fill_between(
    grid[:, 0],
    models[0.05].predict(grid),
    models[0.95].predict(grid),
    alpha=0.3,
    color="tab:blue",
    label="predicted 90% interval",
)
ax.set(xlabel="x", ylabel="y")
ax.legend(loc="upper left")
plt.show()
