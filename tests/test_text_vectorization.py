"""TextVectorization, checked against Keras 3.15 with TensorFlow: standardization (TensorFlow's ASCII-only
lowering, Keras's punctuation), splits, ngrams, what adapt() learns, every output mode, configs; the text
tutorials' models (ids into Embedding + GlobalAveragePooling1D, tf-idf rows into Dense) trained as Keras trains
them from a tf.data pipeline, with the layer inside the model; the "export" models that take raw strings
(``Sequential([vectorize_layer, model])``, ``Model(inputs, model(vectorize_layer(inputs)))``); Keras's files of
adapted layers read (vocabulary in the assets) and gpunn's read by Keras.

Keras's TextVectorization needs TensorFlow, which is not installed beside the tests: what Keras computed is
recorded in ``data/keras_text_vectorization.json`` (and the Keras-written ``data/keras3_text_vectorization.keras``),
written by this module run under an interpreter with Keras 3.15 and TensorFlow::

    python tests/test_text_vectorization.py /path/to/python-with-keras-and-tensorflow

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
from helpers import (assert_config_as_kerass, numpy_backend, run_keras_with_tensorflow_script,  # noqa: E402,F401
                     run_with_python)

import gpunn  # noqa: E402
from gpunn import layers  # noqa: E402

DATA = Path(__file__).parent / "data"
RECORD = DATA / "keras_text_vectorization.json"
KERAS_FILE = DATA / "keras3_text_vectorization.keras"

DOCUMENTS = ["The cat sat on the mat.", "A dog, a CAT; and ÉCOLE!", "  spaced\tout\n words\u00a0here  ", "",
             "cat cat dog", "l'été est là", "x" * 50 + " tail", "it's 3.14 -- [sic] {ok} a_b"]
TEST = ["the dog sat", "unknown words here", "", "cat, cat. CAT!", "école x", "a\u2003b\x1cc d"]


def make_cases() -> list[dict]:
    return [
        {}, {"max_tokens": 6}, {"output_sequence_length": 4}, {"output_sequence_length": 12},
        {"standardize": "lower"}, {"standardize": None}, {"standardize": "strip_punctuation"},
        {"split": "character", "output_sequence_length": 6}, {"ngrams": 2}, {"ngrams": [1, 3], "output_mode": "count"},
        {"output_mode": "multi_hot"}, {"output_mode": "tf_idf"},
        {"output_mode": "tf_idf", "max_tokens": 8, "pad_to_max_tokens": True},
        {"output_mode": "multi_hot", "max_tokens": 5}, {"output_mode": "count", "ngrams": 2, "max_tokens": 9},
        {"split": None}, {"split": None, "output_mode": "one_hot"}, {"split": None, "ngrams": 2},
        {"vocabulary": ["cat", "dog", "the"], "output_sequence_length": 3},
        {"vocabulary": ["cat", "dog"], "idf_weights": [0.5, 2.0], "output_mode": "tf_idf"},
    ]


def make_model_task() -> dict:
    """Labelled documents for the text tutorials' two models, and their first weights."""
    rng = np.random.default_rng(7)
    words = ["good", "bad", "great", "awful", "movie", "plot", "the", "was", "very", "not", "fun", "boring"]
    texts = [" ".join(rng.choice(words, rng.integers(2, 9))) for _ in range(40)]
    y = [float(("good" in t or "great" in t or "fun" in t) and "not" not in t) for t in texts]
    embedding = np.round(rng.standard_normal((12, 3)) * 0.3, 4)
    dense = [np.round(rng.standard_normal((3, 1)) * 0.3, 4), np.zeros(1)]
    tfidf_dense = [np.round(rng.standard_normal((10, 1)) * 0.3, 4), np.zeros(1)]
    return {"texts": texts, "y": y, "weights": [embedding.tolist()] + [w.tolist() for w in dense],
            "tfidf_weights": [w.tolist() for w in tfidf_dense]}


def make_task() -> dict:
    return {"documents": DOCUMENTS, "test": TEST, "cases": make_cases(), "model": make_model_task()}


