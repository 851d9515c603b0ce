"""Training and prediction on Dask: one model over a cluster's data.

:func:`fit` trains one L-BFGS model data-parallel, each evaluation summed
over the row blocks where they live; :func:`predict`, :func:`predict_proba`
and :func:`score` evaluate any fitted model block by block on the workers;
:func:`partial_fit_blocks` feeds the blocks of a :class:`dask.array.Array` to a
stochastic solver's ``partial_fit`` one at a time.

Needs the ``dask`` extra (``pip install "fastnn-mlp[dask]"``).  For
hyper-parameter search on a cluster no helper is needed: fastnn estimators
pickle, import on the workers and honour each worker's thread limits, so
``GridSearchCV`` runs under :func:`joblib.parallel_config` (``backend="dask"``)
with a :class:`distributed.Client` like any scikit-learn estimator.
"""

from ._fit import fit
from ._partial import partial_fit_blocks
from ._predict import predict, predict_proba, score

__all__ = ["fit", "partial_fit_blocks", "predict", "predict_proba", "score"]
