"""Keras 3's layers, calls and weights: Softmax, ReLU, LeakyReLU, ELU, PReLU, Normalization, Rescaling,
GaussianNoise, GaussianDropout, Reshape, Identity (Keras's documented values, gradients against finite
differences in float64, configs, saved models); a Sequential inside a Sequential; ``layer(x)`` and
``model(x)``; weights as Variables (``kernel``, ``assign``, ...) written into the model's buffers.

Allocation-free steps and replay == eager for these layers: the "noise", "activations" and "preprocessing"
stacks of test_train_step.py and test_step_allocations.py.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import digits, numpy_backend, run_keras  # noqa: F401
from test_gradients import check_layer

import gpunn
from gpunn import layers
from gpunn.kernels.gaussian_noise import random_normal_numpy
from gpunn.layers import Variable
from gpunn.models import load_model
from gpunn.utils import set_random_seed

B, F = 5, 7  # batch, features: small and odd
KERAS_X = np.array([-10, -5, 0.0, 5, 10])


def build64(layer, input_shape=(F,)):
    """A float64 model around one layer, built; returns the (bound) layer."""
    model = gpunn.Sequential([gpunn.Input(shape=input_shape, dtype="float64"), layer])
    assert model.built and model.params.dtype == np.float64
    return layer


def away_from(rng, shape, kinks, margin=1e-2):
    """Standard normal inputs at least ``margin`` from each kink (finite differences need smoothness)."""
    x = rng.standard_normal(shape) * 1.5
    for kink in kinks:
        close = np.abs(x - kink) < margin
        x[close] = kink + np.where(x[close] >= kink, margin, -margin) * 3
    return x


# ---- Keras's documented values --------------------------------------------------------------------------------


@pytest.mark.parametrize("layer, expected", [
    (lambda: layers.ReLU(), [0, 0, 0, 5, 10]),
    (lambda: layers.ReLU(max_value=10, negative_slope=0.5, threshold=0), [-5, -2.5, 0, 5, 10]),
    (lambda: layers.ReLU(negative_slope=0.5), [-5, -2.5, 0, 5, 10]),
    (lambda: layers.ReLU(max_value=5.0), [0, 0, 0, 5, 5]),
    (lambda: layers.ReLU(threshold=5.0), [0, 0, 0, 0, 10]),
    (lambda: layers.ReLU(threshold=2.0, negative_slope=0.5, max_value=8.0), [-6, -3.5, -1, 5, 8]),
    (lambda: layers.LeakyReLU(negative_slope=0.5), [-5, -2.5, 0, 5, 10]),
    (lambda: layers.LeakyReLU(), [-3, -1.5, 0, 5, 10]),  # Keras 3's default slope 0.3
    (lambda: layers.ELU(), [math.expm1(-10), math.expm1(-5), 0, 5, 10]),
    (lambda: layers.ELU(alpha=0.5), [0.5 * math.expm1(-10), 0.5 * math.expm1(-5), 0, 5, 10]),
    (lambda: layers.Identity(), KERAS_X),
    (lambda: layers.Rescaling(0.5, offset=1.0), [-4, -1.5, 1, 3.5, 6]),
], ids=["relu", "relu-keras-doc", "relu-leaky", "relu-max", "relu-threshold", "relu-all", "leaky-0.5",
        "leaky-default", "elu", "elu-0.5", "identity", "rescaling"])
def test_layers_compute_what_keras_documents(layer, expected):
    np.testing.assert_allclose(layer()(KERAS_X), expected, rtol=1e-6, atol=1e-6)


def test_softmax_and_normalization_keras_doc_examples():
    np.testing.assert_allclose(layers.Softmax()(np.array([1.0, 2.0, 1.0])), [0.21194157, 0.5761169, 0.21194157],
                               rtol=1e-6)
    norm = layers.Normalization(axis=None)
    norm.adapt(np.array([1.0, 2.0, 3.0, 4.0, 5.0], dtype="float32"))
    np.testing.assert_allclose(norm(np.array([1.0, 2.0, 3.0], dtype="float32")), [-1.4142135, -0.70710677, 0.0],
                               rtol=1e-6)
    adapt_data = np.array([[0.0, 7.0, 4.0], [2.0, 9.0, 6.0], [0.0, 7.0, 4.0], [2.0, 9.0, 6.0]], dtype="float32")
    norm = layers.Normalization(axis=-1)
    norm.adapt(adapt_data)
    np.testing.assert_allclose(norm(np.array([[0.0, 7.0, 4.0]], dtype="float32")), [[-1.0, -1.0, -1.0]], rtol=1e-6)
    given = layers.Normalization(mean=3.0, variance=2.0)
    np.testing.assert_allclose(given(np.array([[1.0], [2.0], [3.0]], dtype="float32")),
                               [[-1.4142135], [-0.70710677], [0.0]], rtol=1e-6)
    inverted = layers.Normalization(axis=-1, invert=True)
    inverted.adapt(adapt_data)
    np.testing.assert_allclose(inverted(np.array([[1.0, 2.0, 3.0]], dtype="float32")), [[2.0, 10.0, 8.0]], rtol=1e-6)


def test_prelu_keeps_positives_and_scales_negatives_by_alpha():
    layer = layers.PReLU(alpha_initializer=gpunn.initializers.Constant(0.25))
    np.testing.assert_allclose(layer(np.array([[-4.0, 2.0, -1.0]])), [[-1.0, 2.0, -0.25]])
    assert layer.alpha.shape == (3,) and layer.alpha.trainable
    shared = layers.PReLU(shared_axes=[1])
    shared(np.zeros((2, 3, 4)))
    assert shared.alpha.shape == (1, 4)


def test_reshape_with_minus_one_and_flatten_back():
    x = np.arange(24.0).reshape(2, 12)
    y = layers.Reshape((3, -1))(x)
    assert y.shape == (2, 3, 4)
    np.testing.assert_array_equal(y, x.reshape(2, 3, 4))
    model = gpunn.Sequential([gpunn.Input(shape=(12,)), layers.Reshape((2, 2, 3)), layers.Flatten()])
    assert model.output_shape == (None, 12)
    with pytest.raises(ValueError, match="target_shape"):
        gpunn.Sequential([gpunn.Input(shape=(12,)), layers.Reshape((5, -1))])
    with pytest.raises(ValueError, match="target_shape"):
        layers.Reshape((-1, -1))


def test_leaky_relu_takes_keras_2_alpha_with_keras_3_warning():
    with pytest.warns(UserWarning, match="negative_slope"):
        layer = layers.LeakyReLU(alpha=0.1)
    assert layer.negative_slope == 0.1


def test_bad_arguments_name_the_argument():
    cases = [
        (lambda: layers.ReLU(max_value=-1), "max_value"),
        (lambda: layers.ReLU(negative_slope=-0.1), "negative_slope"),
        (lambda: layers.ReLU(threshold=None), "threshold"),
        (lambda: layers.LeakyReLU(negative_slope="a"), "negative_slope"),
        (lambda: layers.GaussianNoise(1.5), "stddev"),
        (lambda: layers.GaussianDropout(1.0), "rate"),
        (lambda: layers.GaussianNoise(0.1, seed="x"), "seed"),
        (lambda: layers.PReLU(alpha_constraint="non_negative"), "alpha_constraint"),
        (lambda: layers.PReLU(shared_axes=[0]), "shared_axes"),
        (lambda: layers.Normalization(mean=1.0), "variance"),
        (lambda: layers.Normalization(mean=[1.0, 2.0], variance=[1.0]), "mean"),
        (lambda: layers.Normalization(axis="a"), "axis"),
        (lambda: layers.Normalization(axis=0)(np.ones((2, 3))), "axis"),
        (lambda: layers.Rescaling("x"), "scale"),
        (lambda: layers.Rescaling(np.ones(3))(np.ones((2, 4))), "scale"),
        (lambda: layers.Softmax(axis=1)(np.ones((2, 3, 4))), "axis"),
    ]
    for call, argument in cases:
        with pytest.raises(ValueError, match=argument):
            call()


# ---- gradients against finite differences, float64 ---------------------------------------------------------


@pytest.mark.parametrize("make, kinks", [
    (lambda: layers.ReLU(), [0.0]),
    (lambda: layers.ReLU(negative_slope=0.2), [0.0]),
    (lambda: layers.ReLU(max_value=1.0, negative_slope=0.3, threshold=0.4), [0.4, 1.0]),
    (lambda: layers.ReLU(max_value=0.8), [0.0, 0.8]),
    (lambda: layers.LeakyReLU(), [0.0]),
    (lambda: layers.LeakyReLU(negative_slope=1.7), [0.0]),
    (lambda: layers.ELU(), [0.0]),
    (lambda: layers.ELU(alpha=0.4), [0.0]),
    (lambda: layers.Softmax(), []),
    (lambda: layers.Identity(), []),
    (lambda: layers.Rescaling(np.linspace(-2, 2, F), offset=0.3), []),
    (lambda: layers.Normalization(mean=np.linspace(-1, 1, F), variance=np.linspace(0.5, 2, F)), []),
    (lambda: layers.Normalization(mean=0.5, variance=3.0, invert=True), []),
], ids=["relu", "relu-leaky", "relu-general", "relu-max", "leaky", "leaky-steep", "elu", "elu-0.4", "softmax",
        "identity", "rescaling", "normalization", "normalization-invert"])
def test_weightless_layer_gradients(make, kinks, rng):
    layer = build64(make())
    dx, grads = check_layer(layer, away_from(rng, (B, F), kinks), rng)
    assert grads == {}


def test_adapted_normalization_and_reshape_gradients(rng):
    norm = layers.Normalization(dtype="float64")
    norm.adapt(rng.normal(1.0, 2.0, (30, F)))
    check_layer(build64(norm), rng.standard_normal((B, F)), rng)
    check_layer(build64(layers.Reshape((F, 1))), rng.standard_normal((B, F)), rng)


@pytest.mark.parametrize("shared_axes, shape", [(None, (F,)), ([1], (3, 4)), ([2], (3, 4))])
def test_prelu_gradients(shared_axes, shape, rng):
    layer = build64(layers.PReLU(alpha_initializer="random_uniform", shared_axes=shared_axes,
                                 alpha_regularizer="l2"), input_shape=shape)
    _, grads = check_layer(layer, away_from(rng, (B,) + shape, [0.0]), rng)
    assert set(grads) == {"alpha"}


@pytest.mark.parametrize("make", [lambda: layers.GaussianNoise(0.5), lambda: layers.GaussianDropout(0.3)],
                         ids=["noise", "dropout"])
def test_gaussian_layer_gradients_for_a_fixed_draw(make, rng):
    layer = build64(make())
    forward = layer.forward

    def same_draw(x, training):  # every evaluation of the objective sees the same noise
        layer.counter = 3
        return forward(x, training)

    layer.forward = same_draw
    check_layer(layer, rng.standard_normal((B, F)), rng)


# ---- GaussianNoise / GaussianDropout ---------------------------------------------------------------------------


def test_gaussian_layers_act_only_in_training_and_draw_the_twin_numbers():
    x = np.ones((400, 50), dtype="float32")
    noise = layers.GaussianNoise(0.2, seed=11)
    np.testing.assert_array_equal(noise(x), x)
    assert noise.counter == 0
    y = noise(x, training=True)
    np.testing.assert_allclose(y - 1.0, random_normal_numpy(11, 0, 0.0, 0.2, np.empty(x.shape, np.float32)),
                               rtol=1e-6, atol=1e-7)
    assert noise.counter == 1 and abs((y - 1).std() - 0.2) < 0.005 and abs((y - 1).mean()) < 0.005
    assert not np.array_equal(noise(x, training=True), y)  # a new draw each step
    drop = layers.GaussianDropout(0.5, seed=4)
    np.testing.assert_array_equal(drop(x), x)
    z = drop(x, training=True)
    assert abs(z.mean() - 1.0) < 0.01 and abs(z.std() - 1.0) < 0.01  # N(1, rate / (1 - rate))


@pytest.mark.parametrize("name", ["noise.h5", "noise.keras", "noise.safetensors"])
def test_gaussian_layers_train_and_their_counters_survive_a_save(name, tmp_path):
    set_random_seed(2)
    (x, y), _ = digits()
    model = gpunn.Sequential([gpunn.Input(shape=(64,)), layers.GaussianNoise(0.1), layers.Dense(16, activation="relu"),
                              layers.GaussianDropout(0.2), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x[:400], y[:400], batch_size=40, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.layers[0].counter == 30 and model.layers[2].counter == 30
    model.save(tmp_path / name)
    restored = load_model(tmp_path / name)
    assert [restored.layers[i].counter for i in (0, 2)] == [30, 30]
    assert restored.layers[0].seed == model.layers[0].seed
    np.testing.assert_array_equal(restored.predict(x[:20], verbose=0), model.predict(x[:20], verbose=0))
    model.fit(x[:80], y[:80], batch_size=40, epochs=1, verbose=0, shuffle=False)
    restored.fit(x[:80], y[:80], batch_size=40, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)


# ---- Normalization -------------------------------------------------------------------------------------------


def test_normalization_adapt_from_batches_equals_adapt_from_the_array(rng):
    data = rng.normal(3.0, 2.0, (90, 4))
    whole, batched = layers.Normalization(), layers.Normalization()
    whole.adapt(data)
    batched.adapt([data[i:i + 32] for i in range(0, 90, 32)])
    np.testing.assert_allclose(batched.adapt_mean.numpy(), whole.adapt_mean.numpy(), rtol=1e-6)
    np.testing.assert_allclose(batched.adapt_variance.numpy(), whole.adapt_variance.numpy(), rtol=1e-6)
    np.testing.assert_allclose(whole.adapt_mean.numpy(), data.mean(axis=0).astype("float32"), rtol=1e-6)
    assert whole.mean.shape == (1, 4) and whole.adapt_mean.shape == (4,)  # Keras's broadcast view and weight
    assert len(whole.get_weights()) == 3 and float(whole.count) == 0  # mean, variance, count, as in Keras
    assert not whole.adapt_mean.trainable
    with pytest.raises(ValueError, match="adapt"):
        layers.Normalization(mean=0.0, variance=1.0).adapt(data)
    with pytest.raises(ValueError, match="data"):
        whole.adapt(rng.normal(size=(10, 5)))
    with pytest.raises(ValueError, match="data"):
        layers.Normalization().adapt([])


def test_normalization_in_a_model_trains_saves_and_adapts_in_place(tmp_path, rng):
    """The regression tutorial: adapt, put in a model, fit; the statistics are non-trainable weights that the
    file keeps; adapting again writes into the model's buffers (predict sees it)."""
    x = rng.normal(5.0, 3.0, (120, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.3
    norm = layers.Normalization(axis=-1)
    norm.adapt(x)
    model = gpunn.Sequential([gpunn.Input(shape=(3,)), norm, layers.Dense(1)])
    model.compile(optimizer=gpunn.optimizers.Adam(0.1), loss="mean_squared_error")
    before = norm.get_weights()
    model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    for a, b in zip(before, norm.get_weights()):
        np.testing.assert_array_equal(a, b)  # non-trainable: fit leaves them
    assert model.evaluate(x, y, verbose=0) < 0.5
    model.save(tmp_path / "regression.h5")
    restored = load_model(tmp_path / "regression.h5")
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_array_equal(restored.layers[0].adapt_mean.numpy(), norm.adapt_mean.numpy())
    norm.adapt(x * 2.0)
    np.testing.assert_allclose(model.states[:3], (x * 2.0).mean(axis=0), rtol=1e-6)  # the model's own buffer
    assert not np.allclose(model.predict(x, verbose=0), restored.predict(x, verbose=0))


def test_horsepower_tutorial_scalar_normalization():
    """tf's regression tutorial: Normalization(input_shape=[1,], axis=None) adapted to a 1-D column."""
    horsepower = np.linspace(50.0, 200.0, 40)
    normalizer = layers.Normalization(input_shape=[1], axis=None)
    normalizer.adapt(horsepower)
    assert normalizer.adapt_mean.shape == () and normalizer.mean.shape == (1, 1)
    model = gpunn.Sequential([normalizer, layers.Dense(units=1)])
    out = model.predict(horsepower[:10].reshape(-1, 1), verbose=0)
    assert out.shape == (10, 1)
    np.testing.assert_allclose(normalizer(horsepower[:3]), (horsepower[:3] - horsepower.mean()) / horsepower.std(),
                               rtol=1e-5)


# ---- configs and saved models -----------------------------------------------------------------------------------


ALL_LAYERS = [
    lambda: layers.Softmax(), lambda: layers.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5),
    lambda: layers.LeakyReLU(negative_slope=0.2), lambda: layers.ELU(alpha=0.7),
    lambda: layers.PReLU(alpha_initializer="ones", shared_axes=[1]), lambda: layers.Normalization(axis=None),
    lambda: layers.Normalization(mean=[1.0, 2.0], variance=[3.0, 4.0], invert=True),
    lambda: layers.Rescaling([1.0, 2.0], offset=-1.0), lambda: layers.GaussianNoise(0.2, seed=3),
    lambda: layers.GaussianDropout(0.1, seed=5), lambda: layers.Reshape((2, 1)), lambda: layers.Identity(),
]


@pytest.mark.parametrize("make", ALL_LAYERS)
def test_config_round_trip(make):
    layer = make()
    config = layers.serialize(layer)
    clone = layers.deserialize(config)
    assert type(clone) is type(layer) and layers.serialize(clone) == config


@pytest.mark.parametrize("name", ["all.h5", "all.keras", "all.safetensors"])
def test_a_model_of_every_new_layer_saves_and_loads(name, tmp_path, rng):
    set_random_seed(4)
    norm = layers.Normalization()
    norm.adapt(rng.normal(2.0, 1.5, (50, 2)))
    model = gpunn.Sequential([gpunn.Input(shape=(2,)), norm, layers.Rescaling([1.0, 0.5], offset=0.1),
                              layers.Normalization(mean=0.1, variance=2.0), layers.Dense(6),
                              layers.PReLU(alpha_initializer="random_uniform"), layers.Reshape((3, 2)),
                              layers.Identity(), layers.Flatten(), layers.GaussianNoise(0.1),
                              layers.ReLU(max_value=2.0, threshold=0.1, negative_slope=0.05), layers.Dense(4),
                              layers.ELU(0.5), layers.LeakyReLU(), layers.GaussianDropout(0.2), layers.Dense(3),
                              layers.Softmax()])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = rng.normal(2.0, 1.5, (64, 2)), rng.integers(0, 3, 64)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    model.save(tmp_path / name)
    restored = load_model(tmp_path / name)
    assert [type(l) for l in restored.layers] == [type(l) for l in model.layers]
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_array_equal(restored(x, training=True), model(x, training=True))  # same seeds, counters


def test_softmax_output_layer_fuses_into_the_loss():
    """Dense(10) + Softmax() trains as Dense(10, activation='softmax'): the same fused cross-entropy."""
    from gpunn.trainer.plan import make_plan

    (x, y), _ = digits()

    def run(split):
        set_random_seed(8)
        head = [layers.Dense(10), layers.Softmax()] if split else [layers.Dense(10, activation="softmax")]
        model = gpunn.Sequential([gpunn.Input(shape=(64,)), layers.Dense(16, activation="relu")] + head)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x[:200], y[:200], epochs=2, batch_size=25, verbose=0, shuffle=False)
        return model

    split, whole = run(True), run(False)
    assert make_plan(split, True).loss_takes_logits
    for a, b in zip(split.get_weights(), whole.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ---- a Sequential inside a Sequential -----------------------------------------------------------------------


def test_first_tensorflow_tutorial_probability_model():
    """tensorflow.org's first tutorial: logits model trained, then Sequential([model, Softmax()]).predict."""
    (x, y), (xt, yt) = digits(flat=False)
    set_random_seed(0)
    model = gpunn.Sequential([layers.Flatten(input_shape=(8, 8)), layers.Dense(64, activation="relu"),
                              layers.Dropout(0.2), layers.Dense(10)])
    loss_fn = gpunn.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer="adam", loss=loss_fn, metrics=["accuracy"])
    model.fit(x, y, epochs=5, verbose=0)
    _, accuracy = model.evaluate(xt, yt, verbose=0)
    probability_model = gpunn.Sequential([model, layers.Softmax()])
    assert probability_model.built and probability_model.input_shape == (None, 8, 8)
    probabilities = probability_model.predict(xt, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert np.mean(probabilities.argmax(axis=1) == yt) == pytest.approx(accuracy)
    logits = model(xt[:5])
    np.testing.assert_allclose(probability_model(xt[:5]), np.exp(logits) / np.exp(logits).sum(1, keepdims=True),
                               rtol=1e-5)
    assert model.evaluate(xt, yt, verbose=0)[1] == accuracy  # the inner model still works, same weights


def test_a_nested_model_shares_its_weights_and_trains_inside_the_outer_one():
    (x, y), _ = digits()
    set_random_seed(3)
    base = gpunn.Sequential([gpunn.Input(shape=(64,)), layers.Dense(16, activation="relu", name="hidden")])
    outer = gpunn.Sequential([base, layers.Dense(10, activation="softmax")])
    assert outer.built and outer.layers[0] is base  # as in Keras: the model added is one entry
    assert outer._graph_layers[0] is base.layers[0]
    outer.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = base.get_weights()
    outer.fit(x[:200], y[:200], epochs=1, verbose=0)
    after = base.get_weights()
    assert not np.array_equal(before[0], after[0])  # training the outer trained the inner's layer
    np.testing.assert_array_equal(after[0], outer.get_weights()[0])
    base.layers[0].kernel.assign(np.zeros((64, 16)))
    np.testing.assert_array_equal(outer._graph_layers[0].kernel.numpy(), 0.0)
    base.trainable = False  # Keras's transfer-learning switch reaches the shared layers
    outer.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    outer.fit(x[:100], y[:100], epochs=1, verbose=0)
    np.testing.assert_array_equal(base.get_weights()[0], 0.0)
    with pytest.raises(ValueError, match="named"):
        gpunn.Sequential([base, base])
    with pytest.raises(ValueError, match="itself"):
        outer.add(outer)
    with pytest.raises(ValueError, match="no layers"):
        outer.add(gpunn.Sequential())


# ---- layer(x) and model(x) -------------------------------------------------------------------------------------


def test_calling_a_model_returns_its_outputs_as_a_backend_array():
    (x, y), _ = digits()
    set_random_seed(1)
    model = gpunn.Sequential([gpunn.Input(shape=(64,)), layers.Dense(16, activation="relu"),
                              layers.BatchNormalization(), layers.Dropout(0.5), layers.Dense(10, activation="softmax")])
    out = model(x[:7])
    assert isinstance(out, np.ndarray) and out.shape == (7, 10) and out.dtype == np.float32
    np.testing.assert_array_equal(out, model.predict(x[:7], verbose=0))
    np.testing.assert_array_equal(model(x[:7], training=False), out)
    moving = model.layers[1].moving_mean.numpy()
    trained = model(x[:7], training=True)  # Dropout drops, BatchNormalization uses and learns batch statistics
    assert not np.allclose(trained, out)
    assert not np.array_equal(model.layers[1].moving_mean.numpy(), moving)
    with pytest.raises(ValueError, match="training"):
        model(x[:7], training="yes")
    with pytest.raises(ValueError, match="inputs"):
        model(x[:7, :10])


def test_calling_an_unbuilt_model_builds_it():
    model = gpunn.Sequential([layers.Dense(4), layers.ReLU()])
    out = model(np.ones((3, 5)))
    assert model.built and out.shape == (3, 4) and model.input_shape == (None, 5)


def test_calling_a_layer_builds_it_and_a_model_keeps_its_weights():
    dense = layers.Dense(3, kernel_initializer="ones", bias_initializer="zeros")
    out = dense(np.ones((2, 4)))
    np.testing.assert_array_equal(out, np.full((2, 3), 4.0))
    dense.kernel.assign(np.full((4, 3), 2.0))
    np.testing.assert_array_equal(dense(np.ones((2, 4))), np.full((2, 3), 8.0))
    model = gpunn.Sequential([gpunn.Input(shape=(4,)), dense])
    np.testing.assert_array_equal(model.predict(np.ones((2, 4)), verbose=0), np.full((2, 3), 8.0))
    np.testing.assert_array_equal(dense(np.ones((1, 4))), np.full((1, 3), 8.0))  # now the model's buffers
    with pytest.raises(ValueError, match="inputs"):
        dense(np.ones((2, 5)))
    softmax = layers.Softmax()  # weightless and in no model: any shape, as in Keras
    assert softmax(np.ones((2, 3))).shape == (2, 3) and softmax(np.ones((2, 5))).shape == (2, 5)
    dropout = layers.Dropout(0.5, seed=1)
    np.testing.assert_array_equal(dropout(np.ones((4, 8))), 1.0)
    assert set(np.unique(dropout(np.ones((4, 8)), training=True))) == {0.0, 2.0}


# ---- weights as Variables ---------------------------------------------------------------------------------------


def test_weights_are_keras_variables():
    model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(3, name="d"), layers.BatchNormalization(name="bn"),
                              layers.Dense(2, use_bias=False, name="out")])
    dense, bn, out = model.layers
    kernel = dense.kernel
    assert isinstance(kernel, Variable) and kernel is dense.weights[0] and kernel is dense.kernel
    assert kernel.shape == (4, 3) and kernel.dtype == "float32" and kernel.name == "kernel"
    # a Sequential builds its layers under its name, as Keras's (tests/test_variable_paths.py)
    assert kernel.path == f"{model.name}/d/kernel" and kernel.trainable and kernel.ndim == 2 and kernel.size == 12
    np.testing.assert_array_equal(np.asarray(kernel), model.get_weights()[0])
    np.testing.assert_array_equal(kernel.numpy(), kernel.value)
    assert out.bias is None and [w.name for w in bn.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert bn.gamma.trainable and not bn.moving_mean.trainable
    assert [w.path.split("/", 1)[1] for w in model.trainable_weights] == ["d/kernel", "d/bias", "bn/gamma", "bn/beta",
                                                                          "out/kernel"]
    assert [w.path.split("/", 1)[1] for w in model.non_trainable_weights] == ["bn/moving_mean", "bn/moving_variance"]
    assert len(model.weights) == 7
    dense.trainable = False
    assert not kernel.trainable  # follows the layer's flag, as Keras's setter sets it
    np.testing.assert_array_equal(kernel + 1, np.asarray(kernel) + 1)  # arithmetic on the value
    assert float(layers.Normalization(axis=None)(np.ones((2, 1))).sum()) == 2.0
    with pytest.raises(AttributeError, match="kernel"):
        layers.Dense(3).kernel
    with pytest.raises(ValueError, match="shape"):
        kernel.assign(np.zeros((3, 4)))
    with pytest.raises(TypeError):
        bool(kernel)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replayed"])
def test_assign_writes_into_the_model_buffer_and_the_next_step_sees_it(jit):
    (x, y), _ = digits()
    set_random_seed(6)
    model = gpunn.Sequential([gpunn.Input(shape=(64,)), layers.Dense(8, activation="relu"),
                              layers.Dense(10, activation="softmax")])
    model.compile(optimizer=gpunn.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy", jit_compile=jit)
    model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0)  # recorded with jit
    kernel = model.layers[1].kernel
    kernel.assign(np.zeros((8, 10)))
    model.layers[1].bias.assign(np.log(np.arange(1, 11.0)))
    np.testing.assert_array_equal(model.params[64 * 8 + 8:64 * 8 + 8 + 80], 0.0)
    np.testing.assert_allclose(model.predict(x[:3], verbose=0), np.tile(np.arange(1, 11.0) / 55.0, (3, 1)),
                               rtol=1e-6)
    history = model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0)  # lr 0: the loss of those weights
    expected = -np.mean(np.log((y[:64] + 1) / 55.0))
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)
    kernel.assign_add(np.ones((8, 10)))
    np.testing.assert_array_equal(kernel.numpy(), 1.0)
    kernel[0, 0] = 5.0  # item assignment, as the arrays layer.weights returned before allowed
    assert model.get_weights()[2][0, 0] == 5.0


