"""
=====================================
Grid search over fastnn on a cluster
=====================================

Runs a ``GridSearchCV`` over a fastnn pipeline through joblib's Dask backend.
Without arguments it starts a local cluster (two worker processes on this
machine); give the address of a real scheduler to use that cluster instead —
the only change a user with a cluster needs::

    python examples/dask_grid_search.py
    python examples/dask_grid_search.py --scheduler tcp://scheduler-host:8786

Needs ``pip install "fastnn-mlp[dask]"`` here and on the workers.
"""

import argparse
import time
import warnings

import joblib
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastnn import MLPClassifier
from fastnn.activations import Sigmoid

# %%
# Connect to a cluster
# --------------------
# Every step below sits under ``if __name__ == "__main__":``, because a local
# cluster starts its workers as new Python processes that import this file:
# without the guard each worker would start a cluster of its own.
if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description="Grid search over fastnn on a Dask cluster."
    )
    parser.add_argument("--scheduler", help="address of a running Dask scheduler")
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
# The search
# ----------
# A pipeline and a grid as for any scikit-learn estimator; fastnn's own
# activations (here a ``Sigmoid`` with a slope) are values like the others.
# ``joblib.parallel_config(backend="dask")`` sends the candidates' fits to the
# workers.
if __name__ == "__main__":
    X, y = load_digits(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=50, random_state=0))
    grid = {
        "mlpclassifier__hidden_layer_sizes": [(32,), (64,), (64, 32)],
        "mlpclassifier__activation": ["relu", "gelu", Sigmoid(beta=2.0)],
        "mlpclassifier__alpha": [1e-4, 1e-2],
    }
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with joblib.parallel_config(backend="dask"):
            search = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    print(
        f"{len(search.cv_results_['params'])} candidates x 3 folds in "
        f"{time.perf_counter() - start:.1f} s"
    )
    print(f"best cv accuracy {search.best_score_:.4f} with {search.best_params_}")
    client.close()
