"""Inputs given to a layer by keyword, as Keras passes keywords on to ``call()``: placed in the order of call()'s
arguments, None (or left out) taking the call's default, anything else refused by name."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers
from helpers import numpy_backend, run_keras  # noqa: F401

DEFINE = r'''
def define(keras):
    class Scale(keras.layers.Layer):
        def call(self, x, factor=None):
            return x * 2.0 if factor is None else x * factor

    class Endpoint(keras.layers.Layer):
        """keras.io's endpoint-layer pattern: a loss from the targets when given."""
        def call(self, logits, targets=None, sample_weight=None):
            if targets is not None:
                self.add_loss(keras.ops.mean(keras.ops.square(logits - targets) * sample_weight))
            return keras.ops.sigmoid(logits)

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1, kernel_initializer="ones")
            self.endpoint = Endpoint()

        def call(self, inputs):
            return self.endpoint(logits=self.dense(inputs["x"]), targets=inputs["y"], sample_weight=inputs["w"])

    x, f = keras.Input((3,)), keras.Input((3,))
    models = [keras.Model([x, f], Scale()(x, factor=f)), keras.Model(x, Scale()(x, factor=None)),
              keras.Model(x, Scale()(x=x)), keras.Model(x, keras.layers.Dense(2, kernel_initializer="ones")(inputs=x)),
              keras.Model(x, Endpoint()(keras.layers.Dense(1, kernel_initializer="ones")(x), targets=None))]
    return models, Net
'''

KERAS_SIDE = DEFINE + r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x, f = np.array(task["x"], "float32"), np.array(task["f"], "float32")
models, Net = define(keras)
out = [m.predict([x, f] if k == 0 else x, verbose=0).tolist() for k, m in enumerate(models)]
net = Net()
data = {"x": x, "y": np.ones((len(x), 1), "float32"), "w": np.full((len(x), 1), 0.5, "float32")}
net.compile(optimizer=keras.optimizers.SGD(0.1))
history = net.fit(data, epochs=2, batch_size=2, shuffle=False, verbose=0)
print(json.dumps({"predict": out, "loss": history.history["loss"]}))
'''


def test_inputs_by_keyword_equal_keras_s():
    namespace: dict = {}
    exec(DEFINE, namespace)
    rng = np.random.default_rng(0)
    x, f = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((4, 3)).astype(np.float32)
    theirs = run_keras(KERAS_SIDE, {"x": x.tolist(), "f": f.tolist()})
    models, net_class = namespace["define"](gpunn)
    for k, (model, expected) in enumerate(zip(models, theirs["predict"])):
        np.testing.assert_allclose(model.predict([x, f] if k == 0 else x, verbose=0), expected, rtol=1e-6,
                                   err_msg=f"model {k}")
    net = net_class()
    data = {"x": x, "y": np.ones((4, 1), np.float32), "w": np.full((4, 1), 0.5, np.float32)}
    net.compile(optimizer=gpunn.optimizers.SGD(0.1))
    history = net.fit(data, epochs=2, batch_size=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], theirs["loss"], rtol=1e-5)


class _Scale(layers.Layer):
    def call(self, x, factor=None, shift=None):
        return x * factor + shift


@pytest.mark.parametrize("call, message", [
    (lambda s, x: s(x, factor=2.0), r"argument 'factor' of _Scale.call\(\) is float 2.0; gpunn passes tensors"),
    (lambda s, x: s(x, scale=x), r"_Scale.call\(\) takes no argument 'scale' \(it takes \['x', 'factor', 'shift'\]\)"),
    (lambda s, x: s(x, factor=None, shift=x), r"argument 'factor' is None while \['shift'\] are given"),
    (lambda s, x: s(x, x, factor=x), r"argument 'factor' given by position and by keyword"),
    (lambda s, x: layers.Dense(2)(x, units=3), r"takes its input as `inputs`, then training and mask"),
])
def test_what_cannot_be_an_input_is_refused_by_name(call, message):
    with pytest.raises(TypeError, match=message):
        call(_Scale(), gpunn.Input((3,)))


def test_add_metric_is_refused_with_keras_3_s_message():
    with pytest.raises(NotImplementedError, match=r"Layer `add_metric\(\)` method is deprecated"):
        layers.Dense(2).add_metric(1.0)


def test_arguments_after_the_last_given_keep_their_defaults_whatever_they_are():
    class Two(layers.Layer):
        def call(self, a, b=None, c=3):
            return a + b * c if b is not None else a * c

    inputs = gpunn.Input((2,))
    model = gpunn.Model(inputs, Two()(inputs, b=inputs))
    np.testing.assert_allclose(model.predict(np.ones((1, 2), np.float32), verbose=0), [[4.0, 4.0]])
