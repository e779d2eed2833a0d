"""Every optimizer against Keras 3's update formula, written out plainly in NumPy float64; clipping; schedules.

The optimizer works over one flat buffer: ``build(ops, params, segments)`` then ``apply(params, grads)``.
Keras 3 order within one ``apply``: clip the gradients, read the learning rate at ``iterations`` (the number
of updates done before this one, starting at 0), apply decoupled weight decay (p -= p * wd * lr), the update,
then ``iterations += 1``.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
from helpers import numpy_backend  # noqa: F401

import gpunn
from gpunn import optimizers
from gpunn.optimizers import schedules

N = 11
SEGMENTS = [(0, 6), (6, 9), (9, 11)]  # e.g. a (2, 3) kernel, a (3,) bias, a (2,) something
STEPS = 5


def run_optimizer(optimizer, ops, rng, steps=STEPS, params=None):
    """Apply ``steps`` updates with fresh random gradients; returns (params history, grads used)."""
    p = rng.standard_normal(N) if params is None else params.copy()
    params_buf = ops.asarray(p.copy(), dtype="float64")
    optimizer.build(ops, params_buf, SEGMENTS)
    history, used = [np.array(params_buf)], []
    for _ in range(steps):
        g = rng.standard_normal(N)
        used.append(g.copy())
        optimizer.apply(params_buf, ops.asarray(g.copy(), dtype="float64"))
        history.append(np.array(params_buf))
    return history, used


# ---- the Keras 3 formulas ------------------------------------------------------------------------------------


def keras_sgd(p0, grads, lr, momentum=0.0, nesterov=False, wd=0.0):
    p, m = p0.copy(), np.zeros_like(p0)
    out = [p.copy()]
    for g in grads:
        if wd:
            p = p - p * wd * lr
        if momentum:
            m = -g * lr + m * momentum
            p = p - g * lr + m * momentum if nesterov else p + m
        else:
            p = p - g * lr
        out.append(p.copy())
    return out


def keras_rmsprop(p0, grads, lr, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, wd=0.0):
    p = p0.copy()
    velocity, mom, average_grad = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    out = [p.copy()]
    for g in grads:
        if wd:
            p = p - p * wd * lr
        velocity = rho * velocity + (1 - rho) * g ** 2
        if centered:
            average_grad = rho * average_grad + (1 - rho) * g
            denominator = velocity - average_grad ** 2 + epsilon
        else:
            denominator = velocity + epsilon
        increment = lr * g / np.sqrt(denominator)
        if momentum > 0:
            mom = momentum * mom + increment
            p = p - mom
        else:
            p = p - increment
        out.append(p.copy())
    return out


def keras_adagrad(p0, grads, lr, initial_accumulator_value=0.1, epsilon=1e-7, wd=0.0):
    p, acc = p0.copy(), np.full_like(p0, initial_accumulator_value)
    out = [p.copy()]
    for g in grads:
        if wd:
            p = p - p * wd * lr
        acc = acc + g ** 2
        p = p - lr * g / np.sqrt(acc + epsilon)
        out.append(p.copy())
    return out


def keras_adam(p0, grads, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, wd=0.0):
    p, m, v, v_hat = p0.copy(), np.zeros_like(p0), np.zeros_like(p0), np.zeros_like(p0)
    out = [p.copy()]
    for iterations, g in enumerate(grads):
        if wd:
            p = p - p * wd * lr
        local_step = iterations + 1
        alpha = lr * math.sqrt(1 - beta_2 ** local_step) / (1 - beta_1 ** local_step)
        m = m + (g - m) * (1 - beta_1)
        v = v + (g * g - v) * (1 - beta_2)
        if amsgrad:
            v_hat = np.maximum(v_hat, v)
            p = p - m * alpha / (np.sqrt(v_hat) + epsilon)
        else:
            p = p - m * alpha / (np.sqrt(v) + epsilon)
        out.append(p.copy())
    return out


WD = [None, 0.05]


def _compare(optimizer, reference, ops, rng, **reference_kwargs):
    history, grads = run_optimizer(optimizer, ops, rng)
    expected = reference(history[0], grads, **reference_kwargs)
    for step, (got, want) in enumerate(zip(history, expected)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14, err_msg=f"after {step} steps")
    assert optimizer.iterations == STEPS
    # The updates really moved the parameters (a check that compares nothing would pass otherwise).
    assert not np.allclose(history[-1], history[0])


@pytest.mark.parametrize("wd", WD)
@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)],
                         ids=["plain", "momentum", "nesterov"])
def test_sgd(momentum, nesterov, wd, rng, numpy_backend):
    opt = optimizers.SGD(learning_rate=0.05, momentum=momentum, nesterov=nesterov, weight_decay=wd)
    _compare(opt, keras_sgd, numpy_backend, rng, lr=0.05, momentum=momentum, nesterov=nesterov, wd=wd or 0.0)


@pytest.mark.parametrize("wd", WD)
@pytest.mark.parametrize("momentum, centered", [(0.0, False), (0.8, False), (0.0, True), (0.8, True)],
                         ids=["plain", "momentum", "centered", "centered_momentum"])
def test_rmsprop(momentum, centered, wd, rng, numpy_backend):
    opt = optimizers.RMSprop(learning_rate=0.01, rho=0.85, momentum=momentum, centered=centered, weight_decay=wd)
    _compare(opt, keras_rmsprop, numpy_backend, rng, lr=0.01, rho=0.85, momentum=momentum, centered=centered,
             wd=wd or 0.0)


@pytest.mark.parametrize("wd", WD)
def test_adagrad(wd, rng, numpy_backend):
    opt = optimizers.Adagrad(learning_rate=0.1, initial_accumulator_value=0.2, weight_decay=wd)
    _compare(opt, keras_adagrad, numpy_backend, rng, lr=0.1, initial_accumulator_value=0.2, wd=wd or 0.0)


@pytest.mark.parametrize("wd", WD)
@pytest.mark.parametrize("amsgrad", [False, True], ids=["adam", "amsgrad"])
def test_adam(amsgrad, wd, rng, numpy_backend):
    opt = optimizers.Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.95, amsgrad=amsgrad, weight_decay=wd)
    _compare(opt, keras_adam, numpy_backend, rng, lr=0.01, beta_1=0.8, beta_2=0.95, amsgrad=amsgrad, wd=wd or 0.0)


def test_amsgrad_differs_from_adam_when_the_gradient_shrinks(numpy_backend):
    """With a large then small gradient, v falls but v_hat keeps its maximum: the two must differ."""
    ops = numpy_backend
    results = []
    for amsgrad in (False, True):
        opt = optimizers.Adam(learning_rate=0.1, beta_2=0.5, amsgrad=amsgrad)
        p = ops.asarray(np.zeros(N))
        opt.build(ops, p, SEGMENTS)
        for scale in (10.0, 0.1, 0.1):
            opt.apply(p, ops.asarray(np.full(N, scale)))
        results.append(np.array(p))
    expected = [keras_adam(np.zeros(N), [np.full(N, s) for s in (10.0, 0.1, 0.1)], 0.1, beta_2=0.5,
                           amsgrad=a)[-1] for a in (False, True)]
    np.testing.assert_allclose(results, expected, rtol=1e-12)
    assert not np.allclose(results[0], results[1])


@pytest.mark.parametrize("wd", [None, 0.01])
@pytest.mark.parametrize("amsgrad", [False, True], ids=["adamw", "adamw_amsgrad"])
def test_adamw(amsgrad, wd, rng, numpy_backend):
    opt = optimizers.AdamW(learning_rate=0.01, amsgrad=amsgrad, **({} if wd is None else {"weight_decay": wd}))
    # AdamW without weight_decay uses Keras's default 0.004.
    _compare(opt, keras_adam, numpy_backend, rng, lr=0.01, amsgrad=amsgrad, wd=0.004 if wd is None else wd)


def test_keras_defaults():
    assert optimizers.SGD().learning_rate == 0.01
    for cls in (optimizers.RMSprop, optimizers.Adagrad, optimizers.Adam, optimizers.AdamW):
        assert cls().learning_rate == 0.001
    adam = optimizers.Adam()
    assert (adam.beta_1, adam.beta_2, adam.epsilon, adam.amsgrad) == (0.9, 0.999, 1e-7, False)
    rms = optimizers.RMSprop()
    assert (rms.rho, rms.momentum, rms.epsilon, rms.centered) == (0.9, 0.0, 1e-7, False)
    assert optimizers.Adagrad().initial_accumulator_value == 0.1
    assert optimizers.AdamW().weight_decay == 0.004
    assert optimizers.get("adam").__class__ is optimizers.Adam
    assert optimizers.get("AdamW").__class__ is optimizers.AdamW


# ---- gradient clipping ---------------------------------------------------------------------------------------


def _one_sgd_step(numpy_backend, grads, **kwargs):
    """Plain SGD with lr=1 and p=0: the new parameters are minus the (clipped) gradient."""
    ops = numpy_backend
    opt = optimizers.SGD(learning_rate=1.0, **kwargs)
    p = ops.asarray(np.zeros(N))
    opt.build(ops, p, SEGMENTS)
    opt.apply(p, ops.asarray(grads.copy()))
    return -np.array(p)


def test_clipvalue(rng, numpy_backend):
    g = 3 * rng.standard_normal(N)
    assert (np.abs(g) > 0.5).any() and (np.abs(g) < 0.5).any()
    np.testing.assert_allclose(_one_sgd_step(numpy_backend, g, clipvalue=0.5), np.clip(g, -0.5, 0.5), rtol=1e-15)


def test_clipnorm_clips_each_weight_by_its_own_norm(numpy_backend):
    g = np.zeros(N)
    g[0:6] = 3.0      # norm sqrt(54) ~ 7.3: clipped to norm 1
    g[6:9] = 0.1      # norm ~ 0.17: left alone
    g[9:11] = [4, 3]  # norm 5: clipped to norm 1
    clipped = _one_sgd_step(numpy_backend, g, clipnorm=1.0)
    expected = g.copy()
    for start, stop in SEGMENTS:
        norm = np.linalg.norm(g[start:stop])
        expected[start:stop] = g[start:stop] * 1.0 / max(norm, 1.0)  # Keras: g * clipnorm / max(norm, clipnorm)
    np.testing.assert_allclose(clipped, expected, rtol=1e-14)
    for start, stop in SEGMENTS:
        assert np.linalg.norm(clipped[start:stop]) <= 1.0 + 1e-12
    np.testing.assert_array_equal(clipped[6:9], g[6:9])


def test_global_clipnorm_scales_all_weights_together(rng, numpy_backend):
    g = rng.standard_normal(N) * 2
    global_norm = np.linalg.norm(g)
    assert global_norm > 1.0
    clipped = _one_sgd_step(numpy_backend, g, global_clipnorm=1.0)
    np.testing.assert_allclose(clipped, g * 1.0 / global_norm, rtol=1e-14)
    # Below the threshold nothing changes.
    np.testing.assert_allclose(_one_sgd_step(numpy_backend, g, global_clipnorm=2 * global_norm), g, rtol=1e-15)


def test_clipping_arguments_are_checked():
    with pytest.raises(ValueError, match="Only one of `clipnorm`, `clipvalue` and `global_clipnorm`"):
        optimizers.Adam(clipnorm=1.0, global_clipnorm=1.0)
    for arg in ("clipnorm", "clipvalue", "global_clipnorm"):
        with pytest.raises(ValueError, match=f"^{arg}: expected a positive number or None, got -1"):
            optimizers.SGD(**{arg: -1})


# ---- learning-rate schedules ---------------------------------------------------------------------------------


def test_exponential_decay():
    s = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    for step in (0, 1, 5, 10, 15, 37):
        assert s(step) == pytest.approx(0.1 * 0.5 ** (step / 10), rel=1e-12)
    st = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    for step in (0, 1, 9, 10, 15, 19, 20, 37):
        assert st(step) == pytest.approx(0.1 * 0.5 ** (step // 10), rel=1e-12)


def keras_cosine_decay(step, initial, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    def decay(s, peak):
        completed_fraction = s / decay_steps
        cosine_decayed = 0.5 * (1.0 + math.cos(math.pi * completed_fraction))
        return peak * ((1 - alpha) * cosine_decayed + alpha)

    if warmup_target is None:
        return decay(min(step, decay_steps), initial)
    step = min(step, decay_steps + warmup_steps)
    if step < warmup_steps:
        return (warmup_target - initial) * (step / warmup_steps) + initial
    return decay(step - warmup_steps, warmup_target)


def test_cosine_decay():
    s = schedules.CosineDecay(0.2, decay_steps=20, alpha=0.1)
    for step in (0, 1, 7, 10, 19, 20, 25, 100):
        assert s(step) == pytest.approx(keras_cosine_decay(step, 0.2, 20, alpha=0.1), rel=1e-12, abs=1e-15)
    assert s(0) == pytest.approx(0.2)
    assert s(10) == pytest.approx(0.2 * (0.9 * 0.5 + 0.1))
    assert s(20) == pytest.approx(0.2 * 0.1)
    assert s(1000) == pytest.approx(0.2 * 0.1)


def test_cosine_decay_with_warmup():
    s = schedules.CosineDecay(0.0 + 1e-4, decay_steps=30, alpha=0.0, warmup_target=0.5, warmup_steps=10)
    for step in (0, 1, 5, 9, 10, 11, 25, 39, 40, 60):
        want = keras_cosine_decay(step, 1e-4, 30, warmup_target=0.5, warmup_steps=10)
        assert s(step) == pytest.approx(want, rel=1e-12, abs=1e-15), step
    assert s(0) == pytest.approx(1e-4)
    assert s(5) == pytest.approx(1e-4 + (0.5 - 1e-4) * 0.5)
    assert s(10) == pytest.approx(0.5)  # the peak, where the cosine starts
    assert s(25) == pytest.approx(0.5 * 0.5)  # half way through the decay
    assert s(40) == pytest.approx(0.0, abs=1e-15)


def test_piecewise_constant_decay():
    s = schedules.PiecewiseConstantDecay([3, 7], [1.0, 0.5, 0.1])
    # Keras: values[0] while step <= boundaries[0], values[1] while boundaries[0] < step <= boundaries[1], ...
    expected = {0: 1.0, 2: 1.0, 3: 1.0, 4: 0.5, 7: 0.5, 8: 0.1, 100: 0.1}
    for step, value in expected.items():
        assert s(step) == value
    with pytest.raises(ValueError, match="values: expected len\\(boundaries\\) \\+ 1 = 3 values, got 2"):
        schedules.PiecewiseConstantDecay([3, 7], [1.0, 0.5])


@pytest.mark.parametrize("make_schedule", [
    lambda: schedules.PiecewiseConstantDecay([0, 2], [0.3, 0.2, 0.1]),
    lambda: schedules.ExponentialDecay(0.2, decay_steps=1, decay_rate=0.5),
    lambda: schedules.CosineDecay(0.1, decay_steps=4, warmup_target=0.3, warmup_steps=2),
], ids=["piecewise", "exponential", "cosine_warmup"])
def test_optimizer_reads_the_schedule_at_iterations_before_the_update(make_schedule, numpy_backend):
    """Update k (0-based) uses schedule(k): the step count before that update, as Keras's ``iterations``."""
    ops = numpy_backend
    schedule = make_schedule()
    opt = optimizers.SGD(learning_rate=schedule)
    p = ops.asarray(np.zeros(N))
    opt.build(ops, p, SEGMENTS)
    g = np.ones(N)
    for k in range(6):
        assert opt.iterations == k
        assert opt.learning_rate == pytest.approx(schedule(k))
        before = np.array(p)
        opt.apply(p, ops.asarray(g.copy()))
        np.testing.assert_allclose(before - np.array(p), schedule(k) * g, rtol=1e-12)
    assert opt.iterations == 6


