"""Metrics called on their own with 1-D ``y_true`` and ``y_pred``: Keras's MeanMetricWrapper of a function that
means over the last axis (MSE, MAE, the hinges, cross-entropies, CosineSimilarity...) reduces each such batch to
one value and counts it once, so uneven batches (a partial last one) weigh as batches, and CosineSimilarity is the
cosine of the whole batch; Keras's element-wise ones (RootMeanSquaredError, the accuracies) count elements."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_each_close_to_keras, run_script_both_ways

from gpunn import metrics

SCRIPT = r'''
import json, sys
import numpy as np

NAMES = ["MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError",
         "LogCoshError", "Poisson", "KLDivergence", "Hinge", "SquaredHinge", "CategoricalHinge",
         "BinaryCrossentropy", "CosineSimilarity", "RootMeanSquaredError", "BinaryAccuracy", "Accuracy"]


def run(keras, folder):
    batches = [(np.array([0., 1., 1.], "float32"), np.array([0.25, 0.5, 0.75], "float32")),
               (np.array([1.], "float32"), np.array([0.125], "float32")),
               (np.array([0., 1.], "float32"), np.array([0.5, 0.875], "float32"))]
    seen = {}
    for name in NAMES:
        metric = getattr(keras.metrics, name)()
        for y_true, y_pred in batches:
            metric.update_state(y_true, y_pred)
        seen[name] = float(metric.result())
    return seen
'''


def test_flat_batches_count_as_keras_counts_them(tmp_path_factory):
    assert_each_close_to_keras(*run_script_both_ways(SCRIPT, tmp_path_factory))


def test_weights_per_sample_cannot_weigh_a_flat_batch_s_one_value():
    metric = metrics.MeanSquaredError()
    with pytest.raises(ValueError, match="^sample_weight: mean_squared_error of 1-D y_true and y_pred takes one"):
        metric.update_state(np.zeros(3), np.ones(3), sample_weight=np.ones(3))
    metric.update_state(np.zeros(3), np.ones(3), sample_weight=2.0)  # one weight for the batch's one value
    metric.update_state(np.zeros((2, 1)), np.full((2, 1), 3.0))  # columns: one value per sample
    assert float(metric.result()) == pytest.approx((2 * 1.0 + 9.0 + 9.0) / 4)
