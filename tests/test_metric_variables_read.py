"""What a script reads of a standalone metric's variables (``np.asarray(v)``, ``v.numpy()``, ``np.array(v)``) is a
copy, as a Keras Variable's reads are: the next ``update_state`` or a ``reset_state`` leaves it as it was read (the
custom-training-loop guides log a metric's variables each epoch). A variable of a metric of the user's has Keras's
``path``."""
from helpers import run_script_both_ways

SCRIPT = '''
import json, sys
import numpy as np


def run(keras, folder):
    class TruePositives(keras.metrics.Metric):
        def __init__(self, name="true_positive_sum", **kwargs):
            super().__init__(name=name, **kwargs)
            self.total = self.add_variable(shape=(), name="total", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.total.assign_add(keras.ops.sum(y_pred))

        def result(self):
            return self.total

    built_in = keras.metrics.MeanAbsoluteError()
    built_in.update_state(np.ones((4, 2)), np.zeros((4, 2)))
    read = [np.asarray(v) for v in built_in.variables] + [v.numpy() for v in built_in.variables]
    built_in.update_state(np.full((4, 2), 3.0), np.zeros((4, 2)))
    after_update = [np.asarray(v) for v in built_in.variables]
    built_in.reset_state()
    own = TruePositives()
    own.update_state(None, np.ones((4, 2), "float32"))
    own_read = [np.array(own.variables[0]), own.variables[0].numpy(), np.asarray(own.variables[0])]
    own.update_state(None, np.ones((1, 2), "float32"))
    own.reset_state()
    return {"read": [float(v) for v in read], "after_update": [float(v) for v in after_update],
            "own_read": [float(v) for v in own_read], "own_path": own.variables[0].path,
            "own_after_reset": float(np.asarray(own.result()))}
'''


def test_a_metric_variable_read_stays_as_read_and_a_user_metric_variable_has_its_path(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours == theirs
    assert ours["read"] == [4.0, 4.0, 4.0, 4.0] and ours["own_read"] == [8.0, 8.0, 8.0]
    assert ours["own_path"] == "true_positive_sum/total"