def test_adam_bias_correction_counts_from_one_with_a_schedule(rng, numpy_backend):
    """A schedule and Adam's 1-based local step together: lr = schedule(iterations), t = iterations + 1."""
    ops = numpy_backend
    schedule = schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.5)
    opt = optimizers.Adam(learning_rate=schedule)
    history, grads = run_optimizer(opt, ops, rng)
    p, m, v = history[0].copy(), np.zeros(N), np.zeros(N)
    for k, g in enumerate(grads):
        lr = 0.05 * 0.5 ** (k / 2)
        alpha = lr * math.sqrt(1 - 0.999 ** (k + 1)) / (1 - 0.9 ** (k + 1))
        m = m + (g - m) * 0.1
        v = v + (g * g - v) * 0.001
        p = p - m * alpha / (np.sqrt(v) + 1e-7)
        np.testing.assert_allclose(history[k + 1], p, rtol=1e-12)


# ---- the learning_rate property ------------------------------------------------------------------------------


def test_learning_rate_can_be_read_and_set():
    opt = optimizers.Adam(learning_rate=0.01)
    assert opt.learning_rate == 0.01
    opt.learning_rate = 0.5
    assert opt.learning_rate == 0.5
    assert opt.lr == 0.5  # the Keras 2 spelling still reads it
    opt.learning_rate = np.float32(0.25)
    assert opt.learning_rate == pytest.approx(0.25)


