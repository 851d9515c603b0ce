#!/usr/bin/env bash
# A short fit and predict of every estimator kind under valgrind's memcheck,
# hand-edited weights and a refit racing a predict in another thread,
# against the installed fastnn.  Exits non-zero on any memory error reported
# in fastnn's own code.
set -euo pipefail
cd "$(dirname "$0")"

# The interpreter itself, not a launcher: valgrind does not follow exec, so a
# pyenv shim (a shell script) would run Python unchecked.
python_bin=$(python -c 'import sys; print(sys.executable)')
PYTHONMALLOC=malloc valgrind --tool=memcheck --error-exitcode=3 \
    --errors-for-leak-kinds=none --track-origins=yes \
    --suppressions=valgrind-python.supp \
    "$python_bin" - <<'PY'
import warnings

import numpy as np
import scipy.sparse as sp

from fastnn import MLPClassifier, MLPRegressor

warnings.simplefilter("ignore")
rng = np.random.RandomState(0)
X = rng.normal(size=(300, 8))
y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
for dtype in (np.float32, np.float64):
    for solver in ("adam", "sgd", "lbfgs"):
        Xd = X.astype(dtype)
        clf = MLPClassifier((16, 8), solver=solver, max_iter=3, random_state=0)
        clf.fit(Xd, y).predict_proba(Xd)
        reg = MLPRegressor(hidden_layer_sizes=(16,), solver=solver, max_iter=3,
                           random_state=0)
        reg.fit(Xd, X[:, 0]).predict(Xd)
        clf.fit(sp.csr_matrix(Xd), y).predict(sp.csr_matrix(Xd))
# The kernels beyond scikit-learn's: parameterised and per-layer
# activations, dropout, other losses, input gradients.
from fastnn.activations import Gaussian

clf = MLPClassifier((16, 8), activation=["gelu", Gaussian(sigma=2.0)], dropout=0.3,
                    loss="squared_error", max_iter=3, random_state=0).fit(X, y)
clf.input_gradient(X[:20]), clf.input_gradient(X[:20], y[:20])
reg = MLPRegressor(hidden_layer_sizes=(8,), activation="unit_step", loss="huber",
                   max_iter=3, random_state=0).fit(X, X[:, 0])
reg.predict(X)
# HistGradientBoosting's losses, AdamW, and the phase clocks on.
from fastnn._engine import _phases

_phases.set_enabled(True)
for target, loss in ((X[:, 0], dict(loss="quantile", quantile=0.9)),
                     (np.exp(X[:, 0]), dict(loss="gamma"))):
    reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0,
                       **loss).fit(X, target)
    reg.predict(X), reg.input_gradient(X[:20], target[:20])
MLPClassifier((16,), solver="adamw", max_iter=3, random_state=0).fit(X, y)
_phases.set_enabled(False)
# A sparse first layer wide enough to run in blocks, fused with the
# optimizer step; predictions that meet NaN inside the engine's check.
Xs = sp.random(300, 2500, density=0.02, format="csr", random_state=0)
for solver in ("adam", "sgd"):
    MLPClassifier((16,), solver=solver, max_iter=2, random_state=0).fit(Xs, y)
X_nan = np.asfortranarray(X)
X_nan[250, 3] = np.nan
for bad in (X_nan, np.ascontiguousarray(X_nan)):
    try:
        reg.predict(bad)
    except ValueError:
        pass
    else:
        raise AssertionError("NaN input was not rejected")
# Training's products at every kernel level the (emulated) CPU runs, and on
# BLAS: odd sizes at every tile edge, C- and F-ordered float32 input.
from fastnn._engine import _kernels, _layers

default = _layers.products()
for level in ["blas", *[name for name, code in _kernels.GEMM_LEVELS.items()
                        if code <= _kernels.GEMM_LEVELS[_kernels.BEST_GEMM_LEVEL]]]:
    _layers._set_products(level)
    for Xo in (X[:, :7].astype(np.float32), np.asfortranarray(X[:, :7])):
        model = MLPClassifier((33, 9), max_iter=2, batch_size=37, random_state=0)
        model.fit(Xo, y)
        # Predictions at every tile height, and a chunk the team shares.
        for rows in (1, 2, 3, 5, 9, 300):
            model.predict_proba(Xo[:rows])
    MLPRegressor(hidden_layer_sizes=(17,), solver="lbfgs", max_iter=3,
                 random_state=0).fit(X, X[:, 0])
_layers._set_products(default)
# The fit's NaN test on the engine's threads, in every layout it reads.
for bad in (X_nan, np.ascontiguousarray(X_nan), X_nan[::2, 1::2],
            sp.csr_matrix(np.nan_to_num(X_nan) + np.where(np.isnan(X_nan), np.inf, 0))):
    try:
        MLPRegressor(hidden_layer_sizes=(8,), max_iter=1).fit(bad, X[: bad.shape[0], 0])
    except ValueError:
        pass
    else:
        raise AssertionError("non-finite input was not rejected by fit")
# Narrow layers: one feature, a bottleneck, and
# L-BFGS over several chunks (each layer's intercepts have one owner).
import fastnn._base
from fastnn import _engine

x1 = np.ascontiguousarray(X[:, :1])
# The default cut of every batch and the finest (every panel a unit).
for floor in (32768, 1):
    previous = _engine._set_unit_floor(floor)
    MLPRegressor(hidden_layer_sizes=(400,), max_iter=2, random_state=0).fit(x1, X[:, 1])
    MLPRegressor(hidden_layer_sizes=(400, 2, 400), max_iter=2,
                 random_state=0).fit(X, X[:, 1])
    chunk, fastnn._base._LBFGS_CHUNK_ROWS = fastnn._base._LBFGS_CHUNK_ROWS, 200
    MLPRegressor(hidden_layer_sizes=(400,), solver="lbfgs", max_iter=2,
                 random_state=0).fit(x1, X[:, 1])
    fastnn._base._LBFGS_CHUNK_ROWS = chunk
    _engine._set_unit_floor(previous)
# Hand-edited weights: a consistent pruning is used, inconsistent edits
# must be refused before the engine reads past a buffer.
edited = MLPClassifier((16, 8), max_iter=3, random_state=0).fit(X, y)
edited.coefs_[0], edited.intercepts_[0] = edited.coefs_[0][:, :10], edited.intercepts_[0][:10]
edited.coefs_[1] = edited.coefs_[1][:10]
edited.predict_proba(X)
for edit in (lambda m: m.coefs_.__setitem__(1, m.coefs_[1][:4]),
             lambda m: m.intercepts_.__setitem__(2, m.intercepts_[2][:1]),
             lambda m: m.coefs_.pop()):
    edit(edited)
    try:
        edited.predict_proba(X)
    except ValueError:
        pass
    else:
        raise AssertionError("an inconsistent edit was not refused")
# A refit with another architecture while another thread predicts.
import sys
import threading

sys.setswitchinterval(1e-5)
racing = MLPClassifier((16,), max_iter=1, random_state=0).fit(X, y)
refits_done = threading.Event()


def refit():
    for i in range(12):
        racing.set_params(hidden_layer_sizes=[(16,), (4, 32)][i % 2]).fit(X, y)
    refits_done.set()


def predict():
    while not refits_done.is_set():
        try:
            assert racing.predict_proba(X).shape == (300, 3)
        except ValueError:
            pass


threads = [threading.Thread(target=refit), threading.Thread(target=predict)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("valgrind run finished")
PY
