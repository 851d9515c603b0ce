# cython: language_level=3
"""One minibatch: the workspace it runs in and the parallel region that runs it.

Holds: ``Workspace`` (the network's description and the offsets of every
buffer in one flat typed array), the modes of a batch pass, ``Batch`` (what
one pass reads and writes) and ``batch_pass``.
May call: ``_layers``, ``_kernels``, ``_input``, ``_threads``.
"""

from cython cimport floating

from ._input cimport Input
from ._kernels cimport fnn_activation, fnn_optimizer
from ._plan cimport Plan


cdef enum Pass:
    # What a batch pass computes beyond the outputs and the loss:
    FORWARD = 0           # nothing (outputs, per-row losses, output deltas)
    GRADIENT = 1          # the raw gradient, overwriting the gradient buffer
    GRADIENT_ADD = 2      # the raw gradient, added to the gradient buffer
    TRAIN = 3             # dropout, the raw gradient and the optimizer step


cdef struct Batch:
    # One batch pass (see ``batch_pass``): its rows, what it computes, and
    # the arrays it reads and writes besides the workspace.  Arrays are void
    # pointers, as ``Input.values`` is: they hold the workspace's dtype.
    const Input *X              # IN: the input
    const void *Y               # IN: targets; row r, column j at element
    Py_ssize_t y_row_stride     #     r * y_row_stride + j * y_col_stride
    Py_ssize_t y_col_stride
    const void *sample_weight   # IN: one per row of X
    const Py_ssize_t *rows      # IN: the batch's rows of X, in batch order
    Py_ssize_t n_rows
    Pass mode
    fnn_optimizer *step         # IN/OUT, TRAIN only: the step (sw_sum is set)
    void *first_moments         # IN/OUT, TRAIN only: the optimizer's state,
    void *second_moments        #   laid out like params (second: NULL for SGD)
    double sw_sum               # OUT: the sum of the rows' sample weights
    bint products_ready         # OUT: the workspace is set up for this
                                #   batch's products (see ``batch_pass``)


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
    cdef double *row_loss

    cdef object _layout(self, Py_ssize_t sparse_capacity, Py_ssize_t n_features)


cdef Batch batch_of(const Input *X, const floating[:, :] Y,
                    const floating[::1] sample_weight, Pass mode) noexcept
cdef double batch_pass(Workspace ws, Batch *batch, floating *work,
                       floating *params) noexcept nogil
cdef void backprop_rows(Workspace ws, floating *work, const floating *params,
                        Py_ssize_t r0, Py_ssize_t r1, bint train) noexcept nogil
cdef double mean_loss(Workspace ws, double weighted_loss,
                      double sw_sum) noexcept nogil
