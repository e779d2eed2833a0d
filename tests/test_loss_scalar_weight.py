"""A loss called with one number as ``sample_weight`` (Keras's own loss tests: ``sample_weight=2.3``): every
sample weighted by it, each reduction as Keras's (``mean_with_sample_weight`` divides by the weight as given)."""
from __future__ import annotations

import numpy as np
from helpers import run_script_both_ways

SCRIPT = r'''
import json, sys
import numpy as np

def run(keras, folder):
    y_true = np.array([[1, 9, 2], [-5, -2, 6]], "float32")
    y_pred = np.array([[4, 8, 12], [8, 1, 3]], "float32")
    losses = keras.losses
    found = {}
    for name, loss in (("mse", losses.MeanSquaredError()), ("mae", losses.MeanAbsoluteError()),
                       ("huber", losses.Huber()), ("log_cosh", losses.LogCosh()),
                       ("sum", losses.MeanSquaredError(reduction="sum")),
                       ("none", losses.MeanSquaredError(reduction=None)),
                       ("mean_with_sample_weight", losses.MeanSquaredError(reduction="mean_with_sample_weight"))):
        found[name] = [np.asarray(loss(y_true, y_pred, sample_weight=w)).tolist() for w in (2.3, np.float32(0.0))]
    probabilities = np.array([[0.9, 0.2, 0.3], [0.1, 0.6, 0.7]], "float32")
    found["bce"] = float(losses.BinaryCrossentropy()(np.array([[1, 0, 1], [0, 1, 0]], "float32"), probabilities,
                                                     sample_weight=2.3))
    found["scce"] = float(losses.SparseCategoricalCrossentropy()(
        np.array([0, 2]), probabilities / probabilities.sum(1, keepdims=True), sample_weight=2.3))
    return found
'''


def test_one_number_as_the_sample_weight_weighs_every_sample_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert set(ours) == set(theirs)
    for name in ours:
        np.testing.assert_allclose(np.asarray(ours[name], dtype=float), np.asarray(theirs[name], dtype=float),
                                   rtol=1e-5, err_msg=name)


def test_the_loss_and_metric_functions_pickle_as_keras_s_do():
    """``pickle`` finds each by its name in its module (a KerasTuner search copies compile arguments so)."""
    import pickle

    import gpunn

    for module in (gpunn.losses, gpunn.metrics):
        for name in dir(module):
            value = getattr(module, name)
            if callable(value) and not isinstance(value, type) and not name.startswith("_"):
                assert pickle.loads(pickle.dumps(value)) is value, f"{module.__name__}.{name}"
    assert pickle.loads(pickle.dumps(gpunn.losses.get("mse"))) is gpunn.losses.mean_squared_error