# ---- Keras's side (TensorFlow needed) -----------------------------------------------------------------------------

KERAS_SIDE = r'''
import json, sys
import numpy as np
import keras
import tensorflow as tf
task = json.loads(sys.stdin.read())
documents, test = np.array(task["documents"]), np.array(task["test"])


def run_case(args):
    args = dict(args, ngrams=tuple(args["ngrams"]) if isinstance(args.get("ngrams"), list) else args.get("ngrams"))
    layer = keras.layers.TextVectorization(**args)
    if "vocabulary" not in args:
        layer.adapt(documents)
    split = args.get("split", "whitespace") is not None
    data = test if split else documents[:6].reshape(3, 2) if args.get("ngrams") else documents[:5].reshape(-1, 1)
    out = {"output": np.asarray(layer(tf.constant(data))).astype(float).tolist(),
           "vocabulary": [str(v) for v in layer.get_vocabulary()]}
    if split:
        out["column"] = np.asarray(layer(tf.constant(data.reshape(-1, 1)))).astype(float).tolist()
    config = layer.get_config()
    out["config"] = {k: v for k, v in config.items() if k not in ("name", "dtype", "trainable")}
    return out


def models(task):
    texts = np.array(task["texts"])
    ids = keras.layers.TextVectorization(max_tokens=12, output_sequence_length=6, name="ids")
    ids.adapt(texts)
    raw = keras.Input((1,), dtype="string", name="text")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(12, 3)(ids(raw)))
    model = keras.Model(raw, keras.layers.Dense(1, activation="sigmoid")(pooled))
    model.set_weights([np.array(w, "float32") for w in task["weights"]])
    rows = keras.layers.TextVectorization(max_tokens=10, output_mode="tf_idf", name="rows")
    rows.adapt(texts)
    # (a string input of its own: gpunn reads each string input with one layer)
    raw_rows = keras.Input((1,), dtype="string", name="text_rows")
    tfidf = keras.Model(raw_rows, keras.layers.Dense(1)(keras.layers.Flatten()(rows(raw_rows))))
    tfidf.set_weights([np.array(w, "float32") for w in task["tfidf_weights"]])
    return model, tfidf, ids, rows


def run_models(task):
    model, tfidf, ids, rows = models(task)
    x, y = tf.constant(np.array(task["texts"]).reshape(-1, 1)), np.array(task["y"], "float32").reshape(-1, 1)
    result = {"vocabularies": [ids.get_vocabulary(), rows.get_vocabulary()], "idf": np.asarray(
        rows._lookup_layer.idf_weights).tolist(), "vectorized": np.asarray(ids(x)).tolist()}
    for name, built, loss in (("ids", model, "binary_crossentropy"), ("tfidf", tfidf, "mse")):
        before = np.asarray(built(x)).tolist()
        built.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
        history = built.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), epochs=2, verbose=0)
        result[name] = {"predict": before, "loss": history.history["loss"], "trained": np.asarray(built(x)).tolist()}
    return result


def write_file(task, path):
    model, tfidf, _, _ = models(task)
    both = keras.Model([model.input, tfidf.input], [model.output, tfidf.output])
    both.save(path)
    x = tf.constant(np.array(task["texts"]).reshape(-1, 1))
    return [np.asarray(out).tolist() for out in both([x, x])]


result = {"keras": keras.__version__, "tensorflow": tf.__version__,
          "cases": [run_case(args) for args in task["cases"]], "models": run_models(task["model"])}
if "file" in task:
    result["file_outputs"] = write_file(task["model"], task["file"])
print(json.dumps(result))
'''


def run_keras(task) -> dict:
    return run_keras_with_tensorflow_script(KERAS_SIDE, task, backend="tensorflow")


def recorded() -> dict:
    return json.loads(RECORD.read_text())


# ---- gpunn's side -------------------------------------------------------------------------------------------------


