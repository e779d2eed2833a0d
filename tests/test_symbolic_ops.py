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
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]  # Keras's: what it holds
    assert [type(layer).__name__ for layer in model._graph_layers] == ["InputLayer", "Dense", "Dense"]
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
    with pytest.raises(TypeError, match="gpunn.ops.convert_to_numpy does not run on a model's symbolic values"):
        ops.convert_to_numpy(inputs)
    with pytest.raises(ValueError, match="gpunn.ops.split returns 2 values"):
        ops.split(inputs, 2, axis=-1)
    with pytest.raises(ValueError, match="gpunn.ops.one_hot on symbolic .*sparse: gpunn's arrays are dense"):
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


def test_every_operation_takes_keras_s_parameters():
    """An operation read from a Keras config calls gpunn.ops's function with Keras's parameter names: each
    function takes them all (or takes ``*args``), but for the ones gpunn leaves at Keras's default."""
    import inspect

    from gpunn.layers.keras_operations import OPERATIONS

    missing = {}
    for name, (_, _, parameters, _, _, _) in OPERATIONS.items():
        signature = inspect.signature(ops._unwrapped[name]).parameters
        if any(p.kind is p.VAR_POSITIONAL for p in signature.values()):
            continue
        missing.update({(name, p): default for p, default, _ in parameters if p not in signature})
        required = [p for p, q in signature.items() if q.default is q.empty and q.kind is not q.VAR_KEYWORD]
        assert set(required) <= {p for p, _, _ in parameters}, name
    assert missing == {("top_k", "is_stable"): True}


def test_keras_s_sub_namespaces_hold_the_same_functions():
    from gpunn.ops import linalg, nn

    assert nn.sigmoid is ops.sigmoid and ops.numpy.mean is ops.mean and linalg.norm is ops.norm
    inputs = gpunn.Input(shape=(3,))
    assert nn.relu(inputs).layer.keras_class == "Relu"  # on symbolic values, operations too
    assert not hasattr(nn, "mean") and not hasattr(ops.numpy, "relu")  # Keras's names only


