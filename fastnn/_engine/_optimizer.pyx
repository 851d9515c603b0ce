# cython: language_level=3, boundscheck=False, wraparound=False
"""An optimizer as the engine runs it (see ``_optimizer.pxd``).

Also holds ``optimizer_step``, a test hook that runs the C step once.
"""

from cython cimport floating
from libc.string cimport memset

from ._kernels cimport fnn_optimizer_state_arrays, optimizer_range

import numpy as np


cdef class Optimizer:
    """One optimizer's step, as :meth:`Trainer.run_epoch` takes it.

    Built by the optimizer definitions of ``fastnn._optimizers`` (which
    document the parameters) for each epoch, from their schedule's current
    values.

    Parameters
    ----------
    code : int
        An ``OptimizerCode``.
    state : sequence of ndarray
        The optimizer's flat state arrays (as many as
        ``optimizer_state_arrays(code)``), laid out like the parameters and
        updated in place: SGD's velocities, or Adam's first and second
        moments.  Checked against the parameters by the trainer.
    learning_rate : float
        SGD's rate for the epoch, or Adam's ``learning_rate_init``.
    momentum : float, default=0.9
    nesterov : bool, default=True
        SGD's momentum and whether it is Nesterov's.
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's and AdamW's.
    weight_decay : float, default=0.01
        AdamW's decoupled weight decay.
    step_count : int, default=0
        Steps taken before this epoch; :attr:`step_count` holds the count
        after it.
    """

    def __cinit__(self, int code, state, *, double learning_rate,
                  double momentum=0.9, bint nesterov=True, double beta_1=0.9,
                  double beta_2=0.999, double epsilon=1e-8,
                  double weight_decay=0.01, long step_count=0):
        cdef int n_arrays = fnn_optimizer_state_arrays(code)
        if n_arrays == 0:
            raise ValueError(f"unknown optimizer code {code}")
        self.state = tuple(state)
        if len(self.state) != n_arrays:
            raise ValueError("the optimizer state does not match the solver")
        memset(&self.c, 0, sizeof(self.c))
        self.c.code = code
        self.c.nesterov = nesterov
        self.c.step_count = step_count
        self.c.learning_rate = learning_rate
        self.c.momentum = momentum
        self.c.beta_1 = beta_1
        self.c.beta_2 = beta_2
        self.c.epsilon = epsilon
        self.c.weight_decay = weight_decay

    @property
    def code(self):
        return self.c.code

    @property
    def step_count(self):
        """Steps taken so far (an interrupted epoch counts those it took)."""
        return self.c.step_count


def optimizer_step(Optimizer optimizer, floating[::1] w,
                   const floating[::1] grad, double alpha, double sw_sum,
                   bint coefficients=True, code=None):
    """One step of ``optimizer`` over a flat array, in place (test hook).

    ``w`` and the optimizer's state arrays are updated as the engine updates
    a range of coefficients (``coefficients``) or intercepts, after
    counting the step; ``code`` overrides the optimizer's, so that the tests
    can check what a code the C switch misses does.
    """
    cdef Py_ssize_t n = w.shape[0]
    cdef floating[::1] first = optimizer.state[0]
    cdef floating[::1] second = (optimizer.state[1] if len(optimizer.state) > 1
                                 else None)
    if first.shape[0] != n or grad.shape[0] != n or (
            second is not None and second.shape[0] != n):
        raise ValueError("w, grad and the state arrays must have the same length")
    begin_step(&optimizer.c)
    cdef fnn_optimizer step = optimizer.c
    step.alpha = alpha
    step.sw_sum = sw_sum
    if code is not None:
        step.code = code
    optimizer_range(&step, coefficients, &w[0], &first[0],
                    &second[0] if second is not None else NULL, &grad[0], n)