def test_a_shared_layer_variable_reads_wherever_the_layer_computes():
    (x, y), _ = digits()
    set_random_seed(2)
    a = gpunn.Sequential([gpunn.Input(shape=(64,)), layers.Dense(8, activation="relu"), layers.Dense(10)])
    b = gpunn.Sequential(a.layers[:1] + [layers.Dense(3, activation="softmax")])
    kernel = a.layers[0].kernel
    b.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    b.fit(x[:100], y[:100] % 3, epochs=1, verbose=0)
    np.testing.assert_array_equal(kernel.numpy(), b.get_weights()[0])
    kernel.assign(np.zeros((64, 8)))
    np.testing.assert_array_equal(a.get_weights()[0], 0.0)  # a claims the layer back with the assigned values
    np.testing.assert_array_equal(b.get_weights()[0], 0.0)


# ---- on the GPU (skipped, with the reason, where CuPy finds no GPU) -----------------------------------------------


@pytest.mark.gpu
def test_new_layers_train_on_the_gpu_as_on_the_cpu():
    """The same seeds give the same noise on both backends (to a few ulps), so training agrees as for Dropout;
    calls return CuPy arrays there, and assign writes into the device buffer."""
    import cupy

    (x, y), _ = digits()

    def train(backend):
        with gpunn.use_backend(backend):
            set_random_seed(9)
            norm = layers.Normalization()
            norm.adapt(x)
            model = gpunn.Sequential([gpunn.Input(shape=(64,)), norm, layers.GaussianNoise(0.1),
                                      layers.Dense(32, name="hidden"), layers.PReLU(), layers.GaussianDropout(0.2),
                                      layers.ReLU(max_value=3.0, negative_slope=0.1, threshold=0.1),
                                      layers.Dense(16), layers.ELU(0.5), layers.Dense(10), layers.Softmax()])
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
            model.fit(x, y, batch_size=64, epochs=1, verbose=0)
            return model

    cpu, gpu = train("numpy"), train("cupy")
    for a, b in zip(cpu.get_weights(), gpu.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4)
    with gpunn.use_backend("cupy"):
        out = gpu(cupy.asarray(x[:5]))
        assert isinstance(out, cupy.ndarray) and out.shape == (5, 10)
        np.testing.assert_allclose(cupy.asnumpy(out), cpu(x[:5]), rtol=1e-3, atol=1e-4)
        kernel = gpu.get_layer("hidden").kernel
        kernel.assign(cupy.zeros((64, 32), dtype=cupy.float32))
        assert float(cupy.abs(kernel.value).sum()) == 0.0 and np.asarray(kernel).sum() == 0.0
        draws = layers.GaussianNoise(1.0, seed=3)(cupy.zeros((50, 40), dtype=cupy.float32), training=True)
        np.testing.assert_allclose(cupy.asnumpy(draws), random_normal_numpy(3, 0, 0.0, 1.0, np.empty((50, 40),
                                   np.float32)), rtol=3e-6, atol=3e-5)


