"""Keras 3's top-level scopes and small utilities under gpunn: ``keras.device`` (the backend a block builds on),
``keras.name_scope``, ``isinstance(x, keras.KerasTensor)`` and ``keras.utils.Config`` (as Keras's, checked against
it)."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from helpers import run_keras


def test_device_chooses_the_backend_a_block_builds_on():
    with gpunn.device("cpu:0"):
        model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(2)])
        model.predict(np.ones((2, 3), "float32"), verbose=0)
    assert type(model.ops).__name__ == "NumpyOps"
    for bad in ("tpu", "cpu:x", 3):
        with pytest.raises(ValueError, match="device_name"):
            gpunn.device(bad)


def test_name_scope_keeps_its_name_and_changes_no_path():
    with gpunn.name_scope("block") as scope:
        layer = gpunn.layers.Dense(2)
        layer(np.ones((1, 3), "float32"))
    assert scope.name == "block" and layer.weights[0].path == f"{layer.name}/kernel"
    with pytest.raises(ValueError, match="cannot contain character `/`"):
        gpunn.name_scope("a/b")


def test_keras_tensor_is_what_a_functional_graph_computes_with():
    inputs = gpunn.Input((3,))
    outputs = gpunn.layers.Dense(2)(inputs)
    assert isinstance(inputs, gpunn.KerasTensor) and isinstance(outputs, gpunn.KerasTensor)
    assert not isinstance(np.ones(2), gpunn.KerasTensor) and not isinstance(gpunn.layers.Dense(2), gpunn.KerasTensor)
    with pytest.raises(TypeError, match="keras.Input"):
        gpunn.KerasTensor((None, 3))


CONFIG_SCRIPT = """
import json
import keras
config = keras.utils.Config(learning_rate=0.1, layers=[4, 2])
config.momentum = 0.9
config["name"] = "run"
out = {"dict": config.as_dict(), "iter": list(config), "len": len(config), "get": config.get("missing", 7),
       "json": config.to_json(), "repr": repr(config), "contains": "momentum" in config}
config.freeze()
try:
    config.momentum = 0.5
except ValueError as e:
    out["frozen"] = str(e)
try:
    config.learnin_rate
except AttributeError as e:
    out["unknown"] = str(e)
print(json.dumps(out))
"""


def test_config_is_keras_s():
    theirs = run_keras(CONFIG_SCRIPT, {})
    namespace = {"keras": gpunn}
    exec(CONFIG_SCRIPT.replace("import keras\n", "").replace("print(json.dumps(out))", ""), namespace)
    assert namespace["out"] == theirs
