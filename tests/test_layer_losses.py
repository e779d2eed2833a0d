"""``add_loss`` in a layer of the user's (Keras's guide "Making new layers and models via subclassing", "The
add_loss() method"): the losses join the loss a model reports and differentiates, in training and evaluation, as
in Keras 3 (checked against it), against finite differences in float64, and in replays (bit for bit)."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers
from helpers import assert_gradients_close, assert_same_training, numerical_gradient, run_keras

SCRIPT = '''
def definitions(keras):
    ops = keras.ops

    class ActivityRegularizationLayer(keras.layers.Layer):  # the guide's
        def __init__(self, rate=1e-2, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate

        def call(self, inputs):
            self.add_loss(self.rate * ops.mean(inputs))
            return inputs

    class OuterLayer(keras.layers.Layer):  # the guide's: the loss of a layer inside
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.activity_reg = ActivityRegularizationLayer(1e-2)

        def call(self, inputs):
            return self.activity_reg(inputs)

    class Shrunk(keras.layers.Layer):  # a loss of its weights and of its inputs, a penalty of a layer inside
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(3, kernel_regularizer=keras.regularizers.L2(0.02))

        def build(self, input_shape):
            self.scale = self.add_weight(shape=(3,), initializer="ones", name="scale")

        def call(self, inputs):
            self.add_loss(0.05 * ops.sum(ops.square(self.scale - 0.5)))
            y = self.dense(inputs) * self.scale
            self.add_loss(0.01 * ops.mean(ops.square(y)))
            return y

    class Sampling(keras.layers.Layer):  # the guide's VAE, its noise fixed: two inputs, given as a tuple
        def call(self, inputs):
            z_mean, z_log_var = inputs
            return z_mean + ops.exp(0.5 * z_log_var) * 0.3

    class Encoder(keras.layers.Layer):  # the guide's VAE encoder, its KL term given to add_loss
        def __init__(self, latent_dim=3, intermediate_dim=8, **kwargs):
            super().__init__(**kwargs)
            self.dense_proj = keras.layers.Dense(intermediate_dim, activation="relu")
            self.dense_mean = keras.layers.Dense(latent_dim)
            self.dense_log_var = keras.layers.Dense(latent_dim)
            self.sampling = Sampling()

        def call(self, inputs):
            x = self.dense_proj(inputs)
            z_mean, z_log_var = self.dense_mean(x), self.dense_log_var(x)
            self.add_loss(-0.5 * ops.mean(z_log_var - ops.square(z_mean) - ops.exp(z_log_var) + 1))
            return self.sampling((z_mean, z_log_var))

    class Gate(keras.layers.Layer):  # two inputs in a functional model
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[0][-1],), initializer="ones", name="w")

        def call(self, inputs):
            u, v = inputs
            return u * ops.sigmoid(v * self.w)

    return ActivityRegularizationLayer, OuterLayer, Shrunk, Encoder, Gate


def run_vae(keras, x, initial):
    Encoder, Gate = definitions(keras)[3:]
    inputs = keras.Input(shape=(4,))
    z = Encoder()(inputs)
    outputs = keras.layers.Dense(4)(Gate()([z, keras.layers.Dense(3)(inputs)]))
    model = keras.Model(inputs, outputs)
    model.set_weights(initial)
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    history = model.fit(x, x, epochs=2, batch_size=8, shuffle=False, verbose=0)
    return {"history": [float(v) for v in history.history["loss"]],
            "weights": [w.tolist() for w in model.get_weights()]}


def run(keras, x, y, initial, evaluate_batch_size=None):
    _, OuterLayer, Shrunk = definitions(keras)[:3]
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(5, activation="tanh"), OuterLayer(),
                              Shrunk(), keras.layers.Dense(1)])
    model.set_weights(initial)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    history = model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    return {"history": [float(v) for v in history.history["loss"]],
            "evaluate": float(model.evaluate(x, y, verbose=0, batch_size=evaluate_batch_size)),
            "weights": [w.tolist() for w in model.get_weights()],
            "losses": [float(v) for v in model.layers[2].losses]}
'''

KERAS_SIDE = SCRIPT + r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
initial = [np.array(w, dtype="float32") for w in task["initial"]]
# Keras 3.15 on jax evaluates these 40 rows in batches of 32 and 8 to one of two values, decided per process (the
# same weights; 4 processes in 10 add 3.4e-4); in one batch it is steady. Every added loss here is a mean over
# rows or a constant, so one batch of 40 is the same quantity as gpunn's batches of 32 and 8.
out = run(keras, np.array(task["x"], "float32"), np.array(task["y"], "float32"), initial, evaluate_batch_size=40)
out["vae"] = run_vae(keras, np.array(task["x"], "float32"), [np.array(w, "float32") for w in task["vae_initial"]])
print(json.dumps(out))
'''


def _definitions():
    namespace: dict = {}
    exec(SCRIPT, namespace)
    return namespace


def _data(rows=40):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 4)).astype("float32")
    return x, (x[:, :1] * x[:, 1:2] + 0.5).astype("float32")


def test_added_losses_train_and_evaluate_as_in_keras():
    namespace = _definitions()
    x, y = _data()
    _, OuterLayer, Shrunk, Encoder, Gate = namespace["definitions"](gpunn)
    gpunn.utils.set_random_seed(3)
    initial = [w + 0.05 for w in gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(5), OuterLayer(), Shrunk(),
                                                   layers.Dense(1)]).get_weights()]
    inputs = gpunn.Input(shape=(4,))
    gated = Gate()([Encoder()(inputs), layers.Dense(3)(inputs)])
    vae_initial = [w + 0.05 for w in gpunn.Model(inputs, layers.Dense(4)(gated)).get_weights()]
    ours = namespace["run"](gpunn, x, y, initial)
    ours["vae"] = namespace["run_vae"](gpunn, x, vae_initial)
    theirs = run_keras(KERAS_SIDE, {"x": x.tolist(), "y": y.tolist(), "initial": [w.tolist() for w in initial],
                                    "vae_initial": [w.tolist() for w in vae_initial]})
    # the guide's VAE encoder (a layer of two inputs inside, its KL term added) and a layer of two inputs
    np.testing.assert_allclose(ours["vae"]["history"], theirs["vae"]["history"], rtol=1e-4)
    for index, (mine, keras_weight) in enumerate(zip(ours["vae"]["weights"], theirs["vae"]["weights"])):
        np.testing.assert_allclose(mine, keras_weight, rtol=2e-4, atol=2e-5, err_msg=f"VAE weight #{index}")
    np.testing.assert_allclose(ours["history"], theirs["history"], rtol=1e-4)
    np.testing.assert_allclose(ours["evaluate"], theirs["evaluate"], rtol=1e-4)
    for index, (mine, keras_weight) in enumerate(zip(ours["weights"], theirs["weights"])):
        np.testing.assert_allclose(mine, keras_weight, rtol=2e-4, atol=2e-5, err_msg=f"weight #{index}")
    # after a model's steps, as with Keras's compiled ones: the penalty of the Dense inside only
    assert len(ours["losses"]) == len(theirs["losses"]) == 1
    np.testing.assert_allclose(ours["losses"], theirs["losses"], rtol=1e-4)


def test_layer_losses_are_the_last_call_s():
    """The guide's asserts: none before a call, one after each call (not accumulated)."""
    ActivityRegularizationLayer, OuterLayer = _definitions()["definitions"](gpunn)[:2]
    layer = OuterLayer()
    assert len(layer.losses) == 0
    layer(np.zeros((1, 1), "float32"))
    assert len(layer.losses) == 1
    layer(np.ones((2, 1), "float32"))
    assert len(layer.losses) == 1
    np.testing.assert_allclose(layer.losses[0], 1e-2)
    with pytest.raises(ValueError, match="add_loss is taken inside call"):
        ActivityRegularizationLayer().add_loss(1.0)


