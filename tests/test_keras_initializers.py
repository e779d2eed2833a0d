"""Keras 3's initializer spellings (keras/src/initializers/__init__.py): the aliases 'uniform', 'normal', 'one',
'zero' and class names as strings; None as a layer's initializer, which Keras's Layer.add_weight turns into
'glorot_uniform' for a float weight; and Constant of an array, which Keras computes as cast(value) * ones(shape)
and so takes when it broadcasts to the weight's shape."""
from __future__ import annotations

import math

import numpy as np
import pytest

import gpunn
from gpunn import initializers, layers


@pytest.mark.parametrize("name, cls, defaults", [
    ("uniform", initializers.RandomUniform, {"minval": -0.05, "maxval": 0.05, "seed": None}),
    ("normal", initializers.RandomNormal, {"mean": 0.0, "stddev": 0.05, "seed": None}),
    ("one", initializers.Ones, {}),
    ("zero", initializers.Zeros, {}),
    ("RandomUniform", initializers.RandomUniform, {"minval": -0.05, "maxval": 0.05, "seed": None}),
    ("GlorotNormal", initializers.GlorotNormal, {"seed": None}),
])
def test_keras_aliases_and_class_names(name, cls, defaults):
    init = initializers.get(name)
    assert type(init) is cls and init.get_config() == defaults


def test_uniform_and_normal_draw_with_keras_defaults():
    gpunn.utils.set_random_seed(0)
    uniform = initializers.get("uniform")((200, 100), "float64")
    assert uniform.min() >= -0.05 and uniform.max() <= 0.05 and uniform.std() == pytest.approx(0.1 / math.sqrt(12),
                                                                                               rel=0.02)
    normal = initializers.get("normal")((200, 100), "float64")
    assert normal.mean() == pytest.approx(0.0, abs=0.002) and normal.std() == pytest.approx(0.05, rel=0.02)
    dense = layers.Dense(4, kernel_initializer="uniform", bias_initializer="normal")
    assert type(dense.kernel_initializer) is initializers.RandomUniform
    assert type(dense.bias_initializer) is initializers.RandomNormal


def test_none_means_glorot_uniform_as_keras_add_weight_does():
    assert type(initializers.get(None)) is initializers.GlorotUniform
    gpunn.utils.set_random_seed(1)
    model = gpunn.Sequential([gpunn.Input(shape=(300,), dtype="float64"),
                              layers.Dense(200, kernel_initializer=None, bias_initializer=None)])
    kernel, bias = model.get_weights()
    limit = math.sqrt(6.0 / (300 + 200))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
    bias_limit = math.sqrt(3.0 / 200)  # a 1-D weight: fan_in = fan_out = 200
    assert np.abs(bias).max() <= bias_limit and np.abs(bias).max() > 0.8 * bias_limit
    config = model.layers[0].get_config()
    assert config["kernel_initializer"]["class_name"] == config["bias_initializer"]["class_name"] == "GlorotUniform"


def test_constant_of_a_scalar_is_unchanged():
    init = initializers.Constant(0.5)
    assert init.get_config() == {"value": 0.5}
    np.testing.assert_array_equal(init((3,), "float64"), np.full(3, 0.5))
    assert initializers.Constant(np.float32(2.0)).get_config() == {"value": 2.0}


def test_constant_of_an_array_fills_a_weight_it_broadcasts_to():
    values = np.array([0.1, -0.2, 0.3])
    model = gpunn.Sequential([gpunn.Input(shape=(2,), dtype="float64"),
                              layers.Dense(3, bias_initializer=initializers.Constant(values),
                                           kernel_initializer=initializers.Constant(np.arange(6.0).reshape(2, 3)))])
    kernel, bias = model.get_weights()
    np.testing.assert_array_equal(kernel, np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(bias, values)
    np.testing.assert_array_equal(initializers.Constant(values)((4, 3), "float64"), np.tile(values, (4, 1)))
    # the config is JSON-friendly and rebuilds the same initializer
    config = initializers.serialize(initializers.Constant(values))
    assert config == {"class_name": "Constant", "config": {"value": [0.1, -0.2, 0.3]}}
    np.testing.assert_array_equal(initializers.get(config)((3,), "float64"), values)


def test_constant_of_an_array_of_another_shape_is_refused_naming_both_shapes():
    with pytest.raises(ValueError, match=r"value: a Constant of shape \(4,\) cannot fill a weight of shape \(2, 3\)"):
        initializers.Constant(np.zeros(4))((2, 3))
    with pytest.raises(ValueError, match=r"value: a Constant of shape \(2, 3\) cannot fill a weight of shape \(3,\)"):
        initializers.Constant(np.zeros((2, 3)))((3,))
    with pytest.raises(ValueError, match="value: expected a number or an array of numbers"):
        initializers.Constant("big")
