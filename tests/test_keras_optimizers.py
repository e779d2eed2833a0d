"""Nadam, Adamax, Adadelta, Lion, Ftrl, Lamb, ScheduleFreeAdamW and the PolynomialDecay / CosineDecayRestarts schedules
against Keras 3's formulas written out plainly in float64 (keras/src/optimizers/{nadam,adamax,adadelta,lion,ftrl,lamb,
schedule_free_adamw}.py and
keras/src/optimizers/schedules/learning_rate_schedule.py); their NumPy twins and compiled CPU loops against
each other; names, defaults, configs; learning_rate=0; resuming from a saved model."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
from helpers import numpy_backend  # noqa: F401  (fixture)

import gpunn
from gpunn import callbacks, layers, optimizers
from gpunn.kernels import cpu_updates, optimizer_rules
from gpunn.kernels import optimizer_updates as twins
from gpunn.ops.base import Ops
from gpunn.optimizers import schedules

N = 11
SEGMENTS = [(0, 6), (6, 9), (9, 11)]
STEPS = 6


# ---- Keras 3's formulas, float64 -----------------------------------------------------------------------------
# Each takes the initial parameters, the gradients and the learning rate of each step (a schedule's values), and
# returns the parameters after every step. Decoupled weight decay first, as Keras's base optimizer does.


def keras_nadam(p0, grads, lrs, beta_1=0.9, beta_2=0.999, epsilon=1e-7, wd=0.0):
    p, m, v, u_product = p0.copy(), np.zeros_like(p0), np.zeros_like(p0), 1.0
    out = [p.copy()]
    for iterations, (g, lr) in enumerate(zip(grads, lrs)):
        p = p - p * wd * lr
        # _backend_update_step: the product is advanced before the update
        u_product = u_product * beta_1 * (1.0 - 0.5 * 0.96 ** (iterations + 1))
        local_step, next_step = iterations + 1, iterations + 2
        u_t = beta_1 * (1.0 - 0.5 * 0.96 ** local_step)
        u_t_1 = beta_1 * (1.0 - 0.5 * 0.96 ** next_step)
        u_product_t_1 = u_product * u_t_1
        m = m + (g - m) * (1 - beta_1)
        v = v + (g * g - v) * (1 - beta_2)
        m_hat = u_t_1 * m / (1 - u_product_t_1) + (1 - u_t) * g / (1 - u_product)
        v_hat = v / (1 - beta_2 ** local_step)
        p = p - m_hat * lr / (np.sqrt(v_hat) + epsilon)
        out.append(p.copy())
    return out


def keras_adamax(p0, grads, lrs, beta_1=0.9, beta_2=0.999, epsilon=1e-7, wd=0.0):
    p, m, u = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    out = [p.copy()]
    for iterations, (g, lr) in enumerate(zip(grads, lrs)):
        p = p - p * wd * lr
        beta_1_power = beta_1 ** (iterations + 1)
        m = m + (g - m) * (1 - beta_1)
        u = np.maximum(beta_2 * u, np.abs(g))
        p = p - lr * m / ((1 - beta_1_power) * (u + epsilon))
        out.append(p.copy())
    return out


def keras_adadelta(p0, grads, lrs, rho=0.95, epsilon=1e-7, wd=0.0):
    p, acc_grad, acc_delta = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    out = [p.copy()]

    def rms(x):
        return np.sqrt(x + epsilon)

    for g, lr in zip(grads, lrs):
        p = p - p * wd * lr
        acc_grad = rho * acc_grad + (1 - rho) * g * g
        delta = -(rms(acc_delta) * g) / rms(acc_grad)
        acc_delta = rho * acc_delta + (1 - rho) * delta * delta
        p = p + lr * delta
        out.append(p.copy())
    return out


def keras_lion(p0, grads, lrs, beta_1=0.9, beta_2=0.99, wd=0.0):
    p, m = p0.copy(), np.zeros_like(p0)
    out = [p.copy()]
    for g, lr in zip(grads, lrs):
        p = p - p * wd * lr
        p = p - lr * np.sign(m * beta_1 + g * (1.0 - beta_1))
        m = m * beta_2 + g * (1.0 - beta_2)
        out.append(p.copy())
    return out


def keras_ftrl(p0, grads, lrs, learning_rate_power=-0.5, initial_accumulator_value=0.1,
               l1_regularization_strength=0.0, l2_regularization_strength=0.0,
               l2_shrinkage_regularization_strength=0.0, beta=0.0, wd=0.0):
    p, accum, linear = p0.copy(), np.full_like(p0, initial_accumulator_value), np.zeros_like(p0)
    out = [p.copy()]
    for g, lr in zip(grads, lrs):
        p = p - p * wd * lr
        l2_reg = l2_regularization_strength + beta / (2.0 * lr)
        grad_to_use = g + 2 * l2_shrinkage_regularization_strength * p
        new_accum = accum + g ** 2
        linear = linear + (grad_to_use - (new_accum ** -learning_rate_power - accum ** -learning_rate_power)
                           / lr * p)
        quadratic = new_accum ** -learning_rate_power / lr + 2 * l2_reg
        linear_clipped = np.clip(linear, -l1_regularization_strength, l1_regularization_strength)
        p = (linear_clipped - linear) / quadratic
        accum = new_accum
        out.append(p.copy())
    return out


def keras_lamb(p0, grads, lrs, beta_1=0.9, beta_2=0.999, epsilon=1e-7, wd=0.0, segments=SEGMENTS):
    """Each weight (a segment) moves by its own trust ratio ||w|| / ||update||, 1 where a norm is 0."""
    p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    out = [p.copy()]
    for iterations, (g, lr) in enumerate(zip(grads, lrs)):
        p = p - p * wd * lr
        local_step = iterations + 1
        m = m + (g - m) * (1 - beta_1)
        v = v + (g * g - v) * (1 - beta_2)
        update = (m / (1.0 - beta_1 ** local_step)) / (np.sqrt(v / (1.0 - beta_2 ** local_step)) + epsilon)
        moved = p.copy()
        for start, stop in segments:
            w_norm = np.sqrt(np.sum(p[start:stop] ** 2))
            g_norm = np.sqrt(np.sum(update[start:stop] ** 2))
            ratio = w_norm / g_norm if w_norm > 0 and g_norm > 0 else 1.0
            moved[start:stop] = p[start:stop] - ratio * lr * update[start:stop]
        p = moved
        out.append(p.copy())
    return out


def keras_schedule_free_adamw(p0, grads, lrs, beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0, wd=0.0):
    """The model's weights are y; z (Keras's ``momentum``) starts at them."""
    y, z, v = p0.copy(), p0.copy(), np.zeros_like(p0)
    out = [y.copy()]
    for iterations, (g, lr) in enumerate(zip(grads, lrs)):
        y = y - y * wd * lr
        local_step = iterations + 1
        if warmup_steps > 0:
            lr = lr * min(local_step / warmup_steps, 1.0)
        z_old = z
        v = v + (g ** 2 - v) * (1 - beta_2)
        z = z - lr * g / (np.sqrt(v / (1 - beta_2 ** local_step)) + epsilon)
        weight = 1.0 / local_step
        x_old = (y - (1 - beta_1) * z_old) / beta_1
        x_new = (1 - weight) * x_old + weight * z
        y = (1 - beta_1) * z + beta_1 * x_new
        out.append(y.copy())
    return out


KERAS = {"nadam": keras_nadam, "adamax": keras_adamax, "adadelta": keras_adadelta, "lion": keras_lion,
         "ftrl": keras_ftrl, "lamb": keras_lamb, "schedulefreeadamw": keras_schedule_free_adamw}
CLASSES = {"nadam": optimizers.Nadam, "adamax": optimizers.Adamax, "adadelta": optimizers.Adadelta,
           "lion": optimizers.Lion, "ftrl": optimizers.Ftrl, "lamb": optimizers.Lamb,
           "schedulefreeadamw": optimizers.ScheduleFreeAdamW}
HYPER = {  # not the defaults, so that a hyperparameter that is not passed on shows
    "nadam": dict(beta_1=0.8, beta_2=0.95, epsilon=1e-6),
    "adamax": dict(beta_1=0.85, beta_2=0.9, epsilon=1e-6),
    "adadelta": dict(rho=0.8, epsilon=1e-5),
    "lion": dict(beta_1=0.7, beta_2=0.95),
    # l1 = 0.05 holds some parameters at exactly zero (|linear| <= l1), as FTRL's sparsity does
    "ftrl": dict(learning_rate_power=-0.7, initial_accumulator_value=0.3, l1_regularization_strength=0.05,
                 l2_regularization_strength=0.02, l2_shrinkage_regularization_strength=0.01, beta=0.5),
    "lamb": dict(beta_1=0.8, beta_2=0.95, epsilon=1e-6),
    "schedulefreeadamw": dict(beta_1=0.8, beta_2=0.95, epsilon=1e-6, warmup_steps=3),
}
LEARNING_RATE = {"nadam": 0.01, "adamax": 0.02, "adadelta": 1.0, "lion": 0.003, "ftrl": 0.2, "lamb": 0.05,
                 "schedulefreeadamw": 0.02}


def _learning_rates(name, scheduled):
    """(the optimizer's learning_rate argument, the rate of each step)."""
    lr = LEARNING_RATE[name]
    if not scheduled:
        return lr, [lr] * STEPS
    schedule = schedules.PolynomialDecay(lr, decay_steps=4, end_learning_rate=lr / 10, power=2.0, cycle=True)
    return schedule, [schedule(k) for k in range(STEPS)]


def _run(optimizer, ops, rng):
    p = rng.standard_normal(N)
    params = ops.asarray(p.copy())
    optimizer.build(ops, params, SEGMENTS)
    history, grads = [np.array(params)], []
    for _ in range(STEPS):
        g = rng.standard_normal(N)
        grads.append(g.copy())
        optimizer.apply(params, ops.asarray(g.copy()))
        history.append(np.array(params))
    return history, grads


@pytest.mark.parametrize("backend", ["numpy", "reference"])
@pytest.mark.parametrize("scheduled", [False, True], ids=["constant", "schedule"])
@pytest.mark.parametrize("wd", [None, 0.05])
@pytest.mark.parametrize("name", sorted(KERAS))
def test_optimizer_follows_keras(name, wd, scheduled, backend, rng, numpy_backend):
    ops = numpy_backend if backend == "numpy" else Ops()
    learning_rate, lrs = _learning_rates(name, scheduled)
    optimizer = CLASSES[name](learning_rate=learning_rate, weight_decay=wd, **HYPER[name])
    history, grads = _run(optimizer, ops, rng)
    expected = KERAS[name](history[0], grads, lrs, wd=wd or 0.0, **HYPER[name])
    for step, (got, want) in enumerate(zip(history, expected)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14, err_msg=f"after {step} steps")
    assert optimizer.iterations == STEPS
    assert not np.allclose(history[-1], history[0])


@pytest.mark.parametrize("learning_rate_power", [-0.5, 0.0], ids=["sqrt", "fixed-rate"])
@pytest.mark.parametrize("backend", ["numpy", "reference"])
def test_ftrl_follows_keras_with_its_defaults_and_a_fixed_rate(learning_rate_power, backend, rng, numpy_backend):
    """-0.5 (the default) takes the square-root form of new^P, 0 is Keras's fixed rate (new^0 = 1)."""
    ops = numpy_backend if backend == "numpy" else Ops()
    optimizer = optimizers.Ftrl(learning_rate=0.3, learning_rate_power=learning_rate_power)
    history, grads = _run(optimizer, ops, rng)
    expected = keras_ftrl(history[0], grads, [0.3] * STEPS, learning_rate_power=learning_rate_power)
    for step, (got, want) in enumerate(zip(history, expected)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14, err_msg=f"after {step} steps")
    assert not np.allclose(history[-1], history[0])


def test_ftrl_l1_holds_weights_at_zero(rng, numpy_backend):
    """A strong L1 clips every |linear| below it: the parameters are exactly 0 (FTRL's sparse solutions)."""
    optimizer = optimizers.Ftrl(learning_rate=0.1, l1_regularization_strength=1e3)
    history, grads = _run(optimizer, numpy_backend, rng)
    assert np.all(history[-1] == 0.0)
    np.testing.assert_array_equal(history[-1], keras_ftrl(history[0], grads, [0.1] * STEPS,
                                                          l1_regularization_strength=1e3)[-1])


@pytest.mark.parametrize("backend", ["numpy", "reference"])
def test_lamb_ratio_is_one_for_a_zero_weight_and_a_zero_direction(backend, numpy_backend):
    """Keras's nested ``where``: a weight of norm 0 (here the first) and a direction of norm 0 (the third: a zero
    gradient from zero moments) step with ratio 1, the others by ||w|| / ||d||."""
    ops = numpy_backend if backend == "numpy" else Ops()
    p0 = np.concatenate([np.zeros(6), [1.0, -2.0, 0.5], [3.0, 4.0]])
    g = np.concatenate([np.linspace(-1, 1, 6), [0.3, 0.1, -0.2], [0.0, 0.0]])
    optimizer = optimizers.Lamb(learning_rate=0.1)
    params = ops.asarray(p0.copy())
    optimizer.build(ops, params, SEGMENTS)
    optimizer.apply(params, ops.asarray(g.copy()))
    got = np.array(params)
    np.testing.assert_allclose(got, keras_lamb(p0, [g], [0.1])[-1], rtol=1e-12)
    d = g[:6] / (np.abs(g[:6]) + 1e-7)  # step 1: m / (1 - beta_1) = g, v / (1 - beta_2) = g^2
    np.testing.assert_allclose(got[:6], -0.1 * d, rtol=1e-12)  # ratio 1
    np.testing.assert_array_equal(got[9:], p0[9:])  # ratio 1, direction 0
    np.testing.assert_allclose(np.linalg.norm(got[6:9] - p0[6:9]), 0.1 * np.linalg.norm(p0[6:9]), rtol=1e-12)


def test_nadam_with_keras_defaults_over_many_steps(rng, numpy_backend):
    """The momentum-cache product over more steps than its table holds (it is constant from step ~900 on)."""
    steps = optimizer_rules.NADAM_CACHE_LAST + 40
    p0, ops = rng.standard_normal(3), numpy_backend
    optimizer = optimizers.Nadam(learning_rate=1e-3)
    params = ops.asarray(p0.copy())
    optimizer.build(ops, params, [(0, 3)])
    grads = [np.sin(np.arange(3) + k) for k in range(steps)]
    for g in grads:
        optimizer.apply(params, ops.asarray(g.copy()))
    want = keras_nadam(p0, grads, [1e-3] * steps)[-1]
    np.testing.assert_allclose(np.array(params), want, rtol=1e-10)


@pytest.mark.parametrize("beta_1", [0.0, 0.5, 0.9, 0.99])
def test_nadam_step_scalars_match_keras_running_product(beta_1):
    u_product = 1.0
    for t in range(1, 2000):
        u_product *= beta_1 * (1.0 - 0.5 * 0.96 ** t)
        u_t = beta_1 * (1.0 - 0.5 * 0.96 ** t)
        u_next = beta_1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        m_coef, g_coef, v_correction = optimizer_rules.nadam_step_scalars(float(t), beta_1, 0.999)
        assert m_coef == pytest.approx(u_next / (1.0 - u_product * u_next), rel=1e-12, abs=1e-300), t
        assert g_coef == pytest.approx((1.0 - u_t) / (1.0 - u_product), rel=1e-12), t
        assert v_correction == pytest.approx(1.0 - 0.999 ** t, rel=1e-12), t
    assert optimizer_rules.NADAM_CACHE_LAST < 2000
    # past the table the factors are exactly 1.0 in float64
    assert 1.0 - 0.5 * 0.96 ** (optimizer_rules.NADAM_CACHE_LAST + 1) == 1.0


# ---- the NumPy twins, the compiled CPU loops -----------------------------------------------------------------


def _twin_cases(n, dtype, rng):
    """step -> (arrays, scalars) as the twins take them, state arrays already non-trivial."""
    p, g, s = (rng.standard_normal(n).astype(dtype) for _ in range(3))
    return {
        "nadam_update": ((p, g, s * 0.1, np.abs(s) * 0.01), (1e-3, 0.9, 0.999, 1e-7, 3, 0.0)),
        "nadam_update-decay": ((p, g, s * 0.1, np.abs(s) * 0.01), (1e-3, 0.8, 0.99, 1e-7, 950, 0.004)),
        "adamax_update": ((p, g, s * 0.1, np.abs(s)), (2e-3, 0.9, 0.999, 1e-7, 2, 0.0)),
        "adamax_update-decay": ((p, g, s * 0.1, np.abs(s)), (2e-3, 0.8, 0.9, 1e-7, 7, 0.01)),
        "adadelta_update": ((p, g, np.abs(s), np.abs(s) * 0.1), (1.0, 0.95, 1e-7, 0.0)),
        "adadelta_update-decay": ((p, g, np.abs(s), np.abs(s) * 0.1), (0.5, 0.8, 1e-6, 0.02)),
        "lion_update": ((p, g, s * 0.1), (1e-3, 0.9, 0.99, 0.0)),
        "lion_update-decay": ((p, g, s * 0.1), (1e-3, 0.5, 0.9, 0.1)),
        "ftrl_update": ((p, g, np.abs(s) + 0.1, s * 0.1), (1e-3, -0.5, 0.0, 0.0, 0.0, 0.0, 0.0)),
        "ftrl_update-power": ((p, g, np.abs(s) + 0.1, s * 0.1), (0.05, -0.7, 0.01, 0.02, 0.01, 0.5, 0.0)),
        "ftrl_update-decay": ((p, g, np.abs(s), s), (0.05, 0.0, 0.5, 0.0, 0.1, 1.0, 0.01)),
        "lamb_update": ((p, g, s * 0.1, np.abs(s) * 0.01), (_thirds(n), 1e-3, 0.9, 0.999, 1e-7, 3, 0.0)),
        "lamb_update-decay": ((p, g, s * 0.1, np.abs(s) * 0.01), (_thirds(n), 2e-2, 0.8, 0.99, 1e-6, 11, 0.01)),
        "schedule_free_adamw_update": ((p, g, p + s * 0.1, np.abs(s) * 0.01), (2.5e-3, 0.9, 0.999, 1e-8, 0, 1, 0.0)),
        "schedule_free_adamw_update-warmup": ((p, g, p - s * 0.2, np.abs(s) * 0.01),
                                              (1e-2, 0.7, 0.99, 1e-6, 10, 4, 0.01)),
    }


def _thirds(n):
    """Three weights tiling n elements, as the compiled loops take them (int64 (weights, 2)); for n = 1 the
    first two are empty."""
    return np.array([[0, n // 3], [n // 3, n // 2], [n // 2, n]], dtype=np.int64)


def _copies(arrays):
    return tuple(a.copy() for a in arrays)


@pytest.mark.parametrize("case", list(_twin_cases(1, np.float64, np.random.default_rng(0))))
def test_twin_scratch_gives_the_same_result(case, rng):
    step = case.split("-")[0]
    arrays, scalars = _twin_cases(N, np.float64, rng)[case]
    twin = getattr(twins, step + "_numpy")
    fresh, given = _copies(arrays), _copies(arrays)
    rows = twins.SCRATCH_ROWS.get(step, 1)
    scratch = np.empty((rows, N) if rows > 1 else (N,))
    twin(*fresh, *scalars)
    twin(*given, *scalars, scratch=scratch)
    for a, b in zip(fresh, given):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", list(_twin_cases(1, np.float64, np.random.default_rng(0))))
def test_twin_float32_stays_float32(case, rng):
    step = case.split("-")[0]
    arrays32, scalars = _twin_cases(N, np.float32, rng)[case]
    arrays64 = tuple(a.astype(np.float64) for a in arrays32)
    getattr(twins, step + "_numpy")(*arrays32, *scalars)
    getattr(twins, step + "_numpy")(*arrays64, *scalars)
    for a32, a64 in zip(arrays32, arrays64):
        assert a32.dtype == np.float32
        np.testing.assert_allclose(a32, a64, rtol=2e-5, atol=2e-6)


compiled = cpu_updates()
needs_numba = pytest.mark.skipif(compiled is None, reason="Numba is not installed: the NumPy twins run")


@needs_numba
@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-6), (np.float64, 1e-13)])
@pytest.mark.parametrize("n", [1, 37, 100_003])
@pytest.mark.parametrize("case", list(_twin_cases(1, np.float64, np.random.default_rng(0))))
def test_compiled_update_matches_its_twin(case, n, dtype, rtol):
    step = case.split("-")[0]
    arrays, scalars = _twin_cases(n, dtype, np.random.default_rng(n))[case]
    expected, got = _copies(arrays), _copies(arrays)
    for _ in range(3):  # the state arrays carry over
        getattr(twins, step + "_numpy")(*expected, *scalars)
        getattr(compiled, step)(*got, *scalars)
    for e, g in zip(expected, got):
        assert g.dtype == e.dtype
        np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol * np.abs(e).max())


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("step", ["nadam_update", "adamax_update", "adadelta_update", "lion_update", "ftrl_update",
                                  "lamb_update", "schedule_free_adamw_update"])
