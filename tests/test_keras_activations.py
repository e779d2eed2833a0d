"""Keras 3's selu, softplus, softsign, hard_sigmoid, exponential and mish: by name and as functions, in Dense and
Activation layers, forward against formulas written from keras/src/activations/activations.py (and its
backends' nn.py) in float64, backward against finite differences in float64, on the CPU backend, and a short
training run with each. The kernels themselves (NumPy twins, CUDA on the simulator, the compiled CPU loops)
are tested in tests/kernels/test_bias_act.py, tests/kernels/test_keras_activations_cuda.py and
tests/test_fused_cpu.py, which iterate over every activation."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend  # noqa: F401  (fixture)
from test_gradients import build, check_layer

import gpunn
from gpunn import activations, layers

NEW = ["selu", "softplus", "softsign", "hard_sigmoid", "exponential", "mish"]
SELU_ALPHA = 1.6732632423543772848170429916717  # keras/src/backend/numpy/nn.py selu
SELU_SCALE = 1.0507009873554804934193349852946
KINKS = {"selu": (0.0,), "hard_sigmoid": (-3.0, 3.0)}  # where f' jumps: finite differences stay away


def keras_formula(name, x):
    """Each activation as Keras 3 defines it, in float64."""
    x = np.asarray(x, dtype=np.float64)
    if name == "selu":
        return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x))
    if name == "softplus":
        return np.logaddexp(x, 0.0)
    if name == "softsign":
        return x / (np.abs(x) + 1.0)
    if name == "hard_sigmoid":  # Keras 3: relu6(x + 3) / 6 (Keras 2 had 0.2 x + 0.5)
        return np.minimum(np.maximum(x + 3.0, 0.0), 6.0) / 6.0
    if name == "exponential":
        return np.exp(x)
    if name == "mish":
        return x * np.tanh(np.logaddexp(x, 0.0))
    raise KeyError(name)


# ---- names, functions, configs ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NEW)
def test_names_and_functions_resolve_to_the_fused_activation(name):
    function = getattr(activations, name)
    for identifier in (name, name.upper(), function):
        spec = activations.get(identifier)
        assert spec.name == name and spec.elementwise
    assert activations.serialize(activations.get(name)) == name
    assert layers.Dense(3, activation=function).get_config()["activation"] == name
    assert layers.Activation(name).get_config()["activation"] == name
    restored = layers.Dense.from_config(layers.Dense(3, activation=name).get_config())
    assert restored.activation.name == name


def test_unknown_activation_suggests_the_closest_name():
    with pytest.raises(ValueError, match=r"activation: unknown name 'hard_sigmod'.*Did you mean 'hard_sigmoid'\?"):
        activations.get("hard_sigmod")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NEW)
def test_functions_follow_keras_formulas(name, dtype):
    x = np.linspace(-6.0, 6.0, 49).astype(dtype).reshape(7, 7)
    x[0, :4] = [-3.0, 3.0, 0.0, -0.0]  # hard_sigmoid's and selu's corners
    got = getattr(activations, name)(x)
    assert got.dtype == dtype and got.shape == x.shape
    rtol = 4e-7 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(got, keras_formula(name, x.astype(np.float64)), rtol=rtol, atol=rtol)


def test_keras3_hard_sigmoid_and_selu_values():
    """Keras 3's hard_sigmoid docstring: 0 at and below -3, 1 at and above 3, x / 6 + 0.5 between."""
    np.testing.assert_array_equal(activations.hard_sigmoid(np.array([-4.0, -3.0, 0.0, 1.5, 3.0, 4.0])),
                                  [0.0, 0.0, 0.5, 0.75, 1.0, 1.0])
    np.testing.assert_allclose(activations.selu(np.array([1.0, -1.0, -50.0])),
                               [SELU_SCALE, SELU_SCALE * SELU_ALPHA * np.expm1(-1.0), -SELU_SCALE * SELU_ALPHA],
                               rtol=1e-15)
    assert activations.softplus(np.array([0.0]))[0] == pytest.approx(np.log(2.0), rel=1e-15)
    assert activations.mish(np.array([0.0]))[0] == 0.0