def test_hdf5_files_tell_operations_from_layers_of_the_same_class_name(tmp_path):
    """A legacy (HDF5) config names no module: Reshape and Softmax are both layers and operations, told apart by
    their configs."""
    inputs = gpunn.Input(shape=(6,))
    h = layers.Softmax(name="soft")(layers.Dense(6, name="h")(inputs))
    shaped = layers.Reshape((2, 3), name="shaped")(h)
    flat = layers.Flatten(name="flat")(ops.softmax(ops.reshape(shaped, (-1, 6)) * 2.0))
    model = gpunn.Model(inputs, layers.Dense(2, name="out")(flat))
    x = np.random.default_rng(1).standard_normal((5, 6)).astype(np.float32)
    model.save(tmp_path / "m.h5")
    loaded = gpunn.models.load_model(tmp_path / "m.h5")
    assert [type(layer).__name__ for layer in loaded.layers] == ["InputLayer", "Dense", "Softmax", "Reshape",
                                                                 "Flatten", "Dense"]
    assert [op.keras_class for op in loaded.operations if hasattr(op, "keras_class")] == [
        "Reshape", "Multiply", "Softmax"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_model_with_operations_called_twice_in_another_saves_and_loads(tmp_path):
    i0 = gpunn.Input(shape=(4,))
    inner = gpunn.Model(i0, layers.Dense(3, name="d")(i0) * 2.0 + ops.mean(i0, axis=-1, keepdims=True))
    inputs = gpunn.Input(shape=(4,))
    model = gpunn.Model(inputs, layers.Dense(1, name="out")(ops.concatenate([inner(inputs), inner(-inputs)],
                                                                            axis=-1)))
    x = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    for again in (gpunn.Model.from_config(model.get_config()), gpunn.models.model_from_json(model.to_json())):
        again.set_weights(model.get_weights())
        np.testing.assert_allclose(again.predict(x, verbose=0), expected, rtol=1e-6)
    model.save(tmp_path / "m.keras")
    np.testing.assert_array_equal(gpunn.models.load_model(tmp_path / "m.keras").predict(x, verbose=0), expected)


KERAS_NESTED = r'''
import json, sys
import numpy as np
import keras
from keras import layers, ops
task = json.loads(sys.stdin.read())
keras.utils.set_random_seed(3)
i0 = keras.Input(shape=(6,))
t, u = layers.Dense(6, name="t")(i0), layers.Dense(6, name="u")(i0)
inner = keras.Model(i0, ops.where(t > u, 0.5, t * 2.0), name="inner")
inputs = keras.Input(shape=(6,))
model = keras.Model(inputs, layers.Dense(2, name="out")(inner(inputs)))
model.save(task["file"])
print(json.dumps(model.predict(np.array(task["x"], dtype="float32"), verbose=0).tolist()))
'''


def test_operations_inside_a_model_keras_called_in_another_keep_their_constants(tmp_path):
    x = np.random.default_rng(4).standard_normal((5, 6)).astype(np.float32)
    theirs = run_keras(KERAS_NESTED, {"x": x.tolist(), "file": str(tmp_path / "nested.keras")})
    loaded = gpunn.models.load_model(tmp_path / "nested.keras")
    assert [op.name for op in loaded.operations][1:] == ["inner", "out"]  # (as Keras lists them)
    where = next(op for op in loaded.get_layer("inner").operations if getattr(op, "operation", None) == "where")
    assert where.arguments["x1"] == 0.5
    np.testing.assert_allclose(loaded.predict(x, verbose=0), theirs, rtol=1e-5, atol=1e-6)


SUBCLASS = '''
class Branches(keras.Model):
    def __init__(self):
        super().__init__()
        self.a = layers.Dense(5, activation="relu")
        self.b = layers.Dense(5)
        self.out = layers.Dense(2)

    def call(self, x):
        return self.out(ops.concatenate([self.a(x), ops.sigmoid(self.b(x))], axis=-1))
'''

KERAS_SUBCLASSED = r'''
import json, sys
import numpy as np
import keras
from keras import layers, ops
task = json.loads(sys.stdin.read())
''' + SUBCLASS + r'''
model = Branches()
x = np.array(task["x"], dtype="float32")
model(x)
model.set_weights([np.array(w, dtype="float32") for w in task["weights"]])
print(json.dumps({"predict": model.predict(x, verbose=0).tolist(),
                  "shapes": [list(w.shape) for w in model.get_weights()]}))
'''


def test_a_subclassed_model_lists_its_weights_in_the_order_it_set_its_layers():
    """Keras orders a subclass's weights by its attributes; its graph (here `b` reached through an operation)
    does not change that, so weights move between Keras and gpunn with set_weights."""
    namespace: dict = {"keras": gpunn, "layers": layers, "ops": ops}
    exec(SUBCLASS, namespace)
    model = namespace["Branches"]()
    x = np.random.default_rng(5).standard_normal((4, 6)).astype(np.float32)
    model(x)
    weights = model.get_weights()
    np.testing.assert_array_equal(weights[0], model.a.get_weights()[0])
    np.testing.assert_array_equal(weights[2], model.b.get_weights()[0])
    theirs = run_keras(KERAS_SUBCLASSED, {"x": x.tolist(), "weights": [w.tolist() for w in weights]})
    assert theirs["shapes"] == [list(w.shape) for w in weights]
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6)
    model.set_weights([w + 1 for w in weights])  # set_weights takes them in that order too
    np.testing.assert_array_equal(model.a.get_weights()[0], weights[0] + 1)


def test_a_symbolic_value_is_not_iterable_and_the_batch_axis_is_checked_on_two_batch_sizes():
    inputs = gpunn.Input(shape=(2,))
    with pytest.raises(NotImplementedError, match="Iterating over a symbolic KerasTensor is not supported"):
        a, b = inputs
    with pytest.raises(ValueError, match=r"gpunn.ops.sum on a model's symbolic values returned shape \(2,\) for a "
                                         "batch of 3"):
        ops.sum(inputs, axis=0)  # (2, 2) on the first trial batch: the second tells the axes apart
    with pytest.raises(ValueError, match=r"gpunn.ops.matmul on symbolic values of shapes \(None, 2\) .*trial batch"):
        inputs @ np.ones((5, 2), "float32")


