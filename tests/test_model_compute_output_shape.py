"""A model's ``compute_output_shape`` (the batch size kept, several inputs and outputs) and ``metrics_variables``,
as Keras's."""
from __future__ import annotations

import pytest
from helpers import run_script_both_ways

import gpunn

SCRIPT = r'''
import json, sys
import numpy as np

def run(keras, folder):
    layers = keras.layers
    found = {}
    chain = keras.Sequential([keras.Input((3,)), layers.Dense(4), layers.Dense(2)])
    found["sequential"] = [list(chain.compute_output_shape((None, 3))), list(chain.compute_output_shape((5, 3)))]
    i = keras.Input((3,))
    heads = keras.Model(i, [layers.Dense(2)(i), layers.Dense(1)(i)])
    found["two outputs"] = [list(shape) for shape in heads.compute_output_shape((7, 3))]
    a, b = keras.Input((3,)), keras.Input((2,))
    joined = keras.Model([a, b], layers.Dense(1)(layers.Concatenate()([a, b])))
    found["two inputs"] = list(joined.compute_output_shape([(4, 3), (4, 2)]))
    a, b = keras.Input((2,), name="a"), keras.Input((3,), name="b")
    keyed = keras.Model({"b": b, "a": a}, layers.Concatenate()([a, b]))
    found["dict"] = [list(keyed.compute_output_shape({"b": (None, 3), "a": (None, 2)})),
                     list(keyed.compute_output_shape({"a": (4, 2), "b": (4, 3)}))]
    named = keras.Model(i, {"a": layers.Dense(2)(i), "b": layers.Dense(3)(i)})
    found["dict outputs"] = {key: list(shape) for key, shape in named.compute_output_shape((None, 3)).items()}
    found["variables before compile"] = len(chain.metrics_variables)
    chain.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    chain.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    found["variables"] = [len(chain.metrics_variables), sorted({tuple(np.shape(v)) for v in chain.metrics_variables})]
    return found
'''


def test_compute_output_shape_and_metrics_variables_are_keras_s(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours == theirs


def test_a_shape_the_model_does_not_take_is_refused_by_name():
    i = gpunn.Input((3,))
    model = gpunn.Model(i, gpunn.layers.Dense(2)(i), name="net")
    for wrong in ((None, 4), (2, 5, 3)):  # (Keras refuses these too)
        with pytest.raises(ValueError, match=r"input_shape: model 'net' takes inputs of shape \(None, 3\), got"):
            model.compute_output_shape(wrong)
    with pytest.raises(ValueError, match="input_shape: expected a shape with its batch axis first"):
        model.compute_output_shape(3)
    # where Keras computes the shape through its layers, gpunn says what it needs rather than build or guess
    unbuilt = gpunn.Sequential([gpunn.layers.Dense(3)])
    with pytest.raises(ValueError, match="is not built; build it"):
        unbuilt.compute_output_shape((5, 6))
    assert not unbuilt.built
    any_length = gpunn.Sequential([gpunn.Input((None, 4)), gpunn.layers.Dense(2)])
    with pytest.raises(ValueError, match="axes of any length"):
        any_length.compute_output_shape((3, 7, 4))


SHAPES = r'''
import json, sys
import numpy as np

def run(keras, folder):
    layers = keras.layers
    found = {}
    i = keras.Input(shape=(2,), batch_size=3)
    model = keras.Model(i, layers.Dense(4)(i))
    found["batch_size"] = [list(model.input_shape), list(model.output_shape),
                           list(model.predict(np.ones((7, 2)), verbose=0).shape)]
    chain = keras.Sequential([keras.Input(batch_shape=(5, 3)), layers.Dense(2)])
    found["batch_shape"] = [list(chain.input_shape), list(chain.output_shape)]
    any_length = keras.Sequential([keras.Input((None, 4)), layers.Dense(2)])
    found["any length"] = list(any_length.input_shape)
    a, b = keras.Input((2,), batch_size=4), keras.Input((3,), batch_size=4)
    joined = keras.Model([a, b], layers.Concatenate()([a, b]))
    found["two inputs"] = [[list(shape) for shape in joined.input_shape], list(joined.output_shape)]
    built = keras.Sequential([layers.Dense(2)])
    built.build((None, 3))
    found["built"] = [list(built.input_shape), list(built.output_shape)]
    return found
'''


def test_input_and_output_shapes_show_a_declared_batch_size_and_any_length_axes(tmp_path_factory):
    ours, theirs = run_script_both_ways(SHAPES, tmp_path_factory)
    assert ours == theirs
    assert ours["batch_size"] == [[3, 2], [3, 4], [7, 4]] and ours["any length"] == [None, None, 4]
