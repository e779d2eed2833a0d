"""CategoryEncoding (Keras 3's preprocessing layer of integer categories): its three output modes in a model
of integer inputs, trained and saved, checked against Keras; ids out of range refused before any work."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend, run_keras  # noqa: F401

import gpunn
from gpunn import layers

DEFINE = r'''
def define(keras):
    layers = keras.layers
    several = keras.Input((3,), dtype="int32", name="several")
    one = keras.Input((1,), dtype="int32", name="one")
    parts = [layers.CategoryEncoding(6, output_mode="multi_hot")(several),
             layers.CategoryEncoding(6, output_mode="count")(several),
             layers.CategoryEncoding(4, output_mode="one_hot")(one),
             layers.Flatten()(layers.CategoryEncoding(6, output_mode="one_hot")(several))]
    h = layers.Dense(5, activation="relu")(layers.Concatenate()(parts))
    return keras.Model([several, one], layers.Dense(1)(h))
'''

KERAS_SIDE = DEFINE + r'''
import json, os, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x = [np.array(task["several"], "int32"), np.array(task["one"], "int32")]
y = np.array(task["y"], "float32")
model = define(keras)
model.set_weights([np.array(w, "float32") for w in task["weights"]])
predicted = model.predict(x, verbose=0).tolist()
model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
history = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
model.save(os.path.join(task["dir"], "keras.keras"))
ours = keras.models.load_model(os.path.join(task["dir"], "gpunn.keras"))
print(json.dumps({"predict": predicted, "loss": history.history["loss"], "trained": model.predict(x, verbose=0).tolist(),
                  "gpunn_file": ours.predict(x, verbose=0).tolist()}))
'''


def test_category_encoding_equals_keras_s(tmp_path):
    namespace: dict = {}
    exec(DEFINE, namespace)
    rng = np.random.default_rng(7)
    several, one = rng.integers(0, 6, (12, 3)), rng.integers(0, 4, (12, 1))
    y = rng.standard_normal((12, 1)).astype(np.float32)
    model = namespace["define"](gpunn)
    weights = model.get_weights()
    predicted = model.predict([several, one], verbose=0)
    model.save(tmp_path / "gpunn.keras")
    theirs = run_keras(KERAS_SIDE, {"several": several.tolist(), "one": one.tolist(), "y": y.tolist(),
                                    "dir": str(tmp_path), "weights": [w.tolist() for w in weights]})
    np.testing.assert_allclose(predicted, theirs["predict"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(theirs["gpunn_file"], predicted, rtol=1e-5, atol=1e-6)
    model.compile(optimizer=gpunn.optimizers.SGD(0.05), loss="mse")
    history = model.fit([several, one], y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], theirs["loss"], rtol=1e-5)
    loaded = gpunn.models.load_model(tmp_path / "keras.keras")
    np.testing.assert_allclose(loaded.predict([several, one], verbose=0), theirs["trained"], rtol=1e-5, atol=1e-6)


def test_ids_out_of_range_and_bad_arguments_are_refused():
    inputs = gpunn.Input((2,), dtype="int32")
    model = gpunn.Model(inputs, layers.CategoryEncoding(3)(inputs))
    with pytest.raises(ValueError, match=r"x: expected categories, integers in \[0, 3\).*got 3 at index \(1, 0\)"):
        model.predict(np.array([[0, 1], [3, 0]]), verbose=0)
    with pytest.raises(ValueError, match="num_tokens: must be set"):
        layers.CategoryEncoding()
    with pytest.raises(ValueError, match="output_mode: expected one of"):
        layers.CategoryEncoding(3, output_mode="tf_idf")
    with pytest.raises(ValueError, match="sparse: gpunn's layers output dense arrays"):
        layers.CategoryEncoding(3, sparse=True)
