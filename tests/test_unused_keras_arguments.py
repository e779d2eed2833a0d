"""Keras layer arguments for what gpunn does not compute (LoRA, quantization, batch renormalization,
synchronized moments, LayerNormalization's deprecated rms_scaling): their unused values are taken, as Keras's
signatures and configs spell them, so that a config Keras wrote builds the same layer in gpunn; any other
value is refused by name when the layer is made."""
from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import run_keras

from gpunn import layers

KERAS_CONFIGS = r'''
import json, sys
import keras
made = {"Dense": keras.layers.Dense(3, name="d"), "Embedding": keras.layers.Embedding(10, 4, name="e"),
        "BatchNormalization": keras.layers.BatchNormalization(name="b"),
        "LayerNormalization": keras.layers.LayerNormalization(name="l"),
        "EinsumDense": keras.layers.EinsumDense("ab,bc->ac", 3, name="ed")}
print(json.dumps({name: layer.get_config() for name, layer in made.items()}))
'''


def test_configs_keras_writes_build_the_same_layers():
    configs = run_keras(KERAS_CONFIGS, {})
    for class_name, config in configs.items():
        layer = getattr(layers, class_name).from_config(config)
        ours = layer.get_config()
        # every plain argument gpunn has holds Keras's value (nested objects are compared by their own tests)
        plain = [key for key in ours if key in config and not isinstance(config[key], dict)]
        assert plain and json.loads(json.dumps({key: ours[key] for key in plain})) == {
            key: config[key] for key in plain}, class_name
        assert set(config) - set(ours) <= {"quantization_config", "lora_rank", "lora_alpha", "renorm",
                                           "renorm_clipping", "renorm_momentum", "synchronized", "rms_scaling",
                                           "dtype", "activity_regularizer", "gptq_unpacked_column_size"}
        x = np.ones((2, 4), np.float32) if class_name != "Embedding" else np.array([[1, 2], [3, 4]])
        assert layer(x).shape[0] == 2


@pytest.mark.parametrize("make, argument", [
    (lambda: layers.Dense(3, lora_rank=None, lora_alpha=None, quantization_config=None), None),
    (lambda: layers.Embedding(5, 2, lora_rank=None, lora_alpha=8, quantization_config=None), None),
    (lambda: layers.BatchNormalization(renorm=False, renorm_clipping=None, renorm_momentum=0.9,
                                       synchronized=False), None),
    (lambda: layers.LayerNormalization(rms_scaling=False), None),
    (lambda: layers.Dense(3, lora_rank=4), "Dense: lora_rank=4 is not supported"),
    (lambda: layers.Dense(3, quantization_config={"mode": "int8"}), "Dense: quantization_config="),
    (lambda: layers.Embedding(5, 2, lora_rank=2), "Embedding: lora_rank=2 is not supported"),
    (lambda: layers.BatchNormalization(renorm=True), "BatchNormalization: renorm=True is not supported"),
    (lambda: layers.BatchNormalization(synchronized=True), "BatchNormalization: synchronized=True"),
    (lambda: layers.LayerNormalization(rms_scaling=True), "LayerNormalization: rms_scaling=True is not supported"),
    (lambda: layers.EinsumDense("ab,bc->ac", 2, lora_rank=1), "EinsumDense: lora_rank=1 is not supported"),
])
def test_unused_values_are_taken_and_others_refused_by_name(make, argument):
    if argument is None:
        make()
    else:
        with pytest.raises(ValueError, match="^" + argument):
            make()


def test_autocast_is_taken_as_keras_layers_take_it():
    class Doubling(layers.Layer):  # a user's layer doing its own casting, as Keras's docs suggest
        def __init__(self, **kwargs):
            super().__init__(autocast=False, **kwargs)

        def call(self, x):
            return x * 2

    layer = Doubling()
    assert layer.autocast is False and layers.Dense(2).autocast is True
    np.testing.assert_array_equal(np.asarray(layer(np.ones((2, 3), np.float32))), np.full((2, 3), 2.0))


def test_zero_leaves_lora_unused_as_keras_tests_it():
    layers.Dense(3, lora_rank=0)
    layers.EinsumDense("ab,bc->ac", 2, lora_rank=0, gptq_unpacked_column_size=0)