def test_call_results_have_numpy_as_tf_keras_outputs_do(numpy_backend):
    """Scripts written for tf.keras call ``.numpy()`` on what a layer or model returns."""
    gpunn.utils.set_random_seed(0)
    dense = layers.Dense(3)
    out = dense(np.ones((2, 4), "float32"))
    plain = out.numpy()
    assert type(plain) is np.ndarray and plain.shape == (2, 3)
    np.testing.assert_array_equal(plain, out)
    model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(2)])
    assert type(model(np.ones((5, 4), "float32")).numpy()) is np.ndarray


def test_slices_and_arithmetic_of_a_weight_have_numpy_as_tf_keras_tensors_do(numpy_backend):
    """The TF time-series tutorial plots ``linear.layers[0].kernel[:, 0].numpy()``: a weight's slices, arithmetic
    and comparisons give arrays with ``.numpy()`` (a 0-d one for one element, as an EagerTensor)."""
    gpunn.utils.set_random_seed(0)
    dense = layers.Dense(3)
    dense(np.ones((2, 4), "float32"))
    kernel = np.asarray(dense.kernel)
    for result, expected in [(dense.kernel[:, 0], kernel[:, 0]), (dense.kernel[1, 2], kernel[1, 2]),
                             (dense.kernel * 2, kernel * 2), (1 - dense.kernel, 1 - kernel), (-dense.kernel, -kernel),
                             (abs(dense.kernel), abs(kernel)), (+dense.kernel, kernel), (dense.kernel > 0, kernel > 0)]:
        plain = result.numpy()
        assert type(plain) is (np.ndarray if np.ndim(expected) else type(expected)) and plain.dtype == expected.dtype
        np.testing.assert_array_equal(plain, expected)
    column = dense.kernel[:, 0]
    column.numpy()[0] = 7.0  # a slice is a new array, as a Keras tensor is: the weight stays as it was
    assert float(dense.kernel[0, 0]) == kernel[0, 0] != 7.0
    assert not np.shares_memory(+dense.kernel, dense.kernel.value)  # +x is a new tensor, as in Keras


