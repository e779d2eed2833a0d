"""Inputs with axes of any length (``keras.Input(shape=(None,))``, gpunn/layers/input_layer.py and
``Sequential._take_sample_shape``), against Keras 3 itself: a model of padded sequences (Embedding with its mask,
then pooling; Masking over float steps) trains on the same numbers from the same weights, predicts and evaluates
on other lengths, and its files load both ways (Keras's recording the padding masks as operations of the graph);
what its layers cannot take (weights that depend on the length) and several such inputs are refused by name."""
from __future__ import annotations

import json

import numpy as np
import pytest

import gpunn
from helpers import assert_close_to_keras, eager_and_replayed, numpy_backend, run_case_both_ways  # noqa: F401

CASE = r'''
import numpy as np

def run(keras, case, extra_compile=None):
    layers = keras.layers
    rng = np.random.default_rng(0)
    if case["kind"] == "ids":
        x = rng.integers(1, 50, size=(24, 12))
        x[:, 8:] = 0
        inputs = keras.Input(shape=(None,), dtype="int32")
        h = layers.GlobalAveragePooling1D()(layers.Embedding(50, 8, mask_zero=True)(inputs))
    else:
        x = rng.normal(size=(24, 9, 3)).astype("float32")
        x[:, 6:] = 0.0
        inputs = keras.Input(shape=(None, 3))
        h = layers.GlobalAveragePooling1D()(layers.Dense(4, activation="tanh")(layers.Masking()(inputs)))
    y = rng.normal(size=(24, 1)).astype("float32")
    model = keras.Model(inputs, layers.Dense(1)(h))
    model.set_weights([0.3 * rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", **(extra_compile or {}))
    history = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    out = {"loss": history.history["loss"], "shape": list(model.inputs[0].shape),
           "predict": model.predict(x[:3], verbose=0).tolist(),
           "shorter": model.predict(x[:3, :7], verbose=0).tolist(),
           "five": model.predict(x[:3, :5], verbose=0).tolist(),
           "evaluate": model.evaluate(x[:, :10], y, verbose=0)}
    if case.get("path"):
        model.save(case["path"])
    if case.get("load"):
        out["loaded"] = keras.models.load_model(case["load"]).predict(x[:3, :5], verbose=0).tolist()
    return out
'''


@pytest.mark.parametrize("kind", ["ids", "steps"])
def test_padded_sequences_of_any_length_are_keras_s(kind, tmp_path):
    cases = [{"kind": kind, "path": str(tmp_path / "keras.keras")}]
    ours, theirs = run_case_both_ways(CASE, cases)
    ours, theirs = ours[0], theirs[0]
    assert ours["shape"] == theirs["shape"] == ([None, None] if kind == "ids" else [None, None, 3])
    for key in ("loss", "predict", "shorter", "evaluate"):
        assert_close_to_keras(ours[key], theirs[key], f"{kind} {key}", rtol=1e-5, atol=1e-6)
    namespace: dict = {}
    exec(CASE, namespace)
    with gpunn.use_backend("numpy"):  # Keras's file (its masks recorded as operations) in gpunn, and back
        mine = namespace["run"](gpunn, {"kind": kind, "path": str(tmp_path / "gpunn.keras"),
                                        "load": str(tmp_path / "keras.keras")})
    assert_close_to_keras(mine["loaded"], theirs["five"], f"{kind}: Keras's file", rtol=1e-5, atol=1e-6)
    from helpers import run_keras

    script = """
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
print(json.dumps({"theirs": np.asarray(keras.models.load_model(task["path"]).predict(
    np.array(task["x"]), verbose=0)).tolist(), "batch_shape": keras.models.load_model(task["path"]).inputs[0].shape}))
"""
    rng = np.random.default_rng(0)
    x = rng.integers(1, 50, size=(3, 5)) if kind == "ids" else rng.normal(size=(3, 5, 3)).astype("float32")
    loaded = gpunn.models.load_model(tmp_path / "gpunn.keras")
    out = run_keras(script, {"path": str(tmp_path / "gpunn.keras"), "x": x.tolist()})
    np.testing.assert_allclose(loaded.predict(x, verbose=0), out["theirs"], rtol=1e-5, atol=1e-6)
    assert out["batch_shape"][1] is None


def test_a_sequential_of_any_length_and_a_replayed_step():
    eager, replayed = eager_and_replayed(CASE, {"kind": "ids"})
    assert json.dumps(eager["loss"]) == json.dumps(replayed["loss"])
    rng = np.random.default_rng(1)
    ids, y = rng.integers(1, 50, size=(16, 10)), rng.normal(size=(16, 1)).astype("float32")
    model = gpunn.Sequential([gpunn.Input((None,), dtype="int32"), gpunn.layers.Embedding(50, 4),
                              gpunn.layers.GlobalAveragePooling1D(), gpunn.layers.Dense(1)])
    assert list(model.get_config()["layers"][0]["config"]["batch_shape"]) == [None, None]
    model.compile("sgd", "mse")
    model.fit(ids, y, epochs=1, verbose=0)
    assert model.predict(ids[:2, :6], verbose=0).shape == (2, 1)
    with pytest.raises(ValueError, match=r"expected samples of shape \(10,\)"):
        model.fit(ids[:, :6], y, epochs=1, verbose=0)  # trained: the model keeps its length
    fresh = gpunn.Sequential([gpunn.Input((None,), dtype="int32"), gpunn.layers.Embedding(50, 4),
                              gpunn.layers.GlobalAveragePooling1D(), gpunn.layers.Dense(1)])
    fresh.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"validation_data\[0\]: expected samples of shape \(10,\)"):
        fresh.fit(ids, y, validation_data=(ids[:, :6], y), epochs=1, verbose=0)  # (the training data's length)


