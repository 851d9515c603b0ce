"""Time two fastnn source trees on the benchmark suite's fastnn workloads.

    python tools/time_builds.py OLD_TREE NEW_TREE [--repeats 7] [--only NAME]

Both trees must be built in place (``python setup.py build_ext --inplace``).
Each repeat runs one subprocess per tree, alternating OLD NEW OLD NEW ..., so
that a drift of the machine's speed hits both alike; a subprocess has only
its tree on ``PYTHONPATH``, fits every workload once untimed (warm-up) and
then once timed after a 0.3 s pause (the suite's *paused* mode).  Prints
min / median / max seconds per tree and the median of the per-repeat ratios
NEW / OLD.  A before/after check for changes that should not move speed;
``benchmarks/suite.py`` is the reference for speed against other libraries.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

_BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

# Run in each tree's own interpreter process: prints one JSON object,
# workload name -> seconds of its timed fit.
_WORKER = r"""
import json, sys, time, warnings

from sklearn.datasets import load_digits

from fastnn import MLPClassifier, MLPRegressor

# The suite's own data (its module imports this tree's fastnn).
sys.path.insert(0, sys.argv[1])
from suite import regression, sparse_20k, synthetic

warnings.simplefilter("ignore")
only = set(sys.argv[2:])


def fixed(**kw):
    return dict(tol=0, n_iter_no_change=10**9, random_state=0, **kw)


def workloads():
    Xd, yd = load_digits(return_X_y=True)
    yield "digits", MLPClassifier, fixed(max_iter=30), Xd, yd
    yield "digits-lbfgs", MLPClassifier, fixed(solver="lbfgs", max_iter=100), Xd, yd
    if not only or only & {"synthetic-60k", "synthetic-60k-deep"}:
        Xs, ys = synthetic(60_000)
        yield "synthetic-60k", MLPClassifier, fixed(max_iter=2), Xs, ys
        yield ("synthetic-60k-deep", MLPClassifier,
               fixed(hidden_layer_sizes=(512, 256), max_iter=1), Xs, ys)
    yield ("regression-50k", MLPRegressor,
           fixed(hidden_layer_sizes=(64, 64), max_iter=10), *regression(50_000))
    if not only or "sparse-20k" in only:
        Xp, yp = sparse_20k()
        yield "sparse-20k", MLPClassifier, fixed(max_iter=3), Xp, yp


times = {}
for name, cls, params, X, y in workloads():
    if only and name not in only:
        continue
    warm = dict(params, max_iter=1) if params.get("solver") != "lbfgs" else params
    cls(**warm).fit(X, y)
    time.sleep(0.3)
    t0 = time.perf_counter()
    cls(**params).fit(X, y)
    times[name] = time.perf_counter() - t0
print(json.dumps(times))
"""


def _run(tree: Path, only: list[str]) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    done = subprocess.run(
        [sys.executable, "-c", _WORKER, str(_BENCHMARKS), *only],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--only", action="append", default=[], help="a workload name (repeatable)"
    )
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    for i in range(args.repeats):
        for which in ("old", "new"):
            runs[which].append(_run(getattr(args, which).resolve(), args.only))
        print(f"repeat {i + 1}/{args.repeats} done", file=sys.stderr)

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print(
        f"{cpu}, {os.cpu_count()} CPUs; {args.repeats} alternating repeats, "
        "paused, seconds per fit (min / median / max)"
    )
    print(f"{'workload':20s} {'old':>22s} {'new':>22s} {'new/old':>8s}")
    for name in runs["old"][0]:
        cells = []
        for which in ("old", "new"):
            t = sorted(r[name] for r in runs[which])
            cells.append(f"{t[0]:.3f}/{statistics.median(t):.3f}/{t[-1]:.3f}")
        ratio = statistics.median(
            n[name] / o[name] for o, n in zip(runs["old"], runs["new"])
        )
        print(f"{name:20s} {cells[0]:>22s} {cells[1]:>22s} {ratio:8.3f}")


if __name__ == "__main__":
    main()