def test_a_layer_called_on_its_own_ignores_a_declared_input_shape_as_keras_does():
    """The TF custom-layers tutorial: ``Dense(10, input_shape=(None, 5))`` called on a (10, 5) batch builds for
    what it is called on (a declared input_shape only tells a Sequential its input)."""
    layer = layers.Dense(10, input_shape=(None, 5))
    assert layer(np.zeros((10, 5), "float32")).shape == (10, 10)
    assert [tuple(v.shape) for v in layer.variables] == [(5, 10), (10,)]


INPUT_DTYPES = r'''
import json, sys
import keras
inputs = [keras.Input(shape=(1,), dtype=dtype) if dtype else keras.Input(shape=(3,))
          for dtype in ("int64", "string", "float32", "float64", "int32", "bool", None)]
print(json.dumps([str(i.dtype) for i in inputs]))
'''


def test_an_input_s_dtype_is_kerass():
    """The TF csv tutorial keeps the numeric inputs by ``input.dtype == tf.float32``: an Input's dtype is the one
    given ('int64', 'string', 'float64'), else floatx(), as Keras's KerasTensor says; a model of float64 layers
    after an Input of no dtype computes in float64 still."""
    ours = [str(i.dtype) for i in [gpunn.Input(shape=(1,), dtype=dtype) if dtype else gpunn.Input(shape=(3,))
                                   for dtype in ("int64", "string", "float32", "float64", "int32", "bool", None)]]
    assert ours == run_keras(INPUT_DTYPES, {}) == ["int64", "string", "float32", "float64", "int32", "bool",
                                                   "float32"]
    inputs = gpunn.Input((3,))
    model = gpunn.Model(inputs, layers.Dense(2, dtype="float64")(inputs))
    assert model.predict(np.ones((2, 3)), verbose=0).dtype == np.float64


