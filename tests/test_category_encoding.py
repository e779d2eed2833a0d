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


COUNT_WEIGHTS = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
layer = keras.layers.CategoryEncoding(num_tokens=4, output_mode="count")
print(json.dumps([np.asarray(layer(np.array(ids), count_weights=np.array(weights))).tolist()
                  for ids, weights in task]))
'''


def test_count_weights_sum_a_weight_per_id_as_in_keras(numpy_backend):
    """Keras's docs example (a batch of id pairs) and one sample given as a 1-D row of ids."""
    task = [([[0, 1], [0, 0], [1, 2], [3, 1]], [[.1, .2], [.1, .1], [.2, .3], [.4, .2]]),
            ([0, 1, 1], [1.0, 2.0, 3.0])]
    layer = layers.CategoryEncoding(num_tokens=4, output_mode="count")
    ours = [np.asarray(layer(np.array(ids), count_weights=np.array(weights))) for ids, weights in task]
    for mine, theirs in zip(ours, run_keras(COUNT_WEIGHTS, task)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6)
    assert ours[0].dtype == np.float32 and ours[1].tolist() == [1.0, 5.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="`count_weights` is not used when `output_mode` is not `'count'`"):
        layers.CategoryEncoding(4)(np.array([[0]]), count_weights=np.array([[1.0]]))
    with pytest.raises(ValueError, match=r"count_weights: expected the shape of the ids, \(1, 2\), got \(1, 1\)"):
        layer(np.array([[0, 1]]), count_weights=np.array([[1.0]]))
    with pytest.raises(ValueError, match=r"expected categories, integers in \[0, 4\)"):
        layer(np.array([[0, 4]]), count_weights=np.array([[1.0, 1.0]]))
    with pytest.raises(TypeError, match="count_weights: layer .* takes them in a call on data"):
        layer(gpunn.Input((2,), dtype="int32"), count_weights=gpunn.Input((2,)))
