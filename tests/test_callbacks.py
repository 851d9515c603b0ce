"""scikit-learn's callback API: one task per epoch, stop requests, monitors."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastnn import MLPClassifier, MLPRegressor

callback = pytest.importorskip(
    "sklearn.callback", reason="needs scikit-learn >= 1.9 (sklearn.callback)"
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class Recorder:
    """Records every task end; asks to stop after ``stop_after`` epochs."""

    def __init__(self, stop_after=None):
        self.stop_after = stop_after
        self.ends = []

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context, *, X=None, y=None, metadata=None):
        pass

    def on_fit_task_end(
        self,
        estimator,
        context,
        *,
        X=None,
        y=None,
        metadata=None,
        fitted_estimator=None,
    ):
        self.ends.append((context.task_name, fitted_estimator))
        epochs = sum(name == "epoch" for name, _ in self.ends)
        return self.stop_after is not None and epochs >= self.stop_after


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 5))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def test_one_task_per_epoch_with_the_state_of_that_epoch(data):
    X, y = data
    recorder = Recorder()
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=4, random_state=0)
    clf.set_callbacks(recorder).fit(X, y)
    names = [name for name, _ in recorder.ends]
    assert names == ["epoch"] * 4 + ["fit"]
    # Each epoch's fitted_estimator predicts with that epoch's weights.
    snapshots = [est for name, est in recorder.ends if name == "epoch"]
    assert [est.n_iter_ for est in snapshots] == [1, 2, 3, 4]
    assert_allclose(snapshots[-1].predict_proba(X), clf.predict_proba(X))
    assert not np.allclose(snapshots[0].coefs_[0], clf.coefs_[0])


def test_a_callback_can_stop_training(data):
    X, y = data
    clf = MLPRegressor(hidden_layer_sizes=(8,), max_iter=50, random_state=0)
    clf.set_callbacks(Recorder(stop_after=3)).fit(X, y)
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == 3


def test_scoring_monitor_logs_every_epoch(data):
    X, y = data
    monitor = callback.ScoringMonitor(scoring="accuracy")
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    clf.set_callbacks(monitor).fit(X, y)
    log = monitor.get_logs()
    assert len(log.data) >= 5


def test_progress_bar_inside_a_pipeline(data, capsys):
    pytest.importorskip("rich")
    X, y = data
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=3, random_state=0))
    pipe.set_callbacks(callback.ProgressBar()).fit(X, y)
    assert "MLPClassifier - fit" in capsys.readouterr().out
    plain = make_pipeline(StandardScaler(), MLPClassifier(max_iter=3, random_state=0))
    assert_allclose(pipe.predict_proba(X), plain.fit(X, y).predict_proba(X))


def test_partial_fit_and_lbfgs_report_their_fit_task(data):
    X, y = data
    recorder = Recorder()
    clf = MLPClassifier(random_state=0).set_callbacks(recorder)
    clf.partial_fit(X, y, classes=[0, 1])
    assert [name for name, _ in recorder.ends] == ["epoch", "fit"]
    recorder = Recorder()
    MLPClassifier(solver="lbfgs", max_iter=5, random_state=0).set_callbacks(
        recorder
    ).fit(X, y)
    assert [name for name, _ in recorder.ends] == ["fit"]


class Failing(Recorder):
    def on_fit_task_end(
        self,
        estimator,
        context,
        *,
        X=None,
        y=None,
        metadata=None,
        fitted_estimator=None,
    ):
        super().on_fit_task_end(estimator, context)
        if sum(name == "epoch" for name, _ in self.ends) == 2:
            raise RuntimeError("callback failed")
        return False


def test_an_exception_in_a_callback_leaves_the_previous_model(data):
    X, y = data
    clf = MLPClassifier(hidden_layer_sizes=(8,), random_state=0).fit(X, y)
    before = {k: np.copy(v) for k, v in enumerate(clf.coefs_ + clf.intercepts_)}
    state = (clf.n_iter_, clf.t_, list(clf.loss_curve_))
    clf.set_callbacks(Failing()).set_params(warm_start=True, max_iter=5)
    with pytest.raises(RuntimeError, match="callback failed"):
        clf.fit(X, y)
    for k, w in enumerate(clf.coefs_ + clf.intercepts_):
        assert_array_equal(w, before[k])
    assert (clf.n_iter_, clf.t_, clf.loss_curve_) == state
    # The restored model trains on as if nothing had happened.
    clf.set_callbacks()
    clf.partial_fit(X, y)

    fresh = MLPClassifier(max_iter=5, random_state=0).set_callbacks(Failing())
    with pytest.raises(RuntimeError, match="callback failed"):
        fresh.fit(X, y)
    assert not hasattr(fresh, "coefs_")
