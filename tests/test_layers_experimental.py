"""tf.keras 2's ``layers.experimental.preprocessing`` namespace (``from tensorflow.keras.layers.experimental import
preprocessing``, as scripts of tf.keras 2.3-2.5 import the preprocessing layers), with that era's names:
CategoryEncoding's ``max_tokens`` and the lookups' ``vocab_size()``."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import gpunn
from gpunn import layers
from gpunn.layers.experimental import preprocessing


def test_the_namespace_holds_the_preprocessing_layers():
    assert gpunn.layers.experimental.preprocessing is preprocessing
    for name in ("Normalization", "StringLookup", "IntegerLookup", "TextVectorization", "Discretization", "Hashing",
                 "HashedCrossing", "Rescaling"):
        assert getattr(preprocessing, name) is getattr(layers, name), name
    assert issubclass(preprocessing.CategoryEncoding, layers.CategoryEncoding)


def test_a_tf_keras_2_script_of_lookups_and_encodings(tmp_path):
    """TensorFlow 2.4's structured-data tutorial's encoding: ``CategoryEncoding(max_tokens=index.vocab_size())``."""
    index = preprocessing.StringLookup()
    index.adapt(np.array([["cat"], ["dog"], ["dog"]]))
    assert index.vocab_size() == index.vocabulary_size() == 3
    encoder = preprocessing.CategoryEncoding(max_tokens=index.vocab_size())
    assert encoder.num_tokens == 3 and encoder.get_config()["num_tokens"] == 3
    inputs = gpunn.Input((1,), dtype="string")
    model = gpunn.Model(inputs, encoder(index(inputs)))
    np.testing.assert_array_equal(model.predict(np.array([["dog"], ["bird"]]), verbose=0), [[0, 1, 0], [1, 0, 0]])
    model.save(tmp_path / "model.keras")
    config = json.loads(zipfile.ZipFile(tmp_path / "model.keras").read("config.json"))
    assert [(entry["module"], entry["class_name"]) for entry in config["config"]["layers"]][-1] == \
        ("keras.layers", "CategoryEncoding")  # the file is Keras 3's
    loaded = gpunn.models.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(loaded.predict(np.array([["dog"], ["bird"]]), verbose=0), [[0, 1, 0], [1, 0, 0]])
    with pytest.raises(ValueError, match=r"max_tokens: tf.keras 2's name of num_tokens; give one of them"):
        preprocessing.CategoryEncoding(num_tokens=3, max_tokens=4)
