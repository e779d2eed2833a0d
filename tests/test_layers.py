"""Layers and activations: forward values against their definitions (Keras 3's), shapes, configuration round
trips, initializer distributions and the statistics BatchNormalization keeps."""
from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import numpy_backend, sigmoid, softmax  # noqa: F401

import gpunn
from gpunn import activations, initializers, layers

B, F, U = 5, 7, 3
_erf = np.vectorize(math.erf)

DEFINITIONS = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z >= 0, z, 0.2 * z),  # Keras 3: negative_slope=0.2
    "elu": lambda z: np.where(z > 0, z, np.expm1(z)),       # alpha=1.0
    "gelu": lambda z: 0.5 * z * (1 + _erf(z / math.sqrt(2))),  # approximate=False
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "silu": lambda z: z * sigmoid(z),
    "swish": lambda z: z * sigmoid(z),
    "softmax": softmax,
}


def build(layer, input_shape=(F,)):
    model = gpunn.Sequential([gpunn.Input(shape=input_shape, dtype="float64"), layer])
    if not model.built:
        model.build()
    return model


# ---- activations ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(DEFINITIONS))
def test_activation_functions_match_their_definitions(name, rng):
    z = rng.standard_normal((4, 6)) * 3
    fn = getattr(activations, name)
    np.testing.assert_allclose(fn(z), DEFINITIONS[name](z), rtol=1e-12, atol=1e-15)
    assert activations.get(name).name == ("silu" if name == "swish" else name)
    assert activations.get(fn).name == ("silu" if name == "swish" else name)


