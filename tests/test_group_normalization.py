"""GroupNormalization (gpunn/layers/group_normalization.py) against Keras 3's own: the same weights give the same
training and predictions for groups of several channels, instance normalization (groups=-1), one group, another
axis, without centre or scale; configs and files both ways; Keras's argument errors."""
from __future__ import annotations

import json

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
    h = layers.Dense(case["input"][-1], activation="tanh")(inputs)
    h = layers.GroupNormalization(groups=case["groups"], axis=case["axis"], center=case["center"],
                                  scale=case["scale"], epsilon=case["epsilon"])(h)
    out = layers.Dense(1)(layers.Flatten()(h) if len(case["input"]) > 1 else h)
    model = keras.Model(inputs, out)
    weights = [0.5 * rng.normal(size=w.shape).astype("float32") for w in model.get_weights()]
    model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.5), loss="mse", **(extra_compile or {}))
    history = model.fit(x, y, epochs=2, batch_size=5, shuffle=False, verbose=0)
    config = {k: v for k, v in model.layers[2].get_config().items() if k in ("groups", "axis", "epsilon")}
    return {"loss": history.history["loss"], "predictions": model.predict(x[:4], verbose=0).tolist(),
            "shapes": [list(w.shape) for w in model.get_weights()], "config": config}
'''

CASES = [
    {"input": [8], "groups": 2, "axis": -1, "center": True, "scale": True, "epsilon": 1e-3},
    {"input": [8], "groups": -1, "axis": -1, "center": True, "scale": True, "epsilon": 1e-3},
    {"input": [3, 6], "groups": 3, "axis": -1, "center": True, "scale": True, "epsilon": 1e-5},
    {"input": [3, 6], "groups": 1, "axis": -1, "center": False, "scale": True, "epsilon": 1e-3},
    {"input": [4, 6], "groups": 2, "axis": 1, "center": True, "scale": False, "epsilon": 1e-3},
]


@pytest.fixture(scope="module")
def both_ways():
    for k, case in enumerate(CASES):
        case["seed"] = k
    return run_case_both_ways(CASE, CASES)


@pytest.mark.parametrize("index", range(len(CASES)))
def test_training_and_predictions_are_keras_s(both_ways, index):
    ours, theirs = both_ways[0][index], both_ways[1][index]
    where = json.dumps(CASES[index])
    assert ours["shapes"] == theirs["shapes"] and ours["config"] == theirs["config"], where
    assert_close_to_keras(ours["loss"], theirs["loss"], where, rtol=1e-4, atol=1e-5)
    assert_close_to_keras(ours["predictions"], theirs["predictions"], where, rtol=1e-4, atol=1e-5)


def test_replayed_training_equals_the_eager_one():
    eager, replayed = eager_and_replayed(CASE, dict(CASES[2], seed=2))
    assert json.dumps(eager) == json.dumps(replayed)


def test_files_load_both_ways(tmp_path):
    x = np.random.default_rng(3).normal(size=(4, 3, 6)).astype("float32")
    inputs = gpunn.Input((3, 6))
    layer = gpunn.layers.GroupNormalization(groups=3, gamma_initializer="random_normal", beta_initializer="ones")
    model = gpunn.Model(inputs, layer(inputs))
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "ours.keras")
    script = """
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
model = keras.models.load_model(task["path"])
x = np.array(task["x"], "float32")
inputs = keras.Input((3, 6))
other = keras.Model(inputs, keras.layers.GroupNormalization(groups=-1, beta_initializer="random_normal")(inputs))
other.save(task["keras_path"])
print(json.dumps({"theirs": np.asarray(model.predict(x, verbose=0)).tolist(),
                  "other": np.asarray(other.predict(x, verbose=0)).tolist()}))
"""
    out = run_keras(script, {"path": str(tmp_path / "ours.keras"), "x": x.tolist(),
                             "keras_path": str(tmp_path / "theirs.keras")})
    np.testing.assert_allclose(np.asarray(out["theirs"]), expected, rtol=1e-5, atol=1e-5)
    loaded = gpunn.models.load_model(tmp_path / "theirs.keras")
    assert loaded.layers[1].groups == 6  # groups=-1 became one per channel when built, as Keras records it
    np.testing.assert_allclose(loaded.predict(x, verbose=0), np.asarray(out["other"]), rtol=1e-5, atol=1e-5)


def test_keras_s_argument_errors():
    with pytest.raises(ValueError, match="invalid value for argument `groups`"):
        gpunn.layers.GroupNormalization(groups=0)
    with pytest.raises(ValueError, match="must be a multiple"):
        gpunn.layers.GroupNormalization(groups=4)(np.ones((2, 6), "float32"))
    with pytest.raises(ValueError, match="cannot be more than"):
        gpunn.layers.GroupNormalization(groups=8)(np.ones((2, 6), "float32"))
