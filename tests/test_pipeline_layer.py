"""keras.layers.Pipeline (gpunn/layers/pipeline.py) against Keras 3's own: its layers one after the other, on
their own and in a model (the same predictions from the same weights), training=True by default on its own as
Keras's call has it, and `.keras` files (Keras's config: the layers and the name) loaded both ways."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from helpers import run_keras

SCRIPT = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
layers = keras.layers
x = np.array(task["x"], "float32")
p = layers.Pipeline([layers.Rescaling(1 / 255.0), layers.CenterCrop(6, 6), layers.RandomFlip(seed=1)])
alone = np.asarray(p(x, training=False))
i = keras.Input((8, 8, 3))
model = keras.Model(i, layers.Dense(1)(layers.Flatten()(p(i))))
model.set_weights([np.array(w, "float32") for w in task["weights"]])
model.save(task["keras_path"])
mine = keras.models.load_model(task["path"])
print(json.dumps({"alone": alone.tolist(), "predict": model.predict(x, verbose=0).tolist(),
                  "gpunn's file": mine.predict(x, verbose=0).tolist(),
                  "config": p.get_config()["layers"][1]["class_name"]}))
'''


def test_a_pipeline_is_keras_s(tmp_path):
    layers = gpunn.layers
    x = np.random.default_rng(0).uniform(0, 255, size=(4, 8, 8, 3)).astype("float32")
    p = layers.Pipeline([layers.Rescaling(1 / 255.0), layers.CenterCrop(6, 6), layers.RandomFlip(seed=1)])
    alone = np.asarray(p(x, training=False))
    assert p.layers[1].__class__.__name__ == "CenterCrop"
    i = gpunn.Input((8, 8, 3))
    model = gpunn.Model(i, layers.Dense(1)(layers.Flatten()(p(i))))
    weights = [0.1 * np.random.default_rng(k).normal(size=w.shape).astype("float32")
               for k, w in enumerate(model.get_weights())]
    model.set_weights(weights)
    model.save(tmp_path / "ours.keras")
    theirs = run_keras(SCRIPT, {"x": x.tolist(), "weights": [w.tolist() for w in weights],
                                "path": str(tmp_path / "ours.keras"), "keras_path": str(tmp_path / "theirs.keras")})
    np.testing.assert_allclose(alone, theirs["alone"], rtol=1e-6, atol=1e-6)
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(expected, theirs["predict"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(theirs["gpunn's file"], theirs["predict"], rtol=1e-5, atol=1e-6)
    assert theirs["config"] == "CenterCrop"
    loaded = gpunn.models.load_model(tmp_path / "theirs.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6)


def test_on_its_own_it_runs_its_layers_in_training():
    """Keras's Pipeline.call defaults to training=True: an augmentation inside transforms unless told not to."""
    gpunn.utils.set_random_seed(0)
    x = np.random.default_rng(1).uniform(size=(16, 5, 5, 1)).astype("float32")
    p = gpunn.layers.Pipeline([gpunn.layers.RandomFlip("horizontal", seed=3)])
    np.testing.assert_array_equal(np.asarray(p(x, training=False)), x)
    flipped = np.asarray(p(x))
    assert not np.array_equal(flipped, x)
    assert all(np.array_equal(a, b) or np.array_equal(a, b[:, ::-1]) for a, b in zip(flipped, x))


def test_what_it_refuses():
    with pytest.raises(ValueError, match="list of layers"):
        gpunn.layers.Pipeline(gpunn.layers.Dense(2))
    with pytest.raises(ValueError, match="`layers` key"):
        gpunn.layers.Pipeline.from_config({"name": "p"})


PIPELINE_WEIGHTS = r'''
import numpy as np

def run(keras, case, extra_compile=None):
    """A Pipeline holding a Dense, after an Embedding whose mask it passes on to the pooling: the same
    predictions from the same weights, and each side's file in the other."""
    layers = keras.layers
    ids = np.array([[3, 4, 0, 0], [5, 6, 7, 0]], "int32")
    inputs = keras.Input((4,), dtype="int32")
    pipe = layers.Pipeline([layers.Dense(2, activation="tanh")])
    pooled = layers.GlobalAveragePooling1D()(pipe(layers.Embedding(10, 3, mask_zero=True)(inputs)))
    model = keras.Model(inputs, layers.Dense(1)(pooled))
    model.set_weights([np.linspace(-1, 1, w.size).reshape(w.shape).astype("float32") for w in model.get_weights()])
    model.save(case["save"])
    out = {"predict": model.predict(ids, verbose=0).tolist()}
    if case.get("load"):
        out["loaded"] = keras.models.load_model(case["load"]).predict(ids, verbose=0).tolist()
    return out
'''


def test_a_pipeline_s_weights_and_masks_are_keras_s(tmp_path):
    from helpers import assert_close_to_keras, run_case_both_ways

    ours, theirs = run_case_both_ways(PIPELINE_WEIGHTS, [{"save": str(tmp_path / "theirs.keras")}])
    assert_close_to_keras(ours[0]["predict"], theirs[0]["predict"], "pipeline", rtol=1e-5, atol=1e-6)
    namespace: dict = {}
    exec(PIPELINE_WEIGHTS, namespace)
    mine = namespace["run"](gpunn, {"save": str(tmp_path / "ours.keras"), "load": str(tmp_path / "theirs.keras")})
    assert_close_to_keras(mine["loaded"], theirs[0]["predict"], "Keras's file", rtol=1e-5, atol=1e-6)
    script = """
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
ids = np.array([[3, 4, 0, 0], [5, 6, 7, 0]], "int32")
print(json.dumps(np.asarray(keras.models.load_model(task["path"]).predict(ids, verbose=0)).tolist()))
"""
    assert_close_to_keras(run_keras(script, {"path": str(tmp_path / "ours.keras")}), theirs[0]["predict"],
                          "gpunn's file", rtol=1e-5, atol=1e-6)
