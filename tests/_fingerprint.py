"""Digests of the bits a few fits and predictions produce, to compare builds.

Run as a script in another environment (a serial build installed from the
sdist, say), it prints the build's configuration and the digests as JSON;
imported, :func:`fingerprints` gives this build's digests to compare with.
The workloads are large enough that the engine cuts them into several
blocks, so a build with OpenMP runs them on several threads.
"""

import hashlib
import io
import json
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning

import fastnn
from fastnn import MLPClassifier, MLPRegressor


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _model_digest(model, X) -> str:
    out = model.predict_proba(X) if hasattr(model, "predict_proba") else None
    return _digest(
        *model.coefs_,
        *model.intercepts_,
        np.asarray(getattr(model, "loss_curve_", [model.loss_])),
        model.predict(X),
        *([] if out is None else [out]),
    )


def fingerprints() -> dict[str, str]:
    """Digest of each workload's fitted weights, loss curve and predictions."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    Xr, yr = make_regression(n_samples=3000, n_features=40, noise=1.0, random_state=0)
    rng = np.random.RandomState(0)
    Xs = sp.random(3000, 500, density=0.02, format="csr", random_state=rng)
    sums = np.asarray(Xs.sum(axis=1)).ravel()
    ys = (sums > np.median(sums)).astype(int)
    workloads = {
        "adam-dropout-float64": (
            MLPClassifier(
                hidden_layer_sizes=(128, 64), dropout=0.1, max_iter=3, random_state=0
            ),
            X,
            y,
        ),
        "sgd-float32": (
            MLPClassifier(
                hidden_layer_sizes=(100,), solver="sgd", max_iter=3, random_state=0
            ),
            X.astype(np.float32),
            y,
        ),
        "regressor-adam": (
            MLPRegressor(hidden_layer_sizes=(64, 64), max_iter=3, random_state=0),
            Xr,
            yr / 100.0,
        ),
        "sparse-csr": (
            MLPClassifier(hidden_layer_sizes=(32,), max_iter=3, random_state=0),
            Xs,
            ys,
        ),
        "lbfgs": (
            MLPRegressor(
                hidden_layer_sizes=(32,), solver="lbfgs", max_iter=20, random_state=0
            ),
            Xr,
            yr / 100.0,
        ),
    }
    result = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, (model, X_, y_) in workloads.items():
            result[name] = _model_digest(model.fit(X_, y_), X_)
    return result


if __name__ == "__main__":
    config = fastnn.show_config(file=io.StringIO())
    print(
        json.dumps(
            {
                "file": fastnn.__file__,
                "openmp": config["openmp"],
                "n_threads": config["n_threads"],
                "fingerprints": fingerprints(),
            }
        )
    )