@pytest.mark.parametrize("bad", [-0.1, "fast", True, None, float("nan"), float("inf")])
def test_learning_rate_setter_rejects_bad_values(bad):
    opt = optimizers.SGD(0.1)
    with pytest.raises(ValueError, match="^learning_rate: expected a finite number >= 0 or a schedule, got"):
        opt.learning_rate = bad
    assert opt.learning_rate == 0.1
    with pytest.raises(ValueError, match="^learning_rate: expected a finite number >= 0 or a schedule"):
        optimizers.Adam(learning_rate=bad if bad is not None else "none")


def test_a_plain_function_as_learning_rate_is_told_to_subclass_the_schedule():
    """Keras calls a plain function for the rate at every step; gpunn names the schedule class to subclass."""
    def rate():
        return 0.01

    for make in (lambda: optimizers.SGD(learning_rate=rate), lambda: setattr(optimizers.SGD(), "learning_rate", rate)):
        with pytest.raises(ValueError, match="LearningRateSchedule subclass, whose __call__"):
            make()


def test_learning_rate_setter_refuses_a_number_over_a_schedule():
    opt = optimizers.SGD(learning_rate=schedules.ExponentialDecay(0.1, 10, 0.9))
    with pytest.raises(TypeError, match="learning_rate: this optimizer was made with a LearningRateSchedule"):
        opt.learning_rate = 0.01
    assert opt.learning_rate == pytest.approx(0.1)