def test_added_losses_match_finite_differences():
    _, OuterLayer, Shrunk = _definitions()["definitions"](gpunn)[:3]
    gpunn.utils.set_random_seed(5)
    model = gpunn.Sequential([gpunn.Input(shape=(4,), dtype="float64"), layers.Dense(5, dtype="float64"),
                              OuterLayer(dtype="float64"), Shrunk(dtype="float64"), layers.Dense(1, dtype="float64")])
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(7, 4)), rng.normal(size=(7, 1))
    numeric = numerical_gradient(lambda _: model.evaluate(x, y, batch_size=7, verbose=0), model.params)
    model.train_on_batch(x, y)
    assert_gradients_close(np.array(model.grads), numeric, what="d (loss + added losses) / d params")


def test_added_losses_replay_bit_for_bit():
    _, OuterLayer, Shrunk = _definitions()["definitions"](gpunn)[:3]
    x, y = _data(70)

    def run(jit):
        gpunn.utils.set_random_seed(7)
        model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(5), OuterLayer(), Shrunk(), layers.Dense(1)])
        model.compile(optimizer="adam", loss="mae", jit_compile=jit, steps_per_execution=2)
        history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, validation_split=0.2)
        return model, history.history

    assert_same_training(run(False), run(True))


def test_layers_of_several_inputs_match_finite_differences():
    """The guide's VAE encoder (Sampling takes (z_mean, z_log_var) inside it, the KL term added) and a layer of
    two inputs in a functional model, in float64, replayed as eager steps ran."""
    Encoder, Gate = _definitions()["definitions"](gpunn)[3:]
    rng = np.random.default_rng(8)
    x = rng.normal(size=(7, 4))

    def build():
        gpunn.utils.set_random_seed(9)
        inputs = gpunn.Input(shape=(4,), dtype="float64")
        z = Encoder(dtype="float64")(inputs)
        outputs = layers.Dense(4, dtype="float64")(Gate(dtype="float64")([z, layers.Dense(3, dtype="float64")(inputs)]))
        model = gpunn.Model(inputs, outputs)
        model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="mse")
        return model

    model = build()
    numeric = numerical_gradient(lambda _: model.evaluate(x, x, batch_size=7, verbose=0), model.params)
    model.train_on_batch(x, x)
    assert_gradients_close(np.array(model.grads), numeric, what="through layers of several inputs")
    # called on its own, on arrays, as Keras's eager call runs it (w starts at ones)
    np.testing.assert_allclose(Gate(dtype="float64")([x, x]), x / (1 + np.exp(-x)), rtol=1e-12)