def test_activation_functions_are_stable_at_extremes():
    z = np.array([[-1000.0, -50.0, 0.0, 50.0, 1000.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        np.testing.assert_allclose(activations.sigmoid(z), [[0.0, sigmoid(-50.0), 0.5, 1.0, 1.0]], atol=1e-300)
        np.testing.assert_allclose(activations.softmax(np.array([[1000.0, 1000.0]])), [[0.5, 0.5]])
        assert np.isfinite(activations.silu(z)).all() and np.isfinite(activations.gelu(z)).all()
    np.testing.assert_allclose(activations.tanh(z), np.tanh(z))


def test_activation_with_parameters():
    z = np.array([[-2.0, 3.0]])
    np.testing.assert_allclose(activations.leaky_relu(z, negative_slope=0.1), [[-0.2, 3.0]])
    assert activations.get(None).name == "linear"
    assert activations.get("leaky_relu").alpha == 0.2


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("name", list(DEFINITIONS))
def test_dense_forward(name, use_bias, rng):
    model = build(layers.Dense(U, activation=name, use_bias=use_bias))
    dense = model.layers[0]
    kernel = rng.standard_normal((F, U))
    bias = rng.standard_normal(U)
    model.set_weights([kernel, bias] if use_bias else [kernel])
    x = rng.standard_normal((B, F))
    z = x @ kernel + (bias if use_bias else 0.0)
    y, _ = dense.forward(x, False)
    np.testing.assert_allclose(y, DEFINITIONS[name](z), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(model.predict(x, verbose=0), DEFINITIONS[name](z), rtol=1e-12, atol=1e-15)


def test_dense_on_3d_inputs_acts_on_the_last_axis(rng):
    model = build(layers.Dense(U, activation="tanh"), input_shape=(2, F))
    kernel, bias = model.get_weights()
    x = rng.standard_normal((B, 2, F))
    y = model.predict(x, verbose=0)
    assert y.shape == (B, 2, U) and model.output_shape == (None, 2, U)
    np.testing.assert_allclose(y, np.tanh(x @ kernel + bias), rtol=1e-12)


@pytest.mark.parametrize("name", list(DEFINITIONS))
def test_activation_layer(name, rng):
    model = build(layers.Activation(name), input_shape=(2, F))
    x = rng.standard_normal((B, 2, F))
    y = model.predict(x, verbose=0)
    np.testing.assert_allclose(y, DEFINITIONS[name](x), rtol=1e-12, atol=1e-15)
    layer = model.layers[0]
    x_before = x.copy()
    layer.forward(x, True)
    np.testing.assert_array_equal(x, x_before)  # never overwrites its input


# ---- Flatten, Dropout ---------------------------------------------------------------------------------------


def test_flatten_shapes(rng):
    model = build(layers.Flatten(), input_shape=(2, 3, 4))
    assert model.output_shape == (None, 24)
    x = rng.standard_normal((B, 2, 3, 4))
    np.testing.assert_array_equal(model.predict(x, verbose=0), x.reshape(B, 24))


def test_dropout_inference_and_rate_zero_are_identity(rng):
    model = build(layers.Dropout(0.5))
    x = rng.standard_normal((B, F))
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    zero = build(layers.Dropout(0.0)).layers[0]
    y, _ = zero.forward(x, True)
    np.testing.assert_array_equal(y, x)


def test_dropout_mask_follows_the_seed(rng):
    a = build(layers.Dropout(0.5, seed=99)).layers[0]
    b = build(layers.Dropout(0.5, seed=99)).layers[0]
    c = build(layers.Dropout(0.5, seed=100)).layers[0]
    x = np.ones((40, F))
    ya, yb, yc = (np.asarray(l.forward(x, True)[0]) for l in (a, b, c))
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(ya, yc)
    assert set(np.unique(ya)) == {0.0, 2.0}  # kept values scaled by 1 / (1 - rate)


def test_dropout_preserves_the_mean(rng):
    layer = build(layers.Dropout(0.3, seed=1), input_shape=(1000,)).layers[0]
    x = np.ones((20, 1000))
    y = np.asarray(layer.forward(x, True)[0])
    # E[y] = x; mean of 20000 scaled Bernoulli(0.7) / 0.7 draws: sd = sqrt(0.3 / 0.7 / 20000) ~ 0.0046.
    assert abs(y.mean() - 1.0) < 5 * math.sqrt(0.3 / 0.7 / 20000)


# ---- normalization -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("momentum", [0.9, 1.0])  # 1: Keras takes it, the moving statistics stay
def test_batch_normalization_training_statistics(rng, momentum):
    model = build(layers.BatchNormalization(momentum=momentum, epsilon=1e-3))
    bn = model.layers[0]
    gamma, beta = rng.uniform(0.5, 2, F), rng.standard_normal(F)
    moving_mean, moving_var = rng.standard_normal(F), rng.uniform(0.5, 2, F)
    model.set_weights([gamma, beta, moving_mean, moving_var])
    x = rng.standard_normal((B, F)) * 3 + 2
    y, _ = bn.forward(x, True)
    mean, var = x.mean(axis=0), x.var(axis=0)  # the batch's mean and biased variance
    np.testing.assert_allclose(y, gamma * (x - mean) / np.sqrt(var + 1e-3) + beta, rtol=1e-12)
    # Keras: moving = moving * momentum + batch * (1 - momentum)
    g, b_, mm, mv = model.get_weights()
    np.testing.assert_allclose(mm, moving_mean * momentum + mean * (1 - momentum), rtol=1e-12)
    np.testing.assert_allclose(mv, moving_var * momentum + var * (1 - momentum), rtol=1e-12)
    np.testing.assert_array_equal(g, gamma)


def test_batch_normalization_defaults_match_keras():
    bn = layers.BatchNormalization()
    assert (bn.momentum, bn.epsilon, bn.center, bn.scale) == (0.99, 1e-3, True, True)
    model = build(layers.BatchNormalization())
    gamma, beta, mm, mv = model.get_weights()
    np.testing.assert_array_equal(gamma, 1)
    np.testing.assert_array_equal(beta, 0)
    np.testing.assert_array_equal(mm, 0)
    np.testing.assert_array_equal(mv, 1)


def test_batch_normalization_without_center_or_scale(rng):
    model = build(layers.BatchNormalization(center=False, scale=False))
    assert [w.shape for w in model.get_weights()] == [(F,), (F,)]  # only the moving statistics
    x = rng.standard_normal((B, F))
    np.testing.assert_allclose(model.predict(x, verbose=0), x / np.sqrt(1 + 1e-3), rtol=1e-12)


def test_layer_normalization_forward(rng):
    model = build(layers.LayerNormalization(epsilon=1e-3), input_shape=(2, F))
    gamma, beta = rng.uniform(0.5, 2, F), rng.standard_normal(F)
    model.set_weights([gamma, beta])
    x = rng.standard_normal((B, 2, F)) * 4 - 1
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    expected = gamma * (x - mean) / np.sqrt(var + 1e-3) + beta
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-12)
    assert layers.LayerNormalization().epsilon == 1e-3


# ---- configuration --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda: layers.Dense(4, activation="elu", use_bias=False, kernel_initializer="he_normal",
                         kernel_regularizer=gpunn.regularizers.l1_l2(0.1, 0.2), name="d"),
    lambda: layers.Activation("gelu", name="a"),
    lambda: layers.Dropout(0.25, seed=3, name="dr"),
    lambda: layers.Flatten(name="f"),
    lambda: layers.BatchNormalization(momentum=0.8, epsilon=1e-4, center=False, name="bn"),
    lambda: layers.LayerNormalization(epsilon=1e-5, gamma_initializer="zeros", name="ln"),
])
def test_layer_config_round_trip(make, rng):
    layer = make()
    clone = layers.deserialize(layers.serialize(layer))
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config()
    a, b = build(layer), build(clone)
    b.set_weights(a.get_weights())
    x = rng.standard_normal((B, F))
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))