def test_legacy_keras2_arguments_are_named():
    with pytest.raises(TypeError, match="'lr' is the legacy Keras 2 name; use learning_rate"):
        optimizers.Adam(lr=0.1)
    with pytest.raises(TypeError, match="'decay' is the legacy Keras 2 name"):
        optimizers.SGD(decay=0.1)


def test_config_round_trip_keeps_the_schedule():
    opt = optimizers.Adam(learning_rate=schedules.CosineDecay(0.1, 50, alpha=0.05), clipnorm=2.0, amsgrad=True)
    clone = optimizers.get(optimizers.serialize(opt))
    assert type(clone) is optimizers.Adam
    assert clone.amsgrad and clone.clipnorm == 2.0
    for step in (0, 10, 60):
        clone.iterations = opt.iterations = step
        assert clone.learning_rate == pytest.approx(opt.learning_rate)


def test_inverse_time_decay():
    s = schedules.InverseTimeDecay(0.1, decay_steps=4, decay_rate=0.5)
    for step in (0, 1, 4, 9):
        assert s(step) == pytest.approx(0.1 / (1 + 0.5 * step / 4), rel=1e-12)
    st = schedules.InverseTimeDecay(0.1, decay_steps=4, decay_rate=0.5, staircase=True)
    for step in (0, 3, 4, 9):
        assert st(step) == pytest.approx(0.1 / (1 + 0.5 * (step // 4)), rel=1e-12)


def test_step_count_and_learning_rate_read_and_assign_as_keras_variables():
    """Scripts and callbacks written for Keras read ``optimizer.learning_rate.numpy()`` and call
    ``.assign(value)`` on it and on ``iterations``; they are numbers too (float(), formatting, JSON)."""
    import json

    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(1)])
    model.compile(optimizer=gpunn.optimizers.Adam(1e-3), loss="mse")
    model.fit(np.ones((8, 3), np.float32), np.ones((8, 1), np.float32), batch_size=4, verbose=0)
    optimizer = model.optimizer
    assert optimizer.iterations.numpy() == 2 and optimizer.iterations.numpy().dtype == np.int64
    assert optimizer.learning_rate.numpy() == np.float32(1e-3) and optimizer.learning_rate.numpy().dtype == np.float32
    assert float(optimizer.lr) == 1e-3 and f"{optimizer.learning_rate:.1e}" == "1.0e-03"
    assert json.loads(json.dumps({"lr": optimizer.learning_rate, "step": optimizer.iterations})) == \
        {"lr": 1e-3, "step": 2}
    assert optimizer.learning_rate.assign(1e-4) == 1e-4 and optimizer.learning_rate == 1e-4
    with pytest.raises(ValueError, match="learning_rate: expected a finite number >= 0"):
        optimizer.learning_rate.assign(-1.0)
    optimizer.iterations.assign(10)
    assert optimizer.iterations == 10
    model.fit(np.ones((8, 3), np.float32), np.ones((8, 1), np.float32), batch_size=4, verbose=0)
    assert optimizer.iterations == 12  # the device count took the assigned value too
    scheduled = gpunn.optimizers.SGD(gpunn.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5))
    with pytest.raises(TypeError, match="make the optimizer with a float learning_rate"):
        scheduled.learning_rate.assign(0.2)


