"""EinsumDense (gpunn/layers/einsum_dense.py) against Keras 3's own: the same weights give the same training and
predictions for Keras's equation forms (plain, left and right ellipses, biases over some output axes), the
configs and kernel shapes are Keras's, `.keras` files load both ways, the initializer counts its fans over the
kernel's axes, and bad equations fail with Keras's messages."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from helpers import assert_close_to_keras, eager_and_replayed, run_case_both_ways, run_keras

CASE = r'''
import numpy as np

def run(keras, case, extra_compile=None):
    layers = keras.layers
    rng = np.random.default_rng(case["seed"])
    x = rng.normal(size=[16] + case["input"]).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    inputs = keras.Input(tuple(case["input"]))
    h = layers.EinsumDense(case["equation"], output_shape=tuple(case["output_shape"]), bias_axes=case["bias"],
                           activation=case["activation"])(inputs)
    out = layers.Dense(1)(layers.Flatten()(h) if len(case["input"]) > 1 or case["flatten"] else h)
    model = keras.Model(inputs, out)
    model.set_weights([0.3 * rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    model.compile(optimizer=keras.optimizers.SGD(0.02, momentum=0.5), loss="mse", **(extra_compile or {}))
    history = model.fit(x, y, epochs=2, batch_size=5, shuffle=False, verbose=0)
    config = {k: v for k, v in model.layers[1].get_config().items() if k in (
        "output_shape", "equation", "bias_axes", "activation")}
    return {"loss": history.history["loss"], "predictions": model.predict(x[:4], verbose=0).tolist(),
            "shapes": [list(w.shape) for w in model.get_weights()], "config": {k: list(v) if isinstance(v, tuple)
                                                                          else v for k, v in config.items()}}
'''

CASES = [
    {"equation": "ab,bc->ac", "input": [6], "output_shape": [4], "bias": "c", "activation": "tanh", "flatten": False},
    {"equation": "abc,cd->abd", "input": [3, 5], "output_shape": [3, 4], "bias": "d", "activation": None,
     "flatten": True},
    {"equation": "abc,cde->abde", "input": [3, 5], "output_shape": [3, 2, 4], "bias": "de", "activation": "relu",
     "flatten": True},
    {"equation": "abc,cde->abde", "input": [3, 5], "output_shape": [3, 2, 4], "bias": "e", "activation": None,
     "flatten": True},
    {"equation": "...b,bc->...c", "input": [2, 3, 5], "output_shape": [4], "bias": "c", "activation": "gelu",
     "flatten": True},
    {"equation": "ab...,bc->ac...", "input": [5, 3], "output_shape": [4], "bias": "c", "activation": None,
     "flatten": True},
    {"equation": "abc,bd->adc", "input": [5, 3], "output_shape": [2, 3], "bias": None, "activation": None,
     "flatten": True},
]


@pytest.fixture(scope="module")
def both_ways():
    for k, case in enumerate(CASES):
        case["seed"] = k
    return run_case_both_ways(CASE, CASES)


@pytest.mark.parametrize("index", range(len(CASES)))
def test_training_and_predictions_are_keras_s(both_ways, index):
    ours, theirs = both_ways[0][index], both_ways[1][index]
    where = CASES[index]["equation"]
    assert ours["shapes"] == theirs["shapes"], where
    assert ours["config"] == theirs["config"], where
    assert_close_to_keras(ours["loss"], theirs["loss"], where, rtol=1e-4, atol=1e-5)
    assert_close_to_keras(ours["predictions"], theirs["predictions"], where, rtol=1e-4, atol=1e-5)


def test_replayed_training_equals_the_eager_one():
    import json

    eager, replayed = eager_and_replayed(CASE, dict(CASES[2], seed=2))
    assert json.dumps(eager) == json.dumps(replayed)


def test_files_load_both_ways(tmp_path):
    x = np.random.default_rng(3).normal(size=(4, 3, 5)).astype("float32")
    inputs = gpunn.Input((3, 5))
    model = gpunn.Model(inputs, gpunn.layers.EinsumDense("abc,cde->abde", (3, 2, 4), bias_axes="de",
                                                         kernel_initializer="he_normal")(inputs))
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "ours.keras")
    script = """
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
model = keras.models.load_model(task["path"])
x = np.array(task["x"], "float32")
print(json.dumps({"theirs": np.asarray(model.predict(x, verbose=0)).tolist(),
                  "config": model.layers[1].get_config()["kernel_initializer"]["class_name"]}))
inputs = keras.Input((3, 5))
other = keras.Model(inputs, keras.layers.EinsumDense("abc,cd->abd", (3, 2), bias_axes="d", activation="relu",
                    kernel_initializer=keras.initializers.GlorotNormal(input_axes=[0], output_axes=[1]))(inputs))
other.save(task["keras_path"])
"""
    out = run_keras(script, {"path": str(tmp_path / "ours.keras"), "x": x.tolist(),
                             "keras_path": str(tmp_path / "theirs.keras")})
    np.testing.assert_allclose(np.asarray(out["theirs"]), expected, rtol=1e-5, atol=1e-6)
    assert out["config"] == "HeNormal"
    loaded = gpunn.models.load_model(tmp_path / "theirs.keras")
    layer = loaded.layers[1]
    assert isinstance(layer, gpunn.layers.EinsumDense) and layer.bias_axes == "d"
    assert layer.kernel_initializer.get_config() == {"seed": None, "input_axes": [0], "output_axes": [1]}
    assert loaded.predict(x, verbose=0).shape == (4, 3, 2)


def test_the_initializer_counts_fans_over_the_kernel_axes():
    """Keras gives a variance-scaling initializer the kernel's input and output axes: the fans of a (60, 200, 40)
    kernel of 'abc,cde->abde' are 60 and 8000, not the last two axes' (a convolution's reading)."""
    gpunn.utils.set_random_seed(0)
    layer = gpunn.layers.EinsumDense("abc,cde->abde", output_shape=(5, 200, 40), bias_axes="de")
    layer(np.ones((1, 5, 60), "float32"))
    kernel = np.asarray(layer.kernel)
    limit = np.sqrt(6 / (60 + 8000))
    assert kernel.shape == (60, 200, 40) and np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.99 * limit
    assert np.asarray(layer.bias).shape == (200, 40)
    assert layer.kernel_initializer.get_config() == {"seed": None}  # the layer's own initializer is unchanged


def test_bad_equations_fail_with_keras_s_messages():
    with pytest.raises(ValueError, match="Invalid einsum equation"):
        gpunn.layers.EinsumDense("ab->b", output_shape=2)
    with pytest.raises(ValueError, match="Bias dimension 'q' was requested"):
        gpunn.layers.EinsumDense("ab,bc->ac", output_shape=2, bias_axes="q")
    with pytest.raises(ValueError, match="has no corresponding dim"):
        gpunn.layers.EinsumDense("ab,bc->ad", output_shape=2)
    with pytest.raises(ValueError, match="do not match at shared dimension"):
        gpunn.layers.EinsumDense("abc,cd->abd", output_shape=(4, 2))(np.ones((1, 3, 5), "float32"))
    with pytest.raises(ValueError, match="lora_rank"):
        gpunn.layers.EinsumDense("ab,bc->ac", output_shape=2, lora_rank=4)
