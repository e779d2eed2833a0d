"""Keras 3's preprocessing layers of numeric categories: Discretization, Hashing and IntegerLookup, checked
against Keras 3.15 (jax backend) on the same inputs: every output mode and option, what adapt() learns, a model
with them in front of Dense layers trained, files both ways, bad input refused by name.

Keras's Hashing and IntegerLookup (and Discretization.adapt) run on TensorFlow, which is not installed beside the
tests: what Keras computed for them is recorded in ``data/keras_numeric_preprocessing.json``, written by this
module run under an interpreter with Keras 3.15 and TensorFlow::

    python tests/test_numeric_preprocessing_layers.py /path/to/python-with-keras-and-tensorflow

The tests check gpunn against that record, and against Keras itself, run live, where GPUNN_KERAS_TF_PYTHON names
such an interpreter. Discretization's call and its adapt steps (``update_state``, ``finalize_state``) need no
TensorFlow: they are checked against Keras live, as the other Keras comparisons are (``helpers.run_keras``).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import numpy_backend, run_keras, run_keras_with_tensorflow_script, run_with_python  # noqa: E402,F401

import gpunn  # noqa: E402
from gpunn import layers  # noqa: E402
from gpunn.layers.stable_hashes import fingerprint64, siphash64  # noqa: E402

RECORD = Path(__file__).parent / "data" / "keras_numeric_preprocessing.json"

# ---- the cases: one layer, maybe adapted, called on inputs ---------------------------------------------------

INTS = [[0], [1], [-1], [7], [12345], [-99999], [16777216], [3]]
ROWS = [[0, 1, 7], [3, 3, -1], [12345, 2, 9]]
DOCUMENTS = [[1, 2, 2], [3, 3, 3], [1, 4, 5], [7, 7, 1]]
TOKENS = [[1, 2, 3], [4, 5, 6], [7, 0, -1]]


def _case(layer, args, inputs, dtype="int64", **more):
    return {"layer": layer, "args": args, "inputs": inputs, "dtype": dtype, **more}


def make_cases() -> list[dict]:
    rng = np.random.default_rng(5)
    normal = np.round(rng.standard_normal(300) * 3, 3).tolist()
    return [
        # Hashing: FarmHash64, mask, SipHash64 salts, floats, and each output mode
        _case("Hashing", {"num_bins": 1000}, INTS),
        _case("Hashing", {"num_bins": 7, "mask_value": 3}, INTS),
        _case("Hashing", {"num_bins": 1, "mask_value": 0}, INTS),
        _case("Hashing", {"num_bins": 11, "salt": 133}, INTS),
        _case("Hashing", {"num_bins": 11, "salt": [2 ** 40 + 7, 99], "mask_value": 7}, INTS),
        _case("Hashing", {"num_bins": 97}, [[0.5], [1.9], [-1.7], [2.5e9], [-3.25]], dtype="float32"),
        _case("Hashing", {"num_bins": 5, "output_mode": "one_hot"}, INTS),
        _case("Hashing", {"num_bins": 5, "output_mode": "one_hot"}, ROWS),
        _case("Hashing", {"num_bins": 6, "output_mode": "multi_hot"}, ROWS),
        _case("Hashing", {"num_bins": 6, "output_mode": "count", "mask_value": 3}, ROWS),
        # IntegerLookup: adapt, OOV indices, mask, given vocabularies, invert, each output mode
        _case("IntegerLookup", {}, TOKENS, adapt=DOCUMENTS),
        _case("IntegerLookup", {"max_tokens": 4, "num_oov_indices": 2}, [[1, 2, 3], [4, 5, 6], [7, 0, -3]],
              adapt=DOCUMENTS),
        _case("IntegerLookup", {"num_oov_indices": 3, "oov_method": "farmhash", "vocabulary": [10, 20, 30]},
              [[10, 11, 12], [13, 14, -15], [30, 20, 99999]]),
        _case("IntegerLookup", {"num_oov_indices": 3, "oov_method": "farmhash", "salt": [5, 9],
                                "vocabulary": [10, 20, 30]}, [[10, 11, 12], [13, 14, -15], [30, 20, 99999]]),
        _case("IntegerLookup", {"mask_token": 0, "vocabulary": [10, 20, 30]}, [[0, 10, 5], [30, 0, 20]]),
        _case("IntegerLookup", {"vocabulary": [-1, 10, 20, 30]}, [[10, -1, 40]]),
        _case("IntegerLookup", {"vocabulary": [10, 20, 30], "invert": True, "mask_token": 0}, [[0, 1, 2, 3, 4, 5]]),
        _case("IntegerLookup", {"vocabulary": [10, 20, 30], "invert": True, "num_oov_indices": 2, "oov_token": -7},
              [[0, 1, 2, 3, 4, 5, 6]]),
        _case("IntegerLookup", {"output_mode": "one_hot"}, [[1], [2], [9]], adapt=DOCUMENTS),
        _case("IntegerLookup", {"output_mode": "multi_hot", "mask_token": 0, "num_oov_indices": 2},
              [[1, 0, 9], [0, 0, 0], [3, 3, 100]], adapt=DOCUMENTS),
        _case("IntegerLookup", {"output_mode": "count", "max_tokens": 8, "pad_to_max_tokens": True},
              [[1, 1, 7], [5, 6, 7]], adapt=DOCUMENTS),
        _case("IntegerLookup", {"output_mode": "tf_idf"}, [[1, 2, 2], [9, 9, 3]], adapt=DOCUMENTS),
        _case("IntegerLookup", {"output_mode": "tf_idf", "max_tokens": 6, "pad_to_max_tokens": True,
                                "num_oov_indices": 2}, [[1, 5, 5], [2, 3, 8]],
              adapt_batches=[[1, 2, 2], [3], [1, 4, 5, 5], [2, 2, 7]]),
        _case("IntegerLookup", {"output_mode": "tf_idf", "vocabulary": [3, 1, 2], "idf_weights": [0.5, 1.0, 1.5]},
              [[1, 2, 2], [9, 3, 3]]),
        _case("IntegerLookup", {"output_mode": "tf_idf"}, [[1, 2], [3, 4]], adapt=[1, 2, 2, 3, 3, 3]),
        _case("IntegerLookup", {"num_oov_indices": 0, "vocabulary": [1, 2]}, [[1, 3]]),
        _case("IntegerLookup", {}, [[2.9], [1.2], [-2.2]], dtype="float32", adapt=[[1.0, 2.7, -2.7]],
              adapt_dtype="float32"),
        _case("IntegerLookup", {"max_tokens": 3}, [[5, 6, 7, 8]], adapt=[[5, 6, 7, 8]]),
        _case("IntegerLookup", {"mask_token": 3, "output_mode": "one_hot"}, [[3], [1]], adapt=DOCUMENTS),
        # Discretization: Keras's adapt (arrays and batches), then each output mode
        _case("Discretization", {"num_bins": 4}, [[-1.0, 0.0, 1.5, 2.0], [9.0, -9.0, 0.3, 0.31]], dtype="float32",
              adapt=normal, adapt_dtype="float32"),
        _case("Discretization", {"num_bins": 5, "epsilon": 0.1}, [[-1.0, 0.0, 1.5]], dtype="float32",
              adapt_batches=[normal[:100], normal[100:250], normal[250:]], adapt_dtype="float32"),
        _case("Discretization", {"num_bins": 10}, [[0.5, 1.5, 2.5]], dtype="float32", adapt=[1.0, 2.0, 3.0],
              adapt_dtype="float32"),
        _case("Discretization", {"bin_boundaries": [0.0, 1.0, 2.0], "output_mode": "one_hot"},
              [[-1.5], [1.0], [3.4]], dtype="float32"),
        _case("Discretization", {"bin_boundaries": [0.0, 1.0, 2.0], "output_mode": "one_hot"},
              [[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]], dtype="float32"),
        _case("Discretization", {"bin_boundaries": [0.0, 1.0, 2.0], "output_mode": "multi_hot"},
              [[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]], dtype="float32"),
        _case("Discretization", {"bin_boundaries": [0.0, 1.0, 2.0], "output_mode": "count"},
              [[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]], dtype="float32"),
    ]


def make_model_task() -> dict:
    """Data for a model of the three layers in front of Dense layers, and its first weights."""
    rng = np.random.default_rng(11)
    n = 48
    a = np.concatenate([np.arange(6), rng.integers(0, 6, n - 6)]).reshape(n, 1)  # every category seen
    b = np.round(rng.standard_normal((n, 2)), 4)
    c = rng.integers(0, 50, (n, 3))
    y = np.round(rng.standard_normal((n, 1)), 4)
    features = (6 + 1) + 4 + 8  # IntegerLookup one_hot (6 tokens, 1 OOV), Discretization multi_hot, Hashing count
    weights = [np.round(rng.standard_normal((features, 5)) * 0.3, 4), np.zeros(5),
               np.round(rng.standard_normal((5, 1)) * 0.3, 4), np.zeros(1)]
    return {"a": a.tolist(), "b": b.tolist(), "c": c.tolist(), "y": y.tolist(),
            "weights": [w.tolist() for w in weights]}


def make_hash_values() -> list[int]:
    """Integers whose decimal texts have every length from 1 to 20 characters (FarmHash's two branches for
    them, SipHash's one to three words), the int64 extremes included."""
    rng = np.random.default_rng(17)
    values = [0, -1, 7, 2 ** 63 - 1, -2 ** 63]
    for digits in range(1, 19):
        values += rng.integers(10 ** (digits - 1), 10 ** digits, 2).tolist()
        values += (-rng.integers(10 ** (digits - 1), 10 ** digits, 2)).tolist()
    return values


SALT = [2 ** 40 + 7, 99]
WIDEST = 2 ** 63 - 1  # bins: the hash itself, nearly (TensorFlow takes an int64 number of buckets)


def make_task() -> dict:
    return {"cases": make_cases(), "model": make_model_task(), "hash_values": make_hash_values()}


# ---- Keras's side (TensorFlow needed for Hashing, IntegerLookup and Discretization.adapt) ---------------------

KERAS_SIDE = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())


