"""How well fastnn's work split would feed T cores, and the speed-up it gets.

Work-split efficiency: each measurement runs in a fresh child process with
``OMP_NUM_THREADS=T``, ``OMP_WAIT_POLICY=passive`` and
``fastnn._engine._emulate_cpus(T)``, so the engine runs a team of T threads
and plans its batches as it would on a machine with T free CPUs, whatever
this machine has.  The child reads every thread's CPU time from
``/proc/self/task/*/schedstat`` (first field, nanoseconds) before and after
one timed fit (after a warm-up fit that starts OpenMP's thread pool) and
reports

    efficiency = total CPU / (T x the busiest thread's CPU)

which is the most T real cores could get from the split: with every wait
passive, a thread that waits uses no CPU, so however the T threads share
this machine's cores, each thread's CPU time is the work it was given, and
on T real cores the fit could not end before its busiest thread.  The
engine's own waits are OpenMP barriers only (no spin loop of its own in
``csrc/`` or ``fastnn/_engine/``), which obey ``OMP_WAIT_POLICY``.

Two figures per measurement, counting the engine's threads only (the
caller's thread, which is OpenMP's thread 0, and the workers, named
``fastnn-omp``; no other thread runs during a fit):

- *fit*: the caller's thread counted in full, its serial work outside the
  engine's epochs included (shuffling, the per-epoch Python, the start and
  end of the fit): the bound on a whole fit's speed-up, and the figure of
  issue 30's table;
- *epochs*: the caller's thread counted only inside the engine's epochs
  (``Trainer.run_epoch``, timed by the thread's own CPU clock): how well the
  batches themselves are split.  At 1 epoch the serial work outside is a
  fixed cost that bounds *fit* at large T whatever the split.

Speed-up: the wall time of the same fits with one thread against every core
of this machine, for fastnn (OpenMP threads), scikit-learn (its BLAS's
threads, through threadpoolctl) and PyTorch (``torch.set_num_threads``, when
importable), alternating in one fresh process per library.  On a 2-core
machine it says little; run the same command on a 16- or 64-core machine.

::

    python benchmarks/scaling.py                        # both tables
    python benchmarks/scaling.py --only efficiency --threads 1 2 8 --rows 20000
    python benchmarks/scaling.py --only speed-up --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite import BATCH_SIZE, SAME_EPOCHS, regression, synthetic  # noqa: E402

# name -> (description, data of n rows, hidden layers, task)
WORKLOADS: dict[str, tuple[str, Callable[[int], Any], tuple[int, ...], str]] = {
    "synthetic-60k": ("x784 f32, (100,)", synthetic, (100,), "classification"),
    "synthetic-60k-deep": (
        "x784 f32, (512, 256)",
        synthetic,
        (512, 256),
        "classification",
    ),
    "regression-50k": ("x100 f64, (64, 64)", regression, (64, 64), "regression"),
}
DEFAULT_WORKLOADS = ["synthetic-60k", "synthetic-60k-deep"]
DEFAULT_ROWS = {"synthetic-60k": 60_000, "synthetic-60k-deep": 60_000}
THREADS = [1, 2, 4, 8, 16, 32, 64]
WORKER_NAME = "fastnn-omp"  # csrc/fastnn_cpus.h names the engine's workers so


def _params(name: str, epochs: int) -> dict[str, Any]:
    return dict(
        hidden_layer_sizes=WORKLOADS[name][2],
        solver="adam",
        batch_size=BATCH_SIZE,
        max_iter=epochs,
        **SAME_EPOCHS,
    )


def _estimator(library: str, name: str) -> type:
    regressor = WORKLOADS[name][3] == "regression"
    if library == "fastnn":
        from fastnn import MLPClassifier, MLPRegressor
    else:
        from sklearn.neural_network import MLPClassifier, MLPRegressor
    return MLPRegressor if regressor else MLPClassifier


# -- work-split efficiency (child) -------------------------------------------


def _thread_cpu_ns() -> dict[int, tuple[str, int]]:
    """Every thread of this process: its name and CPU time so far (ns)."""
    found = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                cpu = int(f.read().split()[0])
            with open(f"/proc/self/task/{tid}/comm") as f:
                comm = f.read().strip()
        except OSError:  # the thread ended meanwhile
            continue
        found[int(tid)] = (comm, cpu)
    return found


class _TimedTrainer:
    """An engine ``Trainer`` whose ``run_epoch`` adds the calling thread's
    CPU time to ``cpu_s`` (everything else is the trainer's own)."""

    def __init__(self, trainer: Any):
        self._trainer = trainer
        self.cpu_s = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trainer, name)

    def run_epoch(self, *args: Any) -> Any:
        start = time.thread_time()
        try:
            return self._trainer.run_epoch(*args)
        finally:
            self.cpu_s += time.thread_time() - start


