"""keras.ops functions and array operators on a functional model's symbolic values (``layers/operation.py``):
``ops.concatenate([x, inputs], axis=-1)``, ``x * 2.0``, ``ops.exp(-y)`` between layers train, show and save as
Keras 3's operations do; their gradients match finite differences; a replayed step equals the eager one."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_gradients_close, numerical_gradient, numpy_backend, run_keras  # noqa: F401

import gpunn
from gpunn import layers, ops

BUILD = '''
def build(keras, layers, ops, dtype="float32"):
    d = dict(dtype=dtype)
    inputs = keras.Input(shape=(6,), name="features", dtype=dtype)
    h = layers.Dense(8, activation="tanh", name="h", **d)(inputs)
    wide = ops.concatenate([h, inputs[:, 1:4], inputs[..., -1:]], axis=-1)
    scaled = (wide * 0.5 + 1.0) / 3.0
    centred = scaled - ops.mean(scaled, axis=-1, keepdims=True)
    gate = ops.exp(-ops.square(centred)) * np.linspace(0.5, 1.5, 12).astype(dtype)
    g = layers.Dense(5, activation="sigmoid", name="g", **d)(2.0 - gate ** 2)
    out = layers.Dense(3, name="out", **d)(ops.concatenate([g, ops.abs(ops.max(h, axis=-1, keepdims=True))],
                                                          axis=-1))
    return keras.Model(inputs, out, name="with_ops")
'''

KERAS_SIDE = BUILD + r'''
import json, os, sys
os.environ["COLUMNS"] = "200"  # rich draws Keras's summary no wider than the terminal
import numpy as np
import keras
from keras import ops
task = json.loads(sys.stdin.read())
x, y = np.array(task["x"], dtype="float32"), np.array(task["y"], dtype="float32")
model = build(keras, keras.layers, ops)
model.set_weights([np.array(w, dtype="float32") for w in task["weights"]])
texts = []
model.summary(line_length=110, print_fn=lambda text, line_break=False: texts.append(text))
out = {"layers": [layer.name for layer in model.layers], "config": model.get_config(), "summary": texts[0],
       "operations": [op.name for op in model.operations]}
mine = keras.saving.load_model(task["dir"] + "/mine.keras")
out["mine.keras"] = mine.predict(x, verbose=0).tolist()
model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
out["loss"] = history.history["loss"]
out["trained"] = [w.tolist() for w in model.get_weights()]
out["predict"] = model.predict(x, verbose=0).tolist()
model.save(task["dir"] + "/theirs.keras")
model.save(task["dir"] + "/theirs.h5")  # Keras's legacy config names no module: operations go by class
out["json"] = model.to_json()
print(json.dumps(out))
'''


def _built(dtype="float32"):
    gpunn.backend.clear_session()  # Keras's names: "concatenate", "multiply"... as in a fresh Keras
    gpunn.utils.set_random_seed(11)
    namespace: dict = {"np": np}
    exec(BUILD, namespace)
    return namespace["build"](gpunn, layers, ops, dtype)


def _data(rows=24):
    rng = np.random.default_rng(5)
    return rng.standard_normal((rows, 6)).astype(np.float32), rng.standard_normal((rows, 3)).astype(np.float32)


def _connections(config):
    """What a functional config says of the graph: endpoints, each entry's class and inbound nodes, and the
    operations' modules and configs."""
    def operation(entry):
        return (entry["module"], entry["config"]) if entry.get("module", "").startswith("keras.src.ops") else None

    return [(entry["name"], entry["class_name"], operation(entry), entry["inbound_nodes"])
            for entry in config["layers"]], config["input_layers"], config["output_layers"]


def test_ops_between_layers_train_show_and_save_as_in_keras(tmp_path):
    x, y = _data()
    model = _built()
    model.save(tmp_path / "mine.keras")
    theirs = run_keras(KERAS_SIDE, {"x": x.tolist(), "y": y.tolist(), "dir": str(tmp_path),
                                    "weights": [w.tolist() for w in model.get_weights()]})
    assert [layer.name for layer in model.layers] == theirs["layers"] == ["features", "h", "g", "out"]
    assert [op.name for op in model.operations] == theirs["operations"]
    assert _connections(model.get_config()) == _connections(theirs["config"])
    texts = []
    model.summary(line_length=110, print_fn=texts.append)
    assert texts[0].split(" Total params")[0] == theirs["summary"].split(" Total params")[0]
    # Keras reads gpunn's file, operations and all (not an HDF5 one: Keras 3.15 reads no operation there, even
    # in its own, "Unknown layer: 'GetItem'")
    np.testing.assert_allclose(theirs["mine.keras"], model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)

    model.compile(optimizer=gpunn.optimizers.SGD(0.05), loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], theirs["loss"], rtol=1e-5)
    for ours, keras_weight in zip(model.get_weights(), theirs["trained"]):
        np.testing.assert_allclose(ours, keras_weight, rtol=1e-4, atol=1e-5)
    for name in ("theirs.keras", "theirs.h5"):  # gpunn reads Keras's
        loaded = gpunn.models.load_model(tmp_path / name)
        assert [op.name for op in loaded.operations] == theirs["operations"], name
        np.testing.assert_allclose(loaded.predict(x, verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6,
                                   err_msg=name)
    made = gpunn.models.model_from_json(theirs["json"])
    assert _connections(made.get_config()) == _connections(theirs["config"])


def test_config_json_clone_and_files_keep_the_operations(tmp_path):
    model = _built()
    x, _ = _data(9)
    expected = model.predict(x, verbose=0)
    config = model.get_config()
    clone = gpunn.models.clone_model(model)
    for again in (gpunn.Model.from_config(config), gpunn.models.model_from_json(model.to_json()), clone):
        assert again.get_config() == config
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(x, verbose=0), expected)
    for name in ("m.keras", "m.h5", "m.safetensors"):
        model.save(tmp_path / name)
        loaded = gpunn.models.load_model(tmp_path / name)
        assert loaded.get_config() == config, name
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected, err_msg=name)


