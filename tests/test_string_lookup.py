"""StringLookup and a model's string inputs (``keras.Input(shape=(1,), dtype="string")``), checked against Keras
3.15 with TensorFlow: what adapt() learns (ties, max_tokens, special tokens), every output mode, OOV buckets by
FarmHash64 / SipHash64 of strings of any length, invert, configs; a model with string inputs trained as Keras
trains it from a tf.data pipeline; Keras's files of adapted layers read (their vocabulary in the file's assets)
and gpunn's read by Keras; string inputs going where they cannot is refused by name when the model is wired.

Keras's StringLookup needs TensorFlow, which is not installed beside the tests: what Keras computed is recorded in
``data/keras_string_lookup.json`` (and the Keras-written ``data/keras3_string_lookup.keras``), written by this
module run under an interpreter with Keras 3.15 and TensorFlow::

    python tests/test_string_lookup.py /path/to/python-with-keras-and-tensorflow

The tests check gpunn against that record, and against Keras run live where GPUNN_KERAS_TF_PYTHON names such an
interpreter.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import (assert_config_as_kerass, assert_trains_as_flat_and_loads, numpy_backend,  # noqa: E402,F401
                     run_keras_with_tensorflow_script, run_with_python)

import gpunn  # noqa: E402
from gpunn import layers  # noqa: E402
from gpunn.layers.stable_hashes import fingerprint64, siphash64  # noqa: E402

DATA = Path(__file__).parent / "data"
RECORD = DATA / "keras_string_lookup.json"
KERAS_FILE = DATA / "keras3_string_lookup.keras"

WORDS = ["ab", "c", "déjà", "zz", "q", "", "longer word here", "x" * 80, "b", "Ab"]
UNSEEN = ["new", "other", "y" * 40, "ünïcode"]


def make_cases() -> list[dict]:
    rng = np.random.default_rng(3)
    train = rng.choice(WORDS[:8], size=(40, 3)).tolist()
    column = np.array(WORDS + UNSEEN).reshape(-1, 1).tolist()
    rows = rng.choice(WORDS + UNSEEN, size=(6, 4)).tolist()
    masked = [["zz" if w == "c" else w for w in row] for row in rows]
    return [
        {"args": {}, "adapt": train, "inputs": column},
        {"args": {"max_tokens": 5}, "adapt": train, "inputs": column},
        {"args": {"num_oov_indices": 3}, "adapt": train, "inputs": column},
        {"args": {"num_oov_indices": 3, "salt": [5, 7]}, "adapt": train, "inputs": column},
        {"args": {"num_oov_indices": 0}, "adapt": train, "inputs": column[:8]},
        {"args": {"mask_token": "zz"}, "adapt": train, "inputs": column},
        {"args": {"mask_token": "zz", "output_mode": "multi_hot"}, "adapt": train, "inputs": masked},
        {"args": {"output_mode": "one_hot"}, "adapt": train, "inputs": column},
        {"args": {"output_mode": "count", "num_oov_indices": 2}, "adapt": train, "inputs": rows},
        {"args": {"output_mode": "tf_idf"}, "adapt": train, "inputs": rows},
        {"args": {"output_mode": "tf_idf", "max_tokens": 6, "pad_to_max_tokens": True}, "inputs": rows,
         "adapt_batches": [train[:10], train[10:25], train[25:]]},
        {"args": {"output_mode": "multi_hot", "max_tokens": 12, "pad_to_max_tokens": True}, "adapt": train,
         "inputs": rows},
        {"args": {"oov_token": "<oov>", "mask_token": "<m>"}, "adapt": [w for row in train for w in row],
         "inputs": [["<m>", "q", "nope"]]},
        {"args": {"vocabulary": ["a", "b", "c"]}, "inputs": [["a", "b", "c", "d"]]},
        {"args": {"vocabulary": ["[UNK]", "a", "b"]}, "inputs": [["a", "b", "x"]]},
        {"args": {"vocabulary": ["", "[UNK]", "a"], "mask_token": ""}, "inputs": [["", "a", "b"]]},
        {"args": {"vocabulary": ["a", "b"], "num_oov_indices": 0}, "inputs": [["a", "b"]]},
        {"args": {"vocabulary": ["a", "b", "c"], "invert": True}, "inputs": [[0, 1, 2, 3, 7]], "dtype": "int64"},
        {"args": {"vocabulary": ["a", "b", "c"], "invert": True, "mask_token": "<m>", "oov_token": "?"},
         "inputs": [[0, 1, 2, 3, 4, 9]], "dtype": "int64"},
        {"args": {"vocabulary": ["a", "b", "c"], "idf_weights": [0.5, 1.0, 2.0], "output_mode": "tf_idf"},
         "inputs": [["a", "b", "c", "a"], ["x", "x", "c", "c"]]},
    ]


def make_model_task() -> dict:
    """Data for a model of two string inputs (one word; two words) and a numeric one, and its first weights."""
    rng = np.random.default_rng(11)
    n = 48
    colors = ["red", "green", "blue", "teal", "ochre"]
    color = np.concatenate([colors, rng.choice(colors, n - len(colors))]).reshape(n, 1)
    tags = rng.choice(["a", "b", "c", "d", "e", "f", "g"], size=(n, 2))
    value = np.round(rng.standard_normal((n, 1)), 4)
    y = np.round(rng.standard_normal((n, 1)), 4)
    features = 6 + 5 + 1  # color one_hot (5 colors, 1 OOV), tags multi_hot (max_tokens 5), value
    weights = [np.round(rng.standard_normal((features, 4)) * 0.3, 4), np.zeros(4),
               np.round(rng.standard_normal((4, 1)) * 0.3, 4), np.zeros(1)]
    return {"color": color.tolist(), "tags": tags.tolist(), "value": value.tolist(), "y": y.tolist(),
            "weights": [w.tolist() for w in weights]}


def make_hash_texts() -> list[str]:
    """Texts of 0 to 300 UTF-8 bytes (FarmHash's branches of 0-16, 17-32, 33-64 bytes and its loop over
    64-byte blocks; SipHash's words), ASCII and not."""
    return ["".join(chr(0x61 + (i * 7 + n) % 26) for i in range(n)) for n in range(0, 301, 3)] + \
        ["é" * n for n in (1, 9, 17, 33, 70)]


def make_wide_deep_task() -> dict:
    """Data for keras-io's wide & deep / deep & cross models (scalar string inputs, ``ops.expand_dims``), and the
    seed of their first weights."""
    rng = np.random.default_rng(13)
    n = 96
    return {"value": np.round(rng.standard_normal(n), 4).tolist(),
            "color": rng.choice(WIDE_DEEP_VOCABULARY["color"], n).tolist(),
            "size": rng.choice(WIDE_DEEP_VOCABULARY["size"], n).tolist(), "y": rng.integers(0, 3, n).tolist()}


WIDE_DEEP_VOCABULARY = {"color": ["red", "green", "blue"], "size": ["S", "M", "L", "XL"]}

# keras-io's structured_data/wide_deep_cross_networks.py, its model builders as written there (run by both sides)
WIDE_DEEP = r'''
import math


def build_wide_deep(lib, kind, vocabularies):
    layers = lib.layers
    inputs = {name: layers.Input(name=name, shape=(), dtype="float32" if name == "value" else "string")
              for name in ["value", "color", "size"]}

    def encode_inputs(inputs, use_embedding=False):
        encoded = []
        for name in inputs:
            if name in vocabularies:
                vocabulary = vocabularies[name]
                lookup = layers.StringLookup(vocabulary=vocabulary, mask_token=None, num_oov_indices=0,
                                             output_mode="int" if use_embedding else "binary")
                if use_embedding:
                    embedding = layers.Embedding(input_dim=len(vocabulary), output_dim=int(math.sqrt(len(vocabulary))))
                    encoded.append(embedding(lookup(inputs[name])))
                else:
                    encoded.append(lookup(lib.ops.expand_dims(inputs[name], -1)))
            else:
                encoded.append(lib.ops.expand_dims(inputs[name], -1))
        return layers.concatenate(encoded)

    if kind == "wide_and_deep":
        wide = layers.BatchNormalization()(encode_inputs(inputs))
        deep = encode_inputs(inputs, use_embedding=True)
        for units in [8, 8]:
            deep = layers.Dropout(0.0)(layers.ReLU()(layers.BatchNormalization()(layers.Dense(units)(deep))))
        merged = layers.concatenate([wide, deep])
    else:
        x0 = encode_inputs(inputs, use_embedding=True)
        cross = x0
        for _ in [8, 8]:
            x = layers.Dense(cross.shape[-1])(cross)
            cross = x0 * x + cross
        cross = layers.BatchNormalization()(cross)
        deep = x0
        for units in [8, 8]:
            deep = layers.Dropout(0.0)(layers.ReLU()(layers.BatchNormalization()(layers.Dense(units)(deep))))
        merged = layers.concatenate([cross, deep])
    model = lib.Model(inputs=inputs, outputs=layers.Dense(units=3, activation="softmax")(merged))
    rng = np.random.default_rng(21)  # first weights (positive: the moving variances among them)
    model.set_weights([np.abs(rng.standard_normal(w.shape)).astype("float32") * 0.3 + 0.1 for w in model.get_weights()])
    return model
'''


def make_task() -> dict:
    return {"cases": make_cases(), "model": make_model_task(), "hash_texts": make_hash_texts(),
            "wide_deep": make_wide_deep_task()}


# ---- Keras's side (TensorFlow needed) -----------------------------------------------------------------------------

KERAS_SIDE = r'''
import json, os, sys
import numpy as np
import keras
import tensorflow as tf
task = json.loads(sys.stdin.read())


def run_case(case):
    layer = keras.layers.StringLookup(**case["args"])
    if "adapt" in case:
        layer.adapt(np.array(case["adapt"]))
    if "adapt_batches" in case:
        layer.adapt(tf.data.Dataset.from_generator(lambda: (np.array(b) for b in case["adapt_batches"]),
                                                   output_signature=tf.TensorSpec((None, 3), tf.string)))
    output = np.asarray(layer(tf.constant(np.array(case["inputs"], case.get("dtype", "str")))))
    out = {"output": [[v.decode() for v in row] for row in output.tolist()] if output.dtype.kind in "SO"
           else output.astype(float).tolist()}
    out["vocabulary"] = [str(v) for v in layer.get_vocabulary()]
    out["vocabulary_size"] = int(layer.vocabulary_size())
    config = layer.get_config()
    out["config"] = {k: v for k, v in config.items() if k not in ("name", "dtype", "trainable")}
    if layer.output_mode == "tf_idf":
        out["idf_weights"] = np.asarray(layer.idf_weights).tolist()
    return out


def run_or_error(case):
    try:
        return run_case(case)
    except Exception as exc:  # recorded: gpunn must refuse the same case
        return {"error": type(exc).__name__}


def build(task):
    color, tags = keras.Input((1,), dtype="string", name="color"), keras.Input((2,), dtype="string", name="tags")
    value = keras.Input((1,), name="value")
    color_lookup = keras.layers.StringLookup(output_mode="one_hot", name="color_lookup")
    color_lookup.adapt(np.array(task["color"]))
    tag_lookup = keras.layers.StringLookup(output_mode="multi_hot", max_tokens=5, name="tag_lookup")
    tag_lookup.adapt(np.array(task["tags"]))
    features = keras.layers.Concatenate()([color_lookup(color), tag_lookup(tags), value])
    hidden = keras.layers.Dense(4, activation="relu")(features)
    model = keras.Model({"color": color, "tags": tags, "value": value}, keras.layers.Dense(1)(hidden))
    model.set_weights([np.array(w, "float32") for w in task["weights"]])
    return model, color_lookup, tag_lookup


def run_model(task):
    model, color_lookup, tag_lookup = build(task)
    x = {"color": tf.constant(task["color"]), "tags": tf.constant(task["tags"]),
         "value": tf.constant(task["value"], tf.float32)}
    y = np.array(task["y"], "float32")
    predicted = np.asarray(model(x)).tolist()
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    history = model.fit(data, epochs=2, verbose=0)
    return {"predict": predicted, "loss": history.history["loss"], "trained": np.asarray(model(x)).tolist(),
            "vocabularies": [color_lookup.get_vocabulary(), tag_lookup.get_vocabulary()]}


def write_file(task):
    """A Keras file of the model with adapted lookups (vocabularies in its assets), and a tf_idf one."""
    model, _, _ = build(task)
    docs = keras.Input((2,), dtype="string", name="docs")
    tfidf = keras.layers.StringLookup(output_mode="tf_idf", name="tfidf")
    tfidf.adapt(np.array(task["tags"]))
    head = keras.layers.Dense(1, kernel_initializer="ones")(tfidf(docs))
    inputs = [model.input["color"], model.input["tags"], model.input["value"], docs]
    both = keras.Model(inputs, [model.output, head])
    both.save(task["file"])
    x = [tf.constant(task["color"]), tf.constant(task["tags"]), tf.constant(task["value"], tf.float32),
         tf.constant(task["tags"])]
    return [np.asarray(out).tolist() for out in both(x)]


def run_hashes(texts):
    wide = 2 ** 63 - 1
    return {"farmhash": tf.strings.to_hash_bucket_fast(texts, wide).numpy().tolist(),
            "siphash": tf.strings.to_hash_bucket_strong(texts, wide, key=[2 ** 40 + 7, 99]).numpy().tolist()}


def run_wide_deep(task):
    data = {"value": np.array(task["value"], "float32"), "color": np.array(task["color"]),
            "size": np.array(task["size"])}
    result = {}
    for kind in ("wide_and_deep", "deep_and_cross"):
        model = build_wide_deep(keras, kind, VOCABULARIES)
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
        history = model.fit(tf.data.Dataset.from_tensor_slices((data, np.array(task["y"]))).batch(16), epochs=2,
                            verbose=0)
        result[kind] = {"loss": history.history["loss"],
                        "trained": np.asarray(model({k: tf.constant(v) for k, v in data.items()})).tolist()}
    return result


result = {"keras": keras.__version__, "tensorflow": tf.__version__,
          "cases": [run_or_error(case) for case in task["cases"]], "model": run_model(task["model"]),
          "hashes": run_hashes(task["hash_texts"]), "wide_deep": run_wide_deep(task["wide_deep"])}
if "file" in task:
    result["file_outputs"] = write_file(task["model"] | {"file": task["file"]})
print(json.dumps(result))
'''


KERAS_SIDE = KERAS_SIDE.replace("def run_case(case):", WIDE_DEEP + f"\n\nVOCABULARIES = {WIDE_DEEP_VOCABULARY!r}\n\n\n"
                                "def run_case(case):", 1)


def run_keras(task) -> dict:
    # (on Keras's TensorFlow backend: its lookups run inside the model it trains)
    return run_keras_with_tensorflow_script(KERAS_SIDE, task, backend="tensorflow")


def recorded() -> dict:
    return json.loads(RECORD.read_text())


# ---- gpunn's side -------------------------------------------------------------------------------------------------


def run_case(case) -> dict:
    layer = layers.StringLookup(**case["args"])
    if "adapt" in case:
        layer.adapt(np.array(case["adapt"]))
    if "adapt_batches" in case:
        layer.adapt(np.array(batch) for batch in case["adapt_batches"])
    output = np.asarray(layer(np.array(case["inputs"], case.get("dtype", "str"))))
    out = {"output": output.tolist() if output.dtype.kind == "U" else output.astype(float).tolist(),
           "vocabulary": layer.get_vocabulary(), "vocabulary_size": layer.vocabulary_size()}
    config = layer.get_config()
    out["config"] = {k: v for k, v in config.items() if k not in ("name", "dtype", "trainable")}
    if layer.output_mode == "tf_idf":
        out["idf_weights"] = layer.idf_weights.tolist()
    return out


def assert_same_case(case, ours, theirs):
    what = f"StringLookup({case['args']}) on {case['inputs']}"
    assert set(ours) == set(theirs), what
    for key, value in theirs.items():
        if key in ("output", "idf_weights") and not isinstance(value[0][0] if key == "output" else "", str):
            np.testing.assert_allclose(ours[key], value, rtol=1e-6, atol=0, err_msg=f"{key} of {what}")
        elif key == "config":
            assert_config_as_kerass(ours[key], value, theirs["vocabulary"], what)
        else:
            assert ours[key] == value, f"{key} of {what}"


CASE_IDS = [f"{i}-{'-'.join(f'{k}={v}' for k, v in case['args'].items())[:50]}" for i, case in enumerate(make_cases())]


def test_the_record_is_of_these_cases():
    record = recorded()
    assert record["task"] == json.loads(json.dumps(make_task())), \
        "the cases changed: record Keras's results again (see the module docstring)"
    assert record["keras"].startswith("3.15") and len(record["cases"]) == len(make_cases())


@pytest.mark.parametrize("index", range(len(make_cases())), ids=CASE_IDS)
def test_each_case_equals_kerass(index):
    case, theirs = make_cases()[index], recorded()["cases"][index]
    if "error" in theirs:  # Keras refuses it (num_oov_indices=0 and a string outside the vocabulary)
        with pytest.raises(ValueError, match=r"num_oov_indices=0\) takes tokens of its vocabulary only, got 'zz'"):
            run_case(case)
        return
    assert_same_case(case, run_case(case), theirs)


def test_the_cases_equal_kerass_run_live():
    task = make_task()
    theirs = run_keras(task)
    assert theirs["cases"] == recorded()["cases"] and theirs["hashes"] == recorded()["hashes"]
    for case, result in zip(task["cases"], theirs["cases"]):
        if "error" not in result:
            assert_same_case(case, run_case(case), result)


def test_kerass_documented_examples():
    """StringLookup's docstring, example by example."""
    vocab, data = ["a", "b", "c", "d"], [["a", "c", "d"], ["d", "z", "b"]]
    np.testing.assert_array_equal(layers.StringLookup(vocabulary=vocab)(data), [[1, 3, 4], [4, 0, 2]])
    adapted = layers.StringLookup()
    adapted.adapt(np.array([["a", "c", "d"], ["d", "z", "b"]]))
    assert adapted.get_vocabulary() == ["[UNK]", "d", "z", "c", "b", "a"]
    np.testing.assert_array_equal(adapted(np.array([["a", "c", "d"], ["d", "z", "b"]])), [[5, 3, 1], [1, 2, 4]])
    two_oov = layers.StringLookup(vocabulary=vocab, num_oov_indices=2)
    np.testing.assert_array_equal(two_oov(np.array([["a", "c", "d"], ["m", "z", "b"]])), [[2, 4, 5], [0, 1, 3]])
    one_hot = layers.StringLookup(vocabulary=vocab, output_mode="one_hot")
    np.testing.assert_array_equal(one_hot(np.array(["a", "b", "c", "d", "z"])), np.eye(5)[[1, 2, 3, 4, 0]])
    multi_hot = layers.StringLookup(vocabulary=vocab, output_mode="multi_hot")
    np.testing.assert_array_equal(multi_hot(np.array([["a", "c", "d", "d"], ["d", "z", "b", "z"]])),
                                  [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]])
    count = layers.StringLookup(vocabulary=vocab, output_mode="count")
    np.testing.assert_array_equal(count(np.array([["a", "c", "d", "d"], ["d", "z", "b", "z"]])),
                                  [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]])
    tf_idf = layers.StringLookup(output_mode="tf_idf", vocabulary=vocab, idf_weights=[0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(tf_idf(np.array([["a", "c", "d", "d"], ["d", "z", "b", "z"]])),
                               [[0, 0.25, 0, 0.6, 0.8], [1.0, 0, 0.75, 0, 0.4]], rtol=1e-6)
    inverse = layers.StringLookup(vocabulary=vocab, invert=True)
    assert inverse(np.array([[1, 3, 4], [4, 0, 2]])).tolist() == [["a", "c", "d"], ["d", "[UNK]", "b"]]


def test_strings_as_bytes_lists_and_pandas_are_the_same_strings():
    pd = pytest.importorskip("pandas")
    lookup = layers.StringLookup(vocabulary=["héllo", "b"])
    expected = [[1], [2], [0]]
    for data in (np.array([["héllo"], ["b"], ["x"]]), [["héllo"], ["b"], ["x"]],
                 np.array([["héllo".encode()], [b"b"], [b"x"]]), np.array([["héllo"], [b"b"], ["x"]], dtype=object),
                 pd.DataFrame({"w": ["héllo", "b", "x"]})):
        np.testing.assert_array_equal(lookup(data), expected)
    latin = layers.StringLookup(vocabulary=["héllo"], encoding="latin-1")
    np.testing.assert_array_equal(latin(np.array([["héllo".encode("latin-1")]])), [[1]])


def test_hashes_of_strings_of_every_length_equal_tensorflows():
    texts, theirs = make_hash_texts(), recorded()["hashes"]
    encoded = [text.encode("utf-8") for text in texts]
    wide = np.uint64(2 ** 63 - 1)
    assert (fingerprint64(encoded) % wide).astype(np.int64).tolist() == theirs["farmhash"]
    assert (siphash64(encoded, [2 ** 40 + 7, 99]) % wide).astype(np.int64).tolist() == theirs["siphash"]
    assert len(set(theirs["farmhash"])) == len(set(texts))  # the check is not of a constant
    # a NUL byte at the end is part of the string
    assert fingerprint64([b"a", b"a\x00"])[0] != fingerprint64([b"a", b"a\x00"])[1]


# ---- a model with string inputs ---------------------------------------------------------------------------------


def build_model(task):
    color, tags = gpunn.Input((1,), dtype="string", name="color"), gpunn.Input((2,), dtype="string", name="tags")
    value = gpunn.Input((1,), name="value")
    color_lookup = layers.StringLookup(output_mode="one_hot", name="color_lookup")
    color_lookup.adapt(np.array(task["color"]))
    tag_lookup = layers.StringLookup(output_mode="multi_hot", max_tokens=5, name="tag_lookup")
    tag_lookup.adapt(np.array(task["tags"]))
    features = layers.Concatenate()([color_lookup(color), tag_lookup(tags), value])
    hidden = layers.Dense(4, activation="relu")(features)
    model = gpunn.Model({"color": color, "tags": tags, "value": value}, layers.Dense(1)(hidden))
    model.set_weights([np.array(w, "float32") for w in task["weights"]])
    return model, color_lookup, tag_lookup


def model_data(task):
    x = {"color": np.array(task["color"]), "tags": np.array(task["tags"]), "value": np.array(task["value"], "float32")}
    return x, np.array(task["y"], "float32")


@pytest.mark.parametrize("jit_compile", [False, True])
def test_a_model_of_string_inputs_trains_as_kerass(jit_compile):
    task, theirs = make_model_task(), recorded()["model"]
    model, color_lookup, tag_lookup = build_model(task)
    x, y = model_data(task)
    assert [color_lookup.get_vocabulary(), tag_lookup.get_vocabulary()] == theirs["vocabularies"]
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6)
    model.compile(optimizer=gpunn.optimizers.SGD(0.05), loss="mse", jit_compile=jit_compile)
    history = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], theirs["loss"], rtol=1e-5)
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs["trained"], rtol=1e-5, atol=1e-6)


