"""tf.keras 2's dynamic loss weights: a variable given in ``loss_weights`` and assigned by a callback weighs the
losses from the next step on, as Keras's eager steps (and its TensorFlow backend) read it. gpunn reads it at every
step, and a recorded step is recorded again when it changed."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from helpers import numpy_backend, run_script_both_ways  # noqa: F401

DYNAMIC_WEIGHTS = r'''
import json, os, sys
import numpy as np


def run(keras, folder, **compile_options):
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(5, activation="tanh")(inputs)
    model = keras.Model(inputs, {"first": keras.layers.Dense(1, name="first")(hidden),
                                 "second": keras.layers.Dense(1, name="second")(hidden)})
    model.set_weights([np.random.default_rng(5).normal(size=w.shape).astype("float32") * 0.5
                       for w in model.get_weights()])
    weight = keras.Variable(0.5, trainable=False)
    model.compile(keras.optimizers.SGD(0.05), {"first": "mse", "second": "mse"},
                  loss_weights={"first": 1.0, "second": weight}, **(compile_options or {"run_eagerly": True}))
    moved = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: weight.assign(0.5 + batch % 3))
    history = model.fit(x, {"first": x[:, :1], "second": x[:, 1:2]}, batch_size=8, epochs=3, shuffle=False,
                        verbose=0, callbacks=[moved])
    return {"loss": history.history["loss"], "weights": [np.asarray(w).tolist() for w in model.get_weights()]}
'''


def test_a_variable_loss_weight_assigned_during_fit_weighs_from_the_next_step(tmp_path_factory):
    ours, theirs = run_script_both_ways(DYNAMIC_WEIGHTS, tmp_path_factory)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-5)
    for mine, keras_weight in zip(ours["weights"], theirs["weights"]):
        np.testing.assert_allclose(mine, keras_weight, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("steps_per_execution", [1, 2])
def test_recorded_steps_follow_the_variable_bit_for_bit(numpy_backend, tmp_path, steps_per_execution):
    namespace: dict = {}
    exec(compile(DYNAMIC_WEIGHTS, "dynamic_weights.py", "exec"), namespace)
    runs = [namespace["run"](gpunn, str(tmp_path), jit_compile=jit, steps_per_execution=steps_per_execution)
            for jit in (False, True)]
    assert runs[0] == runs[1]
