"""Metrics a model subclass holds as attributes and updates in its own ``compute_loss``: listed in
``model.metrics`` after the compiled ones, logged in each batch's and epoch's logs (``val_`` ones too) and in
``evaluate``'s results, and reset at each epoch and evaluation, as Keras's ``Trainer.metrics`` and steps do."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

SCRIPT = r'''
import json, sys
import numpy as np

def run(keras, folder):
    class Tracked(keras.Model):
        def __init__(self):
            super().__init__()
            self.custom = keras.metrics.Mean(name="custom")
            self.trackers = [keras.metrics.Sum(name="batches")]
            self.dense = keras.layers.Dense(2, kernel_initializer="ones")

        def call(self, x):
            return self.dense(x)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            loss = super().compute_loss(x, y, y_pred, sample_weight, training)
            self.custom.update_state(loss * 4)
            self.trackers[0].update_state(1.0)
            return loss

    class BatchLogs(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_train_batch_end(self, batch, logs=None):
            self.seen.append({key: float(value) for key, value in logs.items()})

    x = np.linspace(0, 1, 32 * 4).reshape(32, 4)
    y = np.ones((32, 2)) * 2
    found = {}
    for jit, executions in ((False, 1), (True, 1), (True, 2)):
        model = Tracked()
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"], jit_compile=jit,
                      steps_per_execution=executions)
        logs = BatchLogs()
        history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, validation_split=0.25, shuffle=False,
                            callbacks=[logs])
        case = found[f"jit={jit} executions={executions}"] = {}
        case["history"] = history.history
        case["batch_logs"] = logs.seen
        case["after_fit"] = [float(model.custom.result()), float(model.trackers[0].result())]
        case["evaluate_dict"] = model.evaluate(x, y, return_dict=True, verbose=0)
        case["evaluate_list"] = model.evaluate(x, y, verbose=0)
        case["listed"] = [metric.name for metric in model.metrics][-2:]
    return found
'''


def test_metrics_held_as_attributes_are_logged_and_reset_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert set(ours) == set(theirs)
    for case in ours:
        mine, keras = ours[case], theirs[case]
        assert set(mine["history"]) == set(keras["history"]) == {"custom", "batches", "loss", "mae", "val_custom",
                                                                  "val_batches", "val_loss", "val_mae"}, case
        for key in keras["history"]:
            assert mine["history"][key] == pytest.approx(keras["history"][key], rel=1e-5), (case, key)
        assert [sorted(logs) for logs in mine["batch_logs"]] == [sorted(logs) for logs in keras["batch_logs"]]
        for logs, kerass in zip(mine["batch_logs"], keras["batch_logs"]):
            assert logs == pytest.approx(kerass, rel=1e-5), case
        assert mine["after_fit"] == pytest.approx(keras["after_fit"], rel=1e-5), case
        assert mine["evaluate_dict"] == pytest.approx(keras["evaluate_dict"], rel=1e-5), case
        assert mine["evaluate_list"] == pytest.approx(keras["evaluate_list"], rel=1e-5), case
        assert mine["listed"] == keras["listed"] == ["custom", "batches"]
    # reset at each epoch: the second epoch's sum counts its own 3 batches, not 6
    assert ours["jit=True executions=1"]["history"]["batches"] == [3.0, 3.0]


NESTED = r'''
import json, sys
import numpy as np

def run(keras, folder):
    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(1, kernel_initializer="ones")
            self.inner = keras.metrics.Mean(name="inner")

        def call(self, x):
            return self.dense(x)

    class Model(keras.Model):
        def __init__(self):
            super().__init__()
            self.block = Block()
            self._private = keras.metrics.Mean(name="private")

        def call(self, x):
            return self.block(x)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            loss = super().compute_loss(x, y, y_pred, sample_weight, training=training)
            self._private.update_state(loss * 2)
            self.block.inner.update_state(loss * 3)
            return loss

    model = Model()
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.linspace(0, 1, 96).reshape(32, 3), np.ones((32, 1))
    history = model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history
    return {"history": history, "evaluate": model.evaluate(x, y, return_dict=True, verbose=0),
            "after": float(model._private.result())}
'''


def test_private_attributes_and_a_layer_s_metrics_are_tracked_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(NESTED, tmp_path_factory)
    assert set(ours["history"]) == set(theirs["history"]) == {"inner", "private", "loss"}
    for key in theirs["history"]:
        assert ours["history"][key] == pytest.approx(theirs["history"][key], rel=1e-5), key
    assert ours["evaluate"] == pytest.approx(theirs["evaluate"], rel=1e-5)
    assert ours["after"] == pytest.approx(theirs["after"], rel=1e-5)


def test_metrics_held_as_attributes_are_listed_before_compile_and_named_before_the_first_fit(numpy_backend):
    """As Keras 3: ``model.metrics`` lists them before compile too, and ``metrics_names`` after compile names them
    after the loss (and the compiled metrics), as the logs of the first fit will."""
    class Tracked(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.d = gpunn.layers.Dense(2)
            self.t, self.s = gpunn.metrics.Mean(name="t"), gpunn.metrics.Sum(name="s")

        def call(self, x):
            return self.d(x)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            loss = gpunn.ops.mean(gpunn.ops.square(y_pred - y))
            self.t.update_state(loss)
            self.s.update_state(1.0)
            return loss

    model = Tracked()
    assert [m.name for m in model.metrics] == ["t", "s"]
    model.compile(optimizer="sgd")
    assert model.metrics_names == ["loss", "t", "s"]
    model.fit(np.ones((8, 3), "float32"), np.ones((8, 2), "float32"), verbose=0)
    assert model.metrics_names == ["loss", "t", "s"]


DEEPER = r'''
import json, sys
import numpy as np

def run(keras, folder):
    class Inner(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.tracker = keras.metrics.Mean(name="deep")
            self.dense = keras.layers.Dense(1, kernel_initializer="ones")

        def call(self, x):
            return self.dense(x)

    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = Inner()

        def call(self, x):
            return self.inner(x)

    class Model(keras.Model):
        def __init__(self):
            super().__init__()
            self.block = Block()

        def call(self, x):
            return self.block(x)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            loss = super().compute_loss(x, y, y_pred, sample_weight, training=training)
            self.block.inner.tracker.update_state(loss * 3)
            return loss

    model = Model()
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.linspace(0, 1, 48).reshape(16, 3), np.ones((16, 1))
    history = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    return {"history": history, "names": sorted({m.name for m in model.metrics})}
'''


def test_a_metric_held_by_a_layer_inside_a_layer_is_listed_and_logged_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(DEEPER, tmp_path_factory)
    assert set(ours["history"]) == set(theirs["history"]) == {"deep", "loss"}
    assert ours["names"] == theirs["names"]
    for key in theirs["history"]:
        assert ours["history"][key] == pytest.approx(theirs["history"][key], rel=1e-5), key