def run_case(case):
    layer = getattr(keras.layers, case["layer"])(**case["args"])
    if "adapt" in case:
        layer.adapt(np.array(case["adapt"], case.get("adapt_dtype", "int64")))
    if "adapt_batches" in case:
        layer.adapt(np.array(batch, case.get("adapt_dtype", "int64")) for batch in case["adapt_batches"])
    out = {"output": np.asarray(layer(np.array(case["inputs"], case["dtype"]))).tolist()}
    if case["layer"] == "IntegerLookup":
        out["vocabulary"] = [int(v) for v in layer.get_vocabulary()]
        out["vocabulary_size"] = int(layer.vocabulary_size())
        if layer.output_mode == "tf_idf":
            out["idf_weights"] = np.asarray(layer.idf_weights).tolist()
    if case["layer"] == "Discretization":
        out["bin_boundaries"] = list(layer.bin_boundaries)
    return out


def run_or_error(case):
    try:
        return run_case(case)
    except Exception as exc:  # recorded: gpunn must refuse the same case
        return {"error": type(exc).__name__}


def run_model(task):
    """The layers as Keras runs them on a non-TensorFlow backend: preprocessing the data eagerly, in front of a
    model of Dense layers (their TensorFlow lookups cannot be traced into a jax step)."""
    a, b, c = (np.array(task[k], "int64" if k != "b" else "float32") for k in "abc")
    y = np.array(task["y"], "float32")
    lookup = keras.layers.IntegerLookup(output_mode="one_hot")
    lookup.adapt(a)
    bins = keras.layers.Discretization(num_bins=4, output_mode="multi_hot")
    bins.adapt(b)
    hashing = keras.layers.Hashing(8, output_mode="count")
    features = np.concatenate([np.asarray(lookup(a)), np.asarray(bins(b)), np.asarray(hashing(c))], axis=1)
    inputs = keras.Input((features.shape[1],))
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dense(5, activation="relu")(inputs)))
    model.set_weights([np.array(w, "float32") for w in task["weights"]])
    predicted = model.predict(features, verbose=0).tolist()
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    history = model.fit(features, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    return {"predict": predicted, "loss": history.history["loss"], "evaluate": model.evaluate(features, y, verbose=0),
            "trained": model.predict(features, verbose=0).tolist(), "bin_boundaries": list(bins.bin_boundaries),
            "vocabulary": [int(v) for v in lookup.get_vocabulary()]}


import tensorflow as tf


def run_hashes(values):
    """The bins of Keras's Hashing (its ``_hash_values_to_bins``, which its call runs) as int64: the call's result,
    a jax array, would be cut to int32."""
    values = tf.constant(np.array(values, "int64"))
    with tf.device("CPU:0"):
        return {"farmhash": keras.layers.Hashing(2 ** 63 - 1)._hash_values_to_bins(values).numpy().tolist(),
                "siphash": keras.layers.Hashing(2 ** 63 - 1, salt=[2 ** 40 + 7, 99])._hash_values_to_bins(
                    values).numpy().tolist()}


print(json.dumps({"keras": keras.__version__, "tensorflow": tf.__version__,
                  "cases": [run_or_error(case) for case in task["cases"]], "model": run_model(task["model"]),
                  "hashes": run_hashes(task["hash_values"])}))
'''


def run_keras_with_tensorflow(task) -> dict:
    """KERAS_SIDE run live by the interpreter GPUNN_KERAS_TF_PYTHON names (skips where none is named)."""
    return run_keras_with_tensorflow_script(KERAS_SIDE, task)


def recorded() -> dict:
    return json.loads(RECORD.read_text())


# ---- gpunn's side ---------------------------------------------------------------------------------------------


def run_case(case) -> dict:
    layer = getattr(layers, case["layer"])(**case["args"])
    if "adapt" in case:
        layer.adapt(np.array(case["adapt"], case.get("adapt_dtype", "int64")))
    if "adapt_batches" in case:
        layer.adapt(np.array(batch, case.get("adapt_dtype", "int64")) for batch in case["adapt_batches"])
    out = {"output": np.asarray(layer(np.array(case["inputs"], case["dtype"]))).tolist()}
    if case["layer"] == "IntegerLookup":
        out["vocabulary"] = layer.get_vocabulary()
        out["vocabulary_size"] = layer.vocabulary_size()
        if layer.output_mode == "tf_idf":
            out["idf_weights"] = layer.idf_weights.tolist()
    if case["layer"] == "Discretization":
        out["bin_boundaries"] = list(layer.bin_boundaries)
    return out


def assert_same_case(case, ours, theirs):
    what = f"{case['layer']}({case['args']}) on {case['inputs']}"
    assert set(ours) == set(theirs), what
    for key, value in theirs.items():
        if key in ("output", "idf_weights"):
            np.testing.assert_allclose(ours[key], value, rtol=1e-6, atol=0, err_msg=f"{key} of {what}")
        else:
            assert ours[key] == value, f"{key} of {what}"


CASE_IDS = [f"{i}-{case['layer']}-{'-'.join(f'{k}={v}' for k, v in case['args'].items())[:60]}"
            for i, case in enumerate(make_cases())]


def test_the_record_is_of_these_cases():
    record = recorded()
    assert record["task"] == json.loads(json.dumps(make_task())), \
        "the cases changed: record Keras's results again (see the module docstring)"
    assert record["keras"].startswith("3.15") and len(record["cases"]) == len(make_cases())


@pytest.mark.parametrize("index", range(len(make_cases())), ids=CASE_IDS)
def test_each_case_equals_kerass(index):
    case, theirs = make_cases()[index], recorded()["cases"][index]
    if "error" in theirs:  # Keras refuses it (num_oov_indices=0 and a token outside the vocabulary)
        with pytest.raises(ValueError, match="num_oov_indices=0"):
            run_case(case)
        return
    assert_same_case(case, run_case(case), theirs)


def test_the_cases_equal_kerass_run_live():
    task = make_task()
    theirs = run_keras_with_tensorflow(task)
    assert theirs["cases"] == recorded()["cases"] and theirs["hashes"] == recorded()["hashes"]
    for case, result in zip(task["cases"], theirs["cases"]):
        if "error" not in result:
            assert_same_case(case, run_case(case), result)


def test_hashes_equal_kerass_documented_examples():
    """Keras's Hashing docstring: the same strings into 3 bins by FarmHash64 and by SipHash64 (what gpunn hashes
    an integer's decimal text with)."""
    texts = np.array([b"A", b"B", b"C", b"D", b"E"])
    assert (fingerprint64(texts) % np.uint64(3)).tolist() == [1, 0, 1, 1, 2]
    assert (siphash64(texts, [133, 137]) % np.uint64(3)).tolist() == [1, 2, 1, 0, 2]
    assert (siphash64(texts, [133, 133]) % np.uint64(3)).tolist() == [0, 0, 2, 1, 0]


def test_hashes_of_every_length_of_decimal_text_equal_kerass():
    """The whole 64-bit hashes (modulo 2**63 - 1) of int64s of every decimal length, as Keras's Hashing computes
    them. Called on the values themselves: a model's float32 inputs hold integers up to 2**24 only."""
    values, theirs = np.array(make_hash_values(), dtype=np.int64), recorded()["hashes"]
    assert layers.Hashing(WIDEST).bins_of(values).tolist() == theirs["farmhash"]
    assert layers.Hashing(WIDEST, salt=SALT).bins_of(values).tolist() == theirs["siphash"]
    assert len(set(theirs["farmhash"])) == len(set(values.tolist()))  # the check is not of a constant


# ---- a model of the three layers in front of Dense layers ------------------------------------------------------


def build_model(task):
    a, b = np.array(task["a"]), np.array(task["b"], "float32")
    lookup = layers.IntegerLookup(output_mode="one_hot")
    lookup.adapt(a)
    bins = layers.Discretization(num_bins=4, output_mode="multi_hot")
    bins.adapt(b)
    inputs = [gpunn.Input((1,), dtype="int64", name="a"), gpunn.Input((2,), name="b"),
              gpunn.Input((3,), dtype="int64", name="c")]
    features = layers.Concatenate()([lookup(inputs[0]), bins(inputs[1]),
                                     layers.Hashing(8, output_mode="count")(inputs[2])])
    model = gpunn.Model(inputs, layers.Dense(1)(layers.Dense(5, activation="relu")(features)))
    model.set_weights([np.array(w, "float32") for w in task["weights"]])
    return model, lookup, bins


def model_data(task):
    return [np.array(task["a"]), np.array(task["b"], "float32"), np.array(task["c"])], np.array(task["y"], "float32")


@pytest.mark.parametrize("jit_compile", [False, True])
def test_model_trains_as_keras_on_the_encoded_features(jit_compile):
    task, theirs = make_model_task(), recorded()["model"]
    model, lookup, bins = build_model(task)
    x, y = model_data(task)
    assert lookup.get_vocabulary() == theirs["vocabulary"] and bins.bin_boundaries == theirs["bin_boundaries"]
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6)
    model.compile(optimizer=gpunn.optimizers.SGD(0.05), loss="mse", jit_compile=jit_compile)
    history = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], theirs["loss"], rtol=1e-5)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), theirs["evaluate"], rtol=1e-5)
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs["trained"], rtol=1e-5, atol=1e-6)


def test_a_recorded_step_sees_a_vocabulary_adapted_after_it(tmp_path):
    """The lookups run as a host call of the step: a replayed step reads the layer's vocabulary of now."""
    lookup = layers.IntegerLookup(vocabulary=[10, 20])
    inputs = gpunn.Input((1,), dtype="int64")
    model = gpunn.Model(inputs, layers.Dense(1, kernel_initializer="ones", use_bias=False)(lookup(inputs)))
    model.compile(optimizer=gpunn.optimizers.SGD(0.0), loss="mse", jit_compile=True)
    x, y = np.array([[10], [20], [30], [40]]), np.zeros((4, 1), "float32")
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)  # recorded, then replayed
    assert model.evaluate(x, y, verbose=0) == pytest.approx(np.mean(np.array([1, 2, 0, 0]) ** 2))
    lookup.set_vocabulary([30, 40, 10])
    assert model.evaluate(x, y, verbose=0) == pytest.approx(np.mean(np.array([3, 0, 1, 2]) ** 2))
    np.testing.assert_array_equal(model.predict(x, verbose=0).ravel(), [3, 0, 1, 2])


def test_model_file_keeps_what_the_layers_learned(tmp_path):
    task = make_model_task()
    model, lookup, bins = build_model(task)
    x, y = model_data(task)
    tfidf = layers.IntegerLookup(output_mode="tf_idf", max_tokens=5, pad_to_max_tokens=True)
    tfidf.adapt(np.array(task["c"]) % 7)
    inputs = gpunn.Input((3,), dtype="int64")
    second = gpunn.Model(inputs, layers.Dense(2)(tfidf(inputs)))
    for built, data in ((model, x), (second, np.array(task["c"]) % 9)):
        built.save(tmp_path / "model.keras")
        loaded = gpunn.models.load_model(tmp_path / "model.keras")
        np.testing.assert_array_equal(loaded.predict(data, verbose=0), built.predict(data, verbose=0))
    loaded_tfidf = [layer for layer in loaded.layers if isinstance(layer, layers.IntegerLookup)][0]
    assert loaded_tfidf.get_vocabulary() == tfidf.get_vocabulary()
    np.testing.assert_array_equal(loaded_tfidf.idf_weights, tfidf.idf_weights)
    loaded_tfidf.adapt(np.array([[1, 1, 2]]))  # learned, not given: it adapts again, as Keras's would
    assert loaded_tfidf.get_vocabulary() == [-1, 1, 2]


@pytest.mark.parametrize("make, adapt", [
    (lambda: layers.Discretization(num_bins=3, epsilon=0.05, output_mode="count"), True),
    (lambda: layers.Hashing(13, mask_value=0, salt=[3, 4], output_mode="multi_hot"), False),
    (lambda: layers.IntegerLookup(max_tokens=5, num_oov_indices=2, mask_token=0, oov_method="farmhash", salt=8), True),
    (lambda: layers.IntegerLookup(vocabulary=[4, 5], invert=True, oov_token=-9), False),
    (lambda: layers.IntegerLookup(output_mode="tf_idf", vocabulary=[4, 5], idf_weights=[0.25, 0.75]), False),
])
def test_config_round_trip(make, adapt):
    made = make()
    if adapt:
        made.adapt(np.array([[0, 1, 2], [2, 3, 3], [4, 5, 5]]))
    again = type(made).from_config(made.get_config())
    assert again.get_config() == made.get_config()
    inputs = np.array([[1, 2, 9], [0, 5, 4]])
    expected = made(inputs)
    assert np.abs(expected).sum() > 0
    np.testing.assert_array_equal(again(inputs), expected)


KERAS_FILES = r"""
import json, os, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
layers = keras.layers
x = [np.array(task["tokens"], "int64"), np.array(task["values"], "float32")]
tokens, values = keras.Input((2,), dtype="int64"), keras.Input((1,))
features = layers.Concatenate()([
    layers.IntegerLookup(vocabulary=[3, 5, 7], output_mode="multi_hot")(tokens),
    layers.IntegerLookup(vocabulary=[3, 5], output_mode="tf_idf", idf_weights=[0.5, 1.5])(tokens),
    layers.CategoryEncoding(6)(layers.Hashing(6, mask_value=0, salt=[1, 2])(tokens)),
    layers.Discretization(bin_boundaries=[0.5, 2.0], output_mode="one_hot")(values)])
model = keras.Model([tokens, values], layers.Dense(1)(features))
model.set_weights([np.array(w, "float32") for w in task["weights"]])
model.run_eagerly = True  # the TensorFlow lookups cannot be traced into a jax step
model.save(os.path.join(task["dir"], "keras.keras"))
ours = keras.models.load_model(os.path.join(task["dir"], "gpunn.keras"))
ours.run_eagerly = True
print(json.dumps({"predict": model.predict(x, verbose=0).tolist(), "gpunn_file": ours.predict(x, verbose=0).tolist()}))
"""


def test_model_files_load_in_keras_and_back_run_live(tmp_path):
    """gpunn's file of adapted lookups, hashing and bins predicts the same in Keras; Keras's file of them in gpunn."""
    tokens, values = np.array([[3, 0], [5, 9], [7, 7], [2, 3]]), np.array([[0.0], [1.0], [29.0], [2.0]], "float32")
    weights = [np.round(np.linspace(-1, 1, 16).reshape(16, 1), 3), np.array([0.25])]  # Keras's model's
    lookup, tfidf, bins = (layers.IntegerLookup(output_mode="one_hot"), layers.IntegerLookup(output_mode="tf_idf"),
                           layers.Discretization(num_bins=3, output_mode="one_hot"))
    lookup.adapt(np.array([[3, 5], [5, 7]]))
    tfidf.adapt(np.array([[3, 5], [3, 0]]))
    bins.adapt(np.arange(30.0))
    inputs = [gpunn.Input((2,), dtype="int64"), gpunn.Input((1,))]
    features = layers.Concatenate()([layers.Flatten()(lookup(inputs[0])), tfidf(inputs[0]),
                                     layers.CategoryEncoding(6)(layers.Hashing(6)(inputs[0])), bins(inputs[1])])
    ours = gpunn.Model(inputs, layers.Dense(1)(features))
    ours.save(tmp_path / "gpunn.keras")
    task = {"tokens": tokens.tolist(), "values": values.tolist(), "dir": str(tmp_path),
            "weights": [w.tolist() for w in weights]}
    theirs = run_keras_with_tensorflow_script(KERAS_FILES, task)
    np.testing.assert_allclose(theirs["gpunn_file"], ours.predict([tokens, values], verbose=0), rtol=1e-5, atol=1e-6)
    loaded = gpunn.models.load_model(tmp_path / "keras.keras")
    np.testing.assert_allclose(loaded.predict([tokens, values], verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6)


# ---- Discretization against Keras itself (no TensorFlow needed) ------------------------------------------------

KERAS_DISCRETIZATION = r'''
import json, os, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
layers = keras.layers
learned = []
for adapt in task["adapt"]:
    layer = layers.Discretization(num_bins=adapt["num_bins"], epsilon=adapt["epsilon"])
    # Keras's adapt() without its tf.data check (TensorFlow is not installed): the same steps
    layer.reset_state()
    for batch in adapt["batches"]:
        layer.update_state(np.array(batch))
    layer.finalize_state()
    learned.append(layer.bin_boundaries)
x = np.array(task["x"], "float32")
y = np.array(task["y"], "float32")
outputs = {mode: np.asarray(layers.Discretization(bin_boundaries=learned[0], output_mode=mode)(x)).tolist()
           for mode in ("int", "one_hot", "multi_hot", "count")}
inputs = keras.Input((x.shape[1],))
encoded = layers.Discretization(bin_boundaries=learned[0], output_mode="multi_hot")(inputs)
model = keras.Model(inputs, layers.Dense(1)(layers.Dense(3, activation="relu")(encoded)))
model.set_weights([np.array(w, "float32") for w in task["weights"]])
predicted = model.predict(x, verbose=0).tolist()
model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
history = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
model.save(os.path.join(task["dir"], "keras.keras"))
ours = keras.models.load_model(os.path.join(task["dir"], "gpunn.keras"))
print(json.dumps({"learned": learned, "outputs": outputs, "predict": predicted, "loss": history.history["loss"],
                  "trained": model.predict(x, verbose=0).tolist(), "gpunn_file": ours.predict(x, verbose=0).tolist(),
                  "gpunn_file_boundaries": ours.layers[1].bin_boundaries}))
'''


def test_discretization_equals_keras_run_live(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.standard_normal(500).astype("float32") * 2
    adapts = [{"num_bins": 4, "epsilon": 0.01, "batches": [data.tolist()]},
              {"num_bins": 6, "epsilon": 0.05, "batches": [data[:170].tolist(), data[170:].tolist()]},
              {"num_bins": 3, "epsilon": 0.01, "batches": [[2.0], [1.0], [5.0], [2.0], [9.0]]}]
    x = np.round(rng.standard_normal((12, 2)) * 2, 3).astype("float32")
    y = np.round(rng.standard_normal((12, 1)), 3).astype("float32")
    weights = [np.round(rng.standard_normal((4, 3)) * 0.5, 3), np.zeros(3), np.round(rng.standard_normal((3, 1)), 3),
               np.zeros(1)]
    learned = []
    for adapt in adapts:
        layer = layers.Discretization(num_bins=adapt["num_bins"], epsilon=adapt["epsilon"])
        batches = [np.array(batch, "float32") for batch in adapt["batches"]]
        layer.adapt(batches[0] if len(batches) == 1 else iter(batches))
        learned.append(layer.bin_boundaries)
    inputs = gpunn.Input((2,))
    encoded = layers.Discretization(bin_boundaries=learned[0], output_mode="multi_hot")(inputs)
    model = gpunn.Model(inputs, layers.Dense(1)(layers.Dense(3, activation="relu")(encoded)))
    model.set_weights([w.astype("float32") for w in weights])
    predicted = model.predict(x, verbose=0)
    model.save(tmp_path / "gpunn.keras")
    theirs = run_keras(KERAS_DISCRETIZATION, {"adapt": adapts, "x": x.tolist(), "y": y.tolist(), "dir": str(tmp_path),
                                              "weights": [w.tolist() for w in weights]})
    assert learned == theirs["learned"]
    for mode, expected in theirs["outputs"].items():
        np.testing.assert_array_equal(layers.Discretization(bin_boundaries=learned[0], output_mode=mode)(x), expected)
    np.testing.assert_allclose(predicted, theirs["predict"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(theirs["gpunn_file"], predicted, rtol=1e-5, atol=1e-6)
    assert theirs["gpunn_file_boundaries"] == learned[0]
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="mse")
    history = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], theirs["loss"], rtol=1e-5)
    loaded = gpunn.models.load_model(tmp_path / "keras.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), theirs["trained"], rtol=1e-5, atol=1e-6)


def test_discretization_adapted_after_the_model_is_built_must_keep_its_bins():
    layer = layers.Discretization(num_bins=4, output_mode="one_hot")
    model = gpunn.Sequential([gpunn.Input((1,)), layer])
    assert model.output_shape == (None, 4)
    layer.adapt(np.arange(100.0))
    np.testing.assert_array_equal(model.predict(np.array([[0.0], [99.0]]), verbose=0), [[1, 0, 0, 0], [0, 0, 0, 1]])
    with pytest.raises(ValueError, match=r"data: adapting gave 3 bins, but layer .* was built for 4"):
        layer.adapt(np.array([1.0, 2.0, 3.0]))


# ---- bad input refused by name -------------------------------------------------------------------------------


@pytest.mark.parametrize("make, error, message", [
    (lambda: layers.Discretization(num_bins=-1), ValueError, r"num_bins: must be greater than or equal to 0"),
    (lambda: layers.Discretization(), ValueError, r"num_bins, bin_boundaries: give either"),
    (lambda: layers.Discretization(num_bins=3, bin_boundaries=[1.0]), ValueError, r"num_bins, bin_boundaries: give "
                                                                                  r"one"),
    (lambda: layers.Discretization(bin_boundaries=[2.0, 1.0]), ValueError, r"bin_boundaries: expected finite numbers "
                                                                           r"in increasing order"),
    (lambda: layers.Discretization(bin_boundaries=["a", "b"]), TypeError, r"bin_boundaries: .*got strings"),
    (lambda: layers.Discretization(num_bins=2, epsilon=0), ValueError, r"epsilon: expected a number > 0"),
    (lambda: layers.Discretization(num_bins=2, output_mode="tf_idf"), ValueError, r"output_mode: Discretization takes"),
    (lambda: layers.Discretization(num_bins=2, sparse=True), ValueError, r"sparse: gpunn's layers output dense"),
    (lambda: layers.Hashing(0), ValueError, r"num_bins: expected an integer >= 1, got 0"),
    (lambda: layers.Hashing(4.5), ValueError, r"num_bins: expected an integer"),
    (lambda: layers.Hashing(4, mask_value=[1]), ValueError, r"mask_value: expected a number, a string or None"),
    (lambda: layers.Hashing(4, salt="pepper"), ValueError, r"salt: expected a tuple of 2 integers"),
    (lambda: layers.Hashing(4, salt=[1, -2]), ValueError, r"salt: expected unsigned integers"),
    (lambda: layers.Hashing(4, dtype="float64"), ValueError, r"dtype: when `output_mode=\"int\"`, `dtype` should be "
                                                             r"an integer type"),
    (lambda: layers.IntegerLookup(max_tokens=1), ValueError, r"max_tokens: if set, must be greater than 1"),
    (lambda: layers.IntegerLookup(num_oov_indices=-1), ValueError, r"num_oov_indices: expected an integer >= 0"),
    (lambda: layers.IntegerLookup(vocabulary=["a", "b"]), TypeError, r"vocabulary: gpunn's IntegerLookup takes "
                                                                      r"numbers"),
    (lambda: layers.IntegerLookup(mask_token=""), TypeError, r"mask_token: gpunn's IntegerLookup takes numbers"),
    (lambda: layers.IntegerLookup(vocabulary_dtype="string"), ValueError, r"vocabulary_dtype: only 'int64'"),
    (lambda: layers.IntegerLookup(invert=True, output_mode="one_hot"), ValueError, r"output_mode: must be 'int' when "
                                                                                   r"invert"),
    (lambda: layers.IntegerLookup(idf_weights=[1.0]), ValueError, r"idf_weights: only used with output_mode='tf_idf'"),
    (lambda: layers.IntegerLookup(output_mode="tf_idf", vocabulary=[1, 2]), ValueError, r"idf_weights: when the "
                                                                                        r"vocabulary is given"),
    (lambda: layers.IntegerLookup(vocabulary=[1, 2, 1]), ValueError, r"vocabulary: has repeated tokens \[1\]"),
    (lambda: layers.IntegerLookup(vocabulary=[1, 2], mask_token=2), ValueError, r"vocabulary: holds mask_token=2"),
    (lambda: layers.IntegerLookup(vocabulary=[1, 2, 3], max_tokens=3), ValueError, r"vocabulary: 4 indices .* more "
                                                                                   r"than max_tokens=3"),
    (lambda: layers.IntegerLookup(salt=3), ValueError, r"salt: can only be used with oov_method='farmhash'"),
    (lambda: layers.IntegerLookup(oov_method="modulo"), ValueError, r"oov_method: expected 'floormod' or 'farmhash'"),
])
def test_bad_arguments_are_refused_by_name(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("make", [lambda: layers.Discretization(bin_boundaries=[0.0]),
                                  lambda: layers.IntegerLookup(vocabulary=[1])])
def test_strings_are_refused_naming_what_is_supported(make):
    layer = make()
    with pytest.raises(TypeError, match=rf"inputs: gpunn's {type(layer).__name__} takes numbers .*got strings; string "
                                        r"categories go to a StringLookup layer"):
        layer(np.array([["a"], ["b"]]))
    with pytest.raises(TypeError, match=rf"inputs: gpunn's {type(layer).__name__} takes numbers"):
        layer("a")


def test_strings_given_to_adapt_are_refused():
    with pytest.raises(TypeError, match=r"data: gpunn's IntegerLookup takes numbers .*got strings"):
        layers.IntegerLookup().adapt(["a", "b", "a"])
    with pytest.raises(TypeError, match=r"data: gpunn's Discretization takes numbers .*got strings"):
        layers.Discretization(num_bins=2).adapt(np.array(["1.5", "2"]))


def test_bad_data_and_unready_layers_are_refused_by_name(tmp_path):
    inputs = gpunn.Input((2,), dtype="int64")
    strict = gpunn.Model(inputs, layers.IntegerLookup(vocabulary=[4, 5], num_oov_indices=0)(inputs))
    with pytest.raises(ValueError, match=r"x: layer .* \(IntegerLookup with num_oov_indices=0\) takes tokens of its "
                                         r"vocabulary only, got 6 at index \(1, 1\)"):
        strict.predict(np.array([[4, 5], [5, 6]]), verbose=0)
    with pytest.raises(ValueError, match=r"IntegerLookup needs its vocabulary before it is used"):
        gpunn.Model(inputs, layers.IntegerLookup(output_mode="multi_hot")(inputs))
    with pytest.raises(ValueError, match=r"Discretization needs its bin_boundaries: .*adapt\(data\)"):
        layers.Discretization(num_bins=3)(np.array([[1.0]]))
    with pytest.raises(ValueError, match=r"adapt: layer .* was given its vocabulary"):
        layers.IntegerLookup(vocabulary=[1, 2]).adapt(np.array([1, 2]))
    with pytest.raises(ValueError, match=r"num_bins: adapt needs num_bins >= 1"):
        layers.Discretization(num_bins=0).adapt(np.array([1.0]))
    with pytest.raises(ValueError, match=r"data: expected finite values"):
        layers.Discretization(num_bins=2).adapt(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"inputs: Discretization .* with output_mode='count' encodes samples of one "
                                         r"axis"):
        layers.Discretization(bin_boundaries=[0.0], output_mode="count")(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match=r"invert=True outputs tokens in the model's dtype float32, exact up to "
                                         r"16,777,216"):
        layers.IntegerLookup(vocabulary=[2 ** 30], invert=True)(np.array([[1]]))
    vocabulary_file = tmp_path / "vocabulary.txt"
    vocabulary_file.write_text("7\nseven\n")
    with pytest.raises(TypeError, match=r"vocabulary: line 2 of .* is 'seven'; IntegerLookup takes integer"):
        layers.IntegerLookup(vocabulary=str(vocabulary_file))


def test_vocabulary_file_and_a_keras_files_assets():
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "vocabulary.txt"
        path.write_text("30\n10\n20\n")
        layer = layers.IntegerLookup(vocabulary=str(path))
    assert layer.get_vocabulary() == [-1, 30, 10, 20]
    np.testing.assert_array_equal(layer(np.array([[10, 30, 5]])), [[2, 1, 0]])
    assert layers.IntegerLookup.from_config(layer.get_config()).get_vocabulary() == [-1, 30, 10, 20]
    # Keras's adapted layer keeps its vocabulary in the file's assets: its config has the size alone
    from_keras = layers.IntegerLookup(vocabulary_size=4)
    with pytest.raises(ValueError, match=r"kept in the assets of the Keras file .* layer.set_vocabulary"):
        from_keras(np.array([[1]]))
    from_keras.set_vocabulary([30, 10, 20])
    np.testing.assert_array_equal(from_keras(np.array([[10, 30, 5]])), [[2, 1, 0]])


def record(python: str) -> None:
    """Write RECORD with what Keras (run by ``python``, with TensorFlow) computes for the cases."""
    task = make_task()
    result = run_with_python(python, KERAS_SIDE, task)
    RECORD.write_text(json.dumps({"keras": result["keras"], "tensorflow": result["tensorflow"], "task": task,
                                  "cases": result["cases"], "model": result["model"],
                                  "hashes": result["hashes"]}) + "\n")


if __name__ == "__main__":
    record(sys.argv[1])


@pytest.mark.parametrize("mode,expected", [
    ("int", [2, 3, 0]),
    ("binary", [[0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0]]),
    ("count", [[0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0]]),
    ("one_hot", [[[0, 0, 1, 0]], [[0, 0, 0, 1]], [[1, 0, 0, 0]]]),  # Keras's (1, depth) for one value
])
def test_integer_lookup_of_one_value_as_keras(numpy_backend, mode, expected):
    """``IntegerLookup(...)(7)``: one value's encoding, as Keras 3.15 (TensorFlow backend) gives it: the index
    alone, the encoding (depth,), or with one_hot (1, depth); keras-io's structured-data examples call it so."""
    lookup = layers.IntegerLookup(vocabulary=[0, 1, 2], output_mode=mode)
    got = [np.asarray(lookup(value)) for value in (np.int64(1), 2, 7)]
    assert [g.tolist() for g in got] == expected
    assert all(g.dtype == np.int64 for g in got)


def test_a_1d_input_to_multi_hot_or_count_is_one_sample_whatever_came_before():
    """Keras reads the rank of each call: a row of values is one sample for multi_hot and count, also after the
    layer was called on a column (which had made it encode each value of the row as a sample of its own)."""
    encoding = gpunn.layers.CategoryEncoding(num_tokens=4, output_mode="multi_hot")
    encoding(np.array([[0], [2]]))
    np.testing.assert_array_equal(encoding(np.array([0, 2, 3])), [1, 0, 1, 1])
    lookup = gpunn.layers.StringLookup(vocabulary=["a", "b"], output_mode="count")
    lookup(np.array([["a"], ["b"]]))
    np.testing.assert_array_equal(lookup(np.array(["a", "b", "b"])), [0, 1, 2])
    bins = gpunn.layers.Discretization(bin_boundaries=[0.0, 1.0], output_mode="multi_hot")
    bins(np.array([[0.5]], "float32"))
    np.testing.assert_array_equal(bins(np.array([-1.0, 0.5, 2.0], "float32")), [1, 1, 1])
    one_hot = gpunn.layers.CategoryEncoding(num_tokens=4, output_mode="one_hot")  # (one value per sample there)
    one_hot(np.array([[1]]))
    np.testing.assert_array_equal(one_hot(np.array([0, 2])), [[1, 0, 0, 0], [0, 0, 1, 0]])


def test_from_config_takes_the_dtype_policy_keras_configs_hold():
    """What Keras's get_config() returns: the dtype as a serialized DTypePolicy (an int64 one for Hashing)."""
    def policy(name):
        return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}

    hashing = gpunn.layers.Hashing.from_config({"name": "hashing", "trainable": True, "num_bins": 3, "salt": None,
                                                "mask_value": None, "output_mode": "int", "sparse": False,
                                                "dtype": policy("int64")})
    assert hashing.num_bins == 3 and hashing.keras_file_dtype == "int64"
    assert gpunn.layers.IntegerLookup.from_config({"name": "ids", "vocabulary": [1, 2],
                                                   "dtype": policy("int64")}).vocabulary_size() == 3
    assert gpunn.layers.StringLookup.from_config({"name": "words", "vocabulary": ["a"],
                                                  "dtype": policy("float32")}).vocabulary_size() == 2
    assert gpunn.layers.TextVectorization.from_config({"name": "text", "max_tokens": 5,
                                                       "dtype": policy("float32")}).get_config()["max_tokens"] == 5
