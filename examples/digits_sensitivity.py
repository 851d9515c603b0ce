"""
==========================================
Which pixels each digit's probability uses
==========================================

Trains a fastnn classifier on scikit-learn's 8x8 digits and draws, for every
class, the mean sensitivity of its predicted probability to each pixel over
the test images: signed (red where more ink raises the probability, blue
where it lowers it) and absolute.  From the command line it shows the
picture, or writes it to a file::

    python examples/digits_sensitivity.py
    python examples/digits_sensitivity.py --output map.png

Needs matplotlib (``pip install "fastnn-mlp[plot]"``).
"""

import argparse
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastnn import MLPClassifier
from fastnn.inspection import SensitivityDisplay, input_sensitivity

parser = argparse.ArgumentParser(
    description="Which pixels each digit's probability is sensitive to."
)
parser.add_argument("--output", type=Path, help="write the picture to this file")
parser.add_argument("--max-iter", type=int, default=300, help="training epochs")
args = parser.parse_args()

# %%
# Train
# -----
# Every pixel is scaled alike (ink 0 to 16 becomes 0 to 1), so that their
# sensitivities compare.  (A per-pixel scaler in a pipeline works too, the
# gradients pass through it by the chain rule, but then they are per unit of
# raw ink, and pixels that are rarely inked get the largest.)  A saturated
# probability (0 or 1) has no gradient: the L2 penalty keeps the model's
# probabilities softer, and its maps readable.

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)
model = MLPClassifier(
    hidden_layer_sizes=(64,), alpha=1.0, max_iter=args.max_iter, random_state=0
)
with warnings.catch_warnings():
    # The loss still creeps down after 300 epochs; the maps no longer change.
    warnings.simplefilter("ignore", ConvergenceWarning)
    model.fit(X_train, y_train)
print(f"test accuracy: {model.score(X_test, y_test):.3f}")

# %%
# Sensitivity of the loss
# -----------------------
# With ``y``, :func:`~fastnn.inspection.input_sensitivity` averages the
# absolute gradient of each test image's own loss with respect to each pixel.

loss = input_sensitivity(model, X_test, y_test)
top = loss.importances_mean.argsort()[::-1][:5]
print("pixels (row, column) the test loss is most sensitive to:")
for j in top:
    print(f"  ({j // 8}, {j % 8}): mean |dloss/dx| {loss.importances_mean[j]:.4f}")

# %%
# Sensitivity of each class's probability
# ---------------------------------------
# Without ``y`` the gradients are those of the outputs, one map per class;
# ``image_shape`` draws them as images.

display = SensitivityDisplay.from_estimator(model, X_test, image_shape=(8, 8))
display.figure_.suptitle(
    "fastnn on digits: sensitivity of each class's probability to each pixel"
)
if args.output is not None:
    args.output.parent.mkdir(parents=True, exist_ok=True)
    display.figure_.savefig(args.output, dpi=80, bbox_inches="tight")
    print(f"wrote {args.output}")
else:
    plt.show()
