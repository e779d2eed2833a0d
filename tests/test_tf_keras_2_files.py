"""Files tf.keras 2 wrote (tf-keras 2.21; tests/data/make_tf_keras_held_files.py): a functional model holding a
Sequential (tf.keras 2 counts the held model's own first node in the calls that read it), an SGD without momentum
(whose momentum slots tf.keras 2 fills anyway) resumed on its schedule, and the metrics of a model of two outputs
named after them."""
from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest
from helpers import numpy_backend  # noqa: F401  (fixture)

import gpunn

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


@pytest.fixture(scope="module")
def reference():
    with open(os.path.join(DATA, "tf_keras_held_files.json")) as f:
        found = json.load(f)
    return {key: np.asarray(value) if key in ("x", "y", "classes", "held_predictions") else value
            for key, value in found.items()}


def test_a_model_held_as_a_layer_loads(numpy_backend, reference):
    model = gpunn.models.load_model(os.path.join(DATA, "tf_keras_held_model.h5"))
    np.testing.assert_allclose(model.predict(reference["x"].astype("float32"), verbose=0),
                               reference["held_predictions"], rtol=1e-5, atol=1e-6)


def test_an_sgd_without_momentum_resumes_its_steps(numpy_backend, reference):
    """Its momentum slots (-learning_rate * gradient, which no momentum reads) are left out, not the whole state:
    the schedule goes on from step 4, as tf.keras 2 resumes."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no "freshly initialized optimizer" warning)
        model = gpunn.models.load_model(os.path.join(DATA, "tf_keras_sgd_schedule.h5"))
    assert int(model.optimizer.iterations) == reference["sgd_iterations"] - 2
    x, y = reference["x"].astype("float32"), reference["y"].astype("float32")
    model.fit(x, y, batch_size=16, shuffle=False, verbose=0)
    assert int(model.optimizer.iterations) == reference["sgd_iterations"]
    for got, expected in zip(model.get_weights(), reference["sgd_resumed_weights"]):
        np.testing.assert_allclose(got, np.asarray(expected), rtol=1e-5, atol=1e-6)


def test_metrics_of_two_outputs_keep_tf_keras_2_s_names(numpy_backend, reference):
    model = gpunn.models.load_model(os.path.join(DATA, "tf_keras_two_outputs.h5"))
    assert model.metrics_names == reference["two_metrics_names"]
    x = reference["x"].astype("float32")
    history = model.fit(x, {"cls": reference["classes"], "reg": reference["y"].astype("float32")}, verbose=0)
    assert sorted(history.history) == reference["two_history_keys"]


def test_load_weights_of_another_optimizer_s_state_says_so_and_leaves_it(numpy_backend, tmp_path):
    """A .keras file names its optimizer: RMSprop's velocities are not loaded into an SGD's momentums by position
    (Keras does, when they are as many); the weights are."""
    x = np.linspace(-1, 1, 24, dtype="float32").reshape(8, 3)
    saved = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(1)])
    saved.compile(gpunn.optimizers.RMSprop(), "mse")
    saved.fit(x, x[:, :1], verbose=0)
    saved.save(tmp_path / "m.keras")
    other = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(1)])
    other.compile(gpunn.optimizers.SGD(momentum=0.9), "mse")
    other.fit(x, x[:, :1], verbose=0)
    before = [v.numpy().copy() for v in other.optimizer.variables]
    with pytest.warns(UserWarning, match="its optimizer state is a RMSprop's, and this model is compiled with SGD"):
        other.load_weights(tmp_path / "m.keras")
    for a, b in zip(other.get_weights(), saved.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert [v.numpy().tolist() for v in other.optimizer.variables] == [v.tolist() for v in before]
