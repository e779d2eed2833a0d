"""Keras's utilities on symbolic values (``keras.utils.is_keras_tensor``, ``get_source_inputs``) and
``activations.deserialize``."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import activations, layers, utils


def test_source_inputs_and_keras_tensors():
    first, second, unused = gpunn.Input((3,)), gpunn.Input((2,)), gpunn.Input((4,))
    merged = layers.Concatenate()([layers.Dense(2)(first), second])
    output = layers.Dense(1)(merged) * 2.0
    assert utils.is_keras_tensor(output) and utils.is_keras_tensor(first)
    assert not utils.is_keras_tensor(np.ones(3)) and not utils.is_keras_tensor(layers.Dense(2))
    sources = utils.get_source_inputs(output)
    assert len(sources) == 2 and {id(s) for s in sources} == {id(first), id(second)}
    assert utils.get_source_inputs(unused) == [unused]
    with pytest.raises(ValueError, match="tensor: expected a symbolic value"):
        utils.get_source_inputs(np.ones(3))


def test_activations_deserialize_takes_names_and_functions_of_the_user_s():
    def doubled(x):
        return x * 2.0

    assert activations.deserialize("relu") == activations.get("relu")
    config = activations.serialize(activations.get(doubled))
    assert config["config"] == "doubled"
    restored = activations.deserialize(config, custom_objects={"doubled": doubled})
    np.testing.assert_array_equal(restored(np.ones(2)), [2.0, 2.0])