def test_a_layer_called_twice_adds_the_losses_of_both_calls_once_each():
    """A layer of the user's called on two inputs in one model: its added losses, one per call, each counted
    once in the loss reported (and each differentiated: finite differences in float64)."""
    ActivityRegularizationLayer = _definitions()["definitions"](gpunn)[0]
    gpunn.utils.set_random_seed(4)
    shared = ActivityRegularizationLayer(0.5, dtype="float64")
    left, right = gpunn.Input(shape=(3,), dtype="float64"), gpunn.Input(shape=(3,), dtype="float64")
    dense = layers.Dense(3, dtype="float64")
    merged = layers.Add()([shared(dense(left)), shared(layers.Dense(3, dtype="float64")(right))])
    model = gpunn.Model([left, right], layers.Dense(1, dtype="float64")(merged))
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(5)
    a, b, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)), rng.normal(size=(6, 1))
    plain = float(np.mean((model.predict([a, b], verbose=0) - y) ** 2))
    first = 0.5 * np.mean(a @ model.layers[2].kernel.numpy() + model.layers[2].bias.numpy())
    second = 0.5 * np.mean(b @ model.layers[3].kernel.numpy() + model.layers[3].bias.numpy())
    assert model.evaluate([a, b], y, batch_size=6, verbose=0) == pytest.approx(plain + first + second, rel=1e-10)
    numeric = numerical_gradient(lambda _: model.evaluate([a, b], y, batch_size=6, verbose=0), model.params)
    model.train_on_batch([a, b], y)
    assert_gradients_close(np.array(model.grads), numeric, what="a layer adding losses, called twice")


def test_add_loss_takes_lists_of_tensors_and_refuses_plain_numbers():
    class Two(gpunn.layers.Layer):
        def call(self, inputs):
            self.add_loss([gpunn.ops.mean(inputs), 2.0 * gpunn.ops.mean(inputs)])
            return inputs

    class Constant(gpunn.layers.Layer):
        def call(self, inputs):
            self.add_loss(0.5)
            return inputs

    layer = Two()
    layer(np.ones((2, 3), "float32"))
    np.testing.assert_allclose(layer.losses, [1.0, 2.0])
    with pytest.raises(ValueError, match="on a tensor input. Received invalid value: 0.5"):
        Constant()(np.ones((2, 3), "float32"))