class _ForeignTensor:
    """What TensorFlow's, JAX's or torch's tensors have in common for adapt(): an array, not batches."""

    def __init__(self, array):
        self._array = np.asarray(array)
        self.shape, self.dtype = self._array.shape, self._array.dtype

    def __array__(self, dtype=None, copy=None):
        return self._array if dtype is None else self._array.astype(dtype)

    def __iter__(self):  # (iterable row by row, as tensors are: not to be read as batches)
        return iter(self._array)


@pytest.mark.parametrize("form", ["gpunn_tensor", "foreign_tensor", "rows", "batches"])
def test_normalization_adapts_to_a_tensor_or_rows_as_one_array(form):
    """Keras's adapt takes a backend tensor as one array (keras/src/layers/preprocessing/normalization.py): the
    statistics of each feature, not of every value (a per-row iteration learned one mean and built one feature).
    A list of rows of numbers, which Keras refuses, is read as one array too."""
    x = np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 50.0]], "float32")
    data = {"gpunn_tensor": lambda: gpunn.ops.convert_to_tensor(x), "foreign_tensor": lambda: _ForeignTensor(x),
            "rows": lambda: x.tolist(), "batches": lambda: [x[:2], x[2:]]}[form]()
    norm = layers.Normalization()
    norm.adapt(data)
    np.testing.assert_allclose(norm.mean, [[3.0, 30.0]])
    np.testing.assert_allclose(norm.variance, [[8.0 / 3, 800.0 / 3]], rtol=1e-6)
    assert norm.input_shape == (2,)


def test_normalization_given_a_mean_of_another_width_says_so():
    with pytest.raises(ValueError, match=r"mean: a value of shape \(2,\) does not broadcast to the kept axes \(1,\) "
                                         r"of inputs of shape \(None, 3\)"):
        layers.Normalization(mean=[1.0, 2.0], variance=[1.0, 2.0])(np.ones((2, 3), "float32"))
