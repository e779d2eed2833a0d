"""BatchNormalization and LayerNormalization as static steps: after a first step of a given batch size, forward
and backward allocate nothing; values against plain float64 NumPy, gradients against central differences."""
from __future__ import annotations

import numpy as np
import pytest
from allocations import count_step_allocations, describe
from helpers import assert_gradients_close, numerical_gradient, numpy_backend  # noqa: F401

import gpunn
from gpunn.layers import BatchNormalization, LayerNormalization
from gpunn.ops.recording import Recording

B, F = 7, 5  # batch, features: small and odd
EPSILON, MOMENTUM = 1e-3, 0.9


def build(layer, dtype="float64", input_shape=(F,)):
    """The layer inside a built model (so its weights are bound), with gamma, beta and moving statistics that
    are not their defaults."""
    model = gpunn.Sequential([gpunn.Input(shape=input_shape, dtype=dtype), layer])
    if not model.built:
        model.build()
    rng = np.random.default_rng(7)
    w = layer.bound.weights
    if layer.scale:
        w["gamma"][...] = rng.uniform(0.5, 1.5, F) * rng.choice([-1, 1], F)
    if layer.center:
        w["beta"][...] = rng.standard_normal(F)
    if "moving_mean" in w:
        w["moving_mean"][...] = rng.standard_normal(F)
        w["moving_variance"][...] = rng.uniform(0.5, 2.0, F)
    return layer


def forward_backward(layer, x, dy, training):
    y, backprop = layer.forward(x, training)
    return y, backprop(dy, True)


def assert_static(layer, x, dy, training):
    """A second forward + backward of the same batch size allocates nothing."""
    forward_backward(layer, x, dy, training)
    with count_step_allocations() as events:
        forward_backward(layer, x, dy, training)
    assert events == [], describe(events)


def normalized(x, mean, var, gamma, beta):
    return gamma * (x - mean) / np.sqrt(var + EPSILON) + beta


# ---- allocation-free steps --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("make, training", [
    (lambda: BatchNormalization(momentum=MOMENTUM), True),
    (lambda: BatchNormalization(momentum=MOMENTUM), False),
    (lambda: BatchNormalization(trainable=False), True),
    (lambda: BatchNormalization(center=False, scale=False), True),
    (lambda: LayerNormalization(), True),
    (lambda: LayerNormalization(center=False, scale=False), False),
], ids=["bn_training", "bn_inference", "bn_frozen", "bn_plain", "ln", "ln_plain"])
def test_forward_and_backward_allocate_nothing(make, training, dtype, rng):
    layer = build(make(), dtype)
    x = rng.standard_normal((B, F)).astype(dtype)
    assert_static(layer, x, rng.standard_normal((B, F)).astype(dtype), training)


def test_training_and_inference_share_the_workspace(rng):
    """fit with validation alternates both modes at one batch size: neither remakes the other's buffers."""
    layer = build(BatchNormalization())
    x, dy = rng.standard_normal((B, F)), rng.standard_normal((B, F))
    for training in (True, False):
        forward_backward(layer, x, dy, training)
    with count_step_allocations() as events:
        for training in (True, False, True):
            forward_backward(layer, x, dy, training)
    assert events == [], describe(events)


def test_layer_normalization_on_3d_inputs_is_static(rng):
    layer = build(LayerNormalization(), input_shape=(2, F))
    x, dy = rng.standard_normal((B, 2, F)), rng.standard_normal((B, 2, F))
    y, dx = forward_backward(layer, x, dy, True)
    assert y.shape == dx.shape == (B, 2, F)
    assert_static(layer, x, dy, True)


# ---- values ---------------------------------------------------------------------------------------------------


def test_batch_normalization_training_values_and_moving_statistics(rng):
    layer = build(BatchNormalization(momentum=MOMENTUM))
    w = {k: np.array(v) for k, v in layer.bound.weights.items()}
    x = rng.standard_normal((B, F)) * 3 + 2
    y, _ = layer.forward(x, True)
    mean, var = x.mean(axis=0), x.var(axis=0)
    np.testing.assert_allclose(y, normalized(x, mean, var, w["gamma"], w["beta"]), rtol=1e-12)
    moved = layer.bound.weights
    np.testing.assert_allclose(moved["moving_mean"], w["moving_mean"] * MOMENTUM + mean * (1 - MOMENTUM), rtol=1e-12)
    np.testing.assert_allclose(moved["moving_variance"], w["moving_variance"] * MOMENTUM + var * (1 - MOMENTUM),
                               rtol=1e-12)


@pytest.mark.parametrize("make", [lambda: BatchNormalization(), lambda: BatchNormalization(trainable=False)],
                         ids=["inference", "frozen_in_training"])
def test_batch_normalization_inference_values_leave_the_statistics(make, rng):
    layer = build(make())
    w = {k: np.array(v) for k, v in layer.bound.weights.items()}
    x = rng.standard_normal((B, F))
    y, _ = layer.forward(x, not layer.trainable)  # a frozen layer asked to train still runs in inference mode
    np.testing.assert_allclose(y, normalized(x, w["moving_mean"], w["moving_variance"], w["gamma"], w["beta"]),
                               rtol=1e-12)
    for name in ("moving_mean", "moving_variance"):
        np.testing.assert_array_equal(layer.bound.weights[name], w[name])


