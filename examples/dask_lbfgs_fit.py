"""
=============================================
One model trained on a local Dask cluster
=============================================

Train one model on data spread over a Dask cluster, and predict there.
Draws a classification data set on the workers (it never passes through
this process), trains one ``MLPClassifier(solver="lbfgs")`` with
:func:`fastnn.dask.fit` — every L-BFGS evaluation summed over the row blocks
where they live — and scores it with the lazy :func:`fastnn.dask.score`.
Without arguments it starts a local cluster (two worker processes on this
machine); give the address of a real scheduler to use that cluster instead::

    python examples/dask_lbfgs_fit.py
    python examples/dask_lbfgs_fit.py --scheduler tcp://scheduler-host:8786
    python examples/dask_lbfgs_fit.py --n-samples 1000000 --blocks 16

Needs ``pip install "fastnn-mlp[dask]"`` here and on the workers.
"""

import argparse
import pickle
import time
import warnings

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster
from sklearn.exceptions import ConvergenceWarning

import fastnn.dask
from fastnn import MLPClassifier

# %%
# Connect to a cluster
# --------------------
# Every step below sits under ``if __name__ == "__main__":``, because a local
# cluster starts its workers as new Python processes that import this file:
# without the guard each worker would start a cluster of its own.
if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description="Train one model on data spread over a Dask cluster."
    )
    parser.add_argument("--scheduler", help="address of a running Dask scheduler")
    parser.add_argument("--n-samples", type=int, default=40_000)
    parser.add_argument("--n-features", type=int, default=20)
    parser.add_argument("--blocks", type=int, default=4, help="row blocks of X")
    args = parser.parse_args()
    if args.scheduler:
        client = Client(args.scheduler)
    else:
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        client = Client(cluster)
    print(client)

# %%
# Data drawn on the workers
# -------------------------
# Three classes from two noisy directions, drawn block by block where the
# blocks live: nothing here is computed yet.
if __name__ == "__main__":
    rows = -(-args.n_samples // args.blocks)
    rng = da.random.RandomState(0)
    X = rng.normal(size=(args.n_samples, args.n_features), chunks=(rows, -1))
    score = X[:, 0] - X[:, 1] + 0.3 * rng.normal(size=args.n_samples, chunks=rows)
    y = da.digitize(score, np.array([-0.5, 0.5]))
    print(X)

# %%
# One L-BFGS fit over all the blocks
# ----------------------------------
# Each evaluation of the loss and its gradient runs on the workers, where the
# blocks are, and only the sums come back to this process.
if __name__ == "__main__":
    model = MLPClassifier(hidden_layer_sizes=(32,), solver="lbfgs", max_iter=50)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = fastnn.dask.fit(model, X, y)
    print(
        f"trained on {args.n_samples} x {args.n_features} in {args.blocks} blocks: "
        f"{model.n_iter_} L-BFGS iterations in {time.perf_counter() - start:.1f} s, "
        f"classes {model.classes_.tolist()}"
    )

# %%
# Scores and predictions on the workers
# -------------------------------------
# Both are lazy dask arrays, computed where the blocks are.
if __name__ == "__main__":
    accuracy = float(fastnn.dask.score(model, X, y).compute())
    print(f"training accuracy {accuracy:.4f}")
    first = fastnn.dask.predict(model, X[:5]).compute()
    print(f"first predictions {first.tolist()}")

# %%
# An ordinary fitted estimator
# ----------------------------
# The result pickles and predicts NumPy input in this process.
if __name__ == "__main__":
    local = pickle.loads(pickle.dumps(model))
    print(f"local predictions {local.predict(X[:5].compute()).tolist()}")
    client.close()