def test_sequential_config_round_trip(rng):
    model = gpunn.Sequential([gpunn.Input(shape=(F,)), layers.Dense(4, activation="relu"), layers.Dropout(0.1),
                              layers.Dense(2, activation="softmax")], name="net")
    clone = gpunn.Sequential.from_config(model.get_config())
    assert clone.name == "net" and clone.built
    assert [l.get_config() for l in clone.layers] == [l.get_config() for l in model.layers]


def test_layer_names_are_unique_and_found():
    a, b = layers.Dense(2), layers.Dense(2)
    assert a.name != b.name and a.name.startswith("dense") and b.name.startswith("dense")
    assert layers.BatchNormalization().name.startswith("batch_normalization")
    model = gpunn.Sequential([gpunn.Input(shape=(3,)), a, b])
    assert model.get_layer(b.name) is b and model.get_layer(index=0) is a
    with pytest.raises(ValueError, match=r"No such layer: nope. Existing layers are: \['"):
        model.get_layer("nope")


def test_input_shape_on_the_first_layer():
    for first in (layers.Dense(3, input_shape=(5,)), layers.Dense(3, input_dim=5)):
        model = gpunn.Sequential([first, layers.Dense(2)])
        assert model.built and model.input_shape == (None, 5)
        assert [w.shape for w in model.get_weights()] == [(5, 3), (3,), (3, 2), (2,)]


def test_build_with_batch_dimension():
    model = gpunn.Sequential([layers.Dense(3), layers.Dense(2)])
    model.build((None, 6))
    assert model.input_shape == (None, 6) and model.output_shape == (None, 2)


# ---- initializers ---------------------------------------------------------------------------------------------


def test_glorot_uniform_limits_and_variance():
    gpunn.utils.set_random_seed(0)
    w = initializers.get("glorot_uniform")((300, 200), "float64")
    limit = math.sqrt(6 / (300 + 200))
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit
    assert w.var() == pytest.approx(limit ** 2 / 3, rel=0.02)  # uniform(-l, l): variance l^2 / 3
    assert abs(w.mean()) < 0.01 * limit


