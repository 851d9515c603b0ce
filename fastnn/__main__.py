"""``python -m fastnn``: fastnn against scikit-learn on the digits data.

Trains fastnn's and scikit-learn's MLPClassifier with the same parameters
and seed on the digits images that ship with scikit-learn, then prints the
accuracy and fit time of both and the speed-up.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier

from . import MLPClassifier, show_config


def _median_fit_seconds(make, X, y, repeats: int):
    times, model = [], None
    for _ in range(repeats):
        model = make()
        start = time.perf_counter()
        model.fit(X, y)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastnn", description=__doc__)
    parser.add_argument("--max-iter", type=int, default=200, help="epochs (200)")
    parser.add_argument("--repeats", type=int, default=3, help="timed fits (3)")
    args = parser.parse_args(argv)

    show_config()
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=0.25, random_state=0, stratify=y
    )
    params = dict(hidden_layer_sizes=(100,), max_iter=args.max_iter, random_state=0)
    print(
        f"\ndigits: {X_train.shape[0]} training and {X_test.shape[0]} test images, "
        f"{X.shape[1]} features, MLPClassifier({params})\n"
    )
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, cls in (
            ("scikit-learn", SklearnMLPClassifier),
            ("fastnn", MLPClassifier),
        ):
            cls(**params).fit(X_train, y_train)  # warm-up
            seconds, model = _median_fit_seconds(
                lambda cls=cls: cls(**params), X_train, y_train, args.repeats
            )
            rows.append((name, seconds, model.n_iter_, model.score(X_test, y_test)))

    print(f"{'':>14} {'fit time':>10} {'epochs':>7} {'test accuracy':>14}")
    for name, seconds, n_iter, accuracy in rows:
        print(f"{name:>14} {seconds:>9.3f}s {n_iter:>7} {accuracy:>14.4f}")
    print(f"\nspeed-up: {rows[0][1] / rows[1][1]:.1f}x (median of {args.repeats} fits)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