def test_warm_up_compiles_the_loop_for_the_dtype(step, dtype):
    from gpunn.kernels import optimizer_updates_cpu

    compiled.warm_up(step, dtype)
    loop = getattr(optimizer_updates_cpu, step.removesuffix("_update"))
    assert any(str(sig[0].dtype) == np.dtype(dtype).name for sig in loop.signatures)


def test_lion_rule_takes_the_sign_without_widening():
    """sign(0) is 0 (the parameter only decays), sign(NaN) NaN, as Keras's ops.sign. (The last argument is the
    decay lr * weight_decay: 0 here, and 0.05 takes 5% off.)"""
    p, m = optimizer_rules.lion_rule(2.0, 0.0, 0.0, 0.1, 0.9, 0.1, 0.99, 0.01, 0.0)
    assert (p, m) == (2.0, 0.0)
    p, _ = optimizer_rules.lion_rule(2.0, 1.0, 0.0, 0.1, 0.9, 0.1, 0.99, 0.01, 0.0)
    assert p == pytest.approx(1.9)
    p, _ = optimizer_rules.lion_rule(2.0, -1.0, 0.0, 0.1, 0.9, 0.1, 0.99, 0.01, 0.0)
    assert p == pytest.approx(2.1)
    p, _ = optimizer_rules.lion_rule(2.0, float("nan"), 0.0, 0.1, 0.9, 0.1, 0.99, 0.01, 0.0)
    assert math.isnan(p)
    p, _ = optimizer_rules.lion_rule(2.0, 0.0, 0.0, 0.1, 0.9, 0.1, 0.99, 0.01, 0.05)
    assert p == pytest.approx(1.9)


