"""A metric of the user's holding metrics of its own (an F1 made of a Precision and a Recall): their variables are
among its ``variables`` and its ``reset_state`` zeroes them, as Keras tracks them, so in ``fit`` each epoch and
evaluation starts afresh."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import run_script_both_ways

SCRIPT = r'''
import json, sys
import numpy as np

def run(keras, folder):
    class Both(keras.metrics.Metric):
        def __init__(self, name="both", **kwargs):
            super().__init__(name=name, **kwargs)
            self.parts = {"precision": keras.metrics.Precision(), "recall": keras.metrics.Recall()}

        def update_state(self, y_true, y_pred, sample_weight=None):
            for part in self.parts.values():
                part.update_state(y_true, y_pred, sample_weight)

        def result(self):
            p, r = self.parts["precision"].result(), self.parts["recall"].result()
            return 2 * p * r / (p + r + 1e-7)

    found = {}
    alone = Both()
    alone.update_state(np.array([[1], [0], [1]]), np.array([[0.9], [0.8], [0.2]]))
    alone.reset_state()
    alone.update_state(np.array([[1], [1], [0]]), np.array([[0.9], [0.8], [0.1]]))
    found["alone"] = [float(alone.result()), len(alone.variables)]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid",
                                                                    kernel_initializer="ones")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=[Both()])
    found["fit"] = model.fit(x, y, epochs=3, batch_size=8, verbose=0, shuffle=False).history["both"]
    found["evaluate"] = model.evaluate(x, y, verbose=0)[1]
    return found
'''


def test_a_metric_s_own_metrics_are_reset_with_it_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours["alone"][0] == pytest.approx(theirs["alone"][0], abs=1e-6) == pytest.approx(1.0, abs=1e-6)
    assert ours["alone"][1] == theirs["alone"][1] == 4
    np.testing.assert_allclose(ours["fit"], theirs["fit"], rtol=1e-5)
    assert ours["evaluate"] == pytest.approx(theirs["evaluate"], rel=1e-5)


def test_add_variable_takes_an_array_as_its_initial_value():
    import gpunn

    class Total(gpunn.metrics.Metric):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.total = self.add_variable(shape=(2,), initializer=gpunn.ops.ones((2,)) * 5, name="total")

        def update_state(self, values):
            self.total.assign(self.total + values)

        def result(self):
            return gpunn.ops.sum(self.total)

    metric = Total()
    metric.update_state(np.array([1.0, 0.0]))
    assert float(metric.result()) == 11.0


STATE = r'''
import json, sys
import numpy as np

def run(keras, folder):
    precision = keras.metrics.Precision()
    found = {"fresh": np.asarray(precision.true_positives).tolist(),
             "variables at construction": [list(np.shape(v)) for metric in (
                 keras.metrics.Mean(), precision, keras.metrics.AUC(num_thresholds=5), keras.metrics.F1Score())
                 for v in metric.variables]}
    precision.update_state([[1], [0], [1]], [[0.9], [0.8], [0.2]])
    found["precision"] = [np.asarray(precision.true_positives).tolist(),
                          np.asarray(precision.false_positives).tolist()]
    mean = keras.metrics.Mean()
    mean.update_state([1.0, 3.0])
    found["mean"] = [float(mean.total), float(mean.count)]
    auc = keras.metrics.AUC(num_thresholds=3)
    auc.update_state([0, 1], [0.2, 0.7])
    found["auc"] = np.asarray(auc.true_positives).tolist()
    model = keras.Sequential([keras.Input((2,)),
                              keras.layers.Dense(1, activation="sigmoid", kernel_initializer="ones")])
    compiled = keras.metrics.Precision()
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=[compiled])
    model.fit(np.ones((4, 2)), np.array([[1], [0], [1], [1]]), batch_size=2, shuffle=False, verbose=0)
    found["compiled"] = [np.asarray(compiled.true_positives).tolist(), np.asarray(compiled.false_positives).tolist()]
    return found
'''


def test_a_metric_s_state_reads_by_keras_s_variable_names(tmp_path_factory):
    from helpers import run_script_both_ways

    ours, theirs = run_script_both_ways(STATE, tmp_path_factory)
    assert ours == theirs


def test_add_variable_refuses_an_array_of_another_shape_by_name():
    import gpunn

    class Wrong(gpunn.metrics.Metric):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.total = self.add_variable(shape=(2,), initializer=np.ones(3), name="total")

        def update_state(self, values):
            pass

        def result(self):
            return 0.0

    with pytest.raises(ValueError, match=r"initializer: .* variable 'total' must have its shape \(2,\), got shape"):
        Wrong()