def test_a_read_learning_rate_copies_and_pickles_as_a_number_and_keeps_no_optimizer_alive():
    import copy
    import gc
    import pickle

    optimizer = gpunn.optimizers.Adam(1e-3)
    rate, step = optimizer.learning_rate, optimizer.iterations
    assert type(copy.copy(rate)) is float and type(copy.deepcopy(step)) is int
    assert pickle.loads(pickle.dumps({"lr": rate})) == {"lr": 1e-3}
    step.assign_add(5)
    assert optimizer.iterations == 5
    optimizer.iterations.assign_sub(2)
    assert optimizer.iterations == 3
    del optimizer
    gc.collect()
    with pytest.raises(ReferenceError, match="the optimizer this value was read from no longer exists"):
        rate.assign(1.0)


@pytest.mark.parametrize("given", [np.array(0.25), np.float32(0.25), np.int64(2), np.array(2, dtype=np.int32)])
def test_learning_rate_takes_numpy_scalars_and_0d_arrays(given):
    """``K.get_value(optimizer.learning_rate)`` and arithmetic on what it returns give NumPy scalars or 0-d
    arrays; Keras's Variable ``assign`` takes them, and so does the setter."""
    opt = optimizers.SGD(0.1)
    opt.learning_rate = given
    assert opt.learning_rate == pytest.approx(float(given))
    opt.learning_rate.assign(given / 2)
    assert opt.learning_rate == pytest.approx(float(given) / 2)
    with pytest.raises(ValueError, match=r"^learning_rate: expected a finite number >= 0 or a schedule, got array"):
        opt.learning_rate = np.array([float(given)])  # one number, not a vector of them
    with pytest.raises(ValueError, match=r"^learning_rate: expected a finite number >= 0 or a schedule, got"):
        opt.learning_rate = np.bool_(True)