# ---- names, defaults, configuration --------------------------------------------------------------------------


def test_keras_names_and_defaults():
    for name, cls in CLASSES.items():
        assert type(optimizers.get(name)) is cls
        assert type(optimizers.get(cls.__name__)) is cls
        assert cls().learning_rate == (0.0025 if name == "schedulefreeadamw" else 0.001)
    gpunn.utils.clear_session()  # Keras's generated names count per process: 'nadam', then 'nadam_1'...
    nadam, adamax = optimizers.Nadam(), optimizers.Adamax()
    for opt in (nadam, adamax):
        assert (opt.beta_1, opt.beta_2, opt.epsilon) == (0.9, 0.999, 1e-7)
    adadelta = optimizers.Adadelta()
    assert (adadelta.rho, adadelta.epsilon) == (0.95, 1e-7)
    lion = optimizers.Lion()
    assert (lion.beta_1, lion.beta_2) == (0.9, 0.99)
    lamb = optimizers.Lamb()
    assert (lamb.beta_1, lamb.beta_2, lamb.epsilon, lamb.name) == (0.9, 0.999, 1e-7, "lamb")
    assert optimizers.Lamb().name == "lamb_1" and optimizers.RMSprop().name == "rm_sprop"
    assert nadam.name == "nadam" and lion.name == "lion"
    schedule_free = optimizers.ScheduleFreeAdamW()
    assert (schedule_free.beta_1, schedule_free.beta_2, schedule_free.epsilon, schedule_free.warmup_steps,
            schedule_free.weight_decay, schedule_free.name) == (0.9, 0.999, 1e-8, 0, 0.0, "schedule_free_adam_w")


