"""
==================================================
Training and validation curves on your own X_val
==================================================

With ``early_stopping=True``, ``fit`` takes a validation set of your own
(``X_val``, ``y_val``: the names and rules of scikit-learn's
:class:`~sklearn.ensemble.HistGradientBoostingClassifier`) instead of holding
out ``validation_fraction`` of the training rows.  The model records the
training loss and the validation loss and accuracy after every epoch, and
keeps the weights of the best validated epoch.

A small callback of scikit-learn's callback API (experimental since
scikit-learn 1.9) follows the fit: fastnn reports one task per epoch, and
the callback prints the validation accuracy every ten epochs.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from fastnn import MLPClassifier

X, y = load_digits(return_X_y=True)
X = X / 16
X_train, X_rest, y_train, y_rest = train_test_split(X, y, test_size=0.4, random_state=0)
X_val, X_test, y_val, y_test = train_test_split(
    X_rest, y_rest, test_size=0.5, random_state=0
)

# %%
# A progress callback
# -------------------
# ``on_fit_task_end`` runs after every epoch (``context.task_name`` is
# ``"epoch"``) and once at the end of the fit; ``fitted_estimator`` is the
# model as it stands.  Returning ``True`` would stop the training.


class EveryTenEpochs:
    """Prints the validation accuracy every ten epochs."""

    def setup(self, estimator, context):
        print("fitting", type(estimator).__name__)

    def teardown(self, estimator, context):
        print(f"done after {estimator.n_iter_} epochs")

    def on_fit_task_begin(self, estimator, context, **kwargs):
        pass

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None, **kwargs):
        if context.task_name == "epoch" and fitted_estimator.n_iter_ % 10 == 0:
            print(
                f"epoch {fitted_estimator.n_iter_:3d}: validation accuracy "
                f"{fitted_estimator.validation_scores_[-1]:.4f}"
            )
        return False


# %%
# Fit on the training rows, validate on X_val
# -------------------------------------------

model = MLPClassifier(
    hidden_layer_sizes=(64,),
    early_stopping=True,
    n_iter_no_change=15,
    max_iter=300,
    random_state=0,
)
model.set_callbacks(EveryTenEpochs())
model.fit(X_train, y_train, X_val=X_val, y_val=y_val)
best = int(np.argmax(model.validation_scores_))
print(
    f"best validation accuracy {model.best_validation_score_:.4f} at epoch {best + 1}"
)
print(f"test accuracy of the restored best weights {model.score(X_test, y_test):.4f}")

# %%
# The curves
# ----------

epochs = np.arange(1, model.n_iter_ + 1)
fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
ax_loss.plot(epochs, model.loss_curve_, label="training loss (loss_curve_)")
ax_loss.plot(
    epochs,
    model.validation_loss_curve_,
    label="validation loss (validation_loss_curve_)",
)
ax_loss.set(xlabel="epoch", ylabel="log-loss", yscale="log")
ax_loss.legend()
ax_score.plot(epochs, model.validation_scores_, color="tab:green")
ax_score.axvline(best + 1, color="0.5", ls="--", label=f"best epoch ({best + 1}), kept")
ax_score.set(xlabel="epoch", ylabel="validation accuracy (validation_scores_)")
ax_score.legend(loc="lower right")
fig.suptitle("MLPClassifier(early_stopping=True).fit(X, y, X_val=X_val, y_val=y_val)")
plt.show()
