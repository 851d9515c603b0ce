"""fastnn and scikit-learn in the conditions users create.

Interference: one fit or predict right after NumPy or SciPy BLAS work, in
the same process, against the same call after a pause.  OpenBLAS's workers
busy-wait for about 0.1 s after a threaded call; the engine sizes its team
to the cores they leave (see the README's Threads section).

Contention: the same digits fit in two processes at once, and beside a
process that only spins (``while True: pass``), against the fit alone.
Every process is started fresh ("spawn"), with no environment variable set.

Team count: what counting the competitors costs on a quiet machine.  The
same fits alternate with the count on and off (a full team always) in one
process, after a pause each: on a quiet machine the two should not differ.

::

    python benchmarks/conditions.py               # the three tables on stdout
    python benchmarks/conditions.py --repeats 11
    python benchmarks/conditions.py --only team-count --repeats 15
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.linalg.blas import dgemm
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning

DIGITS_FIT = dict(
    hidden_layer_sizes=(100,), max_iter=30, tol=0.0, n_iter_no_change=10**9
)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def _stats(times: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(times),
        "min": min(times),
        "max": max(times),
    }


# -- interference -------------------------------------------------------------


def interference(repeats: int = 7) -> list[dict[str, Any]]:
    """Each call after a 0.3 s pause, right after ``A @ A`` (NumPy, 300x300)
    and right after SciPy's ``dgemm`` on the same matrices."""
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    from fastnn import MLPClassifier

    X, y = _digits()
    rng = np.random.default_rng(0)
    A = rng.random((300, 300))
    big = rng.standard_normal((200_000, 64))
    warnings.simplefilter("ignore", ConvergenceWarning)
    model = MLPClassifier(**DIGITS_FIT, random_state=0).fit(X, y)
    calls: dict[str, Callable[[], Any]] = {
        "fastnn digits fit": lambda: MLPClassifier(**DIGITS_FIT, random_state=0).fit(
            X, y
        ),
        "fastnn predict 200,000 rows": lambda: model.predict_proba(big),
        "sklearn digits fit": lambda: SkMLPClassifier(**DIGITS_FIT, random_state=0).fit(
            X, y
        ),
    }
    before: dict[str, Callable[[], Any]] = {
        "after a pause": lambda: None,
        "after NumPy A @ A": lambda: A @ A,
        "after SciPy dgemm": lambda: dgemm(1.0, A, A),
    }
    rows = []
    for name, call in calls.items():
        call()  # warm-up
        times: dict[str, list[float]] = {k: [] for k in before}
        for _ in range(repeats):
            for condition, prepare in before.items():
                time.sleep(0.3)
                prepare()
                start = time.perf_counter()
                call()
                times[condition].append(time.perf_counter() - start)
        rows.append({"call": name, "seconds": {k: _stats(v) for k, v in times.items()}})
    return rows