def test_slots_carry_keras_names(numpy_backend):
    expected = {"nadam": {"momentum", "velocity"}, "adamax": {"momentum", "norm"},
                "adadelta": {"accumulated_grad", "accumulated_delta_var"}, "lion": {"momentum"},
                "ftrl": {"accumulator", "linear"}, "lamb": {"momentum", "velocity"},
                "schedulefreeadamw": {"momentum", "velocity"}}
    for name, slots in expected.items():
        opt = optimizers.get(name)
        opt.build(numpy_backend, np.zeros(4), [(0, 4)])
        assert set(opt.slots) == slots


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_config_round_trip(name):
    opt = CLASSES[name](learning_rate=schedules.CosineDecayRestarts(0.1, 7, t_mul=1.5, m_mul=0.5),
                        weight_decay=0.01, clipnorm=1.5, **HYPER[name])
    config = optimizers.serialize(opt)
    assert config["class_name"] == CLASSES[name].__name__
    clone = optimizers.get(config)
    assert type(clone) is CLASSES[name]
    assert clone.get_config() == opt.get_config()
    for key, value in HYPER[name].items():
        assert config["config"][key] == value
    for step in (0, 5, 30):
        clone.iterations = opt.iterations = step
        assert clone.learning_rate == opt.learning_rate


