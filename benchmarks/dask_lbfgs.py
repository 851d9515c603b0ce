"""Data-parallel L-BFGS on a LocalCluster: scaling from 1 to 2 worker processes.

Fits one ``MLPClassifier(solver="lbfgs")`` with :func:`fastnn.dask.fit` on a
``LocalCluster`` of 1 and then 2 worker processes with one thread each, and
the same model with ``estimator.fit`` on the same data in this process with
2 OpenMP threads, for reference.  The data are drawn on the workers
(``dask.array.random``) and never pass through the client; the reference
draws the same numbers locally.  Every fit runs the same number of L-BFGS
iterations (``tol=0``).

Reported per configuration: seconds per L-BFGS iteration and per evaluation
(median of ``--repeats`` fits), the speed-up from 1 to 2 workers, the
2-worker fit against the 2-thread single-process fit, and the client-side
overhead of one evaluation: the wall time of an evaluation over the same
blocks holding one row each (scheduling, sending the parameters, the tree of
sums, the round trip), plus the client's own time between evaluations
(SciPy, finishing the sums).  With several block counts (``--blocks
8,64,512``) the 2-worker cluster also reports, per block count, the fit's
set-up (everything before the first L-BFGS evaluation: the checks, label
encoding and placement of the blocks), the time dask takes to compute X and
y alone (persisted and let go: the floor of any set-up, which reads every
block once) and the time of an evaluation over the data and over one-row
blocks: what the number of blocks costs.  ``--blocks-only`` skips the
1-worker and single-process fits.

Full size (the README's figures; needs ~1 GB of memory per copy of X)::

    python benchmarks/dask_lbfgs.py

Quick check that it runs::

    python benchmarks/dask_lbfgs.py --n-samples 20000 --max-iter 3 --repeats 1

Cost of the block count::

    python benchmarks/dask_lbfgs.py --blocks 8,64,512

Set-up time against the block count (the Dask page's table)::

    python benchmarks/dask_lbfgs.py --n-samples 200000 --max-iter 10 \
        --repeats 1 --blocks-only --blocks 8,512,2000,8000

Run on a quiet machine: other processes on the cores distort every ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import warnings

import numpy as np


def _data(n_samples: int, n_features: int, n_blocks: int):
    import dask.array as da

    chunks = (-(-n_samples // n_blocks), n_features)
    X = da.random.RandomState(0).normal(size=(n_samples, n_features), chunks=chunks)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    return X, y


def _estimator(args):
    from fastnn import MLPClassifier

    return MLPClassifier(
        hidden_layer_sizes=(args.hidden,),
        solver="lbfgs",
        max_iter=args.max_iter,
        tol=0.0,
        random_state=0,
    )


def _timed_fit(fit, args, repeats=None) -> dict:
    """Median wall time of ``fit()``, per iteration and per evaluation."""
    from fastnn._base import BaseMultilayerPerceptron as Base
    from fastnn.dask import _backends

    times, evaluations, solving, outside, each = [], [], [], [], []
    evaluate, minimize = _backends.Cluster.evaluate, Base._minimize_lbfgs
    for _ in range(repeats or args.repeats):
        spans, loops = [], []

        def timed_minimize(self, *a, loops=loops):
            # The L-BFGS loop alone, the same call for both kinds of fit:
            # without validation, block setup or weight initialisation.
            start = time.perf_counter()
            try:
                return minimize(self, *a)
            finally:
                loops.append(time.perf_counter() - start)

        def timed_evaluate(self, *a, spans=spans):
            start = time.perf_counter()
            try:
                return evaluate(self, *a)
            finally:
                spans.append((start, time.perf_counter()))

        _backends.Cluster.evaluate = timed_evaluate
        Base._minimize_lbfgs = timed_minimize
        try:
            start = time.perf_counter()
            model = fit()
            elapsed = time.perf_counter() - start
        finally:
            _backends.Cluster.evaluate = evaluate
            Base._minimize_lbfgs = minimize
        times.append(elapsed)
        evaluations.append(len(spans))
        solving.append(loops[-1])
        each.extend(b - a for a, b in spans)
        if spans:
            gaps = [b[0] - a[1] for a, b in zip(spans, spans[1:])]
            outside.append(statistics.median(gaps) if gaps else float("nan"))
    t = statistics.median(times)
    loop = statistics.median(solving)
    n_eval = evaluations[-1] or model.n_iter_ + 1
    return {
        "fit_s": t,
        "fit_s_min_max": [min(times), max(times)],
        "lbfgs_loop_s": loop,
        "setup_s": t - loop,
        "n_iter": model.n_iter_,
        "n_evaluations": n_eval,
        "s_per_iteration": loop / model.n_iter_,
        "s_per_evaluation": loop / n_eval,
        "evaluation_s_median": statistics.median(each) if each else float("nan"),
        "client_s_between_evaluations": (
            statistics.median(outside) if outside else float("nan")
        ),
        "model": model,
    }


def _empty_evaluation_s(args, n_blocks: int) -> float:
    """Wall time of one evaluation over one-row blocks: the machinery alone."""
    import dask.array as da

    import fastnn.dask

    X = da.zeros((n_blocks, args.n_features), chunks=(1, args.n_features))
    y = da.arange(n_blocks, chunks=1) % 2
    est = _estimator(args)
    est.max_iter = 10
    return _timed_fit(lambda: fastnn.dask.fit(est, X, y), args, repeats=1)[
        "evaluation_s_median"
    ]


def _read_s(client, X, y) -> float:
    """Seconds for dask to compute X and y once on the cluster (persisted,
    then let go): what reading the blocks costs any fit."""
    from distributed import wait

    start = time.perf_counter()
    persisted = client.persist([X, y])
    wait(persisted)
    elapsed = time.perf_counter() - start
    del persisted
    return elapsed


def _cluster_run(n_workers: int, args) -> dict:
    from distributed import Client, LocalCluster

    import fastnn.dask

    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        # First: the workers import fastnn, outside the timed fits.
        overhead = _empty_evaluation_s(args, args.blocks[0])
        X, y = _data(args.n_samples, args.n_features, args.blocks[0])
        result = _timed_fit(lambda: fastnn.dask.fit(_estimator(args), X, y), args)
        result["client_overhead_per_evaluation_s"] = overhead
        if n_workers == 2 and (len(args.blocks) > 1 or args.blocks_only):
            result["by_block_count"] = {}
            for n_blocks in args.blocks:
                X, y = _data(args.n_samples, args.n_features, n_blocks)
                fitted = _timed_fit(
                    lambda X=X, y=y: fastnn.dask.fit(_estimator(args), X, y), args
                )
                result["by_block_count"][n_blocks] = {
                    "setup_s": fitted["setup_s"],
                    "read_s": _read_s(client, X, y),
                    "evaluation_s": fitted["evaluation_s_median"],
                    "one_row_blocks_evaluation_s": _empty_evaluation_s(args, n_blocks),
                }
    return result


def _local_run(args) -> dict:
    import dask
    from fastnn._engine._threads import effective_n_threads
    from threadpoolctl import threadpool_limits

    X, y = _data(args.n_samples, args.n_features, args.blocks[0])
    with dask.config.set(scheduler="threads"):
        X, y = dask.compute(X, y)
    with threadpool_limits(limits=args.threads, user_api="openmp"):
        assert effective_n_threads() == args.threads
        return _timed_fit(lambda: _estimator(args).fit(X, y), args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-samples", type=int, default=1_000_000)
    parser.add_argument("--n-features", type=int, default=50)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument(
        "--blocks",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[8],
        help="row blocks of X; several (8,64,512) also time each count",
    )
    parser.add_argument("--max-iter", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="for the reference")
    parser.add_argument(
        "--blocks-only",
        action="store_true",
        help="only the 2-worker cluster, by block count (no scaling runs)",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter is the budget

    if args.blocks_only:
        two = _cluster_run(2, args)
        print(_title(args))
        _print_block_counts(two)
        if args.json:
            figures = {k: v for k, v in two.items() if k != "model"}
            figures.update(cpu=_cpu(), args=vars(args))
            with open(args.json, "w") as f:
                json.dump(figures, f, indent=2)
        return

    runs = {f"{n} worker(s)": _cluster_run(n, args) for n in (1, 2)}
    runs[f"numpy, {args.threads} threads"] = _local_run(args)
    one, two = runs["1 worker(s)"], runs["2 worker(s)"]
    local = runs[f"numpy, {args.threads} threads"]
    differences = [
        float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
        for a, b in zip(two["model"].coefs_, local["model"].coefs_)
    ]

    print(_title(args))
    print(
        f"{'':22s} {'s/iteration':>12s} {'s/evaluation':>13s} {'setup s':>8s} "
        f"{'fit s':>8s}"
    )
    for name, r in runs.items():
        print(
            f"{name:22s} {r['s_per_iteration']:12.3f} {r['s_per_evaluation']:13.3f} "
            f"{r['setup_s']:8.2f} {r['fit_s']:8.2f}"
        )
    for name in ("1 worker(s)", "2 worker(s)"):
        r = runs[name]
        print(
            f"client overhead per evaluation, {name}: "
            f"{1e3 * r['client_overhead_per_evaluation_s']:.1f} ms round trip, "
            f"{1e3 * r['client_s_between_evaluations']:.1f} ms on the client "
            "between evaluations"
        )
    _print_block_counts(two)
    # Per iteration: the loop that scales, without the one-off block setup
    # (which the fit times above include).
    speed_up = one["s_per_iteration"] / two["s_per_iteration"]
    versus_local = two["s_per_iteration"] / local["s_per_iteration"]
    print(f"speed-up per iteration, 1 -> 2 workers: {speed_up:.2f}x (target >= 1.6x)")
    print(
        f"per iteration, 2 workers / numpy with {args.threads} threads: "
        f"{versus_local:.2f}x (target <= 1.3x)"
    )
    print(
        f"largest relative coefficient difference, 2 workers vs numpy: "
        f"{max(differences):.1e}"
    )
    if args.json:
        figures = {
            name: {k: v for k, v in r.items() if k != "model"}
            for name, r in runs.items()
        }
        figures.update(
            speed_up=speed_up,
            two_workers_over_local=versus_local,
            cpu=_cpu(),
            args=vars(args),
        )
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


def _title(args) -> str:
    return (
        f"fastnn.dask.fit, {args.n_samples} x {args.n_features} float64, hidden "
        f"({args.hidden},), {args.blocks[0]} blocks, {args.max_iter} L-BFGS "
        f"iterations; CPU: {_cpu()}, {os.cpu_count()} logical CPUs"
    )


def _print_block_counts(two: dict) -> None:
    if "by_block_count" not in two:
        return
    print(
        "2 workers, by block count: set-up s (before the first evaluation), "
        "s to compute X and y alone, median s per evaluation"
    )
    print(
        f"{'blocks':>8s} {'set-up':>8s} {'read X, y':>10s} {'over the data':>14s} "
        f"{'one-row blocks':>15s}"
    )
    for n_blocks, r in two["by_block_count"].items():
        print(
            f"{n_blocks:8d} {r['setup_s']:8.2f} {r['read_s']:10.2f} "
            f"{r['evaluation_s']:14.4f} {r['one_row_blocks_evaluation_s']:15.4f}"
        )


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    main()