def test_what_a_length_of_any_size_cannot_be_is_refused_by_name():
    layers = gpunn.layers
    inputs = gpunn.Input((None,), dtype="int32")
    flat = layers.Flatten()(layers.Embedding(50, 4)(inputs))
    assert flat.shape == (None, None)  # Keras's: a Flatten over an axis of any length is of any length
    # refused when the model is made, as Keras refuses it (not at the first batch)
    with pytest.raises(ValueError, match="axes of any length"):
        layers.Dense(1)(flat)
    with pytest.raises(ValueError, match="axes of any length"):
        gpunn.Sequential([gpunn.Input((None, 4)), layers.Reshape((-1,)), layers.Dense(1)])
    pooled = layers.GlobalAveragePooling1D()(layers.Embedding(50, 4)(inputs))
    assert pooled.shape == (None, 4)
    assert layers.Reshape((-1, 2))(gpunn.Input((None, 4))).shape == (None, None, 2)
    a, b = gpunn.Input((None,)), gpunn.Input((None,))
    with pytest.raises(ValueError, match="in a model of one input"):
        gpunn.Model([a, b], layers.Concatenate()([a, b]))


SEQUENTIAL_FILES = r'''
import numpy as np

def run(keras, case, extra_compile=None):
    """Sequential models of any length: per-step outputs, and a masked pooling; Keras's own files of them loaded."""
    layers = keras.layers
    rng = np.random.default_rng(1)
    x, ids = rng.normal(size=(2, 8, 3)).astype("float32"), rng.integers(0, 10, size=(6, 7))
    if keras.__name__ == "keras":  # Keras writes the files; each side loads them
        steps = keras.Sequential([keras.Input((None, 3)), layers.Dense(4, activation="tanh"), layers.Dense(2)])
        pooled = keras.Sequential([keras.Input((None,), dtype="int32"), layers.Embedding(10, 3, mask_zero=True),
                                   layers.GlobalAveragePooling1D(), layers.Dense(1)])
        for model in (steps, pooled):
            model.set_weights([np.linspace(-1, 1, w.size).reshape(w.shape).astype("float32")
                               for w in model.get_weights()])
        steps.save(case["path"] + "_steps.keras")
        pooled.save(case["path"] + "_pooled.keras")
    steps = keras.models.load_model(case["path"] + "_steps.keras")
    pooled = keras.models.load_model(case["path"] + "_pooled.keras")
    return {"steps": steps.predict(x, verbose=0).tolist(), "shorter": steps.predict(x[:, :5], verbose=0).tolist(),
            "pooled": pooled.predict(ids, verbose=0).tolist()}
'''


def test_sequential_models_of_any_length_and_keras_s_files_of_them(tmp_path):
    ours, theirs = run_case_both_ways(SEQUENTIAL_FILES, [{"path": str(tmp_path / "keras")}])
    for key in ("steps", "shorter", "pooled"):
        assert_close_to_keras(ours[0][key], theirs[0][key], key, rtol=1e-5, atol=1e-6)


def test_a_sequential_of_any_length_builds_for_its_data():
    rng = np.random.default_rng(1)
    steps = gpunn.Sequential([gpunn.Input((None, 3)), gpunn.layers.Dense(4, activation="tanh"),
                              gpunn.layers.Dense(2)])
    assert steps.predict(rng.normal(size=(2, 8, 3)).astype("float32"), verbose=0).shape == (2, 8, 2)
    assert steps.layers[0].output_shape == (8, 4)
    pooled = gpunn.Sequential([gpunn.Input((None,), dtype="int32"), gpunn.layers.Embedding(10, 3, mask_zero=True),
                               gpunn.layers.GlobalAveragePooling1D(), gpunn.layers.Dense(1)])
    pooled.compile("sgd", "mse")
    pooled.fit(rng.integers(0, 10, size=(6, 7)), np.ones((6, 1)), verbose=0)
    assert pooled.predict(rng.integers(0, 10, size=(3, 4)), verbose=0).shape == (3, 1)


