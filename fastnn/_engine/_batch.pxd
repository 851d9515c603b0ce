# cython: language_level=3
"""One minibatch: the workspace it runs in and the parallel region that runs it.

Holds: the modes of a batch pass, ``Batch`` (what one pass reads and
writes), ``batch_pass`` and the passes over rows the trainer reuses.
May call: ``_workspace``, ``_plan``, ``_layers``, ``_kernels``, ``_input``,
``_threads``, ``_phases``.
"""

from cython cimport floating

from ._input cimport Input
from ._kernels cimport fnn_activation, fnn_optimizer
from ._workspace cimport Workspace


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


cdef Batch batch_of(const Input *X, const floating[:, :] Y,
                    const floating[::1] sample_weight, Pass mode) noexcept
cdef double batch_pass(Workspace ws, Batch *batch, floating *work,
                       floating *params) noexcept nogil
cdef void backprop_rows(Workspace ws, floating *work, const floating *params,
                        Py_ssize_t r0, Py_ssize_t r1, bint train) noexcept nogil
cdef double mean_loss(Workspace ws, double weighted_loss,
                      double sw_sum) noexcept nogil
