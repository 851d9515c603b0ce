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
into blocks that OpenMP threads share: a training batch is one parallel
region (row blocks through every layer, then blocks of every weight
gradient with their optimizer step; see ``_batch``), a prediction splits
each layer's rows.  Blocks depend on the sizes (and the machine's logical
CPU count), never on the number of threads, and reductions (bias gradients,
losses, squared norms) are summed in a fixed order: results are bitwise
identical for any number of threads.  That is what lets the team shrink
and grow between batches: each batch (and each prediction chunk) gets the
cores that other runnable threads leave free (``_threads``), so a fit beside a
busy process, a second fit or NumPy's spinning BLAS workers slows in
proportion instead of waiting at every barrier for a descheduled thread.
Every such decision (the ceiling, the team, the blocks, the thresholds)
is made in ``_threads``.

The entry points (``InputMatrix``, ``Optimizer``, ``Trainer`` and its methods,
``forward``, the kernel hooks) check that their arrays agree with each other
in dtype and shape and raise ``TypeError``/``ValueError`` otherwise; the
values themselves (finite, non-empty, valid labels) are the Python layer's
to validate.  Below the entry points nothing raises.

Modules, each depending only on those above it:

``_threads``  thread control: the ceiling, each batch's team (counts
              competing threads), product blocks, parallel thresholds
``_kernels``  the C element kernels, their codes and float/double wrappers
``_optimizer`` ``Optimizer``: one optimizer's step as an epoch takes it
``_input``    the input matrix, dense or CSR, read in place
``_layers``   one layer's forward, backward and gradient products
``_batch``    the workspace and one minibatch (one parallel region)
``_trainer``  ``Trainer``: epochs, full-batch loss and gradient, input
              gradients
``_predict``  ``forward``: chunked prediction
"""

from ._batch import Workspace
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
from ._predict import forward
from ._threads import (
    PARALLEL_MIN_MACS,
    _emulate_cpus,
    _set_counting,
    _set_gemm_blocks,
    competing_threads,
    effective_n_threads,
    gemm_block_count,
    openmp_enabled,
    team_size,
)
from ._trainer import Trainer

__all__ = [
    "ACTIVATION_CODES",
    "LOSS_CODES",
    "OPTIMIZER_CODES",
    "ActivationCode",
    "InputMatrix",
    "LossCode",
    "Optimizer",
    "OptimizerCode",
    "PARALLEL_MIN_MACS",
    "Trainer",
    "Workspace",
    "_emulate_cpus",
    "_set_counting",
    "_set_gemm_blocks",
    "_set_products",
    "activation_backward",
    "bias_activation",
    "competing_threads",
    "effective_n_threads",
    "forward",
    "gemm_block_count",
    "loss_averages_outputs",
    "needs_preactivation",
    "openmp_enabled",
    "optimizer_state_arrays",
    "optimizer_step",
    "output_loss_delta",
    "products",
    "team_size",
]
