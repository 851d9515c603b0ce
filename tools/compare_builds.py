"""Check that two fastnn source trees train bitwise-identical models.

    python tools/compare_builds.py OLD_TREE NEW_TREE

Both trees must be built in place (``python setup.py build_ext --inplace``).
Each tree fits the same small workloads -- the benchmark suite's kinds at a
few hundred rows: float32 and float64, dense (C- and F-ordered) and CSR
input, sgd / adam / adamw / lbfgs, dropout, several activations, every
regressor loss and the classifier's squared error, multi-output and
multilabel targets, early stopping, layers narrower than the block count
(one feature, a bottleneck), several GEMM block counts where the
tree can force them -- in a subprocess with only that tree on
``PYTHONPATH``, and the coefficients,
intercepts, loss curves and predictions are compared byte for byte.  Exits
with status 1 and names the cases that differ, each with how far it moved:
the largest relative difference of its coefficients and intercepts, and of
its predicted probabilities (or predictions).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

# Run in each tree's own interpreter process: prints one JSON object,
# case name -> SHA-256 of everything the fit produced.
_WORKER = r"""
import hashlib, json, sys, warnings

import numpy as np
import scipy.sparse as sp

import fastnn
from fastnn import MLPClassifier, MLPRegressor

warnings.simplefilter("ignore")
rng = np.random.RandomState(0)
X = rng.normal(size=(600, 40))
y_class = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5)
y_reg = X[:, 0] - 2 * X[:, 1] + 0.1 * rng.normal(size=600)
dense = rng.binomial(1, 0.05, size=(600, 2000)) * rng.uniform(0.5, 2, size=(600, 2000))
X_sparse = sp.csr_matrix(dense)
y_sparse = (dense[:, :50].sum(axis=1) > 0.5).astype(int)

CASES = []
for dtype in ("float32", "float64"):
    for solver in ("sgd", "adam", "lbfgs"):
        CASES.append((f"clf-dense-{solver}-{dtype}", "clf", "dense", dtype,
                      dict(hidden_layer_sizes=(64, 32), solver=solver)))
        CASES.append((f"reg-dense-{solver}-{dtype}", "reg", "dense", dtype,
                      dict(hidden_layer_sizes=(48,), solver=solver)))
        CASES.append((f"clf-sparse-{solver}-{dtype}", "clf", "sparse", dtype,
                      dict(hidden_layer_sizes=(64,), solver=solver)))
    # Skipped in trees without weight_decay (before solver='adamw').
    CASES.append((f"clf-dense-adamw-{dtype}", "clf", "dense", dtype,
                  dict(hidden_layer_sizes=(64, 32), solver="adamw",
                       weight_decay=0.05)))
    CASES.append((f"clf-sparse-adamw-{dtype}", "clf", "sparse", dtype,
                  dict(hidden_layer_sizes=(64,), solver="adamw",
                       weight_decay=0.05)))
    CASES.append((f"clf-fortran-adam-{dtype}", "clf", "fortran", dtype,
                  dict(hidden_layer_sizes=(32,), solver="adam")))
    CASES.append((f"clf-dropout-adam-{dtype}", "clf", "dense", dtype,
                  dict(hidden_layer_sizes=(64, 64), solver="adam",
                       dropout=0.2)))
    CASES.append((f"clf-sparse-dropout-sgd-{dtype}", "clf", "sparse", dtype,
                  dict(hidden_layer_sizes=(64, 16), solver="sgd", dropout=0.1)))
    for act in ("logistic", "tanh", "gelu", "silu", "gaussian", "unit_step",
                "elu", "softplus", "piecewise_linear", "leaky_relu"):
        CASES.append((f"clf-{act}-adam-{dtype}", "clf", "dense", dtype,
                      dict(hidden_layer_sizes=(32, 16), solver="adam",
                           activation=act)))
    for loss in ("huber", "absolute_error", "poisson", "gamma"):
        CASES.append((f"reg-{loss}-{dtype}", "reg", "dense", dtype,
                      dict(hidden_layer_sizes=(32,), solver="adam", loss=loss)))
    # Skipped in trees without the quantile loss.
    CASES.append((f"reg-quantile-{dtype}", "reg", "dense", dtype,
                  dict(hidden_layer_sizes=(32,), solver="adam", loss="quantile",
                       quantile=0.9)))
    CASES.append((f"clf-squared-error-adam-{dtype}", "clf", "dense", dtype,
                  dict(hidden_layer_sizes=(32,), solver="adam",
                       loss="squared_error")))
    for solver in ("adam", "lbfgs"):
        CASES.append((f"reg-multioutput-{solver}-{dtype}", "reg", "multi", dtype,
                      dict(hidden_layer_sizes=(32,), solver=solver)))
        CASES.append((f"clf-multilabel-{solver}-{dtype}", "clf", "multi", dtype,
                      dict(hidden_layer_sizes=(32,), solver=solver)))
    CASES.append((f"clf-early-stopping-sgd-{dtype}", "clf", "dense", dtype,
                  dict(hidden_layer_sizes=(32,), solver="sgd",
                       early_stopping=True)))
    # Layers narrower than the block count, with products large enough to
    # be cut: one input feature, and a bottleneck.
    for solver in ("adam", "lbfgs"):
        CASES.append((f"reg-one-feature-{solver}-{dtype}", "reg", "one-feature",
                      dtype, dict(hidden_layer_sizes=(400,), solver=solver)))
        CASES.append((f"reg-bottleneck-{solver}-{dtype}", "reg", "dense", dtype,
                      dict(hidden_layer_sizes=(400, 2, 400), solver=solver)))


