"""TimeDistributed (gpunn/layers/time_distributed.py) against Keras 3's own: a Dense and a BatchNormalization
applied step by step (BatchNormalization's statistics per step, as Keras computes them) train to the same numbers
from the same weights, at Keras's weight paths, and `.keras` files load both ways."""
from __future__ import annotations

import json

import numpy as np
import pytest

import gpunn
from helpers import assert_close_to_keras, run_case_both_ways

CASE = r'''
import numpy as np

def run(keras, case, extra_compile=None):
    layers = keras.layers
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 3, 4)).astype("float32")
    y = rng.normal(size=(12, 1)).astype("float32")
    i = keras.Input((3, 4))
    h = layers.TimeDistributed(layers.Dense(5, activation="relu"))(i)
    if case["batch_norm"]:
        h = layers.TimeDistributed(layers.BatchNormalization())(h)
    model = keras.Model(i, layers.Dense(1)(layers.Flatten()(h)))
    model.set_weights([0.5 * rng.normal(size=w.shape).astype("float32")
                       + (1.0 if "variance" in w.path or "gamma" in w.path else 0.0) for w in model.weights])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", **(extra_compile or {}))
    history = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    if case.get("path"):
        model.save(case["path"])
    return {"paths": [w.path for w in model.weights], "loss": history.history["loss"],
            "predict": model.predict(x[:3], verbose=0).tolist()}
'''


@pytest.mark.parametrize("batch_norm", [False, True])
def test_steps_train_as_in_keras(batch_norm):
    gpunn.backend.clear_session()  # (names start again, as in the Keras process)
    ours, theirs = run_case_both_ways(CASE, [{"batch_norm": batch_norm}])
    assert ours[0]["paths"] == theirs[0]["paths"]
    assert ours[0]["paths"][0] == "time_distributed/dense/kernel"
    assert_close_to_keras(ours[0]["loss"], theirs[0]["loss"], "TimeDistributed", rtol=1e-5, atol=1e-6)
    assert_close_to_keras(ours[0]["predict"], theirs[0]["predict"], "TimeDistributed", rtol=1e-5, atol=1e-6)


def test_files_load_both_ways_and_a_replay_equals_the_eager_step(tmp_path):
    namespace: dict = {}
    exec(CASE, namespace)
    x = np.random.default_rng(0).normal(size=(12, 3, 4)).astype("float32")
    with gpunn.use_backend("numpy"):
        eager = namespace["run"](gpunn, {"batch_norm": True, "path": str(tmp_path / "ours.keras")})
        replayed = namespace["run"](gpunn, {"batch_norm": True}, {"jit_compile": True})
    assert json.dumps(eager["loss"]) == json.dumps(replayed["loss"])
    loaded = gpunn.models.load_model(tmp_path / "ours.keras")
    assert isinstance(loaded.layers[1], gpunn.layers.TimeDistributed)
    np.testing.assert_allclose(loaded.predict(x[:3], verbose=0), eager["predict"], rtol=1e-6)
    from helpers import run_keras

    script = """
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
model = keras.models.load_model(task["path"])
print(json.dumps(np.asarray(model.predict(np.array(task["x"], "float32"), verbose=0)).tolist()))
"""
    theirs = run_keras(script, {"path": str(tmp_path / "ours.keras"), "x": x[:3].tolist()})
    np.testing.assert_allclose(np.asarray(theirs), eager["predict"], rtol=1e-5, atol=1e-6)


def test_what_it_refuses_as_keras_does():
    with pytest.raises(ValueError, match="`keras.layers.Layer` instance"):
        gpunn.layers.TimeDistributed("dense")
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        gpunn.layers.TimeDistributed(gpunn.layers.Dense(2))(np.ones((2, 3), "float32"))


def test_a_sequential_distributed_over_the_steps_is_keras_s(tmp_path):
    from helpers import run_case_both_ways

    case = r'''
import numpy as np

def run(keras, case, extra_compile=None):
    inner = keras.Sequential([keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)])
    inputs = keras.Input((5, 3))
    model = keras.Model(inputs, keras.layers.TimeDistributed(inner)(inputs))
    model.set_weights([np.linspace(-1, 1, w.size).reshape(w.shape).astype("float32") for w in model.get_weights()])
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    return {"paths": [w.path for w in model.weights], "predict": model.predict(x, verbose=0).tolist()}
'''
    gpunn.backend.clear_session()
    ours, theirs = run_case_both_ways(case, [{}])
    assert ours[0]["paths"] == theirs[0]["paths"]
    assert_close_to_keras(ours[0]["predict"], theirs[0]["predict"], "TimeDistributed(Sequential)", rtol=1e-5,
                          atol=1e-6)