@pytest.mark.parametrize("name, fan", [("he_normal", "in"), ("lecun_normal", "in"), ("glorot_normal", "avg")])
def test_truncated_normal_families(name, fan):
    gpunn.utils.set_random_seed(0)
    w = initializers.get(name)((400, 100), "float64")
    scale = 2.0 if name == "he_normal" else 1.0
    n = {"in": 400, "avg": 250}[fan]
    std = math.sqrt(scale / n)
    # Keras's truncated normal: drawn with stddev = std / 0.8796 and cut at 2 of those; the variance is std^2.
    assert w.std() == pytest.approx(std, rel=0.02)
    assert np.abs(w).max() <= 2 * std / 0.87962566103423978 + 1e-12


def test_uniform_families_and_constants():
    gpunn.utils.set_random_seed(0)
    he = initializers.get("he_uniform")((500, 50), "float64")
    assert np.abs(he).max() <= math.sqrt(6 / 500)
    assert he.std() == pytest.approx(math.sqrt(2 / 500), rel=0.02)
    np.testing.assert_array_equal(initializers.get("zeros")((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(initializers.get("ones")((4,)), np.ones(4))
    np.testing.assert_array_equal(initializers.Constant(0.5)((3,)), np.full(3, 0.5))
    assert initializers.get("zeros")((2, 2), "float64").dtype == np.float64


def test_seeded_initializers_repeat():
    a = initializers.RandomNormal(stddev=0.1, seed=5)((3, 4))
    b = initializers.RandomNormal(stddev=0.1, seed=5)((3, 4))
    np.testing.assert_array_equal(a, b)
    c = initializers.GlorotUniform(seed=5)((3, 4))
    d = initializers.GlorotUniform(seed=5)((3, 4))
    np.testing.assert_array_equal(c, d)
    assert not np.array_equal(a, initializers.RandomNormal(stddev=0.1, seed=6)((3, 4)))


def test_dense_uses_its_initializers():
    model = gpunn.Sequential([gpunn.Input(shape=(50,)), layers.Dense(40, kernel_initializer="ones",
                                                                     bias_initializer=initializers.Constant(0.3))])
    kernel, bias = model.get_weights()
    np.testing.assert_array_equal(kernel, 1)
    np.testing.assert_allclose(bias, 0.3, rtol=1e-7)
    default = gpunn.Sequential([gpunn.Input(shape=(50,)), layers.Dense(40)])
    kernel, bias = default.get_weights()
    assert np.abs(kernel).max() <= math.sqrt(6 / 90)  # glorot_uniform by default
    np.testing.assert_array_equal(bias, 0)


def test_dense_accepts_numpy_integer_units():
    """As in Keras: a unit count computed with NumPy (``y.max() + 1``) is an integer like any other."""
    labels = np.array([0, 3, 1], dtype=np.uint8)
    layer = layers.Dense(labels.max() + 1)
    assert layer.units == 4 and type(layer.units) is int
    model = build(layers.Dense(np.int64(3)))
    assert model.output_shape == (None, 3)
    assert layers.deserialize(layers.serialize(layer)).units == 4


def test_frozen_batch_normalization_runs_in_inference_mode(rng):
    """Keras: a BatchNormalization layer with trainable=False normalises with its moving statistics, also while
    the rest of the model trains, and leaves them unchanged."""
    model = gpunn.Sequential([gpunn.Input(shape=(F,), dtype="float64"), layers.Dense(4),
                              layers.BatchNormalization(trainable=False), layers.Dense(2, activation="softmax")])
    bn = model.layers[1]
    gamma, beta = rng.uniform(0.5, 2, 4), rng.standard_normal(4)
    moving_mean, moving_var = rng.standard_normal(4), rng.uniform(0.5, 2, 4)
    bn.set_weights([gamma, beta, moving_mean, moving_var])
    h = rng.standard_normal((B, 4))
    y, _ = bn.forward(h, True)
    np.testing.assert_allclose(y, gamma * (h - moving_mean) / np.sqrt(moving_var + 1e-3) + beta, rtol=1e-12)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(rng.standard_normal((20, F)), rng.integers(0, 2, 20), epochs=1, batch_size=5, verbose=0)
    for got, want in zip(bn.get_weights(), [gamma, beta, moving_mean, moving_var]):
        np.testing.assert_array_equal(got, want)
