"""An output per step (samples, steps, features): a Dense on sequences, trained with a built-in loss as Keras
trains it (its losses reduce the features' axis, then average over the samples and steps; sample weights apply
to every step of a sample, as Keras's weights per step would, equal; targets one axis short of an output of one feature take that axis)."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from helpers import numpy_backend, run_keras  # noqa: F401

CASES = {  # loss: (units, activation, metric, targets maker)
    "mse": (1, None, "mae", lambda rng: rng.standard_normal((12, 5, 1))),
    "mse_short_targets": (1, None, "mae", lambda rng: rng.standard_normal((12, 5))),
    "mae": (2, "tanh", "mse", lambda rng: rng.standard_normal((12, 5, 2))),
    "categorical_crossentropy": (3, "softmax", "accuracy", lambda rng: np.eye(3)[rng.integers(0, 3, (12, 5))]),
    "sparse_categorical_crossentropy": (3, "softmax", "accuracy", lambda rng: rng.integers(0, 3, (12, 5))),
    "binary_crossentropy": (1, "sigmoid", "accuracy", lambda rng: rng.integers(0, 2, (12, 5, 1)).astype(float)),
}

KERAS_SIDE = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x, y, w = (np.array(task[k], "float32") for k in ("x", "y", "w"))
if task["weight_per_step"]:  # Keras takes a weight per step for such an output; gpunn's per sample equal
    w = np.repeat(w[:, None], 5, axis=1)
model = keras.Sequential([keras.Input((5, 4)), keras.layers.Dense(task["units"], activation=task["activation"])])
model.set_weights([np.array(v, "float32") for v in task["weights"]])
model.compile(optimizer=keras.optimizers.SGD(0.1), loss=task["loss"], metrics=[task["metric"]])
evaluated = model.evaluate(x, y, sample_weight=w, verbose=0)
history = model.fit(x, y, sample_weight=w, epochs=2, batch_size=4, shuffle=False, verbose=0)
print(json.dumps({"evaluate": evaluated, "history": history.history,
                  "weights": [v.tolist() for v in model.get_weights()]}))
'''


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_per_step_output_trains_as_in_keras(case):
    units, activation, metric, targets = CASES[case]
    loss = case.replace("_short_targets", "")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((12, 5, 4)).astype(np.float32)
    y = targets(rng).astype(np.float32)
    w = rng.uniform(0.5, 1.5, 12).astype(np.float32)
    model = gpunn.Sequential([gpunn.Input((5, 4)), gpunn.layers.Dense(units, activation=activation)])
    weights = model.get_weights()
    theirs = run_keras(KERAS_SIDE, {"x": x.tolist(), "y": y.tolist(), "w": w.tolist(), "units": units,
                                    "activation": activation, "loss": loss, "metric": metric,
                                    # Keras squeezes the output to short targets: its loss is one per sample then
                                    "weight_per_step": case != "mse_short_targets",
                                    "weights": [v.tolist() for v in weights]})
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss=loss, metrics=[metric])
    np.testing.assert_allclose(model.evaluate(x, y, sample_weight=w, verbose=0), theirs["evaluate"], rtol=2e-5)
    history = model.fit(x, y, sample_weight=w, epochs=2, batch_size=4, shuffle=False, verbose=0)
    for key, values in theirs["history"].items():
        np.testing.assert_allclose(history.history[key], values, rtol=2e-5, err_msg=key)
    for ours, keras_weight in zip(model.get_weights(), theirs["weights"]):
        np.testing.assert_allclose(ours, keras_weight, rtol=2e-5, atol=1e-6)


def test_class_ids_per_step_for_one_of_several_outputs():
    inputs = gpunn.Input((5, 3))
    steps = gpunn.layers.Dense(4, activation="softmax", name="steps")(inputs)
    summary = gpunn.layers.Dense(2, name="summary")(gpunn.layers.Flatten()(inputs))
    model = gpunn.Model(inputs, [steps, summary])
    model.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"])
    rng = np.random.default_rng(9)
    x = rng.standard_normal((8, 5, 3)).astype(np.float32)
    history = model.fit(x, [rng.integers(0, 4, (8, 5)), rng.standard_normal((8, 2))], epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all() and "steps_loss" in history.history


@pytest.mark.parametrize("metric", [gpunn.metrics.PearsonCorrelation(axis=0), gpunn.metrics.CosineSimilarity(axis=1),
                                    gpunn.metrics.ConcordanceCorrelation(axis=2)])
def test_a_metric_reducing_over_another_axis_than_the_features_is_refused_by_name(metric):
    """The metrics of an output per step see one row per step: Keras's axis=0 or 1 would reduce other values."""
    model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(6), gpunn.layers.Reshape((2, 3))])
    model.compile("sgd", "mse", metrics=[metric])
    before = model.get_weights()
    with pytest.raises(ValueError, match=rf"^metrics: {type(metric).__name__} .* with axis={metric.axis} on an "
                                         r"output of shape \(None, 2, 3\)"):
        model.fit(np.ones((8, 4)), np.ones((8, 2, 3)), verbose=0)
    for now, then in zip(model.get_weights(), before):
        np.testing.assert_array_equal(now, then)
    model.compile("sgd", "mse", metrics=[type(metric)(axis=-1)])
    assert set(model.fit(np.ones((8, 4)), np.ones((8, 2, 3)), verbose=0).history) == {"loss", metric.name}