def test_bad_hyperparameters_are_named():
    with pytest.raises(ValueError, match=r"^beta_1: expected a number in \(0.0, 1.0\], got 0"):
        optimizers.Lion(beta_1=0)
    with pytest.raises(ValueError, match=r"^beta_1: expected a number in \(0.0, 1.0\], got 1.5"):
        optimizers.Lion(beta_1=1.5)
    with pytest.raises(ValueError, match=r"^beta_2: expected a number in \[0.0, 1.0\), got 1.0"):
        optimizers.Nadam(beta_2=1.0)
    with pytest.raises(ValueError, match=r"^beta_1: expected a number in \[0.0, 1.0\), got -0.1"):
        optimizers.Adamax(beta_1=-0.1)
    with pytest.raises(ValueError, match=r"^rho: expected a number in \[0.0, 1.0\], got 'x'"):
        optimizers.Adadelta(rho="x")
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        optimizers.Lion(epsilon=1e-7)  # Keras's Lion has no epsilon
    with pytest.raises(ValueError, match=r"^beta_2: expected a number in \[0.0, 1.0\), got 1.5"):
        optimizers.Lamb(beta_2=1.5)
    # ScheduleFreeAdamW divides by beta_1 and by 1 - beta_2^t: Keras gives NaN weights at 0 and 1
    with pytest.raises(ValueError, match=r"^beta_1: expected a number in \(0.0, 1.0\], got 0"):
        optimizers.ScheduleFreeAdamW(beta_1=0)
    with pytest.raises(ValueError, match=r"^beta_2: expected a number in \[0.0, 1.0\), got 1"):
        optimizers.ScheduleFreeAdamW(beta_2=1)
    with pytest.raises(ValueError, match=r"^warmup_steps: expected a finite number >= 0.0, got -5"):
        optimizers.ScheduleFreeAdamW(warmup_steps=-5)


@pytest.mark.parametrize("argument, value, message", [
    ("initial_accumulator_value", -0.1, "expected a finite number >= 0.0, got -0.1"),
    ("learning_rate_power", 0.5, "expected a finite number <= 0.0, got 0.5"),
    ("l1_regularization_strength", -1, "expected a finite number >= 0.0, got -1"),
    ("l2_regularization_strength", -1e-3, "expected a finite number >= 0.0, got -0.001"),
    ("l2_shrinkage_regularization_strength", -2.0, "expected a finite number >= 0.0, got -2.0"),
    ("l1_regularization_strength", "0.1", "expected a finite number >= 0.0, got '0.1'"),
    ("l2_regularization_strength", math.inf, "expected a finite number >= 0.0, got inf"),
    ("beta", None, "expected a finite number, got None"),
    ("learning_rate_power", True, "expected a finite number <= 0.0, got True"),
])
def test_ftrl_refuses_bad_arguments_by_name(argument, value, message):
    """Keras's checks (keras/src/optimizers/ftrl.py raises ValueError for the negative ones), naming the argument."""
    with pytest.raises(ValueError, match="^" + re.escape(f"{argument}: {message}") + "$"):
        optimizers.Ftrl(**{argument: value})