def test_a_model_of_string_inputs_trains_as_kerass_run_live():
    task = make_task()
    theirs = run_keras(task)
    assert theirs["model"] == recorded()["model"] and theirs["wide_deep"] == recorded()["wide_deep"]


def build_wide_deep(kind):
    namespace = {"np": np}
    exec(WIDE_DEEP, namespace)
    return namespace["build_wide_deep"](gpunn, kind, WIDE_DEEP_VOCABULARY)


@pytest.mark.parametrize("kind", ["wide_and_deep", "deep_and_cross"])
def test_keras_ios_wide_and_deep_models_train_as_kerass(kind, tmp_path):
    """Scalar string inputs read twice (a one-hot lookup of their ``ops.expand_dims`` view, an embedded one of
    the strings themselves): trained as Keras trains them from tf.data; the file loads back."""
    task, theirs = make_wide_deep_task(), recorded()["wide_deep"][kind]
    data = {"value": np.array(task["value"], "float32"), "color": np.array(task["color"]),
            "size": np.array(task["size"])}
    model = build_wide_deep(kind)
    model.compile(optimizer=gpunn.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    history = model.fit(data, np.array(task["y"]), epochs=2, batch_size=16, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], theirs["loss"], rtol=1e-5)
    np.testing.assert_allclose(model.predict(data, verbose=0), theirs["trained"], rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "model.keras")
    loaded = gpunn.models.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))
    with pytest.raises(TypeError, match=r"\(Dense\) computes on numbers, and input 'color' holds strings"):
        gpunn.layers.Dense(2)(gpunn.ops.expand_dims([i for i in loaded.inputs if i.name == "color"][0], -1))