def test_batch_normalization_empty_batch_keeps_the_statistics(rng):
    layer = build(BatchNormalization())
    w = {k: np.array(v) for k, v in layer.bound.weights.items()}
    y, backprop = layer.forward(np.empty((0, F)), True)
    assert y.shape == (0, F) and backprop(np.empty((0, F)), True).shape == (0, F)
    for name in ("moving_mean", "moving_variance"):
        np.testing.assert_array_equal(layer.bound.weights[name], w[name])


def test_layer_normalization_values(rng):
    layer = build(LayerNormalization())
    w = {k: np.array(v) for k, v in layer.bound.weights.items()}
    x = rng.standard_normal((B, F)) * 4 - 1
    y, _ = layer.forward(x, True)
    expected = normalized(x, x.mean(-1, keepdims=True), x.var(-1, keepdims=True), w["gamma"], w["beta"])
    np.testing.assert_allclose(y, expected, rtol=1e-12)


def test_float32_statistics_are_numpys(rng):
    """Mean and variance are computed as np.mean / np.var compute them: the same float32 numbers."""
    layer = build(BatchNormalization(momentum=MOMENTUM), dtype="float32")
    w = {k: np.array(v) for k, v in layer.bound.weights.items()}
    x = (rng.standard_normal((B, F)) * 3 + 2).astype(np.float32)
    y, _ = layer.forward(x, True)
    mean, var = x.mean(axis=0), x.var(axis=0)
    np.testing.assert_array_equal(y, w["gamma"] * ((x - mean) * (1.0 / np.sqrt(var + np.float32(EPSILON))))
                                  + w["beta"])
    np.testing.assert_array_equal(layer.bound.weights["moving_mean"],
                                  w["moving_mean"] * np.float32(MOMENTUM) + np.float32(1 - MOMENTUM) * mean)


# ---- gradients ------------------------------------------------------------------------------------------------


def check_gradients(layer, x, training, rng):
    """dx and the gamma/beta gradients of sum(y * R) against central differences (float64)."""
    R = rng.standard_normal(x.shape)
    state = {k: np.array(v) for k, v in layer.bound.weights.items()}

    def objective(_):
        for k, v in state.items():  # each training forward moves the statistics: start every one alike
            if k.startswith("moving"):
                layer.bound.weights[k][...] = v
        return float((np.asarray(layer.forward(x, training)[0]) * R).sum())

    objective(None)
    _, dx = forward_backward(layer, x, R, training)
    dx = np.array(dx)
    grads = {name: np.array(g) for name, g in layer.bound.grads.items()}
    assert_gradients_close(dx, numerical_gradient(lambda xx: objective(xx), x), what=f"{layer.name} dx")
    for name, grad in grads.items():
        numeric = numerical_gradient(objective, layer.bound.weights[name])
        assert_gradients_close(grad, numeric, what=f"{layer.name} d{name}")
    return grads


@pytest.mark.parametrize("make, training", [
    (lambda: BatchNormalization(), True),
    (lambda: BatchNormalization(), False),
    (lambda: LayerNormalization(), True),
], ids=["bn_training", "bn_inference", "ln"])
def test_gradients_match_finite_differences(make, training, rng):
    layer = build(make())
    grads = check_gradients(layer, rng.standard_normal((B, F)) * 2 + 1, training, rng)
    assert set(grads) == {"gamma", "beta"}


def test_frozen_batch_normalization_gradient_is_the_inference_one(rng):
    layer = build(BatchNormalization(trainable=False))
    assert check_gradients(layer, rng.standard_normal((B, F)), True, rng) == {}


@pytest.mark.parametrize("make, training", [
    (lambda: BatchNormalization(momentum=MOMENTUM), True),
    (lambda: BatchNormalization(), False),
    (lambda: LayerNormalization(), True),
], ids=["bn_training", "bn_inference", "ln"])
def test_recorded_step_replays_on_new_inputs(make, training, rng):
    """Forward and backward recorded once, replayed on new contents of x and dy: the eager step's numbers,
    moving statistics included."""
    recorded, eager = build(make()), build(make())
    x, dy = rng.standard_normal((B, F)), rng.standard_normal((B, F))
    forward_backward(recorded, x, dy, training)
    with Recording(recorded.ops) as tape:
        y, dx = forward_backward(recorded, x, dy, training)
    forward_backward(eager, x, dy, training)
    forward_backward(eager, x, dy, training)  # the same two steps as the recorded layer so far
    x[...], dy[...] = rng.standard_normal((B, F)), rng.standard_normal((B, F))
    tape.replay()
    want_y, want_dx = forward_backward(eager, x, dy, training)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(dx, want_dx)
    for name, value in eager.bound.weights.items():
        np.testing.assert_array_equal(recorded.bound.weights[name], value)
    for name, value in eager.bound.grads.items():
        np.testing.assert_array_equal(recorded.bound.grads[name], value)