def test_ftrl_takes_keras_boundary_values():
    """What Keras accepts: zero everywhere it asks for >= 0 or <= 0, and any beta."""
    opt = optimizers.Ftrl(learning_rate_power=0.0, initial_accumulator_value=0.0, beta=-0.5)
    assert (opt.learning_rate_power, opt.initial_accumulator_value, opt.beta) == (0.0, 0.0, -0.5)
    gpunn.utils.clear_session()
    defaults = optimizers.Ftrl()
    assert (defaults.learning_rate, defaults.learning_rate_power, defaults.initial_accumulator_value,
            defaults.l1_regularization_strength, defaults.l2_regularization_strength,
            defaults.l2_shrinkage_regularization_strength, defaults.beta) == (0.001, -0.5, 0.1, 0.0, 0.0, 0.0, 0.0)
    assert defaults.name == "ftrl"


# ---- learning_rate = 0 ---------------------------------------------------------------------------------------

# Not Ftrl: its new parameters follow from its slots divided by the learning rate (Keras's too are NaN at 0).
# Not ScheduleFreeAdamW either: at rate 0 its weights y = (1 - beta_1) z + beta_1 x stay where they were only to
# rounding (x is recovered from y and z), in Keras too.
ALL = ["sgd", "rmsprop", "adagrad", "adam", "adamw", "nadam", "adamax", "adadelta", "lion", "lamb"]


@pytest.mark.parametrize("name", ALL)
def test_learning_rate_zero_is_allowed_and_moves_nothing(name, rng, numpy_backend):
    ops = numpy_backend
    opt = optimizers.get(name)
    opt.learning_rate = 0.0
    assert optimizers.get({"class_name": name, "config": {"learning_rate": 0.0}}).learning_rate == 0.0
    p0 = rng.standard_normal(N)
    params = ops.asarray(p0.copy())
    opt.build(ops, params, SEGMENTS)
    for _ in range(3):
        opt.apply(params, ops.asarray(rng.standard_normal(N)))
    np.testing.assert_array_equal(np.array(params), p0)
    opt.learning_rate = 0.01  # and back: training resumes
    opt.apply(params, ops.asarray(rng.standard_normal(N)))
    assert not np.array_equal(np.array(params), p0)


def test_learning_rate_scheduler_may_pause_training_with_zero(numpy_backend):
    gpunn.utils.set_random_seed(3)
    x = np.random.default_rng(0).standard_normal((32, 4)).astype("float32")
    y = np.random.default_rng(1).integers(0, 2, 32)
    model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(3, activation="relu"),
                              layers.Dense(2, activation="softmax")])
    model.compile(optimizer=optimizers.Nadam(0.01), loss="sparse_categorical_crossentropy")
    seen = []

    class Weights(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append([w.copy() for w in self.model.get_weights()])

    scheduler = callbacks.LearningRateScheduler(lambda epoch: 0.0 if epoch == 1 else 0.01)
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[scheduler, Weights()])
    for before, after in zip(seen[0], seen[1]):
        np.testing.assert_array_equal(before, after)  # the epoch at learning rate 0 moved nothing
    assert not all(np.array_equal(a, b) for a, b in zip(seen[1], seen[2]))


# ---- schedules -----------------------------------------------------------------------------------------------


def keras_polynomial_decay(step, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                           cycle=False):
    global_step_recomp, decay_steps_recomp = float(step), float(decay_steps)
    if cycle:
        multiplier = 1.0 if global_step_recomp == 0 else math.ceil(global_step_recomp / decay_steps)
        decay_steps_recomp = decay_steps_recomp * multiplier
    else:
        global_step_recomp = min(global_step_recomp, decay_steps_recomp)
    p = global_step_recomp / decay_steps_recomp
    return (initial_learning_rate - end_learning_rate) * (1 - p) ** power + end_learning_rate


def keras_cosine_decay_restarts(step, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0):
    completed_fraction = float(step) / first_decay_steps
    if t_mul == 1.0:
        i_restart = math.floor(completed_fraction)
        completed_fraction -= i_restart
    else:
        i_restart = math.floor(math.log(1.0 - completed_fraction * (1.0 - t_mul)) / math.log(t_mul))
        sum_r = (1.0 - t_mul ** i_restart) / (1.0 - t_mul)
        completed_fraction = (completed_fraction - sum_r) / t_mul ** i_restart
    m_fac = m_mul ** i_restart
    cosine_decayed = 0.5 * m_fac * (1.0 + math.cos(math.pi * completed_fraction))
    decayed = (1 - alpha) * cosine_decayed + alpha
    return initial_learning_rate * decayed


POLYNOMIAL = [
    dict(initial_learning_rate=0.1, decay_steps=10),
    dict(initial_learning_rate=0.1, decay_steps=10, end_learning_rate=0.01, power=0.5),
    dict(initial_learning_rate=0.1, decay_steps=7, end_learning_rate=0.001, power=2.0, cycle=True),
    dict(initial_learning_rate=0.5, decay_steps=3, end_learning_rate=0.0, power=1.0, cycle=True),
]
RESTARTS = [
    dict(initial_learning_rate=0.1, first_decay_steps=10),
    dict(initial_learning_rate=0.1, first_decay_steps=10, t_mul=1.0, m_mul=0.8, alpha=0.1),
    dict(initial_learning_rate=0.2, first_decay_steps=6, t_mul=1.5, m_mul=0.5, alpha=0.05),
    dict(initial_learning_rate=0.2, first_decay_steps=4, t_mul=0.5, m_mul=1.0),
]
STEPS_TO_CHECK = list(range(0, 60)) + [99, 100, 101, 1000, 12345]