def test_gradients_through_operations_match_finite_differences():
    model = _built("float64")
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((5, 6)), rng.standard_normal((5, 3))

    def objective(_):
        return ((model.predict(x, verbose=0) - y) ** 2).mean()

    numeric = numerical_gradient(objective, model.params)
    assert np.count_nonzero(numeric) == numeric.size
    model.train_on_batch(x, y)
    assert_gradients_close(np.array(model.grads), numeric, what="d loss / d params through the operations")


def test_a_replayed_step_equals_the_eager_one_bit_for_bit():
    x, y = _data(40)
    runs = []
    for jit in (False, True):
        model = _built()
        model.compile(optimizer="adam", loss="mse", jit_compile=jit)
        model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)  # two full batches, a partial one
        runs.append(model.get_weights())
    for eager, replayed in zip(*runs):
        np.testing.assert_array_equal(eager, replayed)


def test_a_subclassed_model_may_call_ops_on_its_layers_outputs():
    class Gated(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(4, activation="relu")
            self.head = layers.Dense(1)

        def call(self, inputs):
            h = self.hidden(inputs)
            return self.head(ops.concatenate([h, ops.sigmoid(h) * 0.5], axis=-1))

    gpunn.utils.set_random_seed(3)
    model = Gated()
    x, _ = _data(7)
    out = model.predict(x, verbose=0)
    kernel, bias = model.hidden.get_weights()
    h = np.maximum(x @ kernel + bias, 0)
    features = np.concatenate([h, 0.5 / (1 + np.exp(-h))], axis=-1)
    head_kernel, head_bias = model.head.get_weights()
    np.testing.assert_allclose(out, features @ head_kernel + head_bias, rtol=1e-5, atol=1e-6)
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Dense", "Dense"]
    assert [op.keras_class for op in model.operations if hasattr(op, "keras_class")] == [
        "Sigmoid", "Multiply", "Concatenate"]


def test_the_array_operators_record_keras_operations():
    inputs = gpunn.Input(shape=(4,))
    other = gpunn.Input(shape=(1,))
    cases = {"Add": inputs + 1, "Subtract": 1.0 - inputs, "Multiply": inputs * np.ones(4, "float32"),
             "TrueDivide": inputs / 2, "Power": inputs ** 2, "Negative": -inputs, "Absolute": abs(inputs),
             "Matmul": inputs @ np.ones((4, 2), "float32"), "GetItem": inputs[:, 1:3]}
    for keras_class, value in cases.items():
        assert value.layer.keras_class == keras_class
    assert (inputs @ np.ones((4, 2), "float32")).shape == (None, 2)
    assert inputs[:, 1:3].shape == (None, 2) and inputs[..., None].shape == (None, 4, 1)
    assert type((inputs + inputs).layer).__name__ == "Add"  # two values of one shape: the merge layer
    assert (inputs * other).layer.keras_class == "Multiply"  # broadcasting: the operation
    assert (inputs * other).shape == (None, 4)
    assert (np.full(4, 2.0, "float32") * inputs).layer.keras_class == "Multiply"  # NumPy hands over to ours
    for keras_class, value in {"Less": inputs < 0, "GreaterEqual": inputs >= other, "LogicalNot": ~(inputs > 0),
                               "LogicalAnd": (inputs > 0) & (inputs < 1), "LogicalOr": (inputs > 0) | (inputs < 1),
                               "FloorDivide": inputs // 2, "Mod": 3 % inputs, "Round": round(inputs)}.items():
        assert value.layer.keras_class == keras_class


def test_what_operations_cannot_be_is_refused_by_name():
    inputs = gpunn.Input(shape=(6,))
    with pytest.raises(TypeError, match="gpunn.ops.cast does not run on a model's symbolic values"):
        ops.cast(inputs, "float64")
    with pytest.raises(ValueError, match="gpunn.ops.split returns 2 values"):
        ops.split(inputs, 2, axis=-1)
    with pytest.raises(ValueError, match="gpunn.ops.one_hot: takes no sparse=True"):
        ops.one_hot(inputs, 3, sparse=True)
    with pytest.raises(TypeError, match="gpunn.ops.add: an operation on a model's symbolic values takes numbers"):
        ops.add(inputs, object())
    with pytest.raises(TypeError, match="gpunn.ops.mean: .*unexpected keyword argument 'axes'"):
        ops.mean(inputs, axes=1)


def test_a_keras_config_with_an_operation_gpunn_lacks_is_refused_by_name():
    config = _built().get_config()
    entry = next(e for e in config["layers"] if e.get("class_name") == "Exp")
    entry["class_name"] = entry["registered_name"] = "Expm1Twice"
    with pytest.raises(ValueError, match="keras.src.ops.numpy.Expm1Twice\\): gpunn has no such keras.ops"):
        gpunn.Model.from_config(config)


def test_ops_still_compute_on_arrays_and_in_layers_of_the_users():
    np.testing.assert_allclose(ops.concatenate([np.ones((2, 1)), np.zeros((2, 1))], axis=-1), [[1, 0], [1, 0]])

    class Scale(layers.Layer):
        def call(self, x):
            return ops.concatenate([x, x * 2.0], axis=-1)

    inputs = gpunn.Input(shape=(3,))
    model = gpunn.Model(inputs, Scale()(inputs))
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(model.predict(x, verbose=0), np.concatenate([x, 2 * x], axis=-1))
