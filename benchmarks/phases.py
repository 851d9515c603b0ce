"""Where a fit's time goes: the engine's phase clocks on the suite's workloads.

For each training workload of ``suite.py``, fits fastnn alternately with the
engine's phase clocks off and on (after one warm-up fit) and prints, from
the clocked fits, the time of each phase of the batch passes:

- gather, forward products, bias and activation, loss and output deltas,
  delta products, activation derivatives, gradient products (with the
  intercepts' sums), optimizer step (with the L2 norms): what the threads
  spent in each, summed over threads;
- waits within the passes: the rest of each pass's wall time times its
  team (the barrier between a pass's two halves, the last block, waking
  the team, the pass's own serial loops);
- threads below the ceiling: the time the team was smaller than the
  trainer's ceiling because other threads were competing for the cores;
- outside the passes: the fit's wall time not spent in a batch pass
  (validation, shuffling, the optimizer's schedule, Python), times the
  ceiling, since the other threads idle meanwhile.

Every row is thread-seconds divided by the ceiling, so the rows add up to
the fit's wall time; the share is of that wall time.  For the dense
workloads the products' rate is also shown (GFLOP/s per thread, and as a
share of one thread's part of the machine's GEMM peak, measured here as
NumPy's 2048 x 2048 x 2048 product in the workload's dtype).  The clocks'
own cost is the difference between the fits with and without them.

    python benchmarks/phases.py                  # every training workload
    python benchmarks/phases.py --only synthetic-60k --repeats 5
    python benchmarks/phases.py --quick          # shrunk workloads
    python benchmarks/phases.py --products blas  # the BLAS path, for comparison

Run on a quiet machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from functools import partial
from pathlib import Path

import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, str(Path(__file__).parent))
from suite import (  # noqa: E402
    COOL_DOWN_S,
    WORKLOADS,
    gemm_peak_gflops,
    machine,
    product_flops,
)

from fastnn import MLPClassifier, MLPRegressor  # noqa: E402
from fastnn._engine import _kernels, _layers, _phases  # noqa: E402
from fastnn._threads import engine_n_threads  # noqa: E402

OUTSIDE = "outside the passes"
WAITS = "waits within the passes"
SHORTFALL = "threads below the ceiling"


def _timed(call) -> float:
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0


def profile(workload, quick: bool, repeats: int) -> tuple[dict, float, float, object]:
    X, y = workload.make_data(quick)
    params = workload.params(quick)
    cls = MLPClassifier if workload.task == "classification" else MLPRegressor
    warm = params if params.get("solver") == "lbfgs" else dict(params, max_iter=1)
    cls(**warm).fit(X, y)
    off, on, counters = [], [], []
    for _ in range(repeats):
        time.sleep(COOL_DOWN_S)
        off.append(_timed(partial(cls(**params).fit, X, y)))
        time.sleep(COOL_DOWN_S)
        _phases.reset()
        _phases.set_enabled(True)
        try:
            model = cls(**params)
            on.append(_timed(partial(model.fit, X, y)))
        finally:
            _phases.set_enabled(False)
        counters.append(_phases.read())
    # The breakdown of the median clocked fit.
    median_run = sorted(range(repeats), key=on.__getitem__)[repeats // 2]
    return counters[median_run], statistics.median(off), on[median_run], model


def breakdown(counters: dict, wall: float, ceiling: int) -> dict[str, float]:
    """Rows of the table in seconds (thread-seconds / ceiling)."""
    rows = {name: counters[name] / ceiling for name in _phases.NAMES}
    rows[WAITS] = (
        counters["pass threads"] - sum(counters[n] for n in _phases.NAMES)
    ) / ceiling
    rows[SHORTFALL] = counters["team shortfall"] / ceiling
    rows[OUTSIDE] = max(0.0, wall - counters["pass wall"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="a workload (repeatable)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="shrunk workloads")
    parser.add_argument(
        "--products",
        choices=["blas", *_kernels.GEMM_LEVELS],
        help="what the training products run on (default: the engine's choice)",
    )
    args = parser.parse_args()
    if args.products:
        _layers._set_products(args.products)
    warnings.simplefilter("ignore", ConvergenceWarning)

    ceiling = engine_n_threads()
    info = machine()
    print(
        f"{info['cpu']}, {info['cpus_usable']} usable CPUs; {'; '.join(info['blas'])}; "
        f"load average {info['loadavg_1_5_15']}; products on {_layers.products()}"
    )
    for w in WORKLOADS:
        if w.predict_models or (args.only and w.name not in args.only):
            continue
        counters, wall_off, wall_on, model = profile(w, args.quick, args.repeats)
        rows = breakdown(counters, wall_on, ceiling)
        print(f"\n{w.name}: {w.description}{' (quick)' if args.quick else ''}")
        print(
            f"fit {wall_on:.3f} s with the clocks, {wall_off:.3f} s without "
            f"(medians of {args.repeats}); {ceiling} threads at most"
        )
        print(f"{'phase':28s} {'seconds':>9s} {'share':>7s}")
        for name, seconds in rows.items():
            print(f"{name:28s} {seconds:9.3f} {seconds / wall_on:7.1%}")
        X, _ = w.make_data(args.quick)
        if not w.floor or sp.issparse(X):
            continue
        peak = gemm_peak_gflops(X.dtype)
        units = [X.shape[1], *model.hidden_layer_sizes, model.n_outputs_]
        flops = product_flops(units, X.shape[0]) * model.n_iter_
        product_s = sum(
            counters[n]
            for n in ("forward products", "delta products", "gradient products")
        )
        per_thread = peak / ceiling
        rate = flops / product_s / 1e9
        print(
            f"products: {rate:.1f} GFLOP/s per thread ({rate / per_thread:.0%} of "
            f"{per_thread:.1f}, a thread's share of the {peak:.0f} GFLOP/s "
            f"{X.dtype.name} GEMM peak); the whole fit: "
            f"{flops / wall_on / 1e9 / peak:.0%} of the peak"
        )


if __name__ == "__main__":
    main()