def test_keras_backend_get_and_set_value_read_and_write_learning_rates_and_weights(numpy_backend):
    K = gpunn.backend
    model = gpunn.Sequential([gpunn.Input(shape=(3,)), gpunn.layers.Dense(2)])
    model.compile(optimizer=optimizers.Adam(1e-3), loss="mse")
    rate = K.get_value(model.optimizer.learning_rate)
    assert rate == np.float32(1e-3) and isinstance(rate, np.float32)  # tf.keras gives the Variable's numpy()
    K.set_value(model.optimizer.learning_rate, rate * 10)
    assert model.optimizer.learning_rate == pytest.approx(1e-2)
    K.set_value(model.optimizer.learning_rate, np.array(0.5))
    assert model.optimizer.learning_rate == 0.5
    kernel = model.layers[0].kernel
    K.batch_set_value([(kernel, np.ones((3, 2))), (model.optimizer.iterations, 7)])
    np.testing.assert_array_equal(model.get_weights()[0], np.ones((3, 2)))
    assert model.optimizer.iterations == 7
    read_kernel, read_step = K.batch_get_value([kernel, model.optimizer.iterations])
    np.testing.assert_array_equal(read_kernel, np.ones((3, 2)))
    assert read_step == 7 and isinstance(read_step, np.int64)
    with pytest.raises(TypeError, match=r"^set_value: x must be a variable .* got float 0.1"):
        K.set_value(0.1, 0.2)


