"""The benchmark scripts still run (tiny sizes; their figures are not checked).

They call fastnn's private pieces and other libraries' APIs; a rename that
broke them would otherwise only show the next time someone benchmarks.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _run(tmp_path, *args: str) -> str:
    # Outside the checkout, so the scripts import the installed fastnn.
    done = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _suite(tmp_path, *args: str) -> Path:
    """Run the suite's quick mode with ``args``; the folder of its results."""
    out = tmp_path / "results"
    _run(tmp_path, str(BENCH / "suite.py"), "--quick", *args, "--out", str(out))
    return out


def test_suite_runs_both_modes_and_reports_the_machine(tmp_path):
    out = _suite(tmp_path, "--only", "digits-lbfgs")
    results = json.loads((out / "results.json").read_text())
    assert {r["mode"] for r in results["results"]} == {"paused", "back-to-back"}
    assert results["machine"]["cpu"] and results["machine"]["blas"]
    text = (out / "results.md").read_text()
    assert "back-to-back" in text and "(min–max)" not in text.split("##")[0]


def test_latency_and_interference_tables(tmp_path):
    sys.path.insert(0, str(BENCH))
    try:
        import conditions
        import latency
    finally:
        sys.path.remove(str(BENCH))
    rows = latency.measure(calls=2, rows=(1, 3))
    table = latency.markdown(rows)
    assert "onnxruntime" in table and "predict_proba" in table
    assert {r["rows"] for r in rows} == {1, 3}
    assert {r["dtype"] for r in rows} == {"float64", "float32"}
    assert {r["mode"] for r in rows} == {"paused", "after NumPy"}
    assert all({"fastnn", "sklearn"} <= set(r["seconds"]) for r in rows)
    pipe = latency.pipeline(repeats=1, shape=(300, 20))
    assert "onnxruntime / fastnn" in latency.pipeline_markdown(pipe)
    steps = latency.phases(calls=2, inner=2)
    assert "(f) whole predict" in latency.phases_markdown(steps)
    table = conditions.interference_markdown(conditions.interference(repeats=1))
    assert "after NumPy A @ A / after a pause" in table


def test_latency_script_quick_run_writes_every_table(tmp_path):
    out = tmp_path / "latency.json"
    text = _run(
        tmp_path,
        str(BENCH / "latency.py"),
        "--quick",
        "--rows",
        "1",
        "--json",
        str(out),
    )
    header = text.splitlines()[2]
    assert header.startswith("CPU: ") and "onnxruntime" in header
    for section in ("after NumPy", "Pipeline(", "(d) network.forward"):
        assert section in text
    results = json.loads(out.read_text())
    assert {r["rows"] for r in results["latency"]} == {1}
    assert results["pipeline"] and results["phases"]


def test_compare_sklearn_and_dask_scripts(tmp_path):
    _run(
        tmp_path,
        str(BENCH / "compare_sklearn.py"),
        "--only",
        "digits-lbfgs",
        "--repeats",
        "1",
    )
    _run(
        tmp_path,
        str(BENCH / "dask_lbfgs.py"),
        "--n-samples",
        "4000",
        "--n-features",
        "5",
        "--hidden",
        "4",
        "--blocks",
        "2",
        "--max-iter",
        "2",
        "--repeats",
        "1",
    )


def test_suite_reports_the_share_of_the_gemm_peak(tmp_path):
    out = _suite(tmp_path, "--only", "digits", "--mode", "paused")
    row = json.loads((out / "results.json").read_text())["results"][0]
    assert row["peak_gflops"] > 0 and row["floor_gemm_gflop"] > 0
    table = (out / "results.md").read_text()
    assert "share of GEMM peak fastnn / floor / torch" in table


def test_phase_breakdown_and_team_count_scripts(tmp_path):
    text = _run(
        tmp_path,
        str(BENCH / "phases.py"),
        "--quick",
        "--only",
        "digits",
        "--repeats",
        "1",
    )
    for row in ("gather", "optimizer step", "waits within the passes", "outside"):
        assert row in text
    assert "GFLOP/s per thread" in text
    text = _run(
        tmp_path, str(BENCH / "conditions.py"), "--only", "team-count", "--repeats", "1"
    )
    assert "count on / count off" in text


def test_scaling_script_measures_every_thread_of_the_emulated_team(tmp_path):
    out = tmp_path / "scaling.json"
    text = _run(
        tmp_path,
        str(BENCH / "scaling.py"),
        "--workloads",
        "synthetic-60k",
        "--rows",
        "2000",
        "--threads",
        "1",
        "4",
        "--repeats",
        "1",
        "--json",
        str(out),
    )
    assert "Work-split efficiency" in text and "Wall-time speed-up" in text
    results = json.loads(out.read_text())
    for row in results["efficiency"]:
        (run,) = row["runs"]
        # The caller and T - 1 named workers, each with CPU time of its own.
        assert run["engine_threads"] == row["T"] == len(run["cpu"])
        assert all(cpu > 0 for cpu in run["cpu"])
        assert 0 < run["epochs"] <= 1 and 0 < run["fit"] <= 1
    assert {r["library"] for r in results["speed-up"]} >= {"fastnn", "sklearn"}
