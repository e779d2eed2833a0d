"""The metrics Keras builds from a loss (Hinge, SquaredHinge, CategoricalHinge, KLDivergence, Poisson,
LogCoshError, MeanSquaredLogarithmicError, CosineSimilarity): Keras 3's names, defaults and values (checked
against Keras itself, run in a subprocess on its jax backend), standalone and compiled into a model."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers, metrics
from helpers import numpy_backend, run_keras  # noqa: F401  (fixture)

CLASSES = ["Hinge", "SquaredHinge", "CategoricalHinge", "KLDivergence", "Poisson", "LogCoshError",
           "MeanSquaredLogarithmicError", "CosineSimilarity"]

KERAS_SIDE = """
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
out = {}
for name in task["classes"]:
    for weighted in (False, True):
        m = getattr(keras.metrics, name)()
        for y_true, y_pred, w in task["batches"][name]:
            m.update_state(np.asarray(y_true, "float32"), np.asarray(y_pred, "float32"),
                           sample_weight=np.asarray(w, "float32") if weighted else None)
        out[f"{name}/{weighted}"] = [m.name, float(m.result()), m.get_config()]
print(json.dumps(out))
"""


def _batches(name=None):
    rng = np.random.default_rng(5)
    batches = []
    for rows in (4, 7):
        y_true = rng.random((rows, 3)).astype("float32")
        y_true[0] = 0.0  # a zero row: the cosine's clamped norm, KL's clipped target
        y_true[1] = [0.0, 1.0, 0.0]  # one-hot / 0-1 labels, as the hinges take them
        y_pred = rng.uniform(0.05, 1.5, (rows, 3)).astype("float32")  # positive: Poisson's rates
        if name != "Poisson":  # a row with negative values, for the hinges and the cosine (Poisson: NaN)
            y_pred[2] = 1.0 - y_pred[2]
        batches.append((y_true, y_pred, rng.random(rows).astype("float32")))
    return batches


@pytest.fixture(scope="module")
def keras_results():
    task = {"classes": CLASSES,
            "batches": {name: [[a.tolist() for a in batch] for batch in _batches(name)] for name in CLASSES}}
    return run_keras(KERAS_SIDE, task)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("name", CLASSES)
def test_standalone_values_names_and_configs_are_keras(keras_results, name, weighted):
    their_name, their_value, their_config = keras_results[f"{name}/{weighted}"]
    metric = getattr(metrics, name)()
    for y_true, y_pred, w in _batches(name):
        metric.update_state(y_true, y_pred, sample_weight=w if weighted else None)
    assert metric.name == their_name
    assert np.isfinite(their_value) and float(metric.result()) == pytest.approx(their_value, rel=2e-6, abs=1e-7)
    assert metric.get_config() == {k: v for k, v in their_config.items() if k in metric.get_config()}
    assert {k for k in their_config} - set(metric.get_config()) <= {"dtype"}
    assert metric.get_config()["dtype"] in (None, their_config.get("dtype"))


def test_cosine_similarity_is_the_loss_without_its_sign_and_higher_is_better():
    y_true, y_pred, _ = _batches()[1]
    metric = metrics.CosineSimilarity()
    metric.update_state(y_true, y_pred)
    loss = gpunn.losses.CosineSimilarity()
    assert float(metric.result()) == pytest.approx(-float(loss(y_true, y_pred)), rel=1e-6)
    assert metrics.CosineSimilarity.direction == "up" and metrics.Hinge.direction == "down"
    with pytest.raises(ValueError, match="axis"):
        metrics.CosineSimilarity(axis=0)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replay"])
def test_compiled_by_name_they_log_what_they_compute_on_their_own(jit):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 5)).astype("float32")
    y = rng.random((40, 3)).astype("float32")
    gpunn.utils.set_random_seed(3)
    model = gpunn.Sequential([gpunn.Input(shape=(5,)), layers.Dense(3, activation="softplus")])
    names = ["hinge", "squared_hinge", "kl_divergence", "poisson", "log_cosh_error", "msle", "cosine_similarity"]
    model.compile(optimizer="sgd", loss="mse", metrics=names, jit_compile=jit)
    history = model.fit(x, y, batch_size=40, epochs=1, verbose=0).history
    assert set(names) <= set(history)
    predictions = model.predict(x, verbose=0)
    evaluated = model.evaluate(x, y, verbose=0, return_dict=True)
    for name in names:
        standalone = metrics.get(name)
        standalone.update_state(y, predictions)
        assert evaluated[name] == pytest.approx(float(standalone.result()), rel=1e-5), name
