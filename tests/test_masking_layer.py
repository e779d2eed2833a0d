"""``layers.Masking``: padded time steps (every feature equal to ``mask_value``) come out as zeros and are left out
of ``GlobalAveragePooling1D``'s mean after it; training equals Keras's own (in a subprocess on jax), eager equals
replayed bit for bit, the gradient matches finite differences."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers
from helpers import assert_gradients_close, assert_same_training, numerical_gradient, run_keras

BUILD = '''
def data():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((24, 5, 3)).astype("float32")
    lengths = rng.integers(1, 6, 24)
    for i, n in enumerate(lengths):
        x[i, n:] = -1.0  # padding: every feature of a step at the mask value
    return x, (x[:, 0, 0] > 0).astype("int64")


def build(keras):
    model = keras.Sequential([keras.Input((5, 3)), keras.layers.Masking(mask_value=-1.0),
                              keras.layers.Dense(4, activation="tanh"), keras.layers.GlobalAveragePooling1D(),
                              keras.layers.Dense(2, activation="softmax")])
    model.set_weights([np.linspace(-0.6, 0.6, w.size, dtype="float32").reshape(w.shape) for w in model.get_weights()])
    return model


def train(keras, **compile_args):
    model = build(keras)
    model.compile(keras.optimizers.SGD(0.2), "sparse_categorical_crossentropy", **compile_args)
    x, y = data()
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    return model, history.history
'''
KERAS_SCRIPT = '''
import json, sys
import numpy as np
import keras
''' + BUILD + '''
model, history = train(keras)
x, _ = data()
masked = keras.layers.Masking(mask_value=-1.0)(x)
print(json.dumps({"weights": [w.tolist() for w in model.get_weights()], "loss": history["loss"],
                  "predictions": np.asarray(model.predict(x, verbose=0)).tolist(),
                  "masked": np.asarray(masked).tolist(), "config": build(keras).layers[0].get_config()}))
'''


def _namespace():
    namespace = {"np": np}
    exec(BUILD, namespace)
    return namespace


def test_training_through_a_masking_layer_equals_keras():
    keras = run_keras(KERAS_SCRIPT, None)
    gpunn.backend.clear_session()  # layer names count from a fresh session, as in Keras's process
    space = _namespace()
    model, history = space["train"](gpunn)
    for ours, theirs in zip(model.get_weights(), keras["weights"]):
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(history["loss"], keras["loss"], rtol=1e-5)
    x, _ = space["data"]()
    np.testing.assert_allclose(model.predict(x, verbose=0), keras["predictions"], rtol=1e-5, atol=1e-6)
    masked = layers.Masking(mask_value=-1.0)(x)
    np.testing.assert_array_equal(masked, np.asarray(keras["masked"], dtype=np.float32))
    padded = (x == -1.0).all(axis=-1)
    assert padded.any() and (masked[padded] == 0).all() and (masked[~padded] == x[~padded]).all()
    config = space["build"](gpunn).layers[0].get_config()
    assert {k: config[k] for k in ("name", "mask_value", "trainable")} == \
        {k: keras["config"][k] for k in ("name", "mask_value", "trainable")}


def test_the_mask_changes_the_mean_replays_bit_for_bit_and_is_saved(tmp_path):
    space = _namespace()
    x, _ = space["data"]()
    masked = space["build"](gpunn)
    masked.save(str(tmp_path / "masked.keras"))
    loaded = gpunn.models.load_model(str(tmp_path / "masked.keras"))
    assert loaded.layers[0].mask_value == -1.0
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), masked.predict(x, verbose=0))
    plain = gpunn.Sequential([gpunn.Input((5, 3))] + [layer for layer in space["build"](gpunn).layers[1:]])
    assert not np.allclose(masked.predict(x, verbose=0), plain.predict(x, verbose=0), atol=1e-3)
    assert_same_training(space["train"](gpunn, jit_compile=False), space["train"](gpunn, jit_compile=True))


def test_the_gradient_through_the_mask_matches_finite_differences():
    """d loss / d weights of a float64 model with a Masking layer first (the padded inputs stay exactly at the
    mask value: only the weights move)."""
    space = _namespace()
    x, y = space["data"]()
    with gpunn.use_backend("numpy"):
        gpunn.utils.set_random_seed(2)
        model = gpunn.Sequential([gpunn.Input((5, 3), dtype="float64"), layers.Masking(mask_value=-1.0),
                                  layers.Dense(4, activation="tanh"), layers.GlobalAveragePooling1D(),
                                  layers.Dense(2, activation="softmax")])
        model.compile(optimizer=gpunn.optimizers.SGD(1.0), loss="sparse_categorical_crossentropy")
        x64, y6 = x[:6].astype("float64"), y[:6]
        params = np.asarray(model.params).copy()
        model.train_on_batch(x64, y6)
        analytic = np.asarray(model.grads).copy()
        model.params[...] = params
        numeric = numerical_gradient(lambda _: model.evaluate(x64, y6, batch_size=6, verbose=0), model.params)
    assert model.params.dtype == np.float64
    assert_gradients_close(analytic, numeric, what="d loss / d params through Masking")


def test_bad_mask_values_are_refused_by_name():
    with pytest.raises(ValueError, match="mask_value: expected a number"):
        layers.Masking(mask_value="zero")


@pytest.mark.parametrize("call", [
    lambda masked, x: layers.BatchNormalization()(masked, training=True),
    lambda masked, x: layers.Multiply()([masked, x]),
    lambda masked, x: layers.Minimum()([x, masked]),
    lambda masked, x: layers.Add()([masked, x]),
], ids=["BatchNormalization", "Multiply", "Minimum", "Add"])
def test_a_carried_mask_that_keras_would_compute_with_is_refused_on_its_own_call(call):
    """Keras's BatchNormalization takes its moments over the unmasked steps, its Multiply / Minimum / Maximum put
    other values at masked steps, and every merge layer gives its output a mask: gpunn's refuse the mask, as in a
    model, rather than compute without it."""
    x = np.random.default_rng(0).normal(5, 10, size=(5, 2, 3)).astype("float32")
    x[:, 1, :] = 0.0
    masked = layers.Masking()(x)
    assert getattr(masked, "_keras_mask", None) is not None
    with pytest.raises(ValueError, match=r"carry a padding mask .* does not compute with a mask"):
        call(masked, x)
    assert call(np.asarray(masked), x).shape == (5, 2, 3)  # the values alone compute
