# cython: language_level=3
"""An optimizer as the engine runs it.

Holds: ``Optimizer`` (the scalars of the C step and the flat state arrays,
built from a definition in ``fastnn._optimizers`` for each epoch) and
``begin_step``, which the engine calls before each batch.
May call: ``_kernels``.
"""

from libc.math cimport sqrt

from ._kernels cimport FNN_ADAM, FNN_ADAMW, fnn_optimizer


cdef class Optimizer:
    # The scalars the C step reads; the trainer works on a copy of them
    # and writes the step count back.
    cdef fnn_optimizer c
    cdef readonly tuple state


cdef inline void begin_step(fnn_optimizer *opt) noexcept nogil:
    """Count one more step and set its bias-corrected step size (Adam's
    ``learning_rate_init * sqrt(1 - beta_2**t) / (1 - beta_1**t)``).

    ``sqrt``, not ``** 0.5``: Cython compiles the latter to its complex
    power, which differs from NumPy's square root (scikit-learn's) by an ulp
    on about 1% of steps.
    """
    opt.step_count += 1
    if opt.code == FNN_ADAM or opt.code == FNN_ADAMW:
        opt.step_size = (opt.learning_rate
                         * sqrt(1.0 - opt.beta_2 ** opt.step_count)
                         / (1.0 - opt.beta_1 ** opt.step_count))
