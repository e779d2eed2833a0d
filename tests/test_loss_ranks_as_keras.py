"""A loss called on its own brings targets and predictions of ranks differing by one to one rank, as Keras's
``squeeze_or_expand_to_same_rank`` does ((samples,) predictions against (samples, 1) targets: one value per
sample, not one for the batch), and takes Keras's positional arguments (``MeanSquaredError("sum")`` is the
reduction)."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_each_close_to_keras, run_script_both_ways

import gpunn
from gpunn import layers, losses

SCRIPT = r'''
import json, sys
import numpy as np


def run(keras, folder):
    column = np.array([[1.], [2.], [3.], [4.]], "float32")
    flat = np.array([1.5, 2., 2., 5.], "float32")
    one_hot = np.eye(3, dtype="float32")[[0, 1, 2, 1]]
    probabilities = np.array([[.7, .2, .1], [.1, .8, .1], [.2, .2, .6], [.3, .4, .3]], "float32")
    losses = keras.losses
    return {
        "mse_sum": float(losses.MeanSquaredError(reduction="sum")(column, flat)),
        "mse_sum_flipped": float(losses.MeanSquaredError(reduction="sum")(flat, column)),
        "mse_none": np.asarray(losses.MeanSquaredError(reduction="none")(column, flat)).tolist(),
        "mse_weighted": float(losses.MeanSquaredError()(column, flat, sample_weight=np.array([1., 0., 0., 1.]))),
        "mae_positional": float(losses.MeanAbsoluteError("sum")(column, column + 1)),
        "mape_positional": float(losses.MeanAbsolutePercentageError("sum")(column, column * 2)),
        "mse_positional": float(losses.MeanSquaredError("none", "named")(column, column + 1).sum()),
        "cce_trailing_axis": float(losses.CategoricalCrossentropy()(one_hot, probabilities[..., None])),
        "cosine_trailing_axis": float(losses.CosineSimilarity()(one_hot, probabilities[..., None])),
        "huber_flat": float(losses.Huber()(column, flat)),
        "bce_flat": float(losses.BinaryCrossentropy()(np.array([[1.], [0.]]), np.array([0.8, 0.3]))),
    }
'''


def test_ranks_and_positional_arguments_as_keras(tmp_path_factory):
    assert_each_close_to_keras(*run_script_both_ways(SCRIPT, tmp_path_factory))


def test_axis_1_beyond_2d_is_refused_by_name():
    """axis=1 is the features axis of (samples, features) only; over 3-D inputs Keras reduces the steps there."""
    rng = np.random.default_rng(0)
    y = rng.uniform(0.1, 0.9, (2, 3, 4))
    for loss in (losses.CosineSimilarity(axis=1), losses.CategoricalCrossentropy(axis=1)):
        assert np.isfinite(float(loss(y[:, 0], y[:, 1])))  # 2-D: axis 1 is the last one
        with pytest.raises(ValueError, match=r"^axis: .*\(axis=1\) on predictions of shape \(2, 3, 4\)"):
            loss(y, y)
    model = gpunn.Sequential([gpunn.Input((3, 4)), layers.Dense(4, activation="softmax")])
    model.compile("sgd", losses.CategoricalCrossentropy(axis=1))
    with pytest.raises(ValueError, match=r"^loss: CategoricalCrossentropy with axis=1 on an output of shape"):
        model.fit(y, y, verbose=0)