def run_case(args) -> dict:
    layer = layers.TextVectorization(**args)
    if "vocabulary" not in args:
        layer.adapt(np.array(DOCUMENTS))
    split = args.get("split", "whitespace") is not None
    documents = np.array(DOCUMENTS)
    data = np.array(TEST) if split else documents[:6].reshape(3, 2) if args.get("ngrams") else \
        documents[:5].reshape(-1, 1)
    out = {"output": np.asarray(layer(data)).astype(float).tolist(), "vocabulary": layer.get_vocabulary()}
    if split:
        out["column"] = np.asarray(layer(data.reshape(-1, 1))).astype(float).tolist()
    config = layer.get_config()
    out["config"] = {k: v for k, v in config.items() if k not in ("name", "dtype", "trainable")}
    return out


def assert_same_case(args, ours, theirs):
    what = f"TextVectorization({args})"
    assert set(ours) == set(theirs), what
    for key, value in theirs.items():
        if key in ("output", "column"):
            np.testing.assert_allclose(ours[key], value, rtol=1e-6, atol=0, err_msg=f"{key} of {what}")
        elif key == "config":
            assert_config_as_kerass(ours[key], value, theirs["vocabulary"], what)
        else:
            assert ours[key] == value, f"{key} of {what}"


def test_the_record_is_of_these_cases():
    record = recorded()
    assert record["task"] == json.loads(json.dumps(make_task())), \
        "the cases changed: record Keras's results again (see the module docstring)"
    assert record["keras"].startswith("3.15") and len(record["cases"]) == len(make_cases())


@pytest.mark.parametrize("index", range(len(make_cases())),
                         ids=[str(args)[:60] for args in make_cases()])
def test_each_case_equals_kerass(index):
    args = make_cases()[index]
    assert_same_case(args, run_case(args), recorded()["cases"][index])


def test_the_cases_equal_kerass_run_live():
    task = make_task()
    theirs = run_keras(task)
    assert theirs["cases"] == recorded()["cases"] and theirs["models"] == recorded()["models"]


def test_kerass_documented_examples():
    """TextVectorization's docstring: an adapted layer's int output, and a given vocabulary's special tokens."""
    layer = layers.TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=4)
    layer.adapt(["foo bar", "bar baz", "baz bada boom"])
    np.testing.assert_array_equal(layer([["foo qux bar"], ["qux baz"]]), [[4, 1, 3, 0], [1, 2, 0, 0]])
    given = layers.TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=4,
                                     vocabulary=["earth", "wind", "and", "fire"])
    assert given.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and", "fire"]


def test_adapt_takes_batches_and_steps():
    whole = layers.TextVectorization(output_mode="tf_idf")
    whole.adapt(np.array(DOCUMENTS))

    def batches():
        for start in range(0, len(DOCUMENTS), 3):
            yield np.array(DOCUMENTS[start:start + 3])

    batched = layers.TextVectorization(output_mode="tf_idf")
    batched.adapt(batches())
    assert batched.get_vocabulary() == whole.get_vocabulary()
    np.testing.assert_allclose(batched(np.array(TEST)), whole(np.array(TEST)), rtol=1e-6)
    first = layers.TextVectorization()
    first.adapt(batches(), steps=1)
    # (the first batch alone; TensorFlow lowers ASCII letters only, and splits on ASCII whitespace only)
    assert set(first.get_vocabulary()[2:]) == {"the", "cat", "sat", "on", "mat", "a", "dog", "and", "École", "spaced",
                                               "out", "words\u00a0here"}


def test_callables_standardize_and_split():
    def shout(texts):
        return np.char.upper(texts)

    def commas(texts):
        return [text.split(",") for text in texts]

    layer = layers.TextVectorization(standardize=shout, split=commas, output_sequence_length=3)
    layer.adapt(["a,b,b", "c,a"])
    assert layer.get_vocabulary() == ["", "[UNK]", "B", "A", "C"]
    np.testing.assert_array_equal(layer(["a,c", "b,x,b,a"]), [[3, 4, 0], [2, 1, 2]])


# ---- the tutorials' models ----------------------------------------------------------------------------------------


