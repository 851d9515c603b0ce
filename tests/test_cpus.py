"""The engine's team takes only the cores that other threads leave free.

The mechanism is tested, never its speed (that is ``benchmarks/suite.py``'s
interference and contention tables): what the engine counts as competing,
that it shrinks the team while they run and grows it back after, that the
thread count honours the CPU quota, and that a fit whose team changed size
on the way is bitwise the fit of a quiet machine.
"""

import os
import subprocess
import sys
import threading
import time

import fastnn._engine._threads
import numpy as np
import pytest
from fastnn._engine._threads import effective_n_threads, openmp_enabled
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_info, threadpool_limits

from fastnn import MLPClassifier, _engine

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="competitors are counted on Linux only"
)


def _poll(predicate, timeout: float = 5.0) -> bool:
    """Whether ``predicate()`` held at least once within ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.002)
    return False


def _thread_name(tid: int) -> str:
    with open(f"/proc/self/task/{tid}/comm") as f:
        return f.read().strip()


def _thread_names() -> list[str]:
    return [_thread_name(int(tid)) for tid in os.listdir("/proc/self/task")]


def _fit(X, y) -> MLPClassifier:
    return MLPClassifier(
        hidden_layer_sizes=(64,), max_iter=3, random_state=0, tol=0
    ).fit(X, y)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16, y


def _in_process() -> int:
    return _engine.competing_threads()[0]


def _elsewhere() -> int:
    return _engine.competing_threads()[1]


@linux_only
def test_numpys_spinning_blas_worker_counts_as_a_competitor_until_it_sleeps():
    numpy_blas = [
        info
        for info in threadpool_info()
        if info["user_api"] == "blas" and "numpy" in info["filepath"]
    ]
    if not numpy_blas or numpy_blas[0]["num_threads"] < 2:
        pytest.skip("NumPy's BLAS runs one thread here: no worker to spin")
    A = np.random.default_rng(0).random((300, 300))
    # OpenBLAS's worker busy-waits after a threaded product: it is counted
    # right after the product, and the team of a batch started then shrinks.
    seen = []
    for _ in range(5):
        A @ A
        _engine._set_counting(True)  # a fresh count, not a cached one
        seen.append((_in_process(), _engine.team_size(2)))
    assert max(c for c, _ in seen) >= 1, seen
    assert min(t for _, t in seen) == 1, seen
    # The worker sleeps after its timeout (about 0.1 s of wall time).
    assert _poll(lambda: _in_process() == 0)


@linux_only
@pytest.mark.skipif(not openmp_enabled(), reason="serial build: no workers")
def test_engine_workers_are_named_and_not_counted(digits):
    if effective_n_threads() < 2:
        pytest.skip("one CPU: the engine runs no workers")
    caller = threading.get_native_id()
    own_name = _thread_name(caller)
    _engine._set_counting(False)  # a full team, however busy the machine
    try:
        _fit(*digits)
    finally:
        _engine._set_counting(True)
    assert "fastnn-omp" in _thread_names()
    # The caller's own thread keeps its name; only OpenMP workers are named.
    assert _thread_name(caller) == own_name != "fastnn-omp"
    # Right after a fit the workers may still spin; they never compete.
    # (BLAS on one thread: a threaded NumPy call in the fit's Python would
    # leave an OpenBLAS worker spinning, which does compete.)
    with threadpool_limits(1, user_api="blas"):
        _fit(*digits)
        assert _in_process() == 0


@linux_only
def test_a_busy_process_counts_and_shrinks_the_team_until_it_ends(digits):
    online = os.cpu_count() or 1
    # The least other processes ran over a moment (the machine may be busy).
    baseline = min(_elsewhere() for _ in range(50))
    # Enough busy processes to take every core but one.
    busy = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(max(1, online - 1))
    ]
    try:
        assert _poll(lambda: _elsewhere() >= baseline + len(busy))
        assert _poll(lambda: _engine.team_size(online) == 1)
        model = _fit(*digits)  # trained while the team shrinks
    finally:
        for p in busy:
            p.kill()
            p.wait()
    assert _poll(lambda: _elsewhere() <= baseline)
    quiet = _fit(*digits)
    for a, b in zip(model.coefs_ + model.intercepts_, quiet.coefs_ + quiet.intercepts_):
        np.testing.assert_array_equal(a, b)


def test_team_size_stays_within_one_and_the_requested_count():
    assert _engine.team_size(1) == 1
    assert _engine.team_size(0) == 1
    assert 1 <= _engine.team_size(64) <= 64


def test_a_fit_right_after_numpy_blas_is_bitwise_the_quiet_fit(digits):
    quiet = _fit(*digits)
    A = np.random.default_rng(0).random((300, 300))
    A @ A
    after = _fit(*digits)
    for a, b in zip(quiet.coefs_ + quiet.intercepts_, after.coefs_ + after.intercepts_):
        np.testing.assert_array_equal(a, b)
    A @ A
    proba_after = after.predict_proba(digits[0])
    np.testing.assert_array_equal(quiet.predict_proba(digits[0]), proba_after)


@pytest.mark.skipif(not openmp_enabled(), reason="serial build: always 1 thread")
def test_thread_count_honours_the_container_cpu_quota(monkeypatch):
    # joblib reads the cgroup v1/v2 quota; a quota of one CPU means one thread.
    fastnn._engine._threads._quota_cpus.cache_clear()
    monkeypatch.setattr(
        fastnn._engine._threads, "cpu_count", lambda only_physical_cores: 1
    )
    try:
        with threadpool_limits(8, user_api="openmp"):
            assert effective_n_threads() == 1
    finally:
        monkeypatch.undo()
        fastnn._engine._threads._quota_cpus.cache_clear()
    import joblib

    assert effective_n_threads() <= joblib.cpu_count(only_physical_cores=False)


@pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or not openmp_enabled(),
    reason="needs CPU affinity and OpenMP",
)
def test_thread_count_honours_cpu_affinity(tmp_path):
    code = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
        "from fastnn._engine._threads import effective_n_threads;"
        "print(effective_n_threads())"
    )
    out = subprocess.run(
        # Outside the checkout, so the child imports the installed fastnn.
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert out.stdout.strip() == "1"


@linux_only
def test_another_processs_thread_counts_once_seen_for_a_while_or_stalling():
    rule = fastnn._engine._threads._others_confirmed
    now = 100.0
    # Seen at this count only, nothing waited for a CPU: a passing thread.
    assert not rule(now, now, 5_000, 5_000, now - 0.005)
    assert not rule(now, now - 0.001, 5_000, 5_000, now - 0.005)
    # Seen at every count for 2 ms: a competitor.
    assert rule(now, now - 0.0025, 5_000, 5_000, now - 0.005)
    # Threads waited for over 10% of the 5 ms since the last reading: at
    # once; for less, not yet.
    assert rule(now, now, 5_600, 5_000, now - 0.005)
    assert not rule(now, now, 5_400, 5_000, now - 0.005)
    # Without CPU pressure (-1), only the time seen decides.
    assert not rule(now, now, -1, -1, now - 0.005)
    assert rule(now, now - 0.01, -1, -1, now - 0.005)


@linux_only
def test_cpu_pressure_is_read_where_the_kernel_has_it():
    stall = fastnn._engine._threads._cpu_stall_us()
    if not os.path.exists("/proc/pressure/cpu"):
        assert stall == -1
        return
    assert stall >= 0
    # A total since boot: it never goes down.
    assert fastnn._engine._threads._cpu_stall_us() >= stall


_IN_A_NEW_GROUP = r"""
import os, sys
with open(os.path.join(sys.argv[1], "cgroup.procs"), "w") as f:
    f.write(str(os.getpid()))
