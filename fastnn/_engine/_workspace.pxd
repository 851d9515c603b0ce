# cython: language_level=3
"""The workspace of a network's batches.

Holds: ``Workspace`` (the network's description, the offsets of every
buffer in one flat typed array, and the plan of the current batch) and
``buffer``, the typed view of one of its buffers.
May call: ``_kernels``, ``_plan``.
"""

from cython cimport floating

from ._kernels cimport fnn_activation
from ._plan cimport Plan


cdef class Workspace:
    cdef readonly int n_weight_layers
    cdef readonly Py_ssize_t batch_size
    cdef readonly object dtype
    cdef int loss, n_threads
    cdef double loss_param
    cdef double *dropout      # dropout[l]: rate of hidden layer l (0: none)
    cdef unsigned long long dropout_seed
    # Batches trained with dropout so far: the masks' counter.
    cdef public long dropout_step
    cdef fnn_activation *act_spec  # act_spec[l]: activation of layer l >= 1
    cdef Py_ssize_t *units
    cdef Py_ssize_t *coef_offset
    cdef Py_ssize_t *intercept_offset
    cdef Py_ssize_t n_coef, n_params
    # Every buffer of a batch of the dtype lives in ``work`` (an ndarray),
    # at these offsets; -1 where a layer has none.  The index and double
    # buffers (``feature_end``, ``entry_row``, ``tasks``, ``task_sums``,
    # ``row_loss``) are arrays of their own.
    cdef readonly object params     # the flat parameters, updated in place
    cdef object work
    cdef Py_ssize_t *act_off       # acts[l]: batch_size x units[l]; acts[0] is the batch
    cdef Py_ssize_t *delta_off     # deltas[l]: batch_size x units[l], l >= 1
    cdef Py_ssize_t *pre_off       # pre-activations, where f' needs them
    cdef Py_ssize_t *undropped_off # f(z) before dropout, for f'
    cdef Py_ssize_t *wt_off        # coefficients[l].T, l >= 1, for the deltas
    cdef Py_ssize_t grad_off, y_off
    # Per thread: a panel of gradient rows between its product and its step.
    cdef Py_ssize_t panel_off, panel_size
    cdef int level                 # products_level() of the current Batch
    # A sparse batch by feature (see ``transpose_batch``): the stored
    # entries of feature f are entry_row/entry_value[feature_end[f - 1]:
    # feature_end[f]]; scratch holds gradient rows for the fused step.
    cdef Py_ssize_t entry_value_off, scratch_off, entry_capacity
    cdef Py_ssize_t[::1] feature_end
    cdef Py_ssize_t[::1] entry_row
    cdef Plan plan            # how the current batch is cut (``_plan``)
    cdef double *task_sums    # plan.sums: its gradient units' squared norms
    cdef int n_tasks          # how many (plan.n_gradient_units)
    cdef unsigned int rotation  # batches run: which thread takes which share
    cdef double *row_loss

    cdef object _layout(self, Py_ssize_t sparse_capacity, Py_ssize_t n_features)


cdef inline floating *buffer(floating *work, Py_ssize_t offset) noexcept nogil:
    """The buffer at ``offset`` in the work array; NULL where there is none."""
    return work + offset if offset >= 0 else NULL
