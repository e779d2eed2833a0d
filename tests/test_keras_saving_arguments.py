"""Keras 3's saving arguments: ``model.save(path, zipped=False)`` (a directory Keras and gpunn read both ways),
``load_weights(..., objects_to_skip=...)``, ``save_weights(..., max_shard_size=...)``, tf.keras 2's
``include_optimizer`` by keyword, and Keras's ``mnist.load_data(path="mnist.npz")``."""
from __future__ import annotations

import os

import numpy as np
import pytest
from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

import gpunn

BOTH_WAYS = r'''
import json, os, sys
import numpy as np


def run(keras, folder):
    x = np.arange(24, dtype="float32").reshape(8, 3) / 10
    y = x.sum(axis=1, keepdims=True)

    def made(seed):
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)])
        model.set_weights([np.random.default_rng(seed).normal(size=w.shape).astype("float32")
                           for w in model.get_weights()])
        model.compile(keras.optimizers.Adam(0.05), "mse")
        return model

    model = made(0)
    model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    out = {}
    # an unzipped model: the third argument is zipped
    directory = os.path.join(folder, "model_dir")
    model.save(directory, True, False)
    out["files"] = sorted(name for name in os.listdir(directory) if name != "assets")
    loaded = keras.saving.load_model(directory)
    out["loaded"] = [int(loaded.optimizer.iterations), loaded.predict(x, verbose=0).ravel().tolist()]
    try:
        model.save(os.path.join(folder, "m.keras"), zipped=False)
    except ValueError as error:
        out["keras_name"] = "should not end in `.keras`" in str(error)
    # load_weights keeping some layers' weights and the optimizer's state
    path = os.path.join(folder, "trained.weights.h5")
    model.save_weights(path)
    other = made(1)
    other.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    kept = [w.tolist() for w in other.layers[1].get_weights()]
    other.load_weights(path, objects_to_skip=[other.layers[1], other.optimizer])
    out["skipped"] = [[w.tolist() for w in other.layers[1].get_weights()] == kept,
                      [w.tolist() for w in other.layers[0].get_weights()] == [w.tolist() for w in
                                                                              model.layers[0].get_weights()],
                      int(other.optimizer.iterations)]
    # a new head of another shape on the loaded base: the skipped head is never matched against the file
    wider = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(2)])
    head = [w.tolist() for w in wider.layers[1].get_weights()]
    wider.load_weights(path, objects_to_skip=[wider.layers[1]])
    out["new_head"] = [[w.tolist() for w in wider.layers[1].get_weights()] == head,
                       [w.tolist() for w in wider.layers[0].get_weights()] == [w.tolist() for w in
                                                                               model.layers[0].get_weights()]]
    try:
        other.load_weights(os.path.join(folder, "x.keras"), objects_to_skip=[])
    except (ValueError, FileNotFoundError) as error:
        out["skip_keras_file"] = type(error).__name__
    return out
'''


def test_unzipped_models_and_skipped_objects_as_keras_s(tmp_path_factory):
    ours, theirs = run_script_both_ways(BOTH_WAYS, tmp_path_factory)
    assert ours["files"] == theirs["files"] == ["config.json", "metadata.json", "model.weights.h5"]
    assert ours["loaded"][0] == theirs["loaded"][0] == 4
    np.testing.assert_allclose(ours["loaded"][1], theirs["loaded"][1], rtol=1e-4)
    assert ours["keras_name"] is theirs["keras_name"] is True
    assert ours["skipped"] == theirs["skipped"] == [True, True, 1]
    assert ours["new_head"] == theirs["new_head"] == [True, True]
    assert ours["skip_keras_file"] == theirs["skip_keras_file"] == "ValueError"


def _trained():
    gpunn.utils.set_random_seed(3)
    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(2), gpunn.layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(np.ones((4, 3), "float32"), np.ones((4, 1), "float32"), epochs=1, verbose=0)
    return model


def test_an_unzipped_model_directory_keeps_other_files_and_refuses_a_file_in_its_place(numpy_backend, tmp_path):
    model = _trained()
    directory = tmp_path / "for_the_hub"
    directory.mkdir()
    (directory / "README.md").write_text("a model card")
    gpunn.saving.save_model(model, directory, zipped=False)
    assert (directory / "README.md").read_text() == "a model card"
    with pytest.raises(FileExistsError, match="holds a saved model and overwrite=False"):
        model.save(directory, overwrite=False, zipped=False)
    (tmp_path / "a_file").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="zipped=False saves the model as a directory"):
        model.save(tmp_path / "a_file", zipped=False)
    np.testing.assert_array_equal(gpunn.models.load_model(directory).get_weights()[0], model.get_weights()[0])


def test_saving_arguments_refused_or_taken_by_name(numpy_backend, tmp_path):
    model = _trained()
    with pytest.raises(ValueError, match="max_shard_size: gpunn writes the weights as one file"):
        model.save_weights(tmp_path / "w.weights.h5", True, 2.0)
    with pytest.raises(ValueError, match="objects_to_skip: expected layers of model"):
        model.save_weights(tmp_path / "w.weights.h5")
        model.load_weights(tmp_path / "w.weights.h5", objects_to_skip=[gpunn.layers.Dense(1)])
    with pytest.raises(TypeError, match=r"save: unexpected keyword argument\(s\) \['signatures'\]"):
        model.save(tmp_path / "m.keras", signatures=None)
    model.save(tmp_path / "m.h5", include_optimizer=False)  # tf.keras 2's keyword
    assert not gpunn.models.load_model(tmp_path / "m.h5").optimizer.iterations


def test_mnist_s_keras_default_path_reads_keras_s_cache(tmp_path, monkeypatch):
    """``load_data(path="mnist.npz")``: Keras's file in its cache (KERAS_HOME), not a folder of that name."""
    arrays = {"x_train": np.zeros((2, 28, 28), "uint8"), "y_train": np.array([1, 2], "uint8"),
              "x_test": np.zeros((1, 28, 28), "uint8"), "y_test": np.array([3], "uint8")}
    os.makedirs(tmp_path / "keras_home" / "datasets")
    np.savez(tmp_path / "keras_home" / "datasets" / "mnist.npz", **arrays)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.chdir(tmp_path)
    (_, y_train), (_, y_test) = gpunn.datasets.mnist.load_data(path="mnist.npz")
    assert y_train.tolist() == [1, 2] and y_test.tolist() == [3]
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "nowhere"))
    monkeypatch.setenv("GPUNN_OFFLINE", "1")
    monkeypatch.setenv("GPUNN_DATA_DIR", str(tmp_path / "gpunn_data"))
    with pytest.raises(FileNotFoundError, match="gpunn_data"):  # gpunn's own cache, not ./mnist.npz/
        gpunn.datasets.mnist.load_data(path="mnist.npz")
