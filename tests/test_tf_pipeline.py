"""Preprocessing layers called inside a tf.data pipeline (``dataset.map(lambda x, y: (vectorize_layer(x), y))``):
the layer's call wrapped in ``tf.numpy_function`` (``gpunn/layers/tf_pipeline.py``).

TensorFlow is not installed beside the tests: a stand-in module plays its part here (symbolic tensors that hold
the function to run, as ``tf.numpy_function`` returns them), checking what gpunn hands TensorFlow: the function,
the output dtype and the static shape. TensorFlow's own tutorials run live where GPUNN_KERAS_TF_PYTHON names an
interpreter with TensorFlow (and gpunn's dependencies): their pipelines, models and exports, unchanged but for
``import gpunn as keras``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import SymbolicTensor, install_fake_tensorflow, run_keras_with_tensorflow_script  # noqa: E402

from gpunn import layers  # noqa: E402


@pytest.fixture
def fake_tensorflow(monkeypatch):
    return install_fake_tensorflow(monkeypatch)


def test_a_batch_of_documents_in_a_pipeline_gives_keras_dtype_and_shape(fake_tensorflow):
    vectorize = layers.TextVectorization(max_tokens=10, output_sequence_length=4)
    vectorize.adapt(["the cat sat", "the dog"])
    out = vectorize(SymbolicTensor([None, 1]))
    assert out.dtype == "int64" and out.static_shape == [None, 4]
    values = out.run(np.array([[b"the cat"], [b"a dog sat here"]], dtype=object))
    assert values.dtype == np.int64
    np.testing.assert_array_equal(values, vectorize(np.array([["the cat"], ["a dog sat here"]])))
    rows = layers.TextVectorization(output_mode="tf_idf")
    rows.adapt(["the cat sat", "the dog"])
    out = rows(SymbolicTensor([None]))
    assert out.dtype == "float32" and out.static_shape == [None, rows.vocabulary_size()]


def test_one_sample_at_a_time_is_one_value_per_sample(fake_tensorflow):
    """``map`` before ``batch``: a scalar per call, as Keras's layers take it (multi_hot rows, int indices; a
    lookup's multi_hot rows are int64 in Keras, its table's values)."""
    lookup = layers.StringLookup(vocabulary=["fixed", "normal"], num_oov_indices=0, output_mode="binary")
    out = lookup(SymbolicTensor([]))
    assert out.dtype == "int64" and out.static_shape == [2]
    np.testing.assert_array_equal(out.run(np.array(b"normal", dtype=object)), [0, 1])
    ids = layers.IntegerLookup(vocabulary=[3, 7])
    out = ids(SymbolicTensor([]))
    assert out.dtype == "int64" and out.static_shape == []
    assert out.run(np.array(7)) == 2 and out.run(np.array(7)).shape == ()


def test_an_inverted_lookup_gives_strings(fake_tensorflow):
    inverse = layers.StringLookup(vocabulary=["a", "b"], invert=True)
    out = inverse(SymbolicTensor([None, 2]))
    assert out.dtype == "string" and out.static_shape == [None, 2]
    assert out.run(np.array([[1, 2], [0, 1]])).tolist() == [["a", "b"], ["[UNK]", "a"]]


def test_a_cross_of_several_features_in_a_pipeline(fake_tensorflow):
    out = layers.HashedCrossing(5)((SymbolicTensor([None]), SymbolicTensor([None])))
    assert out.dtype == "int64" and out.static_shape == [None]
    np.testing.assert_array_equal(out.run(np.array([b"A", b"B"], dtype=object), np.array([101, 102])), [1, 1])


def test_other_layers_in_a_pipeline_too(fake_tensorflow):
    normalize = layers.Normalization(mean=2.0, variance=4.0)
    out = normalize(SymbolicTensor([None, 1]))
    assert out.dtype == "float32" and out.static_shape == [None, 1]
    np.testing.assert_allclose(out.run(np.array([[4.0], [0.0]])), [[1.0], [-1.0]])


TUTORIALS = r'''
import json, re, string, sys
import numpy as np
import tensorflow as tf
import gpunn as keras
from gpunn import layers, losses

# TensorFlow's "Basic text classification": its pipeline, model and export model, on reviews made up here
rng = np.random.default_rng(0)
words = ["good", "bad", "great", "<br />", "awful", "movie", "Plot!", "the", "was", "fun"]
texts = [" ".join(rng.choice(words, 12)) for _ in range(320)]
labels = [int(("good" in t or "great" in t) and "bad" not in t) for t in texts]
raw_train_ds = tf.data.Dataset.from_tensor_slices((texts[:256], labels[:256])).batch(32)
raw_test_ds = tf.data.Dataset.from_tensor_slices((texts[256:], labels[256:])).batch(32)


def custom_standardization(input_data):
    lowercase = tf.strings.lower(input_data)
    stripped_html = tf.strings.regex_replace(lowercase, "<br />", " ")
    return tf.strings.regex_replace(stripped_html, "[%s]" % re.escape(string.punctuation), "")


vectorize_layer = layers.TextVectorization(standardize=custom_standardization, max_tokens=20, output_mode="int",
                                           output_sequence_length=12)
vectorize_layer.adapt(raw_train_ds.map(lambda x, y: x))


def vectorize_text(text, label):
    text = tf.expand_dims(text, -1)
    return vectorize_layer(text), label


train_ds = raw_train_ds.map(vectorize_text).cache().prefetch(buffer_size=tf.data.AUTOTUNE)
test_ds = raw_test_ds.map(vectorize_text, num_parallel_calls=tf.data.AUTOTUNE)
keras.utils.set_random_seed(1)
model = keras.Sequential([layers.Embedding(20, 16), layers.Dropout(0.2), layers.GlobalAveragePooling1D(),
                          layers.Dropout(0.2), layers.Dense(1)])
model.compile(loss=losses.BinaryCrossentropy(from_logits=True), optimizer="adam",
              metrics=[keras.metrics.BinaryAccuracy(threshold=0.5)])
history = model.fit(train_ds, validation_data=test_ds, epochs=10, verbose=0)
export_model = keras.Sequential([vectorize_layer, model, layers.Activation("sigmoid")])
export_model.compile(loss=losses.BinaryCrossentropy(from_logits=False), optimizer="adam", metrics=["accuracy"])
exported = export_model.evaluate(raw_test_ds, return_dict=True, verbose=0)
test_probabilities = export_model.predict(tf.constant(texts[256:]), verbose=0)[:, 0]
manual = float(np.mean((test_probabilities > 0.5) == np.array(labels[256:])))
predicted = export_model.predict(tf.constant(["The movie was great!", "The movie was bad."]), verbose=0)
direct = model.predict(vectorize_layer(np.array([["The movie was great!"], ["The movie was bad."]])), verbose=0)
print(json.dumps({"spec": str(train_ds.element_spec[0]), "history": history.history,
                  "manual": manual, "exported": exported,
                  "predicted": predicted.tolist(), "direct": direct.tolist()}))
'''


def test_tensorflows_text_classification_tutorial_runs_live():
    result = run_keras_with_tensorflow_script(TUTORIALS, {}, backend="tensorflow", gpunn_path=True)
    assert result["spec"] == "TensorSpec(shape=(None, 12), dtype=tf.int64, name=None)"
    assert result["history"]["binary_accuracy"][-1] > 0.7  # it learns the made-up rule
    # the export model (raw strings in, sigmoid out) is the trained model behind the layer
    assert result["exported"]["accuracy"] == pytest.approx(result["manual"])
    np.testing.assert_allclose(result["predicted"], 1 / (1 + np.exp(-np.array(result["direct"]))), rtol=1e-5)
    assert json.dumps(result)  # (what came back is plain JSON)


STEPS = r'''
import json, sys
import numpy as np
import tensorflow as tf
task = json.loads(sys.stdin.read())
if task["lib"] == "keras":
    import keras
else:
    import gpunn as keras
x, y = np.ones((50, 3), "float32"), np.zeros((50, 1), "float32")
counted = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)  # 7 batches, known to TensorFlow
uncounted = counted.filter(lambda a, b: True)  # TensorFlow cannot count these
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
print(json.dumps({name: model.fit(data, epochs=2, verbose=0).params["steps"]
                  for name, data in (("counted", counted), ("uncounted", uncounted))}))
'''


def test_the_steps_of_a_tf_data_dataset_are_its_cardinality_as_in_keras():
    """``history.params["steps"]`` (and the progress bar's length) of a tf.data dataset: its cardinality where
    TensorFlow knows it, else None, as Keras's TF data adapter gives them."""
    from helpers import run_keras_with_tensorflow_script

    theirs = run_keras_with_tensorflow_script(STEPS, {"lib": "keras"}, backend="tensorflow")
    ours = run_keras_with_tensorflow_script(STEPS, {"lib": "gpunn"}, backend="tensorflow", gpunn_path=True)
    assert ours == theirs
    assert theirs["counted"] == 7


class _EagerStrings:
    """What an eager TensorFlow string tensor (``tf.constant([["a"], ["b"]])``) shows gpunn: its module, a dtype
    named "string", and bytes through ``__array__``."""
    __module__ = "tensorflow.python.framework.ops"

    def __init__(self, rows):
        self.dtype = type("DType", (), {"name": "string"})()
        self._values = np.array([[s.encode() for s in row] for row in rows], dtype=object)
        self.shape = self._values.shape

    def __array__(self, dtype=None, copy=None):
        return self._values


def test_hashing_takes_an_eager_tensorflow_string_tensor_as_string_lookup_does():
    """The preprocessing guide hashes TensorFlow strings; Keras's bins, as NumPy strings give them."""
    strings = _EagerStrings([["a"], ["b"], ["hello"]])
    hashed = layers.Hashing(num_bins=8)(strings)
    np.testing.assert_array_equal(hashed, layers.Hashing(num_bins=8)(np.array([["a"], ["b"], ["hello"]])))
    assert np.asarray(hashed).ravel().tolist() == [3, 6, 0]  # Keras 3.15 on TensorFlow's strings
    looked_up = layers.StringLookup(vocabulary=["a", "b"])(strings)
    assert np.asarray(looked_up).ravel().tolist() == [1, 2, 0]
