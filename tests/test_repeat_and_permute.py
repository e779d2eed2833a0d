"""RepeatVector and Permute (Keras 3's reshaping layers): values, training through them and the model files,
checked against Keras; the gradients against finite differences."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend, run_keras  # noqa: F401
from test_gradients import build, check_layer

import gpunn
from gpunn import layers

DEFINE = r'''
def define(keras):
    layers = keras.layers
    inputs = keras.Input((3,))
    h = layers.RepeatVector(4)(layers.Dense(2, activation="tanh")(inputs))   # (4, 2)
    h = layers.Permute((2, 1))(h)                                             # (2, 4)
    outputs = layers.Dense(1)(layers.Flatten()(layers.Dense(3)(h)))
    return keras.Model(inputs, outputs)
'''

KERAS_SIDE = DEFINE + r'''
import json, os, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x, y = np.array(task["x"], "float32"), np.array(task["y"], "float32")
model = define(keras)
model.set_weights([np.array(w, "float32") for w in task["weights"]])
predicted = model.predict(x, verbose=0).tolist()
model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
history = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
ours = keras.models.load_model(os.path.join(task["dir"], "gpunn.keras"))
print(json.dumps({"predict": predicted, "loss": history.history["loss"],
                  "gpunn_file": ours.predict(x, verbose=0).tolist(),
                  "configs": [layer.get_config() for layer in model.layers[2:4]]}))
'''


def test_repeat_vector_and_permute_equal_keras_s(tmp_path):
    namespace: dict = {}
    exec(DEFINE, namespace)
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((8, 3)).astype(np.float32), rng.standard_normal((8, 1)).astype(np.float32)
    model = namespace["define"](gpunn)
    assert model.layers[2].output.shape == (None, 4, 2) and model.layers[3].output.shape == (None, 2, 4)
    weights = model.get_weights()
    predicted = model.predict(x, verbose=0)
    model.save(tmp_path / "gpunn.keras")
    theirs = run_keras(KERAS_SIDE, {"x": x.tolist(), "y": y.tolist(), "dir": str(tmp_path),
                                    "weights": [w.tolist() for w in weights]})
    np.testing.assert_allclose(predicted, theirs["predict"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(theirs["gpunn_file"], predicted, rtol=1e-5, atol=1e-6)
    model.compile(optimizer=gpunn.optimizers.SGD(0.05), loss="mse")
    history = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], theirs["loss"], rtol=1e-5)
    for layer, config, key in zip(model.layers[2:4], theirs["configs"], ("n", "dims")):
        assert layer.get_config()[key] == config[key]


@pytest.mark.parametrize("make, shape", [(lambda: layers.RepeatVector(3), (4,)),
                                         (lambda: layers.Permute((2, 1)), (3, 4)),
                                         (lambda: layers.Permute((3, 1, 2)), (2, 3, 2))])
def test_gradients_match_finite_differences(make, shape, rng, numpy_backend):
    check_layer(build(make(), input_shape=shape), rng.standard_normal((2,) + shape), rng)


def test_arguments_are_checked_with_keras_s_messages():
    with pytest.raises(TypeError, match="Expected an integer value for `n`"):
        layers.RepeatVector(2.0)
    with pytest.raises(ValueError, match="Argument `n` should be a positive integer"):
        layers.RepeatVector(0)
    with pytest.raises(ValueError, match="Invalid permutation argument `dims`"):
        layers.Permute((0, 1))
    with pytest.raises(ValueError, match="RepeatVector takes samples of one axis"):
        gpunn.Sequential([gpunn.Input((2, 3)), layers.RepeatVector(2)])
