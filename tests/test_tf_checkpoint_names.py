"""Weights saved under a TensorFlow checkpoint's name (TensorFlow's save_and_load tutorial:
``ModelCheckpoint("training_2/cp-{epoch:04d}.ckpt", save_weights_only=True)``, then
``model.load_weights(tf.train.latest_checkpoint("training_2"))``): gpunn's file is written under that name, with
TensorFlow's ``checkpoint`` state file beside it naming the newest; and the files of tf.keras 2's own formats
(a TensorFlow checkpoint, a SavedModel folder) are refused by name."""
from __future__ import annotations

import os
import re

import numpy as np
import pytest
from helpers import numpy_backend  # noqa: F401  (fixture)

import gpunn


def _model():
    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(2)])
    model.compile("sgd", "mse")
    return model


def _latest_checkpoint(folder):
    """What tf.train.latest_checkpoint returns (checkpoint_management.py): the state file's
    model_checkpoint_path, relative to the folder, when a file is there."""
    with open(os.path.join(folder, "checkpoint")) as handle:
        name = re.search(r'^model_checkpoint_path: "(.*)"$', handle.read(), re.M).group(1)
    path = os.path.join(folder, name)
    return path if os.path.exists(path) else None


def test_model_checkpoint_to_ckpt_names_keeps_tensorflow_s_state_file(numpy_backend, tmp_path):
    folder = tmp_path / "training_2"
    model = _model()
    x, y = np.random.default_rng(0).normal(size=(20, 3)), np.zeros((20, 2))
    saver = gpunn.callbacks.ModelCheckpoint(str(folder / "cp-{epoch:04d}.ckpt"), save_weights_only=True)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[saver])
    assert sorted(os.listdir(folder)) == ["checkpoint", "cp-0001.ckpt", "cp-0002.ckpt", "cp-0003.ckpt"]
    assert (folder / "checkpoint").read_text() == ('model_checkpoint_path: "cp-0003.ckpt"\n'
                                                   'all_model_checkpoint_paths: "cp-0003.ckpt"\n')
    fresh = _model()
    fresh.load_weights(_latest_checkpoint(str(folder)))
    for ours, saved in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(ours, saved)


def test_tensorflow_finds_the_newest(numpy_backend, tmp_path):
    tf = pytest.importorskip("tensorflow", reason="TensorFlow reads the state file itself")
    model = _model()
    model.save_weights(str(tmp_path / "cp-0000.ckpt"))
    model.save_weights(str(tmp_path / "cp-0001.ckpt"))
    assert tf.train.latest_checkpoint(str(tmp_path)) == str(tmp_path / "cp-0001.ckpt")


def test_other_names_get_no_state_file(numpy_backend, tmp_path):
    model = _model()
    model.save_weights(str(tmp_path / "w.safetensors"))
    model.save_weights(str(tmp_path / "w.weights.h5"))
    assert sorted(os.listdir(tmp_path)) == ["w.safetensors", "w.weights.h5"]


def test_tf_keras_2_s_own_formats_are_refused_by_name(numpy_backend, tmp_path):
    (tmp_path / "cp.ckpt.index").write_bytes(b"\0")
    (tmp_path / "cp.ckpt.data-00000-of-00001").write_bytes(b"\0")
    with pytest.raises(FileNotFoundError, match="TensorFlow checkpoint .*cp.ckpt.index.*weights.h5"):
        _model().load_weights(str(tmp_path / "cp.ckpt"))
    saved_model = tmp_path / "my_model"
    saved_model.mkdir()
    (saved_model / "saved_model.pb").write_bytes(b"\0")
    with pytest.raises(IsADirectoryError, match="TensorFlow SavedModel"):
        gpunn.models.load_model(str(saved_model))
