"""scikit-learn's own estimator checks, with no expected failures."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastnn import MLPClassifier, MLPRegressor

# The checks fit small data with the max_iter=100 scikit-learn checks its own
# MLPs with: they test the API, not convergence, and stopping at max_iter is
# expected.  Only ConvergenceWarning is ignored: any other warning shows.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# The settings scikit-learn checks its own MLPs with (max_iter=100), seeded,
# plus the other solvers.  Every check runs; none is marked as an expected
# failure.
@parametrize_with_checks(
    [
        MLPClassifier(max_iter=100, random_state=0),
        MLPRegressor(max_iter=100, random_state=0),
        MLPClassifier(solver="lbfgs", max_iter=100, random_state=0),
        MLPRegressor(solver="sgd", random_state=0),
        MLPRegressor(loss="quantile", quantile=0.5, max_iter=100, random_state=0),
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