@pytest.mark.parametrize("kwargs", POLYNOMIAL, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_polynomial_decay_follows_keras(kwargs):
    schedule = schedules.PolynomialDecay(**kwargs)
    for step in STEPS_TO_CHECK:
        assert schedule(step) == pytest.approx(keras_polynomial_decay(step, **kwargs), rel=1e-14, abs=1e-16), step


@pytest.mark.parametrize("kwargs", RESTARTS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_cosine_decay_restarts_follows_keras(kwargs):
    schedule = schedules.CosineDecayRestarts(**kwargs)
    t_mul = kwargs.get("t_mul", 2.0)
    # with t_mul < 1 the periods end after first_decay_steps / (1 - t_mul) steps: Keras's formula gives NaN then
    end = kwargs["first_decay_steps"] / (1.0 - t_mul) if t_mul < 1.0 else math.inf
    for step in STEPS_TO_CHECK:
        if step >= end:
            assert math.isnan(schedule(step)), step
            continue
        assert schedule(step) == pytest.approx(keras_cosine_decay_restarts(step, **kwargs), rel=1e-14,
                                               abs=1e-16), step


def test_schedule_values_at_known_steps():
    poly = schedules.PolynomialDecay(0.1, 10, end_learning_rate=0.0)
    assert [poly(s) for s in (0, 5, 10, 20)] == pytest.approx([0.1, 0.05, 0.0, 0.0])
    cycling = schedules.PolynomialDecay(0.1, 10, end_learning_rate=0.0, cycle=True)
    assert [cycling(s) for s in (0, 10, 15, 20)] == pytest.approx([0.1, 0.0, 0.025, 0.0])
    sgdr = schedules.CosineDecayRestarts(1.0, 10, t_mul=2.0, m_mul=0.5)
    assert sgdr(0) == pytest.approx(1.0)
    assert sgdr(5) == pytest.approx(0.5)
    assert sgdr(10) == pytest.approx(0.5)  # a restart, at m_mul times the first peak
    assert sgdr(20) == pytest.approx(0.25)  # half way through the second period (20 steps long)
    assert sgdr(30) == pytest.approx(0.25)  # the third restart


def test_a_schedule_called_on_an_array_of_steps_gives_each_rate():
    """The TF "Overfit and underfit" tutorial plots its InverseTimeDecay at ``np.linspace(0, 100000)``."""
    schedule = schedules.InverseTimeDecay(0.001, decay_steps=20 * 1000, decay_rate=1, staircase=False)
    steps = np.linspace(0, 100000)
    rates = schedule(steps)
    assert rates.dtype == np.float32 and rates.shape == steps.shape
    np.testing.assert_allclose(rates, [schedule(float(step)) for step in steps], rtol=1e-6)
    np.testing.assert_allclose(rates, 0.001 / (1 + steps / 20000), rtol=1e-6)
    assert schedule(np.arange(6).reshape(2, 3)).shape == (2, 3)


def test_new_schedules_keep_keras_defaults_and_config():
    poly = schedules.PolynomialDecay(0.1, 100)
    assert poly.get_config() == {"initial_learning_rate": 0.1, "decay_steps": 100, "end_learning_rate": 0.0001,
                                 "power": 1.0, "cycle": False, "name": "PolynomialDecay"}
    sgdr = schedules.CosineDecayRestarts(0.1, 100)
    assert sgdr.get_config() == {"initial_learning_rate": 0.1, "first_decay_steps": 100, "t_mul": 2.0,
                                 "m_mul": 1.0, "alpha": 0.0, "name": "SGDRDecay"}
    for schedule in (schedules.PolynomialDecay(0.2, 9, 0.01, 0.5, True, name="p"),
                     schedules.CosineDecayRestarts(0.2, 9, 1.5, 0.7, 0.1, name="r")):
        clone = schedules.deserialize(schedules.serialize(schedule))
        assert type(clone) is type(schedule) and clone.get_config() == schedule.get_config()
        assert [clone(k) for k in range(40)] == [schedule(k) for k in range(40)]


def test_new_schedules_name_bad_arguments():
    with pytest.raises(ValueError, match="^decay_steps: expected a positive number, got 0"):
        schedules.PolynomialDecay(0.1, 0)
    with pytest.raises(ValueError, match="^end_learning_rate: expected a finite number >= 0.0, got -1"):
        schedules.PolynomialDecay(0.1, 10, end_learning_rate=-1)
    with pytest.raises(ValueError, match="^power: expected a finite number >= 0.0, got 'x'"):
        schedules.PolynomialDecay(0.1, 10, power="x")
    with pytest.raises(ValueError, match="^power: expected a finite number >= 0.0, got -1"):
        schedules.PolynomialDecay(0.1, 10, power=-1)
    with pytest.raises(ValueError, match="^first_decay_steps: expected a positive number, got -3"):
        schedules.CosineDecayRestarts(0.1, -3)
    with pytest.raises(ValueError, match="^t_mul: expected a positive number, got 0"):
        schedules.CosineDecayRestarts(0.1, 10, t_mul=0)
    with pytest.raises(ValueError, match=r"^alpha: expected a number in \[0, 1\], got 2"):
        schedules.CosineDecayRestarts(0.1, 10, alpha=2)


# ---- resuming from a saved model -----------------------------------------------------------------------------


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((40, 5)).astype("float32"), rng.integers(0, 3, 40)


def _model(optimizer):
    gpunn.utils.set_random_seed(11)
    model = gpunn.Sequential([gpunn.Input(shape=(5,)), layers.Dense(6, activation="tanh"),
                              layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return model


RESUME = {
    "nadam": lambda: optimizers.Nadam(0.01, weight_decay=0.01),
    "adamax": lambda: optimizers.Adamax(schedules.PolynomialDecay(0.02, 7, cycle=True)),
    "adadelta": lambda: optimizers.Adadelta(1.0, rho=0.9),
    "lion": lambda: optimizers.Lion(schedules.CosineDecayRestarts(0.003, 5, m_mul=0.7), weight_decay=0.1),
    "ftrl": lambda: optimizers.Ftrl(schedules.PolynomialDecay(0.3, 7, cycle=True), l1_regularization_strength=0.01,
                                    l2_regularization_strength=0.01, beta=0.2, weight_decay=0.01),
    "lamb": lambda: optimizers.Lamb(schedules.CosineDecayRestarts(0.05, 5, m_mul=0.7), weight_decay=0.01,
                                    clipnorm=1.0),
    "schedulefreeadamw": lambda: optimizers.ScheduleFreeAdamW(0.01, warmup_steps=7, weight_decay=0.01),
}


@pytest.mark.parametrize("name", sorted(RESUME))
def test_training_after_load_continues_exactly(name, tmp_path, numpy_backend):
    x, y = _data()
    uninterrupted = _model(RESUME[name]())
    uninterrupted.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0)

    model = _model(RESUME[name]())
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    model.save(tmp_path / "m.h5")
    restored = gpunn.models.load_model(tmp_path / "m.h5")
    assert type(restored.optimizer) is CLASSES[name]
    assert restored.optimizer.get_config() == model.optimizer.get_config()
    assert set(restored.optimizer.slots) == set(model.optimizer.slots)
    restored.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert restored.optimizer.iterations == uninterrupted.optimizer.iterations == 4 * 5
    for got, want in zip(restored.get_weights(), uninterrupted.get_weights()):
        np.testing.assert_array_equal(got, want)
    for slot, value in uninterrupted.optimizer.slots.items():
        np.testing.assert_array_equal(np.asarray(restored.optimizer.slots[slot]), np.asarray(value))


def test_a_clip_of_zero_clips_nothing_as_in_keras():
    """Keras's ``_clip_gradients`` tests ``clipnorm > 0``: 0 is no clipping (kept in the config, and still counting
    as set)."""
    x = np.linspace(-3, 3, 24, dtype="float32").reshape(8, 3)
    y = 10 * x.sum(axis=1, keepdims=True)

    def trained(**clip):
        model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(1, kernel_initializer="zeros")])
        model.compile(gpunn.optimizers.SGD(0.1, **clip), "mse")
        model.fit(x, y, epochs=2, verbose=0, shuffle=False)
        return model.get_weights()

    unclipped = trained()
    for argument in ("clipnorm", "clipvalue", "global_clipnorm"):
        optimizer = gpunn.optimizers.SGD(0.1, **{argument: 0})
        assert getattr(optimizer, argument) == 0.0 and optimizer.get_config()[argument] == 0.0
        for got, want in zip(trained(**{argument: 0}), unclipped):
            np.testing.assert_array_equal(got, want)
    assert not np.allclose(trained(clipvalue=0.5)[0], unclipped[0])  # (these gradients are clipped at 0.5)
    with pytest.raises(ValueError, match="Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set"):
        gpunn.optimizers.SGD(clipnorm=0, clipvalue=1.0)


def test_an_optimizer_is_refused_for_weights_it_was_not_built_for():
    """A k-fold loop making ``Adam()`` once: Keras's TensorFlow backend refuses the second model's weights
    ("Unknown variable ... recreate a new optimizer instance"); gpunn too, by name, before the second model
    trains."""
    optimizer = gpunn.optimizers.Adam(0.01)
    x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
    first = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(1)], name="fold_0")
    first.compile(optimizer, "mse")
    first.fit(x, y, epochs=1, verbose=0)
    first.compile(optimizer, "mse")  # (the same model again: its moments carried on)
    first.fit(x, y, epochs=1, verbose=0)
    second = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(1, name="fresh")], name="fold_1")
    second.compile(optimizer, "mse")
    before = second.get_weights()
    with pytest.raises(ValueError, match=r"optimizer: this Adam was built for the weights of another model "
                                         r"\('fold_0'; 2 steps done\), and 'fold_1' trains 2 weight\(s\) it does "
                                         r"not know, such as fresh/kernel; make a new optimizer instance"):
        second.fit(x, y, epochs=1, verbose=0)
    for kept, now in zip(before, second.get_weights()):
        np.testing.assert_array_equal(kept, now)
    second.compile(gpunn.optimizers.Adam(0.01), "mse")
    assert np.isfinite(second.fit(x, y, epochs=1, verbose=0).history["loss"][0])
    same_name = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(1)], name="fold_0")  # (a loop's name)
    same_name.compile(optimizer, "mse")
    with pytest.raises(ValueError, match=r"another model \('fold_0', of the same name; 2 steps done\)"):
        same_name.fit(x, y, epochs=1, verbose=0)


