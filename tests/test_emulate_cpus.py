"""``_engine._emulate_cpus``: a process that behaves as if it had n CPUs.

What the switch must change (the ceiling, each batch's team, the blocks
read from the CPU count), that it restores the real machine, that a fit's
bits do not depend on it, and that threads and forked children see it.
"""

import os
import subprocess
import sys
import tempfile
import textwrap
import threading

import numpy as np
import pytest
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

from fastnn import MLPClassifier, _engine
from fastnn._engine import _phases
from fastnn._threads import engine_n_threads

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.skipif(not _engine.openmp_enabled(), reason="serial build"),
]


@pytest.fixture
def emulate():
    """``_emulate_cpus``, with the real machine back after the test."""
    previous = _engine._emulate_cpus(None)
    try:
        yield _engine._emulate_cpus
    finally:
        _engine._emulate_cpus(previous)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16, y


def _fit(X, y) -> MLPClassifier:
    # Products large enough for every batch to run a team.
    return MLPClassifier(
        hidden_layer_sizes=(128, 64), batch_size=400, max_iter=2, random_state=0, tol=0
    ).fit(X, y)


def _mean_team(fit) -> float:
    """The mean team of ``fit()``'s batches, from the engine's own clocks."""
    _phases.reset()
    _phases.set_enabled(True)
    try:
        fit()
        clocks = _phases.read()
    finally:
        _phases.set_enabled(False)
        _phases.reset()
    return clocks["pass threads"] / clocks["pass wall"]


def _same_bits(a: MLPClassifier, b: MLPClassifier) -> bool:
    arrays = zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True)
    return all(np.array_equal(p, q) for p, q in arrays) and (
        a.loss_curve_ == b.loss_curve_
    )


def test_every_reading_of_the_machine_sees_the_emulated_cpus(emulate, digits):
    real = _engine.effective_n_threads()
    assert emulate(64) is None
    assert _engine.effective_n_threads() == 64
    assert engine_n_threads() == 64
    # Every emulated CPU is free, whatever runs on the real machine.
    assert _engine.team_size(64) == 64
    assert _mean_team(lambda: _fit(*digits)) == pytest.approx(64)
    workers = [
        tid
        for tid in os.listdir("/proc/self/task")
        if open(f"/proc/self/task/{tid}/comm").read().strip() == "fastnn-omp"
    ]
    assert len(workers) >= 63
    assert emulate(None) == 64
    assert _engine.effective_n_threads() == real
    assert _engine.team_size(1) == 1


def test_each_call_returns_the_previous_setting(emulate):
    assert emulate(8) is None
    assert emulate(16) == 8
    assert emulate(0) == 16
    assert emulate(3) is None
    assert _engine.effective_n_threads() == 3
    with pytest.raises(ValueError, match="positive"):
        emulate(-1)
    assert emulate(None) == 3


def test_an_openmp_limit_below_the_real_machine_still_caps_the_ceiling(emulate):
    emulate(64)
    with threadpool_limits(1, user_api="openmp"):
        assert _engine.effective_n_threads() == 1


@pytest.mark.parametrize("products", ["kernels", "blas"])
def test_a_fit_has_the_same_bits_on_2_and_64_emulated_cpus(emulate, digits, products):
    # A batch's cut is a function of the sizes alone, so this holds on BLAS
    # too (the same BLAS on both "machines").
    previous = _engine._set_products("blas") if products == "blas" else None
    try:
        emulate(2)
        small = _fit(*digits)
        emulate(64)
        large = _fit(*digits)
    finally:
        if previous is not None:
            _engine._set_products(previous)
    assert _same_bits(small, large)


def test_another_thread_sees_the_setting_and_runs_the_emulated_team(emulate, digits):
    emulate(16)
    seen = {}

    def work():
        seen["ceiling"] = _engine.effective_n_threads()
        seen["team"] = _mean_team(lambda: _fit(*digits))

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(120)
    assert seen == {"ceiling": 16, "team": pytest.approx(16)}


_FORKED = """
import os
import warnings

import numpy as np
from sklearn.datasets import load_digits

from fastnn import MLPClassifier, _engine
from fastnn._threads import engine_n_threads

warnings.simplefilter("ignore")
X, y = load_digits(return_X_y=True)
X = X / 16


def fit():
    return MLPClassifier(hidden_layer_sizes=(128, 64), batch_size=400, max_iter=2,
                         random_state=0, tol=0).fit(X, y).coefs_[0]


def in_child(check):
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            status = 0 if check() else 2
        finally:
            os._exit(status)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


_engine._emulate_cpus(16)
# Forked before any team ran: the child runs the emulated team.
print(in_child(lambda: engine_n_threads() == 16 and fit() is not None))
expected = fit()
# Forked after a team ran: the setting is inherited, and the engine runs on
# one thread (libgomp's pool does not survive fork) with the same bits.
print(in_child(lambda: _engine.effective_n_threads() == 16
               and engine_n_threads() == 1 and np.array_equal(fit(), expected)))
"""


def test_a_forked_child_inherits_the_setting():
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(textwrap.dedent(_FORKED))
    try:
        done = subprocess.run(
            [sys.executable, f.name],
            capture_output=True,
            text=True,
            timeout=240,
            cwd=tempfile.gettempdir(),
        )
    finally:
        os.unlink(f.name)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "0"]