def build_models(task):
    texts = np.array(task["texts"])
    ids = layers.TextVectorization(max_tokens=12, output_sequence_length=6, name="ids")
    ids.adapt(texts)
    raw = gpunn.Input((1,), dtype="string", name="text")
    pooled = layers.GlobalAveragePooling1D()(layers.Embedding(12, 3)(ids(raw)))
    model = gpunn.Model(raw, layers.Dense(1, activation="sigmoid")(pooled))
    model.set_weights([np.array(w, "float32") for w in task["weights"]])
    rows = layers.TextVectorization(max_tokens=10, output_mode="tf_idf", name="rows")
    rows.adapt(texts)
    raw_rows = gpunn.Input((1,), dtype="string", name="text_rows")
    tfidf = gpunn.Model(raw_rows, layers.Dense(1)(layers.Flatten()(rows(raw_rows))))
    tfidf.set_weights([np.array(w, "float32") for w in task["tfidf_weights"]])
    return model, tfidf, ids, rows


@pytest.mark.parametrize("jit_compile", [False, True])
def test_the_tutorials_models_train_as_kerass(jit_compile):
    task, theirs = make_model_task(), recorded()["models"]
    model, tfidf, ids, rows = build_models(task)
    x, y = np.array(task["texts"]).reshape(-1, 1), np.array(task["y"], "float32").reshape(-1, 1)
    assert [ids.get_vocabulary(), rows.get_vocabulary()] == theirs["vocabularies"]
    np.testing.assert_allclose(rows._lookup.idf_weights[:10], theirs["idf"], rtol=1e-6)
    np.testing.assert_array_equal(ids(x), theirs["vectorized"])
    for name, built, loss in (("ids", model, "binary_crossentropy"), ("tfidf", tfidf, "mse")):
        np.testing.assert_allclose(built.predict(x, verbose=0), theirs[name]["predict"], rtol=1e-5, atol=1e-6)
        built.compile(optimizer=gpunn.optimizers.SGD(0.1), loss=loss, jit_compile=jit_compile)
        history = built.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        np.testing.assert_allclose(history.history["loss"], theirs[name]["loss"], rtol=1e-5)
        np.testing.assert_allclose(built.predict(x, verbose=0), theirs[name]["trained"], rtol=1e-5, atol=1e-6)