def data(kind, task, dtype):
    if kind == "sparse":
        return X_sparse.astype(dtype), y_sparse
    Xd = X.astype(dtype)
    if kind == "fortran":
        Xd = np.asfortranarray(Xd)
    if kind == "one-feature":
        Xd = np.ascontiguousarray(Xd[:, :1])
    if kind == "multi":
        if task == "clf":
            return Xd, np.c_[y_class > 0, y_class > 1, X[:, 3] > 0].astype(int)
        return Xd, np.c_[y_reg, X[:, 2] - y_reg / 2]
    return Xd, (y_class if task == "clf" else y_reg)


def targets(task, params, y):
    # Poisson and Gamma regression want positive targets.
    return np.exp(y / 4) if params.get("loss") in ("poisson", "gamma") else y


# What a fit produced, for the distances between differing fits.
def arrays(model, Xd):
    out = {f"param{i}": a for i, a in
           enumerate(list(model.coefs_) + list(model.intercepts_))}
    out["output"] = (model.predict_proba(Xd) if hasattr(model, "predict_proba")
                     else model.predict(Xd))
    return out


def fingerprint(model, Xd):
    h = hashlib.sha256()
    for a in list(model.coefs_) + list(model.intercepts_):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(np.asarray(getattr(model, "loss_curve_", []), dtype=float).tobytes())
    h.update(np.ascontiguousarray(model.predict(Xd)).tobytes())
    if hasattr(model, "predict_proba"):
        h.update(np.ascontiguousarray(model.predict_proba(Xd)).tobytes())
    return h.hexdigest()


def supported(cls, params):
    est = cls()
    if not all(k in est.get_params() for k in params):
        return False
    try:  # a loss the tree does not know
        cls(**params)._validate_params()
    except ValueError:
        return False
    return True


engine = fastnn._engine
force = getattr(engine, "_set_gemm_blocks", None)
blocks = [int(b) for b in sys.argv[1].split(",")] if force and sys.argv[1] else [None]
out, saved = {}, {}
for b in blocks:
    if b is not None:
        force(b)
    for name, task, kind, dtype, params in CASES:
        cls = MLPClassifier if task == "clf" else MLPRegressor
        if not supported(cls, params):
            continue
        Xd, yd = data(kind, task, dtype)
        est = cls(max_iter=8, random_state=0, **params)
        est.fit(Xd, targets(task, params, yd))
        out[f"{name}@{b or 'machine'}"] = fingerprint(est, Xd)
        for key, a in arrays(est, Xd).items():
            saved[f"{name}@{b or 'machine'}/{key}"] = np.asarray(a, dtype=float)
np.savez(sys.argv[2], **saved)
print(json.dumps(out))
"""


def _run(tree: Path, blocks: str, saved: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    proc = subprocess.run(
        [sys.executable, "-c", _WORKER, blocks, str(saved)],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        sys.exit(f"{tree}: the workloads failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    """Largest |a - b| relative to the larger magnitude (0 where both are 0);
    nan where only one is finite."""
    if a.shape != b.shape or not np.array_equal(np.isfinite(a), np.isfinite(b)):
        return float("nan")
    finite = np.isfinite(a)
    a, b = a[finite], b[finite]
    scale = np.maximum(np.abs(a), np.abs(b))
    diff = np.abs(a - b)
    return float(
        np.max(
            np.where(scale > 0, diff / np.where(scale > 0, scale, 1), 0), initial=0.0
        )
    )


def _distances(old: dict, new: dict, old_key: str, new_key: str) -> tuple[float, float]:
    """(coefficients, outputs): the largest relative differences of a case."""
    params = [
        _relative(old[f"{old_key}/{name}"], new[f"{new_key}/{name}"])
        for name in (k.split("/", 1)[1] for k in new if k.startswith(new_key + "/"))
        if name.startswith("param")
    ]
    output = _relative(old[f"{old_key}/output"], new[f"{new_key}/output"])
    return max(params, default=0.0), output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument(
        "--blocks",
        default="",
        help="GEMM block counts to force in trees that can (comma-separated); "
        "by default every tree uses its machine's count.  A tree that cannot "
        "force them is compared under each count the other forces",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old = _run(args.old.resolve(), args.blocks, Path(tmp, "old.npz"))
        new = _run(args.new.resolve(), args.blocks, Path(tmp, "new.npz"))
        with np.load(Path(tmp, "old.npz")) as a, np.load(Path(tmp, "new.npz")) as b:
            old_arrays, new_arrays = dict(a), dict(b)

    def case(key: str) -> str:
        return key.rsplit("@", 1)[0]

    old_by_case = {case(k): v for k, v in old.items()}
    compared = differ = 0
    for key, digest in sorted(new.items()):
        ref = old.get(key, old_by_case.get(case(key)))
        if ref is None:
            continue
        compared += 1
        if ref != digest:
            differ += 1
            old_key = (
                key if key in old else next(k for k in old if case(k) == case(key))
            )
            params, output = _distances(old_arrays, new_arrays, old_key, key)
            print(
                f"DIFFERS  {key}: largest relative difference {params:.1e} in "
                f"the coefficients, {output:.1e} in the outputs"
            )
    print(f"{compared} fits compared, {differ} differ")
    digest = hashlib.sha256(json.dumps(new, sort_keys=True).encode()).hexdigest()
    print(f"fingerprint of the new tree's results: {digest[:16]}")
    sys.exit(1 if differ or not compared else 0)


if __name__ == "__main__":
    main()
