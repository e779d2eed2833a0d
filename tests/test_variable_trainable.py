"""Keras's flag per variable: ``layer.kernel.trainable = False`` freezes one weight while the others of its layer
train (the kernel keeps its value and its penalty leaves the loss, the bias trains), in a layer held by another
layer too; as a layer's flag, it takes effect at the next ``compile()``, and the layer's own ``trainable`` setter
sets every variable's flag again. Compared with Keras 3, and eager with a recorded step."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

import gpunn

SCRIPT = r'''
import json, os, sys
import numpy as np


def run(keras, folder):
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = x @ np.arange(1, 5, dtype="float32")[:, None] + 1

    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = keras.layers.Dense(3, activation="relu")
            self.norm = keras.layers.BatchNormalization()

        def call(self, inputs, training=None):
            return self.norm(self.inner(inputs), training=training)

    out = {}
    # a Dense's kernel, whose L2 penalty then leaves the loss, in a Sequential
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh",
                                                                     kernel_regularizer=keras.regularizers.L2(0.1)),
                              keras.layers.Dense(1)])
    model.set_weights([np.random.default_rng(1).normal(size=w.shape).astype("float32") for w in model.get_weights()])
    model.layers[0].kernel.trainable = False
    model.compile(keras.optimizers.Adam(0.05), "mse")
    out["sequential"] = {
        "loss": model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history["loss"],
        "weights": [np.asarray(w).ravel().tolist() for w in model.get_weights()],
        "trainable": [v.path for v in model.trainable_weights],
        "non_trainable": [v.path for v in model.non_trainable_weights],
        "optimizer_variables": len(model.optimizer.variables)}
    # then the output's bias too, at a compile; the layer's own flag sets its variables' again
    model.layers[1].bias.trainable = False
    model.compile(keras.optimizers.Adam(0.05), "mse")
    bias = np.asarray(model.layers[1].bias).tolist()
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    model.layers[0].trainable = True
    out["after"] = [np.asarray(model.layers[1].bias).tolist() == bias, model.layers[0].kernel.trainable,
                    model.layers[1].bias.trainable]
    # weights of layers a layer of the script's holds
    inputs = keras.Input((4,))
    block = Block()
    model = keras.Model(inputs, keras.layers.Dense(1)(block(inputs)))
    model.set_weights([np.abs(np.random.default_rng(2).normal(size=w.shape)).astype("float32")
                       for w in model.get_weights()])
    block.inner.kernel.trainable = False
    block.norm.gamma.trainable = False
    model.compile(keras.optimizers.SGD(0.05), "mse")
    out["held"] = {
        "loss": model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history["loss"],
        "weights": [np.asarray(w).ravel().tolist() for w in model.get_weights()],
        "trainable": [v.path for v in model.trainable_weights],
        "non_trainable": [v.path for v in model.non_trainable_weights]}
    return out
'''


def _assert_same(ours, theirs):
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=2e-5)
    for mine, keras_s in zip(ours["weights"], theirs["weights"]):
        np.testing.assert_allclose(mine, keras_s, rtol=2e-5, atol=2e-6)
    assert ours["trainable"] == theirs["trainable"] and ours["non_trainable"] == theirs["non_trainable"]


def test_weights_frozen_by_themselves_train_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    _assert_same(ours["sequential"], theirs["sequential"])
    assert ours["sequential"]["optimizer_variables"] == theirs["sequential"]["optimizer_variables"] == 8
    assert ours["after"] == theirs["after"] == [True, True, False]
    _assert_same(ours["held"], theirs["held"])


def _model(jit):
    gpunn.utils.set_random_seed(4)
    model = gpunn.Sequential([gpunn.Input((5,)), gpunn.layers.Dense(4, activation="relu"),
                              gpunn.layers.BatchNormalization(), gpunn.layers.Dense(1)])
    model.layers[0].kernel.trainable = False
    model.layers[1].beta.trainable = False
    model.compile(gpunn.optimizers.Adam(0.01), "mse", jit_compile=jit)
    return model


def test_a_recorded_step_with_weights_frozen_by_themselves_is_the_eager_one(numpy_backend):
    x = np.random.default_rng(5).normal(size=(40, 5)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    eager, recorded = _model(False), _model(True)
    kernel = eager.layers[0].get_weights()[0]
    for model in (eager, recorded):
        model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    for ours, theirs in zip(eager.get_weights(), recorded.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(eager.layers[0].get_weights()[0], kernel)
    assert not np.array_equal(eager.layers[0].get_weights()[1], 0)  # the bias trained


def test_a_flag_changed_after_training_waits_for_the_compile(numpy_backend):
    x, y = np.ones((8, 5), "float32"), np.ones((8, 1), "float32")
    model = _model(False)
    model.fit(x, y, epochs=1, verbose=0)
    model.layers[2].kernel.trainable = False
    kernel = model.layers[2].get_weights()[0]
    with pytest.warns(UserWarning, match=r"Changed layers: \['dense_\d+'\]"):
        model.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(model.layers[2].get_weights()[0], kernel)  # still trained, as compiled
    model.compile(gpunn.optimizers.Adam(0.01), "mse")
    kernel = model.layers[2].get_weights()[0]
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(model.layers[2].get_weights()[0], kernel)


def test_flags_that_cannot_be_set(numpy_backend):
    model = _model(False)
    with pytest.raises(AttributeError, match="moving_mean.trainable: the weight is not trained by any optimizer"):
        model.layers[1].moving_mean.trainable = True
    model.layers[2].trainable = False
    with pytest.raises(AttributeError, match="is frozen \\(trainable=False\\), so none of its weights trains"):
        model.layers[2].kernel.trainable = True
    with pytest.raises(ValueError, match="trainable: expected True or False"):
        model.layers[1].gamma.trainable = "no"
