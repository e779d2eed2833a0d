"""Keras 3's ``label_smoothing`` (and its ``axis``, ``ignore_class`` arguments) of BinaryCrossentropy,
CategoricalCrossentropy and their functions: values and training against Keras itself (a subprocess on its jax
backend), on probabilities, on logits and fused with the model's softmax / sigmoid output, eager and replayed."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from helpers import numpy_backend, run_keras  # noqa: F401  (fixture)

RUN = '''
rng = np.random.default_rng(0)
x = rng.normal(size=(12, 4)).astype("float32")
ids = rng.integers(0, 3, 12)
one_hot = np.eye(3, dtype="float32")[ids]
binary = (rng.random((12, 3)) < 0.5).astype("float32")
p = rng.uniform(0.05, 0.95, (12, 3)).astype("float32")
logits = rng.normal(size=(12, 3)).astype("float32")
values = {}
for smoothing in (0.0, 0.15):
    values[f"bce{smoothing}"] = float(keras.losses.BinaryCrossentropy(label_smoothing=smoothing)(binary, p))
    values[f"bce_logits{smoothing}"] = float(
        keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=smoothing)(binary, logits))
    values[f"cce{smoothing}"] = float(keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)(one_hot, p))
    values[f"cce_logits{smoothing}"] = float(
        keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)(one_hot, logits))
    values[f"bce_fn{smoothing}"] = np.asarray(
        keras.losses.binary_crossentropy(binary, p, label_smoothing=smoothing)).tolist()
    values[f"cce_fn{smoothing}"] = np.asarray(
        keras.losses.categorical_crossentropy(one_hot, logits, from_logits=True, label_smoothing=smoothing)).tolist()
values["config"] = keras.losses.CategoricalCrossentropy(label_smoothing=0.15).get_config()
training = {}
for label, activation, loss, targets in (
        ("softmax", "softmax", keras.losses.CategoricalCrossentropy(label_smoothing=0.1), one_hot),
        ("logits", "linear", keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2), one_hot),
        ("sigmoid", "sigmoid", keras.losses.BinaryCrossentropy(label_smoothing=0.1), binary)):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation=activation)])
    model.set_weights([np.asarray(task["kernel"], "float32"), np.asarray(task["bias"], "float32")])
    model.compile(optimizer=keras.optimizers.SGD(0.3), loss=loss, **COMPILE)
    history = model.fit(x, targets, batch_size=4, epochs=3, shuffle=False, verbose=0).history
    training[label] = {"loss": [float(v) for v in history["loss"]],
                       "weights": [np.asarray(w).tolist() for w in model.get_weights()]}
'''

KERAS_SIDE = ("import json, sys\nimport numpy as np\nimport keras\ntask = json.loads(sys.stdin.read())\nCOMPILE = {}\n"
              + RUN + "print(json.dumps({'values': values, 'training': training}))\n")


def _task():
    rng = np.random.default_rng(3)
    return {"kernel": (0.5 * rng.normal(size=(4, 3))).tolist(), "bias": (0.1 * rng.normal(size=3)).tolist()}


@pytest.fixture(scope="module")
def keras_results():
    return run_keras(KERAS_SIDE, _task())


@pytest.mark.parametrize("jit_compile", [False, True], ids=["eager", "replayed"])
def test_label_smoothing_computes_and_trains_as_keras(numpy_backend, keras_results, jit_compile):
    namespace = {"keras": gpunn, "np": np, "task": _task(), "COMPILE": {"jit_compile": jit_compile}}
    exec(RUN, namespace)
    theirs = keras_results["values"]
    for key, value in namespace["values"].items():
        if key == "config":
            assert value["label_smoothing"] == theirs[key]["label_smoothing"]
            assert value["axis"] == theirs[key]["axis"]
            continue
        np.testing.assert_allclose(value, theirs[key], rtol=2e-6, err_msg=key)
    assert theirs["bce0.15"] != pytest.approx(theirs["bce0.0"])  # the smoothing changes the numbers
    for label, ours in namespace["training"].items():
        np.testing.assert_allclose(ours["loss"], keras_results["training"][label]["loss"], rtol=2e-5, err_msg=label)
        for a, b in zip(ours["weights"], keras_results["training"][label]["weights"]):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6, err_msg=label)


def test_arguments_are_checked_and_kept_in_configs():
    loss = gpunn.losses.BinaryCrossentropy(label_smoothing=0.25)
    assert loss.get_config()["label_smoothing"] == 0.25
    assert gpunn.losses.BinaryCrossentropy.from_config(loss.get_config()).label_smoothing == 0.25
    assert gpunn.losses.get({"class_name": "CategoricalCrossentropy",
                             "config": {"label_smoothing": 0.1, "axis": -1, "reduction": "sum_over_batch_size",
                                        "name": "cce", "from_logits": False, "dtype": None}}).label_smoothing == 0.1
    with pytest.raises(ValueError, match="label_smoothing"):
        gpunn.losses.CategoricalCrossentropy(label_smoothing=1.5)
    with pytest.raises(ValueError, match="axis"):
        gpunn.losses.BinaryCrossentropy(axis=0)
    with pytest.raises(ValueError, match="ignore_class: gpunn does not support"):
        gpunn.losses.SparseCategoricalCrossentropy(ignore_class=0)
    assert gpunn.losses.SparseCategoricalCrossentropy().get_config()["ignore_class"] is None