import fastnn._engine._threads as threads
print(threads._cpu_pressure_file())
"""


@linux_only
def test_cpu_pressure_of_the_processs_own_cgroup_v2_group_is_preferred(tmp_path):
    # The unified hierarchy: mounted at /sys/fs/cgroup (cgroup v2 only) or
    # /sys/fs/cgroup/unified (a hybrid system, as on the CI machines).
    roots = [
        r
        for r in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified")
        if os.path.exists(os.path.join(r, "cgroup.procs"))
        and os.path.exists(os.path.join(r, "cpu.pressure"))
    ]
    if not roots:
        pytest.skip("no cgroup v2 hierarchy with CPU pressure here")
    group = os.path.join(roots[0], f"fastnn-test-{os.getpid()}")
    try:
        os.mkdir(group)
    except OSError as exc:  # not root, or a read-only hierarchy
        pytest.skip(f"cannot create a cgroup here: {exc}")
    try:
        # Outside the checkout, so the child imports the installed fastnn.
        done = subprocess.run(
            [sys.executable, "-c", _IN_A_NEW_GROUP, group],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
    finally:
        os.rmdir(group)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == os.path.join(group, "cpu.pressure")


@linux_only
@pytest.mark.skipif(not openmp_enabled(), reason="serial build: no workers")
def test_counting_takes_at_most_a_hundredth_of_the_time_with_64_threads(digits):
    previous = _engine._emulate_cpus(64)
    try:
        _fit(*digits)  # starts 63 workers: every count reads their stat files
    finally:
        _engine._emulate_cpus(previous)
    assert _thread_names().count("fastnn-omp") >= 63
    counts, seconds = fastnn._engine._threads._count_stats()
    start = time.monotonic()
    while time.monotonic() - start < 0.5:
        _engine.team_size(64)  # as batches of a few microseconds would
    elapsed = time.monotonic() - start
    counts_after, seconds_after = fastnn._engine._threads._count_stats()
    assert counts_after > counts
    # A count that took d seconds is not retaken for 100 d (one count at
    # the end may still be in progress).
    assert (seconds_after - seconds) / elapsed <= 0.015
