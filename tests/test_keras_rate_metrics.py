"""SensitivityAtSpecificity, SpecificityAtSensitivity, PrecisionAtRecall and RecallAtPrecision: Keras 3's values
(Keras itself, in a subprocess on its jax backend), names, configs and errors; compiled into a model, eager and
replayed, they log what they compute on their own."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers, metrics
from helpers import numpy_backend, run_keras  # noqa: F401  (fixture)

CASES = [  # (class, the constrained value, num_thresholds, class_id)
    ("SensitivityAtSpecificity", 0.5, 200, None), ("SensitivityAtSpecificity", 0.9, 7, None),
    ("SpecificityAtSensitivity", 0.6, 200, None), ("SpecificityAtSensitivity", 0.4, 1, None),
    ("PrecisionAtRecall", 0.7, 200, None), ("PrecisionAtRecall", 0.5, 2, 1),
    ("RecallAtPrecision", 0.8, 200, None), ("RecallAtPrecision", 0.6, 13, 2),
]
IDS = [f"{c[0]}-{c[1]}-{c[2]}-{c[3]}" for c in CASES]

KERAS_SIDE = """
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
out = []
for name, value, num_thresholds, class_id in task["cases"]:
    m = getattr(keras.metrics, name)(value, num_thresholds=num_thresholds, class_id=class_id)
    for y_true, y_pred, w in task["batches"]:
        m.update_state(np.asarray(y_true, "float32"), np.asarray(y_pred, "float32"),
                       sample_weight=np.asarray(w, "float32"))
    out.append([m.name, float(m.result()), m.get_config()])
print(json.dumps(out))
"""


def _batches():
    rng = np.random.default_rng(9)
    out = []
    for rows in (20, 13):
        y_true = (rng.random((rows, 3)) < 0.4).astype("float32")
        y_pred = np.clip(0.6 * y_true + rng.random((rows, 3)) * 0.6, 0.0, 1.0).astype("float32")
        y_pred[0] = [0.0, 1.0, 0.5]  # at thresholds exactly
        out.append((y_true, y_pred, rng.random(rows).astype("float32")))
    return out


@pytest.fixture(scope="module")
def keras_results():
    task = {"cases": CASES, "batches": [[a.tolist() for a in batch] for batch in _batches()]}
    return run_keras(KERAS_SIDE, task)


@pytest.mark.parametrize("index", range(len(CASES)), ids=IDS)
def test_values_names_and_configs_are_keras_s(keras_results, index):
    name, value, num_thresholds, class_id = CASES[index]
    their_name, their_value, their_config = keras_results[index]
    metric = getattr(metrics, name)(value, num_thresholds=num_thresholds, class_id=class_id)
    for y_true, y_pred, w in _batches():
        metric.update_state(y_true, y_pred, sample_weight=w)
    assert metric.name == their_name
    assert float(metric.result()) == pytest.approx(their_value, abs=1e-6)
    mine = metric.get_config()
    assert {k: v for k, v in their_config.items() if k != "dtype"} == {k: v for k, v in mine.items() if k != "dtype"}


def test_keras_docstring_examples():
    m = metrics.SensitivityAtSpecificity(0.5)
    m.update_state([0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8])
    assert float(m.result()) == pytest.approx(0.5)
    m = metrics.RecallAtPrecision(0.8)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert float(m.result()) == pytest.approx(0.5)


@pytest.mark.parametrize("kwargs, message", [
    ({"specificity": 1.5}, r"Argument `specificity` must be in the range \[0, 1\]"),
    ({"specificity": 0.5, "num_thresholds": 0}, "Argument `num_thresholds` must be an integer > 0"),
    ({"specificity": 0.5, "class_id": -1}, "class_id: expected an integer >= 0"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        metrics.SensitivityAtSpecificity(**kwargs)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replay"])
def test_compiled_they_log_what_they_compute_on_their_own(jit):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((60, 4)).astype("float32")
    y = (x[:, :1] + 0.5 * rng.standard_normal((60, 1)) > 0).astype("float32")
    gpunn.utils.set_random_seed(2)
    model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(1, activation="sigmoid")])
    compiled = [metrics.SensitivityAtSpecificity(0.5), metrics.RecallAtPrecision(0.7, num_thresholds=50),
                "precision_at_recall"]
    with pytest.raises(TypeError):
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=compiled)  # a value is required
    compiled[2] = metrics.PrecisionAtRecall(0.6)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=compiled, jit_compile=jit)
    model.fit(x, y, batch_size=20, epochs=2, verbose=0)
    evaluated = model.evaluate(x, y, batch_size=20, verbose=0, return_dict=True)
    predictions = model.predict(x, verbose=0)
    standalone = (metrics.SensitivityAtSpecificity(0.5), metrics.RecallAtPrecision(0.7, num_thresholds=50),
                  metrics.PrecisionAtRecall(0.6))
    for logged, metric in zip(compiled, standalone):
        metric.update_state(y, predictions)
        assert evaluated[logged.name] == pytest.approx(float(metric.result()), abs=1e-6), logged.name