def efficiency_child(name: str, threads: int, rows: int, epochs: int) -> dict:
    """One timed fit on an emulated ``threads``-CPU machine (run in a fresh
    process whose environment sets ``OMP_NUM_THREADS`` and
    ``OMP_WAIT_POLICY``)."""
    from sklearn.exceptions import ConvergenceWarning

    from fastnn import _engine

    warnings.simplefilter("ignore", ConvergenceWarning)
    _engine._emulate_cpus(threads)
    if _engine.effective_n_threads() != threads:
        raise RuntimeError(
            f"the engine's ceiling is {_engine.effective_n_threads()}, not {threads}"
        )
    X, y = WORKLOADS[name][1](rows)
    model = _estimator("fastnn", name)
    # Starts OpenMP's pool, so that every worker exists before the baseline.
    model(**_params(name, 1)).fit(X[: 4 * BATCH_SIZE], y[: 4 * BATCH_SIZE])
    # The caller's CPU time inside the epochs, for the "epochs" figure.
    timed: list[_TimedTrainer] = []
    run_epochs = model._run_epochs

    def timed_run_epochs(self: Any, trainer: Any, *args: Any) -> Any:
        timed.append(_TimedTrainer(trainer))
        return run_epochs(self, timed[-1], *args)

    model._run_epochs = timed_run_epochs
    main = threading.get_native_id()
    before = _thread_cpu_ns()
    start = time.perf_counter()
    model(**_params(name, epochs)).fit(X, y)
    wall = time.perf_counter() - start
    after = _thread_cpu_ns()
    model._run_epochs = run_epochs
    cpu = {
        tid: (ns - before.get(tid, ("", 0))[1]) * 1e-9
        for tid, (comm, ns) in after.items()
        if tid == main or comm == WORKER_NAME
    }
    others = sum(
        (ns - before.get(tid, ("", 0))[1]) * 1e-9
        for tid, (comm, ns) in after.items()
        if tid not in cpu
    )
    in_epochs = {**cpu, main: sum(t.cpu_s for t in timed)}
    return {
        "threads": threads,
        "engine_threads": len(cpu),
        "wall": wall,
        "cpu": sorted(cpu.values(), reverse=True),
        "other_threads_cpu": others,
        "caller_outside_epochs": cpu[main] - in_epochs[main],
        "fit": sum(cpu.values()) / (threads * max(cpu.values())),
        "epochs": sum(in_epochs.values()) / (threads * max(in_epochs.values())),
    }