ALONG_THE_UNKNOWN_AXIS = r'''
import json, sys
import numpy as np

def run(keras, folder):
    ops, layers = keras.ops, keras.layers
    y = keras.Input(shape=(None,))
    joined = ops.concatenate([y, y * 2.0], axis=-1)  # twice the unknown length: unknown too
    total = ops.sum(joined, axis=-1, keepdims=True)  # one value per sample, whatever the length
    model = keras.Model(y, layers.Dense(2, kernel_initializer="ones")(total))
    z = keras.Input(shape=(None, 4))
    stacked = layers.Concatenate(axis=1)([z, z])
    found = {"shapes": [list(t.shape) for t in (joined, total, stacked, ops.expand_dims(y, -1),
                                                 ops.transpose(ops.expand_dims(y, -1), (0, 2, 1)))],
             "parameters": model.count_params()}
    for length in (3, 5):
        found[f"predicted for {length}"] = model.predict(np.ones((2, length), "float32"), verbose=0).tolist()
    return found
'''


def test_operations_along_an_axis_of_any_length_keep_it_unknown(tmp_path_factory):
    """An operation's shape along an input's unknown axis is found from a trial call on a longer one, for
    operations and layers of several inputs too: a concatenation along it stays unknown (it read the trial
    length), a reduction over it with keepdims is of length 1 (it read unknown), as Keras's static shapes."""
    from helpers import run_script_both_ways

    ours, theirs = run_script_both_ways(ALONG_THE_UNKNOWN_AXIS, tmp_path_factory)
    assert ours == theirs


MASKS_AND_OPERATIONS = r'''
import json, sys, warnings
import numpy as np

def run(keras, folder):
    ops, layers = keras.ops, keras.layers
    ids = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0]], "int32")
    table = np.arange(18, dtype="float32").reshape(6, 3) / 10.0
    found = {}
    for name, after in (("masked", lambda e: e), ("times two", lambda e: e * 2.0),
                        ("plus a layer of it", lambda e: e + layers.Dense(3, kernel_initializer="ones")(e)),
                        ("concatenated", lambda e: ops.concatenate([e, e], axis=1))):
        x = keras.Input(shape=(None,), dtype="int32")
        embedding = layers.Embedding(6, 3, mask_zero=True)
        pooled = layers.GlobalAveragePooling1D()(after(embedding(x)))
        model = keras.Model(x, pooled)
        embedding.set_weights([table])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            found[name] = np.round(model.predict(ids, verbose=0), 5).tolist()
        found[name + " warnings"] = sorted({str(w.message)[:40] for w in caught if "mask" in str(w.message)})

    points = keras.Input(shape=(None, 2))  # a fixed axis as long as the trial length of the unknown one
    turned = ops.transpose(points, (0, 2, 1))
    gram = ops.einsum("bti,btj->bij", points, points)
    found["turned shapes"] = [list(t.shape) for t in (turned, gram, layers.Permute((2, 1))(points),
                                                       layers.Reshape((2, -1))(keras.Input(shape=(None, 4))))]
    head = layers.Dense(3, kernel_initializer="ones")
    model = keras.Model(points, head(layers.Flatten()(gram)))
    found["gram parameters"] = model.count_params()
    found["gram predicted"] = model.predict(np.arange(30, dtype="float32").reshape(3, 5, 2), verbose=0).tolist()

    class LearnedPositions(layers.Layer):  # a table sized to the length when known, else to a maximum
        def build(self, input_shape):
            found.setdefault("built for", list(input_shape))
            self.table = self.add_weight(shape=(input_shape[1] or 16, input_shape[-1]), initializer="zeros")

        def compute_output_shape(self, input_shape):
            return input_shape

        def call(self, x):
            return x + self.table[: ops.shape(x)[1]]

    x = keras.Input(shape=(None, 4))
    model = keras.Model(x, layers.GlobalAveragePooling1D()(LearnedPositions()(x)))
    model.set_weights([np.arange(64, dtype="float32").reshape(16, 4)])
    for length in (5, 7):
        predicted = model.predict(np.ones((1, length, 4), "float32"), verbose=0)
        found[f"positions {length}"] = np.round(predicted, 4).tolist()
    return found
'''


def test_masks_operations_and_builds_on_axes_of_any_length(tmp_path_factory):
    """Keras's operations take no mask (``e * 2.0``, ``e + d``, ``ops.concatenate`` of a masked embedding: the
    pooling after them averages every step, with no warning); a fixed axis as long as the trial length of an
    unknown one is told apart from it (a transpose moves the unknown axis); a layer of the user's is built with None
    for the unknown axis, as in Keras, and its weights then serve every length."""
    from helpers import run_script_both_ways

    ours, theirs = run_script_both_ways(MASKS_AND_OPERATIONS, tmp_path_factory)
    assert ours == theirs


def test_a_weight_of_a_length_of_any_size_is_refused_as_keras_refuses_it(numpy_backend):
    """A layer of the user's is built with None for an axis of any length, as in Keras; a weight of that shape is
    refused with Keras's message (it was a TypeError from deep inside)."""
    class Positions(gpunn.layers.Layer):
        def build(self, input_shape):
            self.table = self.add_weight(shape=(input_shape[1], input_shape[-1]))

        def call(self, x):
            return x

    x = gpunn.Input((None, 4))
    with pytest.raises(ValueError, match=r"fully-defined \(no `None` dimensions\). Received: shape=\(None, 4\)"):
        Positions()(x)
