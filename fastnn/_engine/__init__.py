"""Training and prediction engine of fastnn.

Design
------
Python (``fastnn._base``) validates the input, draws the random numbers and
runs the loop over epochs; it calls :meth:`Trainer.run_epoch` once per epoch.
One call runs every minibatch of the epoch (gather rows by the given index
order, forward, loss, backward, optimizer step) without the GIL and without
allocating: every buffer is made when the :class:`Trainer` is built.

All parameters live in one flat array laid out as scikit-learn's ``_pack``
does (every ``coefs_[i]`` raveled, then every ``intercepts_[i]``); the
estimator's ``coefs_`` and ``intercepts_`` are views into it.  The gradient
and the optimizer state are flat arrays of the same layout, so an optimizer
step is one fused pass over memory.

Threads: BLAS runs single-threaded inside the engine and the work is cut
into units that OpenMP threads share: a training batch is one parallel
region, a sequence of stages (each layer's outputs in panels of rows by
blocks of columns, the loss, each hidden layer's deltas, then blocks of
every weight gradient with their optimizer step; see ``_plan`` and
``_batch``), a prediction splits each layer's rows.  The cut depends on the
problem's sizes only, never on the machine or the number of threads, and
reductions (bias gradients, losses, squared norms) are summed in a fixed
order: results are bitwise identical for any number of threads, on any
machine with the engine's kernels.  That is what lets the team shrink
and grow between batches: each batch (and each prediction chunk) gets the
cores that other runnable threads leave free (``_threads``), so a fit beside a
busy process, a second fit or NumPy's spinning BLAS workers slows in
proportion instead of waiting at every barrier for a descheduled thread.
Every decision on threads (the ceiling, the team, the thresholds) is made
in ``_threads``; the cut of a batch in ``_plan``.

The entry points (``InputMatrix``, ``Optimizer``, ``Trainer`` and its methods,
``forward``, the kernel hooks) check that their arrays agree with each other
in dtype and shape and raise ``TypeError``/``ValueError`` otherwise; the
values themselves (finite, non-empty, valid labels) are the Python layer's
to validate.  Below the entry points nothing raises.

Modules, each depending only on those above it:

``_threads``  thread control: the ceiling, each batch's team (counts
              competing threads), prediction blocks, parallel thresholds
``_kernels``  the C element kernels, their codes and float/double wrappers
``_optimizer`` ``Optimizer``: one optimizer's step as an epoch takes it
``_input``    the input matrix, dense or CSR, read in place
``_layers``   the products (the engine's kernels or BLAS) and one layer's
              passes
``_plan``     how a batch is cut into stages and units
``_workspace`` ``Workspace``: the network and every buffer of its batches
``_batch``    one minibatch (one parallel region running the plan)
``_trainer``  ``Trainer``: epochs, full-batch loss and gradient, input
              gradients
``_predict``  ``Network``: predictions, on the same products as training
"""

from ._input import InputMatrix
from ._kernels import (
    ACTIVATION_CODES,
    LOSS_CODES,
    OPTIMIZER_CODES,
    ActivationCode,
    LossCode,
    OptimizerCode,
    activation_backward,
    bias_activation,
    loss_averages_outputs,
    needs_preactivation,
    optimizer_state_arrays,
    output_loss_delta,
)
from ._layers import _set_products, products
from ._optimizer import Optimizer, optimizer_step
from ._plan import _set_unit_floor
from ._predict import Network, forward
from ._threads import (
    _emulate_cpus,
    _set_counting,
    competing_threads,
    effective_n_threads,
    openmp_enabled,
    team_size,
)
from ._trainer import Trainer
from ._tuning import PARALLEL_MIN_MACS
from ._workspace import Workspace

__all__ = [
    "ACTIVATION_CODES",
    "LOSS_CODES",
    "OPTIMIZER_CODES",
    "ActivationCode",
    "InputMatrix",
    "LossCode",
    "Network",
    "Optimizer",
    "OptimizerCode",
    "PARALLEL_MIN_MACS",
    "Trainer",
    "Workspace",
    "_emulate_cpus",
    "_set_counting",
    "_set_unit_floor",
    "_set_products",
    "activation_backward",
    "bias_activation",
    "competing_threads",
    "effective_n_threads",
    "forward",
    "loss_averages_outputs",
    "needs_preactivation",
    "openmp_enabled",
    "optimizer_state_arrays",
    "optimizer_step",
    "output_loss_delta",
    "products",
    "team_size",
]
