"""The C element kernels against NumPy references, in both dtypes."""

import numpy as np
import pytest
from _reference import (
    HIDDEN_ACTIVATIONS,
    OUTPUT_FOR_LOSS,
    activation,
    activation_derivative,
    activation_derivative_from_output,
    row_losses,
)
from numpy.testing import assert_allclose, assert_array_equal

from fastnn import _engine

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 2e-6, np.float64: 1e-14}


@pytest.fixture
def rng():
    return np.random.RandomState(42)


OUTPUT_ONLY = [("exp", 0.0, 0.0), ("softmax", 0.0, 0.0)]
ALL = HIDDEN_ACTIVATIONS + [("unit_step", 0.0, 0.0)] + OUTPUT_ONLY


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spec", ALL, ids=lambda s: f"{s[0]}({s[1]},{s[2]})")
def test_bias_activation(rng, dtype, spec):
    name, p0, p1 = spec
    Z = rng.normal(0, 3, (37, 13)).astype(dtype)
    b = rng.normal(0, 1, 13).astype(dtype)
    pre_expected = Z + b
    expected = activation(name, pre_expected.astype(np.float64), p0, p1)
    pre = _engine.bias_activation(Z, b, name, p0, p1)
    assert Z.dtype == dtype
    assert_allclose(Z, expected, rtol=RTOL[dtype] * 4, atol=RTOL[dtype] * 1e-3)
    if name != "softmax":
        assert_allclose(pre, pre_expected, rtol=RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_is_stable_for_large_inputs(dtype):
    Z = np.array([[1000.0, 0.0, -1000.0], [-5e4, -5e4, -5e4]], dtype=dtype)
    _engine.bias_activation(Z, np.zeros(3, dtype=dtype), "softmax")
    assert np.isfinite(Z).all()
    assert_allclose(Z, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softplus_is_stable_for_large_inputs(dtype):
    Z = np.array([[800.0, -800.0, 0.0]], dtype=dtype)
    _engine.bias_activation(Z, np.zeros(3, dtype=dtype), "softplus")
    assert_allclose(Z, [[800.0, 0.0, np.log(2)]], rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["identity", "logistic", "tanh", "relu"])
def test_activation_backward_matches_sklearn_formulas(rng, dtype, name):
    A = activation(name, rng.normal(0, 2, (29, 11))).astype(dtype)
    delta = rng.normal(0, 1, A.shape).astype(dtype)
    # In the working dtype, as scikit-learn computes it: 1 - a**2 loses
    # digits near saturation in float32 whoever evaluates it.
    expected = delta * activation_derivative_from_output(name, A)
    _engine.activation_backward(delta, A, A, name)
    assert_allclose(delta, expected, rtol=RTOL[dtype] * 4, atol=1e-30)


@pytest.mark.parametrize("spec", ALL[:-2], ids=lambda s: f"{s[0]}({s[1]},{s[2]})")
def test_activation_backward_matches_the_derivative(rng, spec):
    name, p0, p1 = spec
    pre = rng.normal(0, 2, (29, 11))
    A = activation(name, pre, p0, p1)
    delta = rng.normal(0, 1, A.shape)
    expected = delta * activation_derivative(name, pre, p0, p1)
    _engine.activation_backward(delta, A, pre, name, p0, p1)
    assert_allclose(delta, expected, rtol=1e-12, atol=1e-14)


def _targets(rng, loss, shape):
    if loss in ("log_loss", "proba_squared_error_softmax"):
        return np.eye(shape[1])[rng.randint(shape[1], size=shape[0])]
    if loss in ("binary_log_loss", "proba_squared_error"):
        return rng.randint(2, size=shape).astype(float)
    if loss == "poisson":
        return rng.poisson(2.0, size=shape).astype(float)
    if loss == "gamma":
        return rng.gamma(2.0, size=shape)
    return rng.normal(size=shape)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss, output", list(OUTPUT_FOR_LOSS.items()))
def test_output_loss_and_delta(rng, dtype, loss, output):
    P = activation(output, rng.normal(0, 2, (31, 4))).astype(dtype)
    Y = _targets(rng, loss, P.shape).astype(dtype)
    sw = rng.uniform(0.5, 2, 31).astype(dtype)
    losses, delta = _engine.output_loss_delta(P, Y, sw, loss, 0.8)
    P64, Y64 = P.astype(np.float64), Y.astype(np.float64)
    assert_allclose(losses, row_losses(loss, P64, Y64, 0.8), rtol=RTOL[dtype] * 10)
    r = P64 - Y64
    # d(row loss)/d(pre-activation), by the chain rule through the output.
    if loss == "proba_squared_error":
        expected = r * P64 * (1 - P64)
    elif loss == "proba_squared_error_softmax":
        expected = P64 * (r - (P64 * r).sum(axis=1, keepdims=True))
    elif loss == "absolute_error":
        expected = np.sign(r)
    elif loss == "huber":
        expected = np.clip(r, -0.8, 0.8)
    elif loss == "quantile":
        expected = np.where(r > 0, 1 - 0.8, -0.8)
    elif loss == "gamma":  # d/dz of log(p / y) + y / p - 1 with p = exp(z)
        expected = 1 - Y64 / P64
    else:
        expected = r
    assert_allclose(delta, expected * sw[:, None], rtol=RTOL[dtype] * 10, atol=1e-6)


def test_log_loss_clips_saturated_probabilities():
    P = np.array([[1.0, 0.0]])
    losses, _ = _engine.output_loss_delta(
        P, np.array([[0.0, 1.0]]), np.ones(1), "log_loss"
    )
    assert_allclose(losses, [-np.log(np.finfo(np.float64).eps)])


def _optimizer(name, state, **params):
    return _engine.Optimizer(_engine.OPTIMIZER_CODES[name], state, **params)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("coefficients", [True, False])
def test_adam_step(rng, dtype, coefficients):
    n = 1000
    w, m, v, g = (rng.normal(size=n).astype(dtype) for _ in range(4))
    v = np.abs(v)
    alpha, sw_sum, b1, b2, lr, eps, t = 0.01, 7.0, 0.9, 0.999, 0.003, 1e-8, 5
    # The penalty applies to coefficients, never to intercepts.
    penalty = alpha if coefficients else 0.0
    grad = (g.astype(np.float64) + penalty * w) / sw_sum
    m_ref = b1 * m + (1 - b1) * grad
    v_ref = b2 * v + (1 - b2) * grad**2
    lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    w_ref = w + (-lr_t * m_ref) / (np.sqrt(v_ref) + eps)
    adam = _optimizer(
        "adam",
        (m, v),
        learning_rate=lr,
        beta_1=b1,
        beta_2=b2,
        epsilon=eps,
        step_count=t - 1,
    )
    _engine.optimizer_step(adam, w, g, alpha, sw_sum, coefficients)
    assert adam.step_count == t
    tol = RTOL[dtype] * 10
    assert_allclose(m, m_ref, rtol=tol, atol=tol)
    assert_allclose(v, v_ref, rtol=tol, atol=tol)
    assert_allclose(w, w_ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("coefficients", [True, False])
def test_adamw_step(rng, dtype, coefficients):
    """AdamW as torch.optim.AdamW's documentation writes it: the weights
    decay by lr * weight_decay, then take Adam's step; plus the coupled L2
    term alpha, which only coefficients get, as they alone decay."""
    n = 1000
    w, m, v, g = (rng.normal(size=n).astype(dtype) for _ in range(4))
    v = np.abs(v)
    alpha, sw_sum, b1, b2, lr, eps, wd, t = 0.01, 7.0, 0.9, 0.999, 0.003, 1e-8, 0.1, 3
    penalty, decay = (alpha, wd) if coefficients else (0.0, 0.0)
    grad = (g.astype(np.float64) + penalty * w) / sw_sum
    m_ref = b1 * m + (1 - b1) * grad
    v_ref = b2 * v + (1 - b2) * grad**2
    lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    w_ref = w * (1 - lr * decay) - lr_t * m_ref / (np.sqrt(v_ref) + eps)
    adamw = _optimizer(
        "adamw",
        (m, v),
        learning_rate=lr,
        beta_1=b1,
        beta_2=b2,
        epsilon=eps,
        weight_decay=wd,
        step_count=t - 1,
    )
    _engine.optimizer_step(adamw, w, g, alpha, sw_sum, coefficients)
    tol = RTOL[dtype] * 10
    assert_allclose(m, m_ref, rtol=tol, atol=tol)
    assert_allclose(v, v_ref, rtol=tol, atol=tol)
    assert_allclose(w, w_ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adamw_without_decay_is_adam_bit_for_bit(rng, dtype):
    w, m, v, g = (np.abs(rng.normal(size=300)).astype(dtype) for _ in range(4))
    results = []
    for name in ("adam", "adamw"):
        state = (m.copy(), v.copy())
        w_out = w.copy()
        opt = _optimizer(name, state, learning_rate=0.01, weight_decay=0.0)
        _engine.optimizer_step(opt, w_out, g, 0.1, 3.0)
        results.append((w_out, *state))
    for adam, adamw in zip(*results):
        assert_array_equal(adam, adamw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nesterov", [True, False])
def test_sgd_step(rng, dtype, nesterov):
    n = 1000
    w, vel, g = (rng.normal(size=n).astype(dtype) for _ in range(3))
    alpha, sw_sum, mom, lr = 0.01, 3.0, 0.9, 0.1
    grad = (g.astype(np.float64) + alpha * w) / sw_sum
    vel_ref = mom * vel - lr * grad
    update = mom * vel_ref - lr * grad if nesterov else vel_ref
    w_ref = w + update
    sgd = _optimizer("sgd", (vel,), learning_rate=lr, momentum=mom, nesterov=nesterov)
    _engine.optimizer_step(sgd, w, g, alpha, sw_sum)
    tol = RTOL[dtype] * 10
    assert_allclose(vel, vel_ref, rtol=tol, atol=tol)
    assert_allclose(w, w_ref, rtol=tol, atol=tol)


def test_optimizer_codes_are_the_solvers():
    from fastnn._optimizers import OPTIMIZERS

    assert set(_engine.OPTIMIZER_CODES) == set(OPTIMIZERS)
    for name, cls in OPTIMIZERS.items():
        assert cls.code == _engine.OPTIMIZER_CODES[name]


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_code_the_optimizer_switch_misses_writes_nan(dtype):
    unknown = max(_engine.OPTIMIZER_CODES.values()) + 1
    assert _engine.optimizer_state_arrays(unknown) == 0
    with pytest.raises(ValueError, match=f"unknown optimizer code {unknown}"):
        _engine.Optimizer(unknown, (), learning_rate=0.1)
    state = (np.zeros(8, dtype), np.zeros(8, dtype))
    adam = _optimizer("adam", state, learning_rate=0.1)
    w = np.ones(8, dtype)
    _engine.optimizer_step(adam, w, np.ones(8, dtype), 0.0, 1.0, code=unknown)
    assert np.isnan(w).all()


def test_adam_step_size_is_numpys_square_root_bit_for_bit(rng):
    # Steps where C's pow(x, 0.5) and a correctly rounded square root differ
    # by an ulp: the step size must be scikit-learn's (np.sqrt) exactly.
    b1, b2, lr = 0.9, 0.999, 0.001
    steps = [t for t in range(1, 3000) if (1 - b2**t) ** 0.5 != np.sqrt(1 - b2**t)][:5]
    assert steps
    n = 64
    for t in steps:
        m, v, g = (rng.normal(size=n) for _ in range(3))
        v = np.abs(v)
        # From zero weights the step itself is the result: an ulp of the
        # step size would otherwise vanish in w's rounding.
        w = np.zeros(n)
        grad = (g + 0.0 * w) / 1.0
        m_ref = b1 * m + (1 - b1) * grad
        v_ref = b2 * v + (1 - b2) * (grad * grad)
        lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        w_ref = w + (-lr_t * m_ref) / (np.sqrt(v_ref) + 1e-8)
        adam = _optimizer(
            "adam", (m, v), learning_rate=lr, beta_1=b1, beta_2=b2, step_count=t - 1
        )
        _engine.optimizer_step(adam, w, g, 0.0, 1.0)
        np.testing.assert_array_equal(w, w_ref)
