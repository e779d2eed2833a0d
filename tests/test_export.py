"""``model.export(path)`` (``gpunn/models/export.py``): the SavedModel Keras writes from the model's .keras file,
served by TensorFlow where GPUNN_KERAS_TF_PYTHON names an interpreter with Keras 3.15 and TensorFlow."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import run_keras_with_tensorflow_script  # noqa: E402

import gpunn  # noqa: E402

EXPORT = r'''
import json, sys
import numpy as np
import tensorflow as tf
import gpunn

task = json.loads(sys.stdin.read())
x = np.array(task["x"], dtype="float32")
gpunn.utils.set_random_seed(0)
model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(8, activation="relu"), gpunn.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x, x[:, :1], epochs=2, verbose=0)
model.export(task["path"], verbose=False)
loaded = tf.saved_model.load(task["path"])  # (held: its functions read its variables)
served = loaded.serve(tf.constant(x)).numpy()
print(json.dumps({"served": served.tolist(), "predicted": model.predict(x, verbose=0).tolist()}))
'''


def test_export_writes_a_saved_model_that_tensorflow_serves(tmp_path):
    """The TF text tutorial's ``export_model.export(path)`` then ``tf.saved_model.load(path).serve(...)``: Keras
    writes the SavedModel from the model's .keras file."""
    x = np.random.default_rng(0).normal(size=(6, 4))
    result = run_keras_with_tensorflow_script(EXPORT, {"x": x.tolist(), "path": str(tmp_path / "exported")},
                                              backend="tensorflow", gpunn_path=True)
    np.testing.assert_allclose(result["served"], result["predicted"], rtol=1e-6, atol=1e-6)


def test_export_says_what_it_needs(monkeypatch, tmp_path):
    from gpunn import _compat
    from gpunn.models import NotBuiltError

    with pytest.raises(NotBuiltError, match="export: this model has not been built yet"):
        gpunn.Sequential([gpunn.layers.Dense(1)]).export(tmp_path / "m")
    monkeypatch.setattr(_compat, "keras", lambda: None)
    with pytest.raises(ImportError, match=r"export: gpunn exports a model through Keras 3, which cannot be imported"):
        gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(1)]).export(tmp_path / "m")


EXPORT_TEXT = r'''
import json, sys
import numpy as np
import tensorflow as tf
import gpunn

task = json.loads(sys.stdin.read())
texts = np.array(task["texts"])
vectorize = gpunn.layers.TextVectorization(max_tokens=20, output_mode="multi_hot")
vectorize.adapt(texts)
model = gpunn.Sequential([gpunn.Input((len(vectorize.get_vocabulary()),)), gpunn.layers.Dense(1)])
export_model = gpunn.Sequential([vectorize, model, gpunn.layers.Activation("sigmoid")])
export_model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
export_model.evaluate(texts, np.array(task["y"]), verbose=0)
export_model.export(task["path"], verbose=False)
loaded = tf.saved_model.load(task["path"])
served = loaded.serve(tf.constant(texts)).numpy()
print(json.dumps({"served": served.tolist(), "predicted": export_model.predict(texts, verbose=0).tolist()}))
'''


def test_a_text_model_exported_serves_a_vector_of_strings(tmp_path):
    """The TF text tutorial's ``export_model`` (TextVectorization first, built from a vector of strings, as Keras
    builds it: one string per sample) served on a vector of strings."""
    texts = ["the film was good", "bad plot", "good good film", "a plot"]
    result = run_keras_with_tensorflow_script(EXPORT_TEXT, {"texts": texts, "y": [1, 0, 1, 0],
                                                            "path": str(tmp_path / "exported")},
                                              backend="tensorflow", gpunn_path=True)
    np.testing.assert_allclose(result["served"], result["predicted"], rtol=1e-6, atol=1e-6)


ONNX_READY = r'''
import json, sys
import numpy as np
import keras
import gpunn

seen = []


def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
    seen.append({"called": bool(self._called), "format": format, "signature": input_signature})


keras.Model.export = export  # (what Keras's ONNX export asks of the model, without jax2onnx and onnxruntime)
plain = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(2)])
age, city = gpunn.Input((1,), name="age"), gpunn.Input((3,), name="city")
joined = gpunn.layers.Dense(1)(gpunn.layers.Concatenate()([age, city]))
by_name = gpunn.Model({"age": age, "city": city}, joined)
for model in (plain, by_name):
    model.export("unused.onnx", format="onnx")
print(json.dumps(seen))
'''


def test_an_onnx_export_hands_keras_a_model_it_has_called(tmp_path):
    """Keras's ONNX and OpenVINO exports refuse a model never called ("The model provided has never called"), and
    Keras's copy of gpunn's model is new: gpunn calls it once on zeros shaped as its inputs (a dict of them
    too) before Keras exports it."""
    from helpers import keras_unavailable_reason, run_keras_script

    if keras_unavailable_reason():
        pytest.skip(keras_unavailable_reason())
    run = run_keras_script(ONNX_READY, cwd=str(tmp_path))
    assert run.returncode == 0, run.stderr[-3000:]
    seen = __import__("json").loads(run.stdout.strip().splitlines()[-1])
    assert seen == [{"called": True, "format": "onnx", "signature": None}] * 2
