"""Keras's Muon optimizer (keras/src/optimizers/muon.py): training equal to Keras's own (in a subprocess on jax),
one step equal to a NumPy transcription of Keras's formulas in float64, replayed steps equal to eager ones bit
for bit, the optimizer's variables in Keras's files (a velocity for AdamW's weights only) both ways."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_same_training
from keras_optimizer_checks import OptimizerAgainstKeras

import gpunn

CHECKS = OptimizerAgainstKeras("Muon", narrow_activation="relu", output_name="output_dense")
ARGUMENTS = {
    "defaults": {"learning_rate": 0.02},
    "output_excluded": {"learning_rate": 0.02, "exclude_layers": ["output_dense"], "nesterov": False,
                        "adam_lr_ratio": 0.5, "rms_rate": None},
    "decays": {"learning_rate": 0.01, "weight_decay": 0.1, "adam_weight_decay": 0.2, "ns_steps": 3, "momentum": 0.9},
}
READ = '''
variables = model.optimizer.variables
runs["read"] = {"paths": [v.path for v in variables], "momentum": np.asarray(variables[2]).tolist()}
'''


def test_training_and_files_equal_keras_s(tmp_path):
    ours_path, theirs_path = str(tmp_path / "ours.keras"), str(tmp_path / "theirs.keras")
    half_trained, _ = CHECKS.train(ARGUMENTS["output_excluded"], jit=False, epochs=1)
    half_trained.save(ours_path)
    keras = CHECKS.run_keras(ARGUMENTS, ours_path, theirs_path, READ)
    CHECKS.assert_training_equals_keras(ARGUMENTS, keras)
    # Keras read gpunn's file: a momentum per weight, a velocity for AdamW's (biases, the excluded output kernel)
    paths = keras["read"]["paths"]
    assert [p.rsplit("_", 1)[-1] for p in paths[2:]] == ["momentum", "momentum", "velocity"] * 2 + [
        "momentum", "velocity"] * 2
    assert paths[2].endswith("wide_kernel_momentum")
    np.testing.assert_array_equal(np.asarray(keras["read"]["momentum"], dtype=np.float32),
                                  np.asarray(half_trained.optimizer.slots["momentum"])[:54].reshape(6, 9))
    CHECKS.assert_resumes_as_keras(ours_path, keras)  # and went on training as gpunn goes on
    loaded = gpunn.models.load_model(theirs_path)  # Keras's file, read by gpunn
    segments = loaded._store.segments
    velocity, momentum = np.asarray(loaded.optimizer.slots["velocity"]), np.asarray(loaded.optimizer.slots["momentum"])
    saved = [np.asarray(v) for v in keras["saved"]]
    assert int(saved[0]) == loaded.optimizer.iterations == 12
    np.testing.assert_array_equal(saved[2].reshape(-1), momentum[segments[0][0]:segments[0][1]])
    np.testing.assert_array_equal(saved[4].reshape(-1), velocity[segments[1][0]:segments[1][1]])
    assert not np.any(velocity[segments[0][0]:segments[0][1]])  # none kept for Muon's weights
    CHECKS.assert_config_keys_are_keras_s(keras)


def test_one_step_is_keras_s_formulas_in_float64():
    """A step from zero slots on a float64 model: the kernels (one tall, one wide) by Newton-Schulz, the biases
    by AdamW, each after its weight decay, against NumPy."""
    arguments = {"learning_rate": 0.05, "weight_decay": 0.3, "adam_weight_decay": 0.1, "momentum": 0.9}
    gpunn.utils.set_random_seed(2)
    model = gpunn.Sequential([gpunn.Input((7,), dtype="float64"), gpunn.layers.Dense(3, activation="tanh"),
                              gpunn.layers.Dense(5, dtype="float64")])
    model.compile(gpunn.optimizers.Muon(**arguments), "mse")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((10, 7)), rng.standard_normal((10, 5))
    before = model.get_weights()
    model.train_on_batch(x, y)
    grads = np.array(model.grads)
    segments = model._store.segments
    lr, a, b, c = 0.05, 3.4445, -4.7750, 2.0315
    for weight, after, (start, stop) in zip(before, model.get_weights(), segments):
        g = grads[start:stop].reshape(weight.shape)
        if weight.ndim == 2:
            m = g + 0.0 * (0.9 - 1)
            direction = g + 0.9 * m
            tall = direction.shape[0] > direction.shape[1]
            xs = direction.T if tall else direction
            xs = xs / (np.linalg.norm(xs) + 1e-7)
            for _ in range(5):
                gram = xs @ xs.T
                xs = a * xs + (b * gram + (c * gram) @ gram) @ xs
            update = (lr * (xs.T if tall else xs)) * np.sqrt(max(weight.shape)) * 0.2
            expected = (weight - weight * 0.3 * lr) - update
        else:
            m, v = 0.1 * g, 0.001 * g * g
            alpha = lr * np.sqrt(1 - 0.999) / (1 - 0.9)
            expected = (weight - weight * 0.1 * lr) - m * alpha / (np.sqrt(v) + 1e-7)
        np.testing.assert_allclose(after, expected, rtol=1e-12, atol=1e-14)
    # five quintic iterations leave the update's singular values near 1 (what makes it an orthogonalization)
    kernel_change = (before[0] - before[0] * 0.3 * lr) - model.get_weights()[0]
    singular = np.linalg.svd(kernel_change / (lr * np.sqrt(7) * 0.2), compute_uv=False)
    assert singular.min() > 0.6 and singular.max() < 1.25


@pytest.mark.parametrize("name,steps_per_execution", [("defaults", 1), ("output_excluded", 4), ("decays", 3)])
def test_replayed_steps_equal_eager_ones_bit_for_bit(name, steps_per_execution):
    eager = CHECKS.train(ARGUMENTS[name], jit=False)
    assert_same_training(eager, CHECKS.train(ARGUMENTS[name], jit=True, steps_per_execution=steps_per_execution))


def test_which_weights_take_which_step_and_arguments():
    optimizer = gpunn.optimizers.Muon(exclude_layers=["head"])
    optimizer.set_trained_weights([("seq/dense/kernel", (4, 3)), ("seq/dense/bias", (3,)),
                                   ("seq/embedding/embeddings", (10, 4)), ("seq/head/kernel", (3, 2)),
                                   ("seq/conv/kernel", (3, 3, 2))])
    assert optimizer._adamw_flags() == (False, True, True, True, True)
    optimizer.exclude_embeddings = False
    assert optimizer._adamw_flags() == (False, True, False, True, True)
    assert [optimizer.keras_slot_kept("velocity", i) for i in range(5)] == [False, True, False, True, True]
    assert all(optimizer.keras_slot_kept("momentum", i) for i in range(5))
    config = gpunn.optimizers.Muon(learning_rate=0.01, rms_rate=None, exclude_layers=["out"]).get_config()
    assert (config["rms_rate"], config["exclude_layers"], config["weight_decay"]) == (None, ["out"], 0.004)
    assert gpunn.optimizers.Muon.from_config(config).get_config() == config
    assert isinstance(gpunn.optimizers.get("muon"), gpunn.optimizers.Muon)
    with pytest.raises(ValueError, match="ns_steps: expected an integer >= 0"):
        gpunn.optimizers.Muon(ns_steps=2.5)
    with pytest.raises(ValueError, match="exclude_layers: expected a list of strings"):
        gpunn.optimizers.Muon(exclude_layers="output")
    with pytest.raises(ValueError, match="momentum: expected a number in"):
        gpunn.optimizers.Muon(momentum=1.5)


@pytest.mark.gpu
def test_muon_on_the_gpu_matches_numpy_and_its_graph_replays_it():
    import warnings

    from gpunn.trainer.train_step import GraphFallbackWarning

    runs = {}
    for backend, jit in (("numpy", False), ("cupy", False), ("cupy", True)):
        with gpunn.use_backend(backend), warnings.catch_warnings():
            warnings.simplefilter("error", GraphFallbackWarning)
            runs[backend, jit] = CHECKS.train(ARGUMENTS["decays"], jit=jit, steps_per_execution=2)
    for key, tolerance in ((("cupy", False), 1e-6), (("numpy", False), 1e-4)):
        for ours, reference in zip(runs["cupy", True][0].get_weights(), runs[key][0].get_weights()):
            np.testing.assert_allclose(ours, reference, rtol=tolerance, atol=tolerance / 5, err_msg=str(key))


HYPERPARAMETERS_CHANGED = r'''
import json, os, sys
import numpy as np


def run(keras, folder, **compile_options):
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = x @ np.ones((4, 1), "float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(1)])
    model.set_weights([np.random.default_rng(1).normal(size=w.shape).astype("float32") for w in model.get_weights()])
    model.compile(keras.optimizers.Muon(0.05), "mse", **(compile_options or {"run_eagerly": True}))

    def change(epoch, logs):  # Keras's Muon reads them at every step
        optimizer = model.optimizer
        optimizer.momentum, optimizer.muon_a, optimizer.adam_lr_ratio = 0.1 * (epoch + 1), 3.3 - 0.1 * epoch, 0.5
        optimizer.adam_weight_decay = 0.01 * (epoch + 1)

    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                        callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=change)])
    return {"loss": history.history["loss"], "weights": [np.asarray(w).tolist() for w in model.get_weights()]}
'''


def test_hyperparameters_set_during_fit_are_followed_as_in_keras(tmp_path_factory):
    from helpers import run_script_both_ways

    ours, theirs = run_script_both_ways(HYPERPARAMETERS_CHANGED, tmp_path_factory)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=2e-5)
    namespace: dict = {}
    exec(compile(HYPERPARAMETERS_CHANGED, "muon_changed.py", "exec"), namespace)
    with gpunn.use_backend("numpy"):
        recorded = namespace["run"](gpunn, "", jit_compile=True)
        eager = namespace["run"](gpunn, "", jit_compile=False)
    assert recorded == eager
