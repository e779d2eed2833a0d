"""``layer.input`` / ``layer.output`` (the tensors of a layer's first call, Keras's ``Operation.input`` /
``output``) and a Sequential's ``inputs`` / ``outputs``: the feature-extractor pattern of Keras's guides,
``keras.Model(model.inputs, [layer.output for layer in model.layers])``, checked against Keras 3."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers
from helpers import numpy_backend, run_keras  # noqa: F401

EXTRACTORS = r'''
def extractors(keras, x):
    layers = keras.layers
    sequential = keras.Sequential([keras.Input((4,)), layers.Dense(5, activation="relu", name="hidden"),
                                   layers.Dropout(0.5), layers.Dense(3, activation="softmax", name="head")])
    inputs = keras.Input((4,), name="features")
    shared = layers.Dense(4, activation="tanh", name="shared")
    second = shared(layers.Dense(4, name="before")(shared(inputs)))  # 'shared' called twice: its first call counts
    functional = keras.Model(inputs, layers.Dense(2, name="out")(second))
    for model, seed in ((sequential, 1), (functional, 2)):
        rng = np.random.default_rng(seed)
        model.set_weights([rng.standard_normal(w.shape).astype("float32") for w in model.get_weights()])
    return [
        keras.Model(sequential.inputs, [layer.output for layer in sequential.layers]),
        keras.Model(sequential.layers[0].input, sequential.get_layer("hidden").output),
        keras.Model(functional.inputs, [functional.get_layer("shared").output, functional.get_layer("out").input]),
        keras.Model(functional.input, functional.layers[1].output),
    ]
'''

KERAS_SIDE = EXTRACTORS + r'''
import json, sys
import numpy as np
import keras
x = np.array(json.loads(sys.stdin.read())["x"], dtype="float32")
results = []
for model in extractors(keras, x):
    out = model.predict(x, verbose=0)
    results.append([a.tolist() for a in out] if isinstance(out, list) else [out.tolist()])
print(json.dumps(results))
'''


def test_feature_extractors_from_layer_outputs_equal_keras_s():
    namespace: dict = {"np": np}
    exec(EXTRACTORS, namespace)
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    theirs = run_keras(KERAS_SIDE, {"x": x.tolist()})
    for k, (model, expected) in enumerate(zip(namespace["extractors"](gpunn, x), theirs)):
        out = model.predict(x, verbose=0)
        out = out if isinstance(out, list) else [out]
        assert len(out) == len(expected), k
        for ours, keras_value in zip(out, expected):
            np.testing.assert_allclose(ours, keras_value, rtol=1e-5, atol=1e-6, err_msg=f"extractor {k}")


def test_an_extractor_shares_the_weights_of_the_model_it_was_taken_from():
    model = gpunn.Sequential([layers.Dense(3, activation="relu"), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(1).standard_normal((8, 4)).astype(np.float32)
    model.fit(x, np.ones((8, 1), np.float32), verbose=0)  # built by fit, without an Input
    extractor = gpunn.Model(model.input, model.layers[0].output)
    kernel, bias = model.layers[0].get_weights()
    np.testing.assert_allclose(extractor.predict(x, verbose=0), np.maximum(x @ kernel + bias, 0), rtol=1e-5, atol=1e-6)
    model.fit(x, np.ones((8, 1), np.float32), verbose=0)
    kernel, bias = model.layers[0].get_weights()
    np.testing.assert_allclose(extractor.predict(x, verbose=0), np.maximum(x @ kernel + bias, 0), rtol=1e-5, atol=1e-6)


def test_a_layer_never_called_has_keras_s_error_and_an_input_layer_its_tensor():
    unbuilt = gpunn.Sequential([layers.Dense(3, name="lonely")])
    with pytest.raises(AttributeError, match="The layer lonely has never been called and thus has no defined output"):
        unbuilt.layers[0].output
    with pytest.raises(AttributeError, match="Sequential model '.*' has no defined inputs yet"):
        unbuilt.inputs
    inputs = gpunn.Input((3,))
    model = gpunn.Model(inputs, layers.Dense(2)(inputs))
    assert model.layers[0].output is inputs and model.layers[0].input == []
    assert model.layers[1].input is inputs


def test_a_layer_finds_its_output_in_the_newest_built_model_that_holds_it():
    base = gpunn.Sequential([gpunn.Input((4,)), layers.Dense(3), layers.Dense(2)])
    reused = gpunn.Sequential([gpunn.Input((4,)), *base.layers[:1], layers.Dense(1)])
    del base
    assert reused.layers[0].output.shape == (None, 3)
    popped_from = gpunn.Sequential([gpunn.Input((4,)), layers.Dense(3), layers.Dense(5)])
    moved = popped_from.pop()
    gpunn.Sequential([gpunn.Input((3,)), moved])
    assert moved.output.shape == (None, 5) and moved.input.shape == (None, 3)
    dense = layers.Dense(2)
    gpunn.Sequential([dense])  # never built
    gpunn.Sequential([gpunn.Input((6,)), dense])
    assert dense.output.shape == (None, 2)