def _child(args: list[str], env: dict[str, str] | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def efficiency(
    names: list[str],
    threads: list[int],
    rows: dict[str, int],
    epochs: int,
    repeats: int,
) -> list[dict]:
    """Every (workload, T), ``repeats`` fresh children each, interleaved."""
    results = []
    for name in names:
        for t in threads:
            env = dict(os.environ, OMP_NUM_THREADS=str(t), OMP_WAIT_POLICY="passive")
            runs = [
                _child(
                    [
                        "--child",
                        "efficiency",
                        name,
                        str(t),
                        str(rows[name]),
                        str(epochs),
                    ],
                    env,
                )
                for _ in range(repeats)
            ]
            results.append({"workload": name, "rows": rows[name], "T": t, "runs": runs})
            print(
                f"  {name} T={t}: " + _range([r["fit"] for r in runs]), file=sys.stderr
            )
    return results


def _range(values: list[float], spec: str = ".2f") -> str:
    lo, mid, hi = min(values), statistics.median(values), max(values)
    return f"{lo:{spec}}–{mid:{spec}}–{hi:{spec}}"


def efficiency_markdown(results: list[dict]) -> str:
    threads = sorted({r["T"] for r in results})
    head = ["workload", "counted", *(f"T={t}" for t in threads)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    names = list(dict.fromkeys(r["workload"] for r in results))
    for name in names:
        rows = {r["T"]: r for r in results if r["workload"] == name}
        label = f"{next(iter(rows.values()))['rows']:,}{WORKLOADS[name][0]}"
        for key in ("fit", "epochs"):
            cells = [label if key == "fit" else "", key]
            cells += [_range([run[key] for run in rows[t]["runs"]]) for t in threads]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- wall-time speed-up -----------------------------------------------------------


def speedup_child(
    library: str, name: str, rows: int, epochs: int, repeats: int
) -> dict:
    """Fits with one thread and with every core, alternating (run in a
    fresh process)."""
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    warnings.simplefilter("ignore", ConvergenceWarning)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    cores = cores or os.cpu_count() or 1
    X, y = WORKLOADS[name][1](rows)
    if library == "torch":
        import torch
        from suite import TorchMLP

        def fit() -> None:
            TorchMLP(WORKLOADS[name][3], WORKLOADS[name][2], epochs).fit(X, y)

        def limit(n: int) -> Any:
            torch.set_num_threads(n)
            return _Nothing()

    else:
        model = _estimator(library, name)

        def fit() -> None:
            model(**_params(name, epochs)).fit(X, y)

        api = "openmp" if library == "fastnn" else "blas"

        def limit(n: int) -> Any:
            return threadpool_limits(n, user_api=api)

    times: dict[int, list[float]] = {1: [], cores: []}
    for n in times:  # warm-up
        with limit(n):
            fit()
    for _ in range(repeats):
        for n in times:
            with limit(n):
                time.sleep(0.3)  # other libraries' spinning workers go to sleep
                start = time.perf_counter()
                fit()
                times[n].append(time.perf_counter() - start)
    return {"library": library, "cores": cores, "one": times[1], "all": times[cores]}


class _Nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def speedup(names: list[str], rows: dict[str, int], epochs: int, repeats: int) -> list:
    results = []
    try:
        import torch  # noqa: F401

        libraries = ["fastnn", "sklearn", "torch"]
    except ImportError:
        print("PyTorch is not importable: its column is left out", file=sys.stderr)
        libraries = ["fastnn", "sklearn"]
    for name in names:
        for library in libraries:
            args = [library, name, str(rows[name]), str(epochs), str(repeats)]
            result = _child(["--child", "speed-up", *args])
            results.append(dict(result, workload=name, rows=rows[name]))
    return results


def speedup_markdown(results: list[dict]) -> str:
    cores = results[0]["cores"]
    head = [
        "workload",
        "library",
        "1 thread (s)",
        f"{cores} threads (s)",
        "speed-up, min–median–max",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        # Each repeat's pair ran back to back: their ratio is the speed-up.
        ratios = [a / b for a, b in zip(r["one"], r["all"], strict=True)]
        label = f"{r['rows']:,}{WORKLOADS[r['workload']][0]}"
        cells = [
            label,
            r["library"],
            f"{statistics.median(r['one']):.3f}",
            f"{statistics.median(r['all']):.3f}",
            _range(ratios),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return "unknown CPU"


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        kind, *rest = sys.argv[2:]
        if kind == "efficiency":
            name, t, rows, epochs = rest
            out = efficiency_child(name, int(t), int(rows), int(epochs))
        else:
            library, name, rows, epochs, repeats = rest
            out = speedup_child(library, name, int(rows), int(epochs), int(repeats))
        print(json.dumps(out))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["efficiency", "speed-up"], action="append")
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS))
    parser.add_argument("--threads", type=int, nargs="+", default=THREADS)
    parser.add_argument(
        "--rows", type=int, help="rows of every workload (default: the suite's)"
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="measurements each")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    names = args.workloads or DEFAULT_WORKLOADS
    rows = {n: args.rows or DEFAULT_ROWS.get(n, 50_000) for n in names}
    only = args.only or ["efficiency", "speed-up"]
    out: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "loadavg_1_5_15": os.getloadavg(),
    }
    print(
        f"{out['cpu']}, {out['cpus']} logical CPUs, batch_size={BATCH_SIZE}, "
        f"{args.epochs} epoch(s), min–median–max of {args.repeats}\n"
    )
    if "efficiency" in only:
        out["efficiency"] = efficiency(
            names, args.threads, rows, args.epochs, args.repeats
        )
        print("Work-split efficiency, total CPU / (T x busiest thread's CPU):\n")
        print(efficiency_markdown(out["efficiency"]) + "\n")
    if "speed-up" in only:
        out["speed-up"] = speedup(names, rows, args.epochs, args.repeats)
        print("Wall-time speed-up, one thread to every core of this machine:\n")
        print(speedup_markdown(out["speed-up"]) + "\n")
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
