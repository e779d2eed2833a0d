"""A layer of the user's called on a dict of a model's inputs (keras-io's structured-data tutorial:
``output = Classifier()(all_inputs)``, its ``call(self, inputs)`` concatenating ``inputs.values()``): built with the
dict of their shapes, called with the dict, trained as Keras trains it, and its files read both ways (Keras's
node ``{"args": [{name: tensor}]}``). Checked against Keras 3 on jax.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from helpers import run_keras  # noqa: E402

import gpunn  # noqa: E402

SCRIPT = '''
def definitions(keras):
    layers = keras.layers

    class Classifier(layers.Layer):  # the tutorial's, with a record of the shapes build() got
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense_1 = layers.Dense(8, activation="relu")
            self.dense_2 = layers.Dense(1, activation="sigmoid")

        def call(self, inputs):
            all_features = layers.concatenate(list(inputs.values()))
            return self.dense_2(self.dense_1(all_features))

        def build(self, input_shape):
            self.seen = {key: list(value) for key, value in input_shape.items()}
            self.built = True

    return Classifier


def run(keras, data, y, tmp):
    Classifier = definitions(keras)
    keras.utils.set_random_seed(0)
    inputs = {"age": keras.Input(name="age", shape=(1,)), "thal": keras.Input(name="thal", shape=(3,))}
    classifier = Classifier(name="classifier")
    model = keras.Model(inputs, classifier(inputs))
    rng = np.random.default_rng(4)
    model.set_weights([(rng.standard_normal(w.shape) * 0.5).astype("float32") for w in model.get_weights()])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
    history = model.fit(data, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    model.save(tmp + "/model.keras")
    return {"loss": [float(v) for v in history.history["loss"]], "seen": classifier.seen,
            "predict": model.predict(data, verbose=0).tolist()}
'''

KERAS_SIDE = SCRIPT + r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
data = {key: np.array(value, "float32") for key, value in task["data"].items()}
out = run(keras, data, np.array(task["y"], "float32"), task["dir"] + "/keras")
mine = keras.saving.load_model(task["dir"] + "/gpunn/model.keras", custom_objects={"Classifier": definitions(keras)})
out["gpunn's file"] = mine.predict(data, verbose=0).tolist()
print(json.dumps(out))
'''


def test_a_layer_called_on_a_dict_trains_and_saves_as_in_keras(tmp_path):
    rng = np.random.default_rng(2)
    data = {"age": rng.standard_normal((16, 1)).astype("float32"),
            "thal": np.eye(3, dtype="float32")[rng.integers(0, 3, 16)]}
    y = rng.integers(0, 2, 16).astype("float32")
    for side in ("gpunn", "keras"):
        (tmp_path / side).mkdir()
    namespace: dict = {"np": np}
    exec(SCRIPT, namespace)
    ours = namespace["run"](gpunn, data, y, str(tmp_path / "gpunn"))
    theirs = run_keras(KERAS_SIDE, {"data": {k: v.tolist() for k, v in data.items()}, "y": y.tolist(),
                                    "dir": str(tmp_path)})
    assert ours["seen"] == theirs["seen"] == {"age": [None, 1], "thal": [None, 3]}
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-5)
    np.testing.assert_allclose(ours["predict"], theirs["predict"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(theirs["gpunn's file"], ours["predict"], rtol=1e-5, atol=1e-6)  # Keras loads ours
    classifier = namespace["definitions"](gpunn)
    for side in ("gpunn", "keras"):
        loaded = gpunn.models.load_model(tmp_path / side / "model.keras", custom_objects={"Classifier": classifier})
        np.testing.assert_allclose(loaded.predict(data, verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6,
                                   err_msg=side)


def test_a_layer_called_on_a_dict_of_arrays_gets_the_dict_as_keras_s_eager_call_gives_it():
    class Two(gpunn.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = gpunn.layers.Dense(2, kernel_initializer="ones")

        def call(self, inputs):
            return self.dense(gpunn.ops.concatenate([inputs["a"], inputs["b"]], axis=-1))

    layer = Two()
    ones_a, ones_b = np.ones((3, 1), "float32"), np.ones((3, 2), "float32")
    np.testing.assert_array_equal(layer({"a": ones_a, "b": ones_b}), np.full((3, 2), 3.0))
    # the keys in another order: each value still reaches its key
    np.testing.assert_array_equal(layer({"b": ones_b, "a": np.zeros((3, 1), "float32")}), np.full((3, 2), 2.0))


def test_a_dict_of_arrays_keeps_keys_that_are_not_strings():
    class Sum(gpunn.layers.Layer):
        def call(self, inputs):
            return inputs[0] + inputs[1]

    np.testing.assert_array_equal(Sum()({0: np.ones((2, 2)), 1: np.ones((2, 2))}), np.full((2, 2), 2.0))


def test_each_eager_call_hands_the_dict_in_the_order_it_was_given():
    class Joined(gpunn.layers.Layer):
        def call(self, inputs):
            return gpunn.ops.concatenate([inputs[key] for key in inputs], axis=-1)

    ones, fives = np.ones((2, 3), "float32"), np.full((2, 3), 5.0, "float32")
    layer = Joined()
    assert np.asarray(layer({"b": fives, "a": ones}))[0].tolist() == [5.0] * 3 + [1.0] * 3
    assert np.asarray(layer({"a": ones, "b": fives}))[0].tolist() == [1.0] * 3 + [5.0] * 3
