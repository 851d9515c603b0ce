"""The README's main job, ``python -m fastnn``, runs end to end."""

import subprocess
import sys


def test_demo_runs_and_reports_both_libraries(tmp_path):
    # Run outside the source tree, where `fastnn` is the installed package.
    result = subprocess.run(
        [sys.executable, "-m", "fastnn", "--max-iter", "5", "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    for expected in ("scikit-learn", "fastnn", "test accuracy", "speed-up", "openmp"):
        assert expected in result.stdout