def test_extreme_inputs():
    x = np.array([-1000.0, -50.0, 50.0, 1000.0])
    np.testing.assert_allclose(activations.softplus(x), [0.0, np.exp(-50.0), 50.0, 1000.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(activations.softsign(x), x / (np.abs(x) + 1.0), rtol=1e-15)
    np.testing.assert_allclose(activations.mish(x), [0.0, -50.0 * np.exp(-50.0), 50.0, 1000.0], rtol=1e-14, atol=1e-300)
    with np.errstate(over="ignore"):
        assert np.isinf(activations.exponential(np.array([1000.0], np.float32))).all()  # as exp, as in Keras


# ---- in layers: forward and backward --------------------------------------------------------------------------


def _inputs_off_kinks(layer, name, rng, shape=(5, 7)):
    """Inputs whose pre-activations stay 1e-3 away from the activation's kinks."""
    kinks = np.array(KINKS.get(name, (np.inf,)))
    for _ in range(100):
        x = rng.standard_normal(shape) * 2.0
        w = layer.bound.weights
        z = x @ w["kernel"] + w.get("bias", 0.0) if "kernel" in w else x
        if np.abs(z[..., None] - kinks).min() > 1e-3:
            return x
    raise AssertionError("could not draw inputs away from the kinks")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", NEW)
def test_dense_and_activation_layers_compute_the_formula(name, dtype, rng):
    gpunn.utils.set_random_seed(3)
    model = gpunn.Sequential([gpunn.Input(shape=(6,), dtype=dtype), layers.Dense(5, activation=name),
                              layers.Dense(4), layers.Activation(name)])
    w = [np.asarray(v, np.float64) for v in model.get_weights()]
    model.set_weights([w[0], np.linspace(-0.5, 0.5, 5), w[2], np.linspace(-1.0, 1.0, 4)])
    x = rng.standard_normal((9, 6)).astype(dtype)
    got = model.predict(x, verbose=0)
    assert got.dtype == np.dtype(dtype)
    hidden = keras_formula(name, x.astype(np.float64) @ w[0] + np.linspace(-0.5, 0.5, 5))
    want = keras_formula(name, hidden @ w[2] + np.linspace(-1.0, 1.0, 4))
    rtol = 2e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("name", NEW)
def test_dense_gradients_match_finite_differences(name, use_bias, rng, numpy_backend):
    layer = build(layers.Dense(3, activation=name, use_bias=use_bias, dtype="float64"))
    if use_bias:
        layer.bound.weights["bias"][...] = rng.uniform(-0.5, 0.5, 3)
    _, grads = check_layer(layer, _inputs_off_kinks(layer, name, rng), rng)
    assert set(grads) == ({"kernel", "bias"} if use_bias else {"kernel"})


@pytest.mark.parametrize("name", NEW)
def test_activation_layer_gradients_match_finite_differences(name, rng, numpy_backend):
    layer = build(layers.Activation(name, dtype="float64"))
    dx, grads = check_layer(layer, _inputs_off_kinks(layer, name, rng), rng)
    assert grads == {}


def test_gradients_at_the_kinks_follow_tensorflow(numpy_backend):
    """Where f' jumps, the one-sided value TF's gradient kernels give: SeluGrad takes the scale at 0 (y < 0
    picks the other branch), Relu6Grad passes nothing at x + 3 = 0 or 6."""
    layer = build(layers.Activation("selu", dtype="float64"))
    _, backprop = layer.forward(np.array([[0.0, -1e-300]]), True)
    np.testing.assert_allclose(backprop(np.ones((1, 2)), True), [[SELU_SCALE, SELU_SCALE * SELU_ALPHA]],
                               rtol=1e-15)
    layer = build(layers.Activation("hard_sigmoid", dtype="float64"))
    _, backprop = layer.forward(np.array([[-3.0, 3.0, 0.0, 2.999]]), True)
    np.testing.assert_array_equal(backprop(np.ones((1, 4)), True), [[0.0, 0.0, 1 / 6, 1 / 6]])


@pytest.mark.parametrize("name", NEW)
def test_a_model_trains_with_each_activation(name, numpy_backend):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype("float32")
    y = (x[:, :1] - 0.5 * x[:, 1:2]).astype("float32")
    gpunn.utils.set_random_seed(1)
    model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(16, activation=name),
                              layers.Dense(8), layers.Activation(name), layers.Dense(1)])
    model.compile(optimizer=gpunn.optimizers.Adam(0.01), loss="mse", jit_compile=True)
    history = model.fit(x, y, batch_size=16, epochs=8, verbose=0).history["loss"]
    assert np.isfinite(history).all() and history[-1] < 0.7 * history[0], history