SAME_WEIGHTS_SCRIPT = r'''
import json, sys
import numpy as np


def run(module, folder):
    x = np.random.RandomState(0).rand(32, 3).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    inner = module.Sequential([module.Input((3,)), module.layers.Dense(4), module.layers.Dense(1)])
    inner.set_weights([np.full(w.shape, 0.1 * (k + 1), "float32") for k, w in enumerate(inner.get_weights())])
    optimizer = module.optimizers.Adam(0.01)
    inner.compile(optimizer, "mse")
    inner.fit(x, y, epochs=1, verbose=0, shuffle=False)
    outer = module.Sequential([module.Input((3,)), module.layers.Rescaling(1.0), inner])
    outer.compile(optimizer=inner.optimizer, loss="mse")  # (wrapping the trained model: its moments go on)
    outer.fit(x, y, epochs=1, verbose=0, shuffle=False)
    inputs = module.Input((3,))
    same = module.Model(inputs, inner(inputs))
    same.compile(optimizer=optimizer, loss="mse")
    history = same.fit(x, y, epochs=1, verbose=0, shuffle=False)
    return {"iterations": int(optimizer.iterations), "loss": history.history["loss"],
            "weights": [w.tolist() for w in inner.get_weights()]}
'''


def test_a_model_over_the_same_weights_goes_on_with_their_optimizer_as_in_keras(tmp_path_factory):
    from helpers import run_script_both_ways

    ours, theirs = run_script_both_ways(SAME_WEIGHTS_SCRIPT, tmp_path_factory)
    assert ours["iterations"] == theirs["iterations"] == 3
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-5)
    for got, want in zip(ours["weights"], theirs["weights"]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)