def test_more_operations_run_on_symbolic_values_and_keep_their_arguments(tmp_path):
    inputs = gpunn.Input(shape=(6,))
    assert ops.shape(inputs) == (None, 6)
    parts = [ops.einsum("bi,ij->bj", inputs, np.ones((6, 3), "float32")), ops.cast(inputs, "float32"),
             ops.pad(inputs, ((0, 0), (1, 2))), ops.norm(inputs, axis=-1, keepdims=True), ops.erf(inputs),
             ops.nn.relu(inputs), ops.clip(inputs, -0.5, 0.5)]
    model = gpunn.Model(inputs, layers.Dense(1)(ops.concatenate(parts, axis=-1)))
    x = np.random.default_rng(6).standard_normal((4, 6)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = gpunn.models.load_model(tmp_path / "m.keras")
    assert [op.keras_class for op in loaded.operations if hasattr(op, "keras_class")] == [
        "Einsum", "Cast", "Pad", "Norm", "Erf", "Relu", "Clip", "Concatenate"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)


def test_the_special_functions_run_on_symbolic_values_and_keras_loads_them(tmp_path):
    inputs = gpunn.Input(shape=(4,))
    parts = [ops.erfc(inputs), ops.sinc(inputs), ops.logaddexp2(inputs, 0.5), ops.fmax(inputs, 0.1),
             ops.fmin(inputs, 0.2), ops.fmod(inputs, 0.7), ops.i0(inputs)]
    model = gpunn.Model(inputs, layers.Dense(1)(ops.concatenate(parts, axis=-1)))
    x = np.random.default_rng(8).standard_normal((5, 4)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "special.keras")
    loaded = gpunn.models.load_model(tmp_path / "special.keras")
    assert [op.keras_class for op in loaded.operations if hasattr(op, "keras_class")] == [
        "Erfc", "Sinc", "Logaddexp2", "Fmax", "Fmin", "Fmod", "I0", "Concatenate"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    script = """
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
model = keras.models.load_model(task["path"])
print(json.dumps(np.asarray(model.predict(np.array(task["x"], "float32"), verbose=0)).tolist()))
"""
    theirs = run_keras(script, {"path": str(tmp_path / "special.keras"), "x": x.tolist()})
    np.testing.assert_allclose(expected, np.asarray(theirs), rtol=1e-5, atol=1e-6)


def test_integers_beyond_the_model_s_exact_range_are_refused():
    inputs = gpunn.Input(shape=(1,), dtype="int32")
    model = gpunn.Model(inputs, ops.mod(inputs, 1000))
    np.testing.assert_array_equal(model.predict(np.array([[16777216], [12345]]), verbose=0)[:, 0], [216, 345])
    with pytest.raises(ValueError, match="integers reach the model as float32, exact up to 16,777,216; got "
                                         r"np.int64\(16777217\) at index \(0, 0\)"):
        model.predict(np.array([[16777217]]), verbose=0)


def test_gpunn_ops_functions_pickle_by_name():
    import pickle

    assert pickle.loads(pickle.dumps(ops.mean)) is ops.mean


def test_a_subclassed_model_s_weights_files_load_into_the_layers_they_came_from(tmp_path):
    """Files key weights by the layers' places in the graph; ``get_weights`` lists them in attribute order: a
    subclass whose attributes come in another order than its calls reads back what it wrote."""
    class Inner(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.late = layers.Dense(3)
            self.early = layers.Dense(3)

        def call(self, x):
            return self.late(self.early(x))

    class Outer(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.head = layers.Dense(2)
            self.inner = Inner()

        def call(self, x):
            return self.head(self.inner(x))

    x, _ = _data(5)
    model = Outer()
    model(x)
    # Keras's order: head, then the inner model's attributes (late, early), whatever the graph's
    expected = [model.head, model.inner.late, model.inner.early]
    for k, layer in enumerate(expected):
        np.testing.assert_array_equal(model.get_weights()[2 * k], layer.get_weights()[0])
    for name in ("w.weights.h5", "w.safetensors"):
        model.save_weights(tmp_path / name)
        again = Outer()
        again(x)
        again.load_weights(tmp_path / name)
        np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0), err_msg=name)


def test_integers_a_float_holds_exactly_pass_the_range_check():
    inputs = gpunn.Input(shape=(1,))
    model = gpunn.Model(inputs, inputs * 1.0)
    big = np.array([[20_000_000], [1_700_000_000 // 128 * 128]], dtype=np.int64)  # floats of float32, exactly
    np.testing.assert_array_equal(model.predict(big, verbose=0), big)


def test_linear_algebra_operations_learn_their_shapes_on_invertible_matrices():
    matrices, vectors = gpunn.Input(shape=(3, 3)), gpunn.Input(shape=(3,))
    inverse = ops.inv(matrices)
    solved = ops.solve(matrices, ops.expand_dims(vectors, -1))
    factor = ops.cholesky(ops.matmul(matrices, ops.transpose(matrices, (0, 2, 1))) + np.eye(3, dtype="float32"))
    assert (inverse.shape, solved.shape, factor.shape) == ((None, 3, 3), (None, 3, 1), (None, 3, 3))
    model = gpunn.Model([matrices, vectors], [inverse, solved[..., 0]])
    rng = np.random.default_rng(8)
    m = rng.standard_normal((4, 3, 3)).astype(np.float32) + 3 * np.eye(3, dtype=np.float32)
    v = rng.standard_normal((4, 3)).astype(np.float32)
    got_inverse, got_solved = model.predict([m, v], verbose=0)
    np.testing.assert_allclose(got_inverse, np.linalg.inv(m), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_solved, np.linalg.solve(m, v[..., None])[..., 0], rtol=1e-4, atol=1e-5)


def test_index_operations_on_square_samples_learn_their_shapes():
    ids = gpunn.Input(shape=(2, 2), dtype="int32")
    taken = ops.take(np.array([1.0, 2.0], dtype="float32"), ids)  # indices 0 and 1: the trial's must be too
    model = gpunn.Model(ids, ops.take_along_axis(taken, ids, axis=2))
    x = np.array([[[0, 1], [1, 0]]] * 3)
    expected = np.take_along_axis(np.array([1.0, 2.0])[x], x, axis=2)
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)


def test_the_newer_operations_run_on_symbolic_values_and_keras_loads_them(tmp_path):
    """Framing, NaN-aware running sums and medians, cross products, pairwise distances and pixel shuffles between
    layers: trained, saved, and Keras's own load computing the same predictions."""
    inputs = gpunn.Input(shape=(6,))
    sequences = ops.extract_sequences(inputs, 3, 3)                        # (batch, 2, 3)
    parts = [ops.nancumsum(inputs, axis=-1), ops.nanmedian(inputs, axis=-1, keepdims=True), ops.angle(inputs),
             layers.Flatten()(ops.cross(sequences, ops.sin(sequences))),
             layers.Flatten()(ops.cdist(sequences, ops.cos(sequences)))]
    images = gpunn.Input(shape=(2, 2, 4))
    shuffled = ops.space_to_depth(ops.depth_to_space(images, 2), 2, data_format="channels_last")
    merged = ops.concatenate(parts + [layers.Flatten()(shuffled)], axis=-1)
    model = gpunn.Model([inputs, images], layers.Dense(1)(merged))
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(9)
    x = [rng.standard_normal((8, 6)).astype(np.float32), rng.standard_normal((8, 2, 2, 4)).astype(np.float32)]
    model.fit(x, rng.standard_normal((8, 1)).astype(np.float32), epochs=1, verbose=0)
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "newer.keras")
    loaded = gpunn.models.load_model(tmp_path / "newer.keras")
    classes = {op.keras_class for op in loaded.operations if hasattr(op, "keras_class")}
    assert {"ExtractSequences", "Nancumsum", "Nanmedian", "Angle", "Cross", "CDist", "DepthToSpace",
            "SpaceToDepth"} <= classes
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    script = """
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
model = keras.models.load_model(task["path"])
x = [np.array(v, "float32") for v in task["x"]]
print(json.dumps(np.asarray(model.predict(x, verbose=0)).tolist()))
"""
    theirs = run_keras(script, {"path": str(tmp_path / "newer.keras"), "x": [v.tolist() for v in x]})
    np.testing.assert_allclose(expected, np.asarray(theirs), rtol=1e-5, atol=1e-5)


def test_sparsemax_between_layers_saves_as_keras_s_operation(tmp_path):
    inputs = gpunn.Input(shape=(5,))
    model = gpunn.Model(inputs, ops.sparsemax(layers.Dense(4)(inputs)))
    x = np.random.default_rng(3).standard_normal((6, 5)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(expected.sum(axis=-1), 1.0, rtol=1e-5)
    model.save(tmp_path / "sparsemax.keras")
    loaded = gpunn.models.load_model(tmp_path / "sparsemax.keras")
    assert [op.keras_class for op in loaded.operations if hasattr(op, "keras_class")] == ["Sparsemax"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)


def test_gpunn_ops_values_are_constants_of_a_functional_model():
    """``x * ops.array([...])`` and ``ops.add(x, ops.ones(...))`` on a model's input: the values computed
    beforehand are constants of the graph, as Keras takes its backend tensors (Deep Learning with Python)."""
    from gpunn import ops

    inputs = gpunn.Input((3,))
    model = gpunn.Model(inputs, [inputs * ops.array([1.0, 2.0, 3.0]), ops.add(inputs, ops.ones((3,)))])
    scaled, shifted = model.predict(np.ones((1, 3)), verbose=0)
    assert scaled.tolist() == [[1.0, 2.0, 3.0]] and shifted.tolist() == [[2.0, 2.0, 2.0]]


HELD_IN_A_SEQUENTIAL = r'''
import json, os, sys
import numpy as np


def run(keras, folder):
    """A functional model with keras.ops of its own, held by a Sequential, saved and loaded; the other library's
    file read too (the run writes its own, then reads both where both are there)."""
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(4, kernel_initializer=keras.initializers.Constant(0.2), name="inner_dense")(inputs)
    inner = keras.Model(inputs, keras.ops.tanh(hidden) * 2.0 + 1.0, name="inner")
    model = keras.Sequential([keras.Input((4,)), inner,
                              keras.layers.Dense(3, kernel_initializer=keras.initializers.Constant(-0.1))])
    x = np.linspace(-1, 1, 20, dtype="float32").reshape(5, 4)
    model.save(os.path.join(folder, "held.keras"))
    loaded = keras.models.load_model(os.path.join(folder, "held.keras"))
    return {"predicted": model.predict(x, verbose=0).tolist(), "loaded": loaded.predict(x, verbose=0).tolist(),
            "layers": [layer.name for layer in loaded.layers]}


def read(keras, folder):
    x = np.linspace(-1, 1, 20, dtype="float32").reshape(5, 4)
    loaded = keras.models.load_model(os.path.join(folder, "held.keras"))
    return {"loaded": loaded.predict(x, verbose=0).tolist(), "layers": [layer.name for layer in loaded.layers]}
'''


def test_a_sequential_holding_a_model_with_operations_saves_and_loads_both_ways(tmp_path_factory):
    from helpers import FOLDER_MAIN, read_in_keras, run_keras, run_script_both_ways

    ours, theirs = run_script_both_ways(HELD_IN_A_SEQUENTIAL, tmp_path_factory)
    np.testing.assert_allclose(ours["predicted"], theirs["predicted"], rtol=1e-6)
    np.testing.assert_allclose(ours["loaded"], ours["predicted"], rtol=1e-6)
    assert ours["layers"][0] == theirs["layers"][0] == "inner" and len(ours["layers"]) == len(theirs["layers"]) == 2
    written_by_keras = tmp_path_factory.mktemp("by_keras")
    run_keras(HELD_IN_A_SEQUENTIAL + FOLDER_MAIN, {"folder": str(written_by_keras)})
    namespace: dict = {}
    exec(compile(HELD_IN_A_SEQUENTIAL, "held.py", "exec"), namespace)
    with gpunn.use_backend("numpy"):
        read_here = namespace["read"](gpunn, str(written_by_keras))
        written_by_gpunn = tmp_path_factory.mktemp("by_gpunn")
        namespace["run"](gpunn, str(written_by_gpunn))
    np.testing.assert_allclose(read_here["loaded"], theirs["predicted"], rtol=1e-6)
    np.testing.assert_allclose(read_in_keras(HELD_IN_A_SEQUENTIAL, written_by_gpunn)["loaded"], ours["predicted"],
                               rtol=1e-6)
