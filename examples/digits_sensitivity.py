"""Which pixels each digit's probability is sensitive to.

Trains a fastnn classifier on scikit-learn's 8x8 digits and draws, for every
class, the mean sensitivity of its predicted probability to each pixel over
the test images: signed (red where more ink raises the probability, blue
where it lowers it) and absolute. Writes the picture the README shows:

    python examples/digits_sensitivity.py                # docs/digits-sensitivity.png
    python examples/digits_sensitivity.py --output map.png

Needs matplotlib (``pip install "fastnn[plot]"``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # a file, no window

import matplotlib.pyplot as plt  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from fastnn import MLPClassifier  # noqa: E402
from fastnn.inspection import SensitivityDisplay, input_sensitivity  # noqa: E402

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "docs/digits-sensitivity.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--max-iter", type=int, default=300, help="training epochs")
    args = parser.parse_args()

    X, y = load_digits(return_X_y=True)
    # Every pixel scaled alike (ink 0 to 16 -> 0 to 1), so that their
    # sensitivities compare.  (A per-pixel scaler in a pipeline works too,
    # the gradients pass through it by the chain rule, but then they are per
    # unit of raw ink, and pixels that are rarely inked get the largest.)
    X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)
    # A saturated probability (0 or 1) has no gradient: the L2 penalty keeps
    # the model's probabilities softer, and its maps readable.
    model = MLPClassifier(
        hidden_layer_sizes=(64,), alpha=1.0, max_iter=args.max_iter, random_state=0
    )
    model.fit(X_train, y_train)
    print(f"test accuracy: {model.score(X_test, y_test):.3f}")

    loss = input_sensitivity(model, X_test, y_test)
    top = loss.importances_mean.argsort()[::-1][:5]
    print("pixels (row, column) the test loss is most sensitive to:")
    for j in top:
        print(f"  ({j // 8}, {j % 8}): mean |dloss/dx| {loss.importances_mean[j]:.4f}")

    display = SensitivityDisplay.from_estimator(model, X_test, image_shape=(8, 8))
    display.figure_.suptitle(
        "fastnn on digits: sensitivity of each class's probability to each pixel"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    display.figure_.savefig(args.output, dpi=80, bbox_inches="tight")
    plt.close(display.figure_)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