def test_export_models_take_raw_strings_as_the_ids_model_does(tmp_path):
    """The tutorials' export step: the trained model behind the layer, as a Sequential or a functional model."""
    task = make_model_task()
    texts = np.array(task["texts"])
    vectorize = layers.TextVectorization(max_tokens=12, output_sequence_length=6)
    vectorize.adapt(texts)
    ids = np.asarray(vectorize(texts))
    model = gpunn.Sequential([layers.Embedding(12, 3), layers.GlobalAveragePooling1D(), layers.Dense(1)])
    model.compile(optimizer="adam", loss=gpunn.losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(ids, np.array(task["y"]), epochs=2, verbose=0)
    expected = model.predict(ids, verbose=0)
    export = gpunn.Sequential([vectorize, model, layers.Activation("sigmoid")])
    export.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    np.testing.assert_allclose(export.predict(texts, verbose=0), 1 / (1 + np.exp(-expected)), rtol=1e-5)
    loss, accuracy = export.evaluate(texts, np.array(task["y"]), verbose=0)
    assert accuracy == pytest.approx(np.mean((expected[:, 0] > 0) == np.array(task["y"])))
    # built from a vector of strings: one string per sample, as Keras builds it (its SavedModel takes a vector)
    assert export.input_shape == (None,) and export.inputs[0].input_dtype == "string"
    raw = gpunn.Input((1,), dtype="string")
    end_to_end = gpunn.Model(raw, model(vectorize(raw)))
    np.testing.assert_allclose(end_to_end.predict(texts.reshape(-1, 1), verbose=0), expected, rtol=1e-5)
    for built, data in ((export, texts), (end_to_end, texts.reshape(-1, 1))):
        built.save(tmp_path / "model.keras")
        loaded = gpunn.models.load_model(tmp_path / "model.keras")
        np.testing.assert_array_equal(loaded.predict(data, verbose=0), built.predict(data, verbose=0))


def test_kerass_file_of_adapted_layers_loads():
    task = make_model_task()
    loaded = gpunn.models.load_model(KERAS_FILE)
    x = np.array(task["texts"]).reshape(-1, 1)
    outputs = loaded.predict([x, x], verbose=0)
    for ours, theirs in zip(outputs, recorded()["file_outputs"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


GPUNN_FILE_IN_KERAS = r'''
import json, sys
import numpy as np
import keras
import tensorflow as tf
task = json.loads(sys.stdin.read())
model = keras.models.load_model(task["file"])
print(json.dumps({"predict": [np.asarray(out).tolist() for out in model([tf.constant(task["x"])] * 2)]}))
'''


def test_gpunns_file_loads_in_keras_run_live(tmp_path):
    task = make_model_task()
    model, tfidf, _, _ = build_models(task)
    both = gpunn.Model([model.inputs[0], tfidf.inputs[0]], [model.outputs[0], tfidf.outputs[0]])
    both.save(tmp_path / "model.keras")
    x = np.array(task["texts"]).reshape(-1, 1)
    theirs = run_keras_with_tensorflow_script(GPUNN_FILE_IN_KERAS, {"file": str(tmp_path / "model.keras"),
                                                                   "x": x.tolist()}, backend="tensorflow")
    for ours, result in zip(both.predict([x, x], verbose=0), theirs["predict"]):
        np.testing.assert_allclose(result, ours, rtol=1e-5, atol=1e-6)


# ---- what a model cannot take ---------------------------------------------------------------------------------------


def test_what_gpunn_cannot_take_is_refused_by_name():
    raw = gpunn.Input((1,), dtype="string")
    with pytest.raises(ValueError, match=r"in a model, TextVectorization's 'int' output needs output_sequence_length"):
        layers.TextVectorization(vocabulary=["a"])(raw)
    with pytest.raises(ValueError, match=r"ragged: gpunn's layers output dense arrays"):
        layers.TextVectorization(ragged=True)
    with pytest.raises(ValueError, match=r"output_mode: 'one_hot' encodes one token per document \(split=None\)"):
        layers.TextVectorization(output_mode="one_hot")
    with pytest.raises(ValueError, match=r"output_sequence_length: must not be set if output_mode is not 'int'"):
        layers.TextVectorization(output_mode="count", output_sequence_length=3)
    with pytest.raises(ValueError, match=r"standardize: expected one of .* got 'upper'"):
        layers.TextVectorization(standardize="upper")
    with pytest.raises(ValueError, match=r"ngrams: expected None, an integer >= 1 or a tuple of them, got 0"):
        layers.TextVectorization(ngrams=0)
    with pytest.raises(ValueError, match=r"inputs: TextVectorization splits one document per sample: .* got shape "
                                         r"\(1, 2\)"):
        layers.TextVectorization(vocabulary=["a"])(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match=r"TextVectorization needs its vocabulary before it is used"):
        layers.TextVectorization(output_mode="multi_hot")(raw)


def record(python: str) -> None:
    """Write RECORD and KERAS_FILE with what Keras (run by ``python``, with TensorFlow) computes."""
    task = make_task()
    result = run_with_python(python, KERAS_SIDE, task | {"file": str(KERAS_FILE)}, backend="tensorflow")
    RECORD.write_text(json.dumps({"keras": result["keras"], "tensorflow": result["tensorflow"], "task": task,
                                  "cases": result["cases"], "models": result["models"],
                                  "file_outputs": result["file_outputs"]}) + "\n")


if __name__ == "__main__":
    record(sys.argv[1])


def test_a_vocabulary_of_only_the_special_tokens_maps_every_word_out_of_it():
    """max_tokens=2 leaves room for the padding and OOV tokens only: every word is OOV (an IndexError before)."""
    layer = gpunn.layers.TextVectorization(max_tokens=2)
    layer.adapt(np.array(["a b c", "b c"]))
    assert layer.get_vocabulary() == ["", "[UNK]"]
    np.testing.assert_array_equal(layer(np.array(["a b", "c"])), [[1, 1], [1, 0]])