def _markdown(rows: list[dict[str, Any]], first: str, key: str, stat: str) -> str:
    """Times per condition, then each condition's ``stat`` over the first
    condition's median."""
    conditions = list(rows[0]["seconds"])
    head = [first, *(f"{c} (ms)" for c in conditions)]
    label = "" if stat == "median" else "slowest "
    head += [f"{label}{c} / {conditions[0]}" for c in conditions[1:]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        s = r["seconds"]
        base = s[conditions[0]]["median"]
        cells = [r[key], *(_ms(s[c]) for c in conditions)]
        cells += [f"{s[c][stat] / base:.2f}" for c in conditions[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def interference_markdown(rows: list[dict[str, Any]]) -> str:
    return _markdown(rows, "call", "call", "median")


def _ms(t: dict[str, float]) -> str:
    return f"{t['median'] * 1e3:.1f} ({t['min'] * 1e3:.1f}–{t['max'] * 1e3:.1f})"


# -- contention ---------------------------------------------------------------


def _fit_many(library: str, n: int, ready: Any, go: Any, out: Any) -> None:
    warnings.simplefilter("ignore", ConvergenceWarning)
    if library == "fastnn":
        from fastnn import MLPClassifier
    else:
        from sklearn.neural_network import MLPClassifier
    X, y = _digits()
    MLPClassifier(**DIGITS_FIT, random_state=0).fit(X, y)  # warm-up
    ready.set()
    go.wait()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        MLPClassifier(**DIGITS_FIT, random_state=0).fit(X, y)
        times.append(time.perf_counter() - start)
    out.put(times)


def _spin() -> None:
    while True:
        pass


def _run(library: str, n_fitters: int, busy: bool, n: int) -> list[list[float]]:
    ctx = multiprocessing.get_context("spawn")
    out, go = ctx.Queue(), ctx.Event()
    spinner = ctx.Process(target=_spin, daemon=True) if busy else None
    if spinner is not None:
        spinner.start()
    fitters, readies = [], []
    for _ in range(n_fitters):
        ready = ctx.Event()
        p = ctx.Process(target=_fit_many, args=(library, n, ready, go, out))
        p.start()
        fitters.append(p)
        readies.append(ready)
    try:
        for ready, p in zip(readies, fitters, strict=True):
            if not ready.wait(timeout=300):
                raise RuntimeError(f"a {library} fitter never started: {p.exitcode}")
        go.set()
        # A fitter that died would leave its result missing: don't wait forever.
        return [out.get(timeout=600) for _ in fitters]
    finally:
        for p in fitters:
            p.join()
        if spinner is not None:
            spinner.kill()
            spinner.join()


def contention(repeats: int = 5) -> list[dict[str, Any]]:
    """Each fit's seconds alone, two at once, and beside a busy process."""
    rows = []
    for library in ("fastnn", "sklearn"):
        alone = _run(library, 1, False, repeats)[0]
        two = [t for times in _run(library, 2, False, repeats) for t in times]
        busy = _run(library, 1, True, repeats)[0]
        rows.append(
            {
                "library": library,
                "seconds": {
                    "alone": _stats(alone),
                    "two at once": _stats(two),
                    "beside a busy process": _stats(busy),
                },
            }
        )
    return rows


def contention_markdown(rows: list[dict[str, Any]]) -> str:
    # The slowest fit, not the median: no fit may collapse.
    return _markdown(rows, "digits fit", "library", "max")


# -- the team count on a quiet machine -----------------------------------------


def team_count(repeats: int = 11) -> list[dict[str, Any]]:
    """Fits alternating with the competitor count on and off, after a pause."""
    from fastnn import MLPClassifier
    from fastnn._engine import _set_counting

    X, y = _digits()
    X_big, y_big = make_classification(
        20_000, 784, n_informative=50, n_classes=10, random_state=0
    )
    X_big = X_big.astype(np.float32)
    warnings.simplefilter("ignore", ConvergenceWarning)
    fits: dict[str, Callable[[], Any]] = {
        "digits, (100,), 30 epochs": lambda: MLPClassifier(
            **DIGITS_FIT, random_state=0
        ).fit(X, y),
        "20,000x784 f32, (100,), 3 epochs": lambda: MLPClassifier(
            **dict(DIGITS_FIT, max_iter=3), random_state=0
        ).fit(X_big, y_big),
    }
    rows = []
    for name, call in fits.items():
        call()  # warm-up
        times: dict[str, list[float]] = {"count off": [], "count on": []}
        for _ in range(repeats):
            for condition in times:
                _set_counting(condition == "count on")
                try:
                    time.sleep(0.3)
                    start = time.perf_counter()
                    call()
                    times[condition].append(time.perf_counter() - start)
                finally:
                    _set_counting(True)
        rows.append({"fit": name, "seconds": {k: _stats(v) for k, v in times.items()}})
    return rows


def team_count_markdown(rows: list[dict[str, Any]]) -> str:
    return _markdown(rows, "fit", "fit", "median")


TABLES = {
    "interference": lambda n: interference_markdown(interference(n)),
    "contention": lambda n: contention_markdown(contention(n)),
    "team-count": lambda n: team_count_markdown(team_count(n)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed calls each")
    parser.add_argument("--only", action="append", choices=list(TABLES))
    args = parser.parse_args()
    print("\n\n".join(TABLES[t](args.repeats) for t in args.only or TABLES))


if __name__ == "__main__":
    main()
