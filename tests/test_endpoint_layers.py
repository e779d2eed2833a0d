"""Keras's "endpoint layer" pattern (guide "Training & evaluation with built-in methods"): a layer of the user's
whose ``call(targets, logits, sample_weights=None)`` takes several tensors as arguments and gives ``add_loss``
the loss, in a model compiled without a loss and fitted without ``y``. Checked against Keras 3 on the same
weights and batches."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend, run_keras  # noqa: F401

import gpunn
from gpunn import ops

ENDPOINT = '''
class LogisticEndpoint(keras.layers.Layer):
    def __init__(self, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

    def call(self, targets, logits, sample_weights=None):
        loss = self.loss_fn(targets, logits, sample_weights)
        self.add_loss(loss)
        return ops.softmax(logits)


def build(keras):
    inputs = keras.Input(shape=(3,), name="inputs")
    targets = keras.Input(shape=(10,), name="targets")
    logits = keras.layers.Dense(10, name="logits")(inputs)
    predictions = LogisticEndpoint(name="predictions")(targets, logits)
    return keras.Model(inputs=[inputs, targets], outputs=predictions)
'''

KERAS_SIDE = r'''
import json, sys
import numpy as np
import keras
from keras import ops
task = json.loads(sys.stdin.read())
''' + ENDPOINT + r'''
model = build(keras)
model.set_weights([np.array(w, dtype="float32") for w in task["weights"]])
model.compile(optimizer=keras.optimizers.SGD(0.5))  # no loss argument
data = {"inputs": np.array(task["x"], dtype="float32"), "targets": np.array(task["t"], dtype="float32")}
history = model.fit(data, batch_size=4, epochs=3, shuffle=False, verbose=0)
print(json.dumps({"loss": history.history["loss"], "weights": [w.tolist() for w in model.get_weights()],
                  "evaluate": model.evaluate(data, verbose=0), "predict": model.predict(data, verbose=0).tolist(),
                  "layers": [layer.name for layer in model.layers]}))
'''


def _namespace() -> dict:
    namespace: dict = {"keras": gpunn, "ops": ops}
    exec(ENDPOINT, namespace)
    return namespace


def _data():
    rng = np.random.default_rng(3)
    return rng.standard_normal((12, 3)).astype(np.float32), rng.random((12, 10)).astype(np.float32)


def test_an_endpoint_layer_trains_a_model_compiled_without_a_loss_as_in_keras(tmp_path):
    gpunn.utils.set_random_seed(4)
    model = _namespace()["build"](gpunn)
    x, t = _data()
    theirs = run_keras(KERAS_SIDE, {"x": x.tolist(), "t": t.tolist(), "weights": [w.tolist() for w in
                                                                                   model.get_weights()]})
    assert [layer.name for layer in model.layers] == theirs["layers"]
    model.compile(optimizer=gpunn.optimizers.SGD(0.5))
    data = {"inputs": x, "targets": t}
    history = model.fit(data, batch_size=4, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], theirs["loss"], rtol=1e-5)
    for ours, keras_weight in zip(model.get_weights(), theirs["weights"]):
        np.testing.assert_allclose(ours, keras_weight, rtol=1e-5, atol=1e-6)
    assert model.evaluate(data, verbose=0) == pytest.approx(theirs["evaluate"], rel=1e-5)
    np.testing.assert_allclose(model.predict(data, verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6)


def test_its_steps_replay_and_its_files_keep_the_call_on_two_tensors(tmp_path):
    namespace = _namespace()
    x, t = _data()
    data = {"inputs": x, "targets": t}
    runs = []
    for jit in (False, True):
        gpunn.utils.set_random_seed(4)
        model = namespace["build"](gpunn)
        model.compile(optimizer="adam", jit_compile=jit)
        model.fit(data, batch_size=5, epochs=2, shuffle=False, verbose=0)
        runs.append(model)
    for eager, replayed in zip(runs[0].get_weights(), runs[1].get_weights()):
        np.testing.assert_array_equal(eager, replayed)
    model = runs[0]
    node = next(e for e in model.get_config()["layers"] if e["name"] == "predictions")["inbound_nodes"][0]
    assert [arg["config"]["keras_history"][0] for arg in node["args"]] == ["targets", "logits"]  # as Keras writes
    model.save(tmp_path / "m.keras")
    loaded = gpunn.models.load_model(tmp_path / "m.keras",
                                     custom_objects={"LogisticEndpoint": namespace["LogisticEndpoint"]})
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))


def test_a_model_without_a_loss_or_added_losses_still_asks_for_one():
    inputs = gpunn.Input(shape=(3,))
    model = gpunn.Model(inputs, gpunn.layers.Dense(1)(inputs))
    model.compile(optimizer="adam")
    with pytest.raises(RuntimeError, match="compiled without a loss, and none of its layers gives add_loss one"):
        model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)


def test_what_a_model_without_a_loss_cannot_take_is_refused_by_name():
    namespace = _namespace()
    x, t = _data()
    data = {"inputs": x, "targets": t}
    model = namespace["build"](gpunn)
    model.compile(optimizer="adam", metrics=["mae"])
    with pytest.raises(ValueError, match="compiled without a loss but with metrics"):
        model.fit(data, t, verbose=0)
    model.compile(optimizer="adam", metrics=[])  # (without metrics=, a compile keeps the model's, as Keras 3's)
    with pytest.raises(ValueError, match="class_weight: the model was compiled without a loss"):
        model.fit(data, class_weight={0: 1.0}, verbose=0)
    inputs, targets = gpunn.Input(shape=(3,), name="inputs"), gpunn.Input(shape=(10,), name="targets")
    logits = gpunn.layers.Dense(10)(inputs)
    two = gpunn.Model([inputs, targets], [namespace["LogisticEndpoint"]()(targets, logits), logits])
    two.compile(optimizer="adam")
    with pytest.raises(ValueError, match="several outputs and was compiled without a loss"):
        two.fit(data, verbose=0)


def test_validation_data_of_a_model_without_a_loss_is_x_alone_as_in_keras():
    namespace = _namespace()
    x, t = _data()
    data = {"inputs": x, "targets": t}
    losses = []
    for validation_data in ((data,), data, (data, None)):
        gpunn.utils.set_random_seed(4)
        model = namespace["build"](gpunn)
        model.compile(optimizer=gpunn.optimizers.SGD(0.5))
        history = model.fit(data, batch_size=4, epochs=2, shuffle=False, verbose=0, validation_data=validation_data)
        losses.append(history.history["val_loss"])
    assert losses[0] == losses[1] == losses[2]


def test_a_subclassed_model_with_an_endpoint_layer_trains_before_it_has_seen_data():
    namespace = _namespace()

    class WithEndpoint(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.logits = gpunn.layers.Dense(10)
            self.endpoint = namespace["LogisticEndpoint"]()

        def call(self, inputs):
            return self.endpoint(inputs["targets"], self.logits(inputs["inputs"]))

    x, t = _data()
    model = WithEndpoint()
    model.compile(optimizer="adam")  # not built yet: whether a layer adds a loss is known once it is
    history = model.fit({"inputs": x, "targets": t}, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and history.history["loss"][1] < history.history["loss"][0]


SPREAD = '''
class Scaled(keras.layers.Layer):
    def build(self, a_shape, b_shape):  # Keras gives each argument's shape by name
        self.w = self.add_weight(shape=(a_shape[-1],), initializer="ones")

    def call(self, a, b):
        return a * self.w + b


class FirstShape(keras.layers.Layer):
    def build(self, input_shape):  # ... or the first one's to a build of one parameter
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, a, b):
        return a * self.w - b


class Optional(keras.layers.Layer):
    def call(self, logits, targets=None):
        return logits if targets is None else logits + targets


class Moded(keras.layers.Layer):
    def call(self, inputs, training):
        return inputs * (2.0 if training else 1.0)


def outputs(keras):
    a, b = keras.Input(shape=(3,)), keras.Input(shape=(3,))
    return [a, b], [Scaled()(a, b), FirstShape()(a, b), Optional()(a, b)]
'''

KERAS_SPREAD = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
''' + SPREAD + r'''
inputs, outs = outputs(keras)
model = keras.Model(inputs, outs)
x = [np.array(v, dtype="float32") for v in task["x"]]
print(json.dumps([p.tolist() for p in model.predict(x, verbose=0)]))
'''


def test_layers_taking_several_arguments_build_and_call_as_in_keras():
    namespace: dict = {"keras": gpunn}
    exec(SPREAD, namespace)
    inputs, outs = namespace["outputs"](gpunn)
    model = gpunn.Model(inputs, outs)
    rng = np.random.default_rng(9)
    x = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(2)]
    theirs = run_keras(KERAS_SPREAD, {"x": [v.tolist() for v in x]})
    for ours, keras_output in zip(model.predict(x, verbose=0), theirs):
        np.testing.assert_allclose(ours, keras_output, rtol=1e-6)
    moded = namespace["Moded"]()  # a call(inputs, training) without a default takes one input, and training
    np.testing.assert_array_equal(moded(x[0], True), 2 * x[0])
    fixed = gpunn.Model(inputs[0], moded(inputs[0], True))
    np.testing.assert_array_equal(fixed.predict(x[0], verbose=0), 2 * x[0])