def test_the_learning_rate_finder_of_hands_on_ml_ch11_runs_and_restores_the_model(numpy_backend):
    """Géron's ``find_learning_rate``: a callback multiplies the rate after every batch (reading it with
    ``.numpy()``), and the rate read with ``K.get_value`` beforehand is set back afterwards."""
    K = gpunn.backend

    class ExponentialLearningRate(gpunn.callbacks.Callback):
        def __init__(self, factor):
            self.factor, self.rates, self.losses = factor, [], []

        def on_batch_end(self, batch, logs=None):
            lr = self.model.optimizer.learning_rate.numpy()
            self.rates.append(lr)
            self.losses.append(logs["loss"])
            self.model.optimizer.learning_rate = lr * self.factor

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype(np.float32), rng.normal(size=(64, 1)).astype(np.float32)
    model = gpunn.Sequential([gpunn.Input(shape=(4,)), gpunn.layers.Dense(8, activation="relu"),
                              gpunn.layers.Dense(1)])
    model.compile(optimizer=optimizers.SGD(0.02), loss="mse")
    init_weights, init_lr = model.get_weights(), K.get_value(model.optimizer.learning_rate)
    model.optimizer.learning_rate = 1e-4
    finder = ExponentialLearningRate(factor=10 ** (4 / 8))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[finder])
    model.optimizer.learning_rate = init_lr
    model.set_weights(init_weights)
    np.testing.assert_allclose(finder.rates, 1e-4 * (10 ** 0.5) ** np.arange(8), rtol=1e-5)
    assert model.optimizer.learning_rate == pytest.approx(0.02)
    for restored, initial in zip(model.get_weights(), init_weights):
        np.testing.assert_array_equal(restored, initial)


def test_schedules_take_keras_s_arguments_and_defaults():
    """Each schedule's signature is Keras's, its default ``name`` included (which its config writes)."""
    import inspect

    from helpers import run_keras

    theirs = run_keras("""
import inspect, json
import keras
schedules = keras.optimizers.schedules
print(json.dumps({name: [[p, repr(v.default)] for p, v in inspect.signature(cls.__init__).parameters.items()
                         if p != "self"]
                  for name, cls in vars(schedules).items()
                  if inspect.isclass(cls) and name != "LearningRateSchedule"}))
""", {})
    from gpunn.optimizers import schedules

    for name, parameters in theirs.items():
        ours = [[p, repr(v.default)] for p, v in inspect.signature(getattr(schedules, name).__init__).parameters.items()
                if p != "self"]
        assert ours == parameters, name
    assert schedules.ExponentialDecay(0.1, 10, 0.9).get_config()["name"] == "ExponentialDecay"


def test_cosine_decay_warms_up_from_zero_as_keras_s_example():
    from gpunn.optimizers import schedules

    schedule = schedules.CosineDecay(0.0, 10, warmup_target=0.1, warmup_steps=5)
    assert float(schedule(3)) == pytest.approx(0.06, rel=1e-6)  # Keras's value
    with pytest.raises(ValueError, match=">= 0"):
        schedules.CosineDecay(-0.1, 10)


