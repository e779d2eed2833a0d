"""Hyperparameters set on a built optimizer, as a callback sets them during fit: a new number of steps to
accumulate re-derives the update count (Keras's ``iterations`` is its steps // N); a change that needs slots the
optimizer was not built with is refused by name, where it used to run on without them (RMSprop's ``centered``:
NaN weights)."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from helpers import numpy_backend, run_script_both_ways  # noqa: F401

ACCUMULATION_CHANGED = r'''
import json, os, sys
import numpy as np


def run(keras, folder, **compile_options):
    x = np.random.default_rng(0).normal(size=(37, 4)).astype("float32")
    y = (x.sum(1) > 0).astype("float32")[:, None]
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.set_weights([np.random.default_rng(5).normal(size=w.shape).astype("float32") * 0.5
                       for w in model.get_weights()])
    model.compile(keras.optimizers.Adam(0.05, gradient_accumulation_steps=2), "binary_crossentropy",
                  **(compile_options or {"run_eagerly": True}))

    def change(epoch, logs):
        if epoch == 0:
            model.optimizer.gradient_accumulation_steps = 3

    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                        callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=change)])
    return {"loss": history.history["loss"], "iterations": int(model.optimizer.iterations)}
'''


def test_a_new_number_of_steps_to_accumulate_counts_updates_as_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(ACCUMULATION_CHANGED, tmp_path_factory)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-5)
    assert ours["iterations"] == theirs["iterations"]
    namespace: dict = {}
    exec(compile(ACCUMULATION_CHANGED, "accumulation.py", "exec"), namespace)
    with gpunn.use_backend("numpy"):
        assert namespace["run"](gpunn, "", jit_compile=True) == namespace["run"](gpunn, "", jit_compile=False)


@pytest.mark.parametrize("make, name, value", [
    (lambda: gpunn.optimizers.RMSprop(0.01), "centered", True),
    (lambda: gpunn.optimizers.SGD(0.01), "momentum", 0.9),
    (lambda: gpunn.optimizers.Adam(0.01), "amsgrad", True),
    (lambda: gpunn.optimizers.Adam(0.01), "use_ema", True),
    (lambda: gpunn.optimizers.Adam(0.01, gradient_accumulation_steps=2), "gradient_accumulation_steps", None),
])
def test_a_change_needing_other_slots_after_build_is_refused_by_name(numpy_backend, make, name, value):
    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(1)])
    optimizer = make()
    model.compile(optimizer, "mse")
    x = np.ones((4, 3), np.float32)
    model.fit(x, np.zeros((4, 1), np.float32), verbose=0)
    previous = getattr(optimizer, name)
    with pytest.raises(ValueError, match=rf"{name}: .* was built with the slots .*; make a new optimizer with it"):
        setattr(optimizer, name, value)
    assert getattr(optimizer, name) == previous
    model.fit(x, np.zeros((4, 1), np.float32), verbose=0)  # and trains on as it was
    setattr(make(), name, value)  # (an optimizer not built yet takes it)


def test_a_new_optimizer_compiled_in_during_fit_is_refused_by_name(numpy_backend):
    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.ones((8, 3), np.float32), np.zeros((8, 1), np.float32)

    def recompile(epoch, logs):
        model.compile(gpunn.optimizers.Adam(0.01), "mse")

    with pytest.raises(RuntimeError, match=r"compile: called during fit \(from a callback\) with another optimizer"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[gpunn.callbacks.LambdaCallback(on_epoch_end=recompile)])
    same = gpunn.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: model.compile(model.optimizer, "mae"))
    assert len(model.fit(x, y, epochs=2, verbose=0, callbacks=[same]).history["loss"]) == 2
    model.compile(gpunn.optimizers.Adam(0.01), "mse")  # (after fit: taken)
    assert isinstance(model.optimizer, gpunn.optimizers.Adam)
