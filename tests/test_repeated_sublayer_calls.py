"""A layer called more than once inside one call() of the user's (``gpunn/layers/repeated_sublayer_calls.py``):
the same weights at each call, their gradients summed, as Keras computes them."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers

from helpers import assert_gradients_close, numerical_gradient, numpy_backend, run_keras  # noqa: F401

_DEFINITIONS = """
class Twice(keras.layers.Layer):
    '''The guide's CustomRNN in small: one Dense applied again to its own output.'''
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.step = keras.layers.Dense(4, activation="tanh")

    def call(self, x):
        return self.step(self.step(x))


class Tower(keras.layers.Layer):
    '''One tower for both halves of the input (a siamese layer), three calls with a Dropout between.'''
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.tower = keras.layers.Dense(4, activation="relu")
        self.drop = keras.layers.Dropout(0.0)

    def call(self, x):
        left, right = x[:, :4], x[:, 4:]
        return self.tower(left) - self.tower(right) + self.drop(self.tower(left * 0.5))
"""


def _definitions(module):
    namespace = {"keras": module}
    exec(_DEFINITIONS, namespace)
    return namespace["Twice"], namespace["Tower"]


def _model(module, dtype="float32"):
    Twice, Tower = _definitions(module)
    return module.Sequential([module.Input((8,), dtype=dtype), Tower(dtype=dtype), Twice(dtype=dtype),
                              module.layers.Dense(2, dtype=dtype)])


def test_gradients_of_every_call_add_up_as_finite_differences_say():
    gpunn.utils.set_random_seed(1)
    model = _model(gpunn, "float64")
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(6, 8)), rng.normal(size=(6, 2))

    def objective(_):
        return ((gpunn.ops.convert_to_numpy(model(x)) - y) ** 2).mean()

    numeric = numerical_gradient(objective, model.params)
    model.train_on_batch(x, y)
    assert_gradients_close(np.array(model.grads), numeric, what="d loss / d params of layers called repeatedly")


_KERAS_TRAINING = """
import json, sys, numpy as np, keras
""" + _DEFINITIONS + """
task = json.load(sys.stdin)
model = keras.Sequential([keras.Input((8,)), Tower(), Twice(), keras.layers.Dense(2)])
model.set_weights([np.asarray(w, "float32") for w in task["weights"]])
model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
history = model.fit(np.asarray(task["x"], "float32"), np.asarray(task["y"], "float32"), batch_size=8, epochs=3,
                    shuffle=False, verbose=0)
print(json.dumps({"loss": history.history["loss"], "weights": [w.tolist() for w in model.get_weights()]}))
"""


@pytest.mark.parametrize("jit", [False, True])
def test_training_equals_keras(jit):
    gpunn.utils.set_random_seed(3)
    model = _model(gpunn)
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(32, 8)).astype(np.float32), rng.normal(size=(32, 2)).astype(np.float32)
    start = [w.tolist() for w in model.get_weights()]
    model.compile(optimizer=gpunn.optimizers.Adam(0.01), loss="mse", jit_compile=jit)
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    keras = run_keras(_KERAS_TRAINING, {"weights": start, "x": x.tolist(), "y": y.tolist()})
    np.testing.assert_allclose(history.history["loss"], keras["loss"], rtol=2e-5)
    for ours, theirs in zip(model.get_weights(), keras["weights"]):
        np.testing.assert_allclose(ours, theirs, rtol=2e-4, atol=2e-6)


def test_a_layer_holding_layers_called_twice_computes_as_its_layers_applied_twice():
    class Block(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = layers.Dense(3)

        def call(self, x):
            return self.inner(x)

    class Outer(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.block = Block(name="block")

        def call(self, x):
            return self.block(self.block(x))

    model = gpunn.Sequential([gpunn.Input((3,)), Outer(name="outer")])
    kernel = np.random.default_rng(0).normal(size=(3, 3)).astype("float32")
    model.set_weights([kernel, np.full(3, 0.5, "float32")])
    x = np.random.default_rng(1).normal(size=(4, 3)).astype("float32")
    once = x @ kernel + 0.5
    np.testing.assert_allclose(model.predict(x, verbose=0), once @ kernel + 0.5, rtol=1e-5)
    # each call's gradient reaches the one kernel: d/dW of sum((xW + b)W + b) as the two calls' sum
    model.compile(optimizer=gpunn.optimizers.SGD(1.0), loss=lambda y, p: gpunn.ops.sum(p, axis=-1))
    model.fit(x, np.zeros((4, 3), "float32"), batch_size=4, epochs=1, shuffle=False, verbose=0)
    ones = np.ones((4, 3), "float32")
    expected = x.T @ (ones @ kernel.T) / 4 + once.T @ ones / 4
    np.testing.assert_allclose(model.get_weights()[0], kernel - expected, rtol=1e-4, atol=1e-5)


def test_a_replayed_step_equals_the_eager_one_bit_for_bit():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(24, 8)).astype(np.float32), rng.normal(size=(24, 2)).astype(np.float32)
    results = []
    for jit in (False, True):
        gpunn.utils.set_random_seed(6)
        model = _model(gpunn)
        model.compile(optimizer="adam", loss="mse", jit_compile=jit)
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        results.append(model.get_weights())
    for eager, replayed in zip(*results):
        np.testing.assert_array_equal(eager, replayed)


def test_a_layer_holding_a_model_in_a_list_called_twice_is_refused_by_name():
    """Twins copy layers only: a model held anywhere below the layer (here in a list) would be shared by both
    calls, so the second call is refused rather than computed on the first one's buffers."""

    class Block(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.parts = [gpunn.Sequential([layers.Dense(3)])]

        def call(self, x):
            return self.parts[0](x)

    block = Block(name="block")
    inputs = gpunn.Input((3,))
    with pytest.raises(ValueError, match="layer 'block' holds model .* and is called more than once"):
        gpunn.Model(inputs, block(block(inputs))).predict(np.ones((2, 3), np.float32), verbose=0)
