"""The end-to-end example of Keras's guide "Making new layers and models via subclassing": a VAE whose Encoder (a
layer of the user's) returns three tensors and whose model adds the KL divergence with ``self.add_loss`` in its
``call()``, a mean over the whole batch. Checked against Keras 3 on the same weights (with a fixed epsilon, so that
both compute the same thing), by finite differences, and as the guide runs it (random epsilon)."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers
from helpers import assert_gradients_close, numerical_gradient, numpy_backend, run_keras  # noqa: F401

VAE = '''
def define(keras, layers, ops, epsilon=None, dtype=None):
    class Sampling(layers.Layer):
        """Uses (z_mean, z_log_var) to sample z (epsilon fixed when given, to compare libraries)."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = keras.random.SeedGenerator(1337)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch = ops.shape(z_mean)[0]
            dim = ops.shape(z_mean)[1]
            if epsilon is None:
                noise = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
            else:
                noise = ops.ones_like(z_mean) * epsilon
            return z_mean + ops.exp(0.5 * z_log_var) * noise

    class Encoder(layers.Layer):
        def __init__(self, latent_dim=3, intermediate_dim=8, name="encoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.dense_proj = layers.Dense(intermediate_dim, activation="relu", dtype=dtype)
            self.dense_mean = layers.Dense(latent_dim, dtype=dtype)
            self.dense_log_var = layers.Dense(latent_dim, dtype=dtype)
            self.sampling = Sampling()

        def call(self, inputs):
            x = self.dense_proj(inputs)
            z_mean = self.dense_mean(x)
            z_log_var = self.dense_log_var(x)
            z = self.sampling((z_mean, z_log_var))
            return z_mean, z_log_var, z

    class Decoder(layers.Layer):
        def __init__(self, original_dim, intermediate_dim=8, name="decoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.dense_proj = layers.Dense(intermediate_dim, activation="relu", dtype=dtype)
            self.dense_output = layers.Dense(original_dim, activation="sigmoid", dtype=dtype)

        def call(self, inputs):
            return self.dense_output(self.dense_proj(inputs))

    class VariationalAutoEncoder(keras.Model):
        def __init__(self, original_dim, intermediate_dim=8, latent_dim=3, name="autoencoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.original_dim = original_dim
            self.encoder = Encoder(latent_dim=latent_dim, intermediate_dim=intermediate_dim, dtype=dtype)
            self.decoder = Decoder(original_dim, intermediate_dim=intermediate_dim, dtype=dtype)

        def call(self, inputs):
            z_mean, z_log_var, z = self.encoder(inputs)
            reconstructed = self.decoder(z)
            kl_loss = -0.5 * ops.mean(z_log_var - ops.square(z_mean) - ops.exp(z_log_var) + 1)
            self.add_loss(kl_loss)
            return reconstructed

    return VariationalAutoEncoder
'''

KERAS_VAE = VAE + r'''
import json, sys
import numpy as np
import keras
from keras import ops
task = json.loads(sys.stdin.read())
x = np.array(task["x"], dtype="float32")
model = define(keras, keras.layers, ops, epsilon=0.3)(x.shape[1])
model(x[:2])
model.set_weights([np.array(w, dtype="float32") for w in task["weights"]])
model.compile(optimizer=keras.optimizers.SGD(0.5), loss=keras.losses.MeanSquaredError())
before = model.evaluate(x, x, batch_size=8, verbose=0)
history = model.fit(x, x, batch_size=8, epochs=3, shuffle=False, verbose=0)
print(json.dumps({"before": before, "loss": history.history["loss"], "weights": [w.tolist() for w in model.get_weights()],
                  "evaluate": model.evaluate(x, x, batch_size=8, verbose=0),
                  "predict": model.predict(x, verbose=0).tolist()}))
'''


def _vae(original_dim=6, epsilon=0.3, dtype=None):
    namespace: dict = {}
    exec(VAE, namespace)
    return namespace["define"](gpunn, layers, gpunn.ops, epsilon=epsilon, dtype=dtype)(original_dim)


def _data(rows=24, features=6):
    return np.random.default_rng(5).random((rows, features)).astype(np.float32)


def test_the_guide_s_vae_trains_as_in_keras():
    x = _data()
    gpunn.utils.set_random_seed(2)
    model = _vae()
    model(x[:2])
    weights = [w.tolist() for w in model.get_weights()]
    theirs = run_keras(KERAS_VAE, {"x": x.tolist(), "weights": weights})
    model.compile(optimizer=gpunn.optimizers.SGD(0.5), loss=gpunn.losses.MeanSquaredError())
    # the loss is the reconstruction error plus the KL term, in evaluate as in fit
    np.testing.assert_allclose(model.evaluate(x, x, batch_size=8, verbose=0), theirs["before"], rtol=1e-5)
    history = model.fit(x, x, batch_size=8, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], theirs["loss"], rtol=1e-5)
    for ours, keras_weight in zip(model.get_weights(), theirs["weights"]):
        np.testing.assert_allclose(ours, keras_weight, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.evaluate(x, x, batch_size=8, verbose=0), theirs["evaluate"], rtol=1e-5)
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6)


def test_the_loss_s_gradient_with_the_kl_term_matches_finite_differences():
    x = _data(6).astype(np.float64)
    model = _vae(dtype="float64")
    model.build((None, 6))
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="mse")

    def objective(_):
        return model.evaluate(x, x, batch_size=6, verbose=0)

    numeric = numerical_gradient(objective, model.params)
    model.train_on_batch(x, x)
    assert_gradients_close(np.array(model.grads), numeric, what="d (mse + KL) / d params")


def test_the_guide_s_vae_runs_as_written_and_learns():
    x = np.random.default_rng(1).random((256, 12)).astype(np.float32)
    gpunn.utils.set_random_seed(0)
    model = _vae(original_dim=12, epsilon=None)
    model.compile(gpunn.optimizers.Adam(learning_rate=1e-2), loss=gpunn.losses.MeanSquaredError())
    history = model.fit(x, x, epochs=5, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert [type(op).__name__ for op in model._graph_layers if type(op).__name__ == "AddedLosses"] == ["AddedLosses"]
    assert "AddedLosses" not in [type(layer).__name__ for layer in model.layers]  # Keras's: what the model holds


def test_a_reduced_value_mixed_with_per_sample_values_is_refused_by_name():
    class Centered(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, x):
            h = self.dense(x)
            return h - gpunn.ops.mean(h)

    with pytest.raises(ValueError, match="reduced over the whole batch.*add_loss"):
        Centered().build((None, 3))


def test_add_loss_outside_call_is_refused():
    model = _vae()
    model.build((None, 6))
    with pytest.raises(ValueError, match="add_loss: gpunn takes a model's add_loss inside its call"):
        model.add_loss(1.0)


def test_the_vae_saves_loads_and_clones_with_its_loss(tmp_path):
    x = _data()
    model = _vae()
    decoder = type(model.decoder)
    decoder.get_config = lambda self: {"original_dim": 6, "name": self.name}  # what the guide leaves out
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, x, epochs=1, verbose=0)
    custom = {"Encoder": type(model.encoder), "Decoder": decoder, "Sampling": type(model.encoder.sampling)}
    expected, loss = model.predict(x, verbose=0), model.evaluate(x, x, verbose=0)
    for name in ("m.keras", "m.h5"):
        model.save(tmp_path / name)
        loaded = gpunn.models.load_model(tmp_path / name, custom_objects=custom)
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected, err_msg=name)
        assert loaded.evaluate(x, x, verbose=0) == loss  # the KL term included
    with gpunn.saving.custom_object_scope(custom):
        clone = gpunn.models.clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(x, verbose=0), expected)


def test_a_replayed_vae_step_equals_the_eager_one_bit_for_bit():
    x = _data(40)
    runs = []
    for jit in (False, True):
        gpunn.utils.set_random_seed(3)
        model = _vae()
        model.compile(optimizer="adam", loss="mse", jit_compile=jit)
        model.fit(x, x, batch_size=16, epochs=3, shuffle=False, verbose=0)  # two full batches, a partial one
        runs.append(model.get_weights())
    for eager, replayed in zip(*runs):
        np.testing.assert_array_equal(eager, replayed)


def test_a_layer_returning_several_tensors_in_a_functional_model_and_on_its_own():
    x = _data(5)
    inputs = gpunn.Input((6,))
    encoder = _vae().encoder
    z_mean, z_log_var, z = encoder(inputs)
    assert z_mean.shape == z_log_var.shape == z.shape == (None, 3)
    model = gpunn.Model(inputs, layers.Concatenate()([z_mean, z]))
    alone = encoder(x)  # on its own: its three arrays, as its call() returns them
    assert isinstance(alone, tuple) and [a.shape for a in alone] == [(5, 3)] * 3
    np.testing.assert_allclose(model.predict(x, verbose=0), np.concatenate([alone[0], alone[2]], axis=1), rtol=1e-6)


class _LossInTrainingOnly(gpunn.Model):
    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(2)

    def call(self, x, training=None):
        h = self.dense(x)
        if training:
            self.add_loss(gpunn.ops.mean(gpunn.ops.square(h)))
        return h


class _Penalized(gpunn.Model):
    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(3)

    def call(self, x):
        h = self.dense(x)
        self.add_loss(0.1 * gpunn.ops.mean(gpunn.ops.square(h)))
        return h


def test_losses_added_in_one_mode_only_are_refused_and_two_models_adding_losses_combine():
    with pytest.raises(ValueError, match="gives add_loss 1 loss.* when training=True and 0 when training is not"):
        _LossInTrainingOnly().build((None, 3))
    inputs = gpunn.Input((3,))
    first, second = _Penalized(), _Penalized()
    model = gpunn.Model(inputs, first(inputs) + second(inputs))  # two AddedLosses layers, named apart
    assert len({layer.name for layer in model.layers}) == len(model.layers)
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((4, 3), np.float32)
    model.fit(x, np.zeros((4, 3), np.float32), verbose=0)


def test_a_model_call_lists_the_losses_its_call_added():
    """As Keras: after ``model(x)`` a subclassed model's ``losses`` hold what its call() gave add_loss on ``x``;
    predict, a compiled step, leaves none."""
    ops = gpunn.ops

    class WithLoss(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.dense = gpunn.layers.Dense(2)

        def call(self, x):
            y = self.dense(x)
            self.add_loss(ops.mean(ops.square(y)))
            return y

    model = WithLoss()
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    model.compile("sgd", "mse")
    model.predict(x, verbose=0)
    assert model.losses == []
    y = np.asarray(model(x))
    assert len(model.losses) == 1
    np.testing.assert_allclose(float(model.losses[0]), np.mean(np.square(y)), rtol=1e-6)


def test_a_built_in_loss_on_a_functional_model_s_values_says_where_to_compute_it():
    """Keras 2's VAE computes ``binary_crossentropy(inputs, outputs) * 784`` between a functional model's values
    before ``vae.add_loss``: refused naming the loss and the layer of one's own that adds it."""
    inputs = gpunn.Input((6,))
    outputs = gpunn.layers.Dense(6, activation="sigmoid")(gpunn.layers.Dense(2)(inputs))
    for compute in (lambda: gpunn.losses.binary_crossentropy(inputs, outputs),
                    lambda: gpunn.losses.MeanSquaredError()(inputs, outputs)):
        with pytest.raises(ValueError, match=r"(BinaryCrossentropy|MeanSquaredError): called on a functional "
                                             r"model's symbolic values.*self.add_loss\(value\)"):
            compute()