def test_string_inputs_take_every_form_of_data():
    """Lists, pandas columns, a generator of batches, validation data, evaluate and a call: the same strings."""
    pd = pytest.importorskip("pandas")
    task = make_model_task()
    model, _, _ = build_model(task)
    x, y = model_data(task)
    model.compile(optimizer="sgd", loss="mse")
    expected = model.predict(x, verbose=0)
    frame = pd.DataFrame({"color": x["color"][:, 0], "value": x["value"][:, 0]})
    as_lists = {"color": frame["color"], "tags": x["tags"].tolist(), "value": frame["value"]}
    np.testing.assert_allclose(model.predict(as_lists, verbose=0), expected, rtol=1e-6)
    np.testing.assert_allclose(model(x), expected, rtol=1e-6)

    def batches():
        for start in range(0, len(y), 16):
            yield {k: v[start:start + 16] for k, v in x.items()}, y[start:start + 16]

    assert model.evaluate(batches(), verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
    history = model.fit(x, y, validation_data=(as_lists, y), epochs=1, verbose=0)
    assert np.isfinite(history.history["val_loss"][0])


def test_a_sequential_model_takes_strings_first():
    lookup = layers.StringLookup(vocabulary=["red", "green"], output_mode="one_hot")
    declared = gpunn.Sequential([gpunn.Input((1,), dtype="string"), lookup, layers.Dense(2, kernel_initializer="ones")])
    np.testing.assert_array_equal(declared.predict(np.array([["red"], ["blue"]]), verbose=0), [[1, 1], [1, 1]])
    assert declared.inputs[0].input_dtype == "string"
    ids = layers.StringLookup(vocabulary=["red", "green"])
    undeclared = gpunn.Sequential([ids, layers.Embedding(3, 2, embeddings_initializer="identity"), layers.Flatten()])
    np.testing.assert_array_equal(undeclared.predict(np.array([["green"], ["x"]]), verbose=0), [[0, 0], [1, 0]])
    assert undeclared.inputs[0].input_dtype == "string"


def test_string_inputs_where_they_cannot_go_are_refused_when_wired():
    text, number = gpunn.Input((1,), dtype="string", name="text"), gpunn.Input((1,), name="number")
    with pytest.raises(TypeError, match=r"layer 'dense_x' \(Dense\) computes on numbers, and input 'text' holds "
                                        r"strings: turn them into numbers first, e.g. StringLookup"):
        layers.Dense(2, name="dense_x")(text)
    with pytest.raises(TypeError, match=r"\(StringLookup\) reads strings: call it on a string input of the model"):
        layers.StringLookup(vocabulary=["a"])(number)
    with pytest.raises(TypeError, match=r"\(Concatenate\) computes on numbers, and input 'text' holds strings"):
        layers.Concatenate()([text, number])
    with pytest.raises(TypeError, match=r"reads strings and must come first"):
        gpunn.Sequential([layers.Dense(1), layers.StringLookup(vocabulary=["a"])]).build((None, 1))
    with pytest.raises(TypeError, match=r"StringLookup with invert=True outputs strings, which a gpunn model does not "
                                        r"compute"):
        layers.StringLookup(vocabulary=["a"], invert=True)(number)
    with pytest.raises(TypeError, match=r"computes on numbers, and input 'text' holds strings"):
        gpunn.Sequential([layers.Dense(1)])(text)  # (one starting with a lookup reads them: below)


def wide_and_deep(one_input: bool, jit_compile: bool):
    """A string column one-hot encoded (wide) and embedded (deep), as the structured-data tutorials' wide & deep
    models do: one string input read by two lookups, or the same column given as two inputs."""
    gpunn.utils.set_random_seed(5)
    colors = ["red", "green", "blue", "teal"]
    wide_in = gpunn.Input((1,), dtype="string", name="color")
    deep_in = wide_in if one_input else gpunn.Input((1,), dtype="string", name="color_again")
    wide = layers.StringLookup(vocabulary=colors, output_mode="one_hot")(wide_in)
    deep = layers.Flatten()(layers.Embedding(5, 3)(layers.StringLookup(vocabulary=colors)(deep_in)))
    value = gpunn.Input((1,), name="value")
    hidden = layers.Dense(6, activation="relu")(layers.Concatenate()([deep, value]))
    output = layers.Dense(1)(layers.Concatenate()([wide, hidden]))
    model = gpunn.Model([wide_in, value] if one_input else [wide_in, deep_in, value], output)
    model.compile(optimizer=gpunn.optimizers.Adam(0.01), loss="mse", jit_compile=jit_compile)
    return model


@pytest.mark.parametrize("jit_compile", [False, True])
def test_a_string_input_read_by_two_layers_trains_as_two_inputs_of_it(jit_compile):
    rng = np.random.default_rng(2)
    color = rng.choice(["red", "green", "blue", "teal", "ochre"], (64, 1))
    value = rng.standard_normal((64, 1)).astype("float32")
    y = (color[:, 0] == "red") + value[:, 0]
    one, two = wide_and_deep(True, jit_compile), wide_and_deep(False, jit_compile)
    two.set_weights(one.get_weights())
    one.fit([color, value], y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    two.fit([color, color, value], y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    assert _same_arrays(one.get_weights(), two.get_weights())
    np.testing.assert_array_equal(one.predict([color, value], verbose=0), two.predict([color, color, value], verbose=0))
    assert one.input_shape == [(None, 1), (None, 1)]


def _same_arrays(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


def test_hashing_strings_as_kerass_documented_examples():
    """Hashing's docstring: strings into 3 bins, with a mask value, with SipHash salts."""
    data = np.array([["A"], ["B"], ["C"], ["D"], ["E"]])
    np.testing.assert_array_equal(layers.Hashing(num_bins=3)(data).ravel(), [1, 0, 1, 1, 2])
    np.testing.assert_array_equal(layers.Hashing(num_bins=3, mask_value="")(
        np.array([["A"], ["B"], [""], ["C"], ["D"]])).ravel(), [1, 1, 0, 2, 2])
    np.testing.assert_array_equal(layers.Hashing(num_bins=3, salt=[133, 137])(data).ravel(), [1, 2, 1, 0, 2])
    np.testing.assert_array_equal(layers.Hashing(num_bins=3, salt=133)(data).ravel(), [0, 0, 2, 1, 0])


@pytest.mark.parametrize("jit_compile", [False, True])
def test_a_string_input_hashed_in_a_model_as_on_its_own(jit_compile):
    """Hashing on a model's string input (beside a StringLookup reading it too) gives the bins it gives on its
    own; the same layer then hashes numbers again in a model of numbers."""
    words = np.array([["alpha"], ["beta"], [""], ["a much longer string than thirty-two bytes"], ["beta"]])
    hashing = layers.Hashing(7, mask_value="", output_mode="one_hot")
    expected = hashing(words)
    text = gpunn.Input((1,), dtype="string")
    both = layers.Concatenate()([hashing(text), layers.StringLookup(vocabulary=["beta"], output_mode="one_hot")(text)])
    model = gpunn.Model(text, both)
    model.compile(optimizer="sgd", loss="mse", jit_compile=jit_compile)
    np.testing.assert_array_equal(model.predict(words, verbose=0)[:, :7], expected)
    np.testing.assert_array_equal(model.predict(words, verbose=0)[:, 7:], [[1, 0], [0, 1], [1, 0], [1, 0], [0, 1]])
    assert model.evaluate(words, np.zeros((5, 9)), verbose=0) == pytest.approx(np.mean(np.concatenate(
        [expected, [[1, 0], [0, 1], [1, 0], [1, 0], [0, 1]]], axis=1) ** 2))
    numbers = gpunn.Input((1,))
    numeric = gpunn.Model(numbers, layers.Hashing(7)(numbers))
    np.testing.assert_array_equal(numeric.predict(np.array([[1.0], [2.0]]), verbose=0),
                                  layers.Hashing(7)(np.array([[1], [2]])))
    assert layers.Hashing.from_config(hashing.get_config()).get_config() == hashing.get_config()
    with pytest.raises(TypeError, match=r"has mask_value='' and is given numbers; give a mask value of the inputs' "
                                        r"kind"):
        layers.Hashing(7, mask_value="")(np.array([[1], [2]]))
    with pytest.raises(TypeError, match=r"has mask_value=0 and is given strings"):
        layers.Hashing(7, mask_value=0)(words)


@pytest.mark.gpu
def test_string_inputs_train_the_same_on_the_gpu():
    """StringLookup, TextVectorization and Hashing read the strings on the host; the GPU trains on their output as
    the CPU does (and replays the step as a CUDA graph)."""
    rng = np.random.default_rng(4)
    color = rng.choice(["red", "green", "blue", "teal", "ochre"], (256, 1))
    text = np.array([" ".join(rng.choice(["good", "bad", "plot", "the", "fun"], 5)) for _ in range(256)])[:, None]
    y = ((color[:, 0] == "red") ^ np.char.startswith(text[:, 0], "good")).astype("float32")
    histories = []
    for backend in ("numpy", "cupy"):
        with gpunn.use_backend(backend):
            gpunn.utils.set_random_seed(3)
            c, t = gpunn.Input((1,), dtype="string"), gpunn.Input((1,), dtype="string")
            lookup = layers.StringLookup(output_mode="one_hot")
            lookup.adapt(color)
            vectorize = layers.TextVectorization(max_tokens=8, output_sequence_length=5)
            vectorize.adapt(text[:, 0])
            words = layers.GlobalAveragePooling1D()(layers.Embedding(8, 4)(vectorize(t)))
            features = layers.Concatenate()([lookup(c), layers.Hashing(6, output_mode="one_hot")(c), words])
            model = gpunn.Model([c, t], layers.Dense(1, activation="sigmoid")(layers.Dense(8, activation="relu")(
                features)))
            model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"], jit_compile=True)
            histories.append(model.fit([color, text], y, batch_size=32, epochs=3, shuffle=False, verbose=0).history)
    for key, values in histories[0].items():
        np.testing.assert_allclose(histories[1][key], values, rtol=1e-4, err_msg=key)


def test_bad_strings_and_arguments_are_refused_by_name():
    model, _, _ = build_model(make_model_task())
    x, _ = model_data(make_model_task())
    with pytest.raises(TypeError, match=r"x\['color'\]: expected strings, got None \(of type NoneType\) at index "
                                        r"\(2, 0\); fill missing values first"):
        model.predict({**x, "color": np.array([["red"], ["blue"], [None]], dtype=object),
                       "value": x["value"][:3], "tags": x["tags"][:3]}, verbose=0)
    with pytest.raises(TypeError, match=r"x\['color'\]: expected strings, got float64 values"):
        model.predict({**x, "color": np.zeros((48, 1))}, verbose=0)
    with pytest.raises(TypeError, match=r"x\['value'\]: expected numeric data .* got dtype <U"):
        model.predict({**x, "value": np.full((48, 1), "1.5")}, verbose=0)
    with pytest.raises(ValueError, match=r"encoding: unknown text encoding 'klingon'"):
        layers.StringLookup(encoding="klingon")
    with pytest.raises(ValueError, match=r"mask_token: expected a string or None, got 0"):
        layers.StringLookup(mask_token=0)
    with pytest.raises(ValueError, match=r"vocabulary: has repeated tokens \['a'\]"):
        layers.StringLookup(vocabulary=["a", "b", "a"])
    with pytest.raises(TypeError, match=r"inputs: layer .* \(StringLookup with invert=True\) maps indices to strings"):
        layers.StringLookup(vocabulary=["a"], invert=True).encode_text("inputs", ["a"])


# ---- configs and files --------------------------------------------------------------------------------------------


def test_config_round_trip_and_vocabulary_files(tmp_path):
    made = layers.StringLookup(max_tokens=6, num_oov_indices=2, mask_token="", salt=8, output_mode="count")
    made.adapt(np.array([["a", "b", "b"], ["c", "c", "c"]]))
    again = layers.StringLookup.from_config(made.get_config())
    assert again.get_config() == made.get_config() and "vocabulary_dtype" not in made.get_config()
    inputs = np.array([["a", "zz", "c"], ["", "b", "yy"]])
    np.testing.assert_array_equal(again(inputs), made(inputs))
    assert np.abs(made(inputs)).sum() > 0
    path = tmp_path / "vocabulary.txt"
    path.write_text("héllo\nworld\n\n", encoding="utf-8")
    from_file = layers.StringLookup(vocabulary=str(path))
    assert from_file.get_vocabulary() == ["[UNK]", "héllo", "world"]


def test_model_files_keep_the_vocabularies(tmp_path):
    task = make_model_task()
    model, _, _ = build_model(task)
    x, _ = model_data(task)
    model.save(tmp_path / "model.keras")
    loaded = gpunn.models.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.inputs[0].input_dtype == "string"


def test_kerass_file_of_adapted_lookups_loads():
    """Keras keeps an adapted layer's vocabulary in the file's assets and its IDF weights among the variables."""
    task = make_model_task()
    x, _ = model_data(task)
    loaded = gpunn.models.load_model(KERAS_FILE)
    outputs = loaded.predict([x["color"], x["tags"], x["value"], x["tags"]], verbose=0)
    for ours, theirs in zip(outputs, recorded()["file_outputs"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


GPUNN_FILE_IN_KERAS = r'''
import json, sys
import numpy as np
import keras
import tensorflow as tf
task = json.loads(sys.stdin.read())
model = keras.models.load_model(task["file"])
x = {"color": tf.constant(task["color"]), "tags": tf.constant(task["tags"]),
     "value": tf.constant(task["value"], tf.float32)}
print(json.dumps({"predict": np.asarray(model(x)).tolist()}))
'''


def test_gpunns_file_loads_in_keras_run_live(tmp_path):
    task = make_model_task()
    model, _, _ = build_model(task)
    model.save(tmp_path / "model.keras")
    theirs = run_keras_with_tensorflow_script(GPUNN_FILE_IN_KERAS, task | {"file": str(tmp_path / "model.keras")},
                                              backend="tensorflow")
    np.testing.assert_allclose(theirs["predict"], model.predict(model_data(task)[0], verbose=0), rtol=1e-5, atol=1e-6)


def record(python: str) -> None:
    """Write RECORD and KERAS_FILE with what Keras (run by ``python``, with TensorFlow) computes."""
    task = make_task()
    result = run_with_python(python, KERAS_SIDE, task | {"file": str(KERAS_FILE)}, backend="tensorflow")
    RECORD.write_text(json.dumps({"keras": result["keras"], "tensorflow": result["tensorflow"], "task": task,
                                  "cases": result["cases"], "model": result["model"], "hashes": result["hashes"],
                                  "wide_deep": result["wide_deep"], "file_outputs": result["file_outputs"]}) + "\n")


if __name__ == "__main__":
    record(sys.argv[1])


def _recommender(nested: bool):
    """keras-io's movielens baseline (memory-efficient embeddings): each id column embedded by a
    ``Sequential([StringLookup, Embedding])`` encoder called on its string input, or by the same layers called
    one after the other."""
    users, movies = [f"u{i}" for i in range(20)], [f"m{i}" for i in range(12)]

    def encoder(vocabulary, name):
        lookup = layers.StringLookup(vocabulary=vocabulary, mask_token=None, num_oov_indices=0)
        embedding = layers.Embedding(input_dim=len(vocabulary), output_dim=4)
        if nested:
            return gpunn.Sequential([lookup, embedding], name=f"{name}_embedding")
        return lambda x: embedding(lookup(x))

    gpunn.utils.set_random_seed(5)
    user_input = layers.Input(name="user_id", shape=(), dtype="string")
    movie_input = layers.Input(name="movie_id", shape=(), dtype="string")
    logits = layers.Dot(axes=1)([encoder(users, "user")(user_input), encoder(movies, "movie")(movie_input)])
    model = gpunn.Model([user_input, movie_input], gpunn.activations.sigmoid(logits) * 5)
    model.compile(optimizer=gpunn.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    rng = np.random.default_rng(0)
    x = {"user_id": rng.choice(users, 200), "movie_id": rng.choice(movies, 200)}
    return model, x, rng.uniform(0, 5, 200).astype("float32")


def test_a_sequential_starting_with_a_lookup_reads_a_string_input(tmp_path):
    """The encoder's layers join the model, its lookup reading the strings: it trains as the same layers called
    in turn, and its file loads again."""
    (nested, x, y), (flat, _, _) = _recommender(True), _recommender(False)
    assert_trains_as_flat_and_loads(nested, flat, x, y, tmp_path / "recommender.keras", batch_size=32)
    numbers = gpunn.Input((1,))
    with pytest.raises(TypeError, match=r"layer 'string_lookup.*' \(StringLookup\) reads strings: call it on a "
                                        r"string input"):
        gpunn.Sequential([layers.StringLookup(vocabulary=["a"]), layers.Embedding(2, 2)])(numbers)
    with pytest.raises(TypeError, match=r"computes on numbers, and input 'ids' holds strings"):
        gpunn.Sequential([layers.Dense(2)])(layers.Input((1,), dtype="string", name="ids"))


LOOKUP_DTYPES = r'''
import json, sys
import numpy as np
task = json.loads(sys.stdin.read())
if task["lib"] == "keras":
    import tensorflow as tf
    import keras
else:
    import gpunn as keras
L = keras.layers
found = {}
for mode in ["int", "one_hot", "multi_hot", "count"]:
    for name, make, data in [
            ("StringLookup", lambda: L.StringLookup(vocabulary=["a", "b"], output_mode=mode), np.array([["a"], ["z"]])),
            ("IntegerLookup", lambda: L.IntegerLookup(vocabulary=[5, 7], output_mode=mode), np.array([[5], [9]])),
            ("TextVectorization", lambda: L.TextVectorization(vocabulary=["a", "b"], output_mode=mode),
             np.array(["a b", "z"])),
            ("Hashing", lambda: L.Hashing(num_bins=3, output_mode=mode), np.array([["a"], ["b"]])),
            ("Discretization", lambda: L.Discretization(bin_boundaries=[0.0], output_mode=mode),
             np.array([[-1.0], [2.0]]))]:
        if name == "TextVectorization" and mode == "one_hot":
            continue  # (Keras's TextVectorization has no one_hot)
        out = np.asarray(make()(data))
        found[f"{name} {mode}"] = [str(out.dtype), out.tolist()]
print(json.dumps(found))
'''


def test_lookups_called_on_their_own_return_kerass_dtypes():
    """The preprocessing-layers guide prints a lookup's output: int64 indices and one_hot / multi_hot / count rows
    of the lookups (their table's values), int64 bins of Hashing and int32 of Discretization in "int" mode, float32
    rows of those two otherwise, as Keras 3 on TensorFlow gives them."""
    from helpers import run_keras_with_tensorflow_script, run_with_python

    ours = run_with_python(sys.executable, LOOKUP_DTYPES, {"lib": "gpunn"}, gpunn_path=True)
    assert ours["StringLookup int"] == ["int64", [[1], [0]]] and ours["StringLookup one_hot"][0] == "int64"
    assert ours["Discretization int"][0] == "int32" and ours["Hashing count"][0] == "float32"
    theirs = run_keras_with_tensorflow_script(LOOKUP_DTYPES, {"lib": "keras"}, backend="tensorflow")
    assert ours == theirs