def test_keras_s_build_of_a_variable_list_is_refused_by_name():
    import gpunn

    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(2)])
    for optimizer in (gpunn.optimizers.Adam(), gpunn.optimizers.SGD(), gpunn.optimizers.Muon()):
        with pytest.raises(ValueError, match=r"build\(var_list\): gpunn has no custom training loops; its "
                                             r"optimizers update the model they train"):
            optimizer.build(model.trainable_variables)


def test_a_custom_training_loop_s_optimizer_calls_are_refused_by_name():
    """Deep Learning with Python's chapter 7 loops call apply / apply_gradients / build(var_list) /
    stateless_apply: each says that gpunn has no custom training loops and what to use, rather than failing with
    an AttributeError from deep inside."""
    optimizer = gpunn.optimizers.SGD()
    calls = [(lambda: optimizer.apply([np.ones(2)], [np.ones(2)]), "apply(grads, trainable_variables)"),
             (lambda: optimizer.apply_gradients([(np.ones(2), np.ones(2))]), "apply_gradients"),
             (lambda: optimizer.stateless_apply([], [], []), "stateless_apply"),
             (lambda: optimizer.build([np.ones(2)]), "build(var_list)")]
    for call, name in calls:
        with pytest.raises((NotImplementedError, ValueError), match=f"SGD.{re.escape(name)}.*no custom training loops"):
            call()


def test_jax_s_stateless_loop_calls_are_refused_by_name():
    model = gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(1)])
    with pytest.raises(NotImplementedError, match="stateless_call: gpunn has no custom training loops"):
        model.stateless_call([], [], np.ones((1, 2)))
    with pytest.raises(NotImplementedError, match="stateless_update_state: gpunn has no custom training loops"):
        gpunn.metrics.Mean().stateless_update_state([], 1.0)


def test_unknown_arguments_are_value_errors_too_as_keras_raises_them():
    # Keras raises ValueError ("Argument(s) not recognized", "Unrecognized keyword arguments passed to Dense"):
    # a script's `except ValueError` written against Keras catches gpunn's error as well
    from gpunn import layers, random

    for make in (lambda: optimizers.SGD(lr=0.1), lambda: optimizers.Adam(momentum=0.9),
                 lambda: layers.Dense(3, init="uniform"), lambda: gpunn.Model(inputs=None, outputs=None, foo=1),
                 lambda: random.SeedGenerator(1, backend="jax")):
        with pytest.raises(ValueError, match="unexpected keyword argument|legacy Keras 2 name"):
            make()
        with pytest.raises(TypeError):
            make()


@pytest.mark.parametrize("name", ["sgd", "adamw", "lion"])
def test_float32_weight_decay_does_not_drift_over_many_steps(name):
    """Keras takes the decay off as w - w * wd * lr; a factor 1 - lr * wd rounded to float32 (0.999996 is off by
    up to 3e-8) would be off the same way at every step: 1.3e-4 after 19,200 steps, where Keras is at 1.6e-6."""
    lr, wd, steps = 1e-3, 4e-3, 4000
    model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(1, use_bias=False)])
    w0 = np.array([[0.5], [1.0], [-0.75], [2.0]], "float32")
    model.set_weights([w0])
    optimizer = {"sgd": gpunn.optimizers.SGD, "adamw": gpunn.optimizers.AdamW, "lion": gpunn.optimizers.Lion}[name]
    model.compile(optimizer=optimizer(lr, weight_decay=wd), loss="mse")
    zeros = np.zeros((steps, 4), "float32")  # no gradient: the decay alone moves the kernel
    model.fit(zeros, np.zeros((steps, 1), "float32"), batch_size=1, shuffle=False, verbose=0)
    keras = w0.copy()  # Keras's float32 arithmetic, step by step
    for _ in range(steps):
        keras = keras - keras * np.float32(wd) * np.float32(lr)
    np.testing.assert_allclose(model.get_weights()[0], keras, rtol=1e-6)  # the old factor was 2.6e-5 off here
