"""Keras's Adafactor optimizer (keras/src/optimizers/adafactor.py): training equal to Keras's own (in a subprocess on
jax), one step equal to a NumPy transcription of Keras's formulas in float64, replayed steps equal to eager ones bit
for bit, the factored moments in Keras's files (r and c for the 2-D weights only) both ways."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_same_training
from keras_optimizer_checks import OptimizerAgainstKeras

import gpunn

CHECKS = OptimizerAgainstKeras("Adafactor", narrow_activation="tanh", output_name="out")
ARGUMENTS = {
    "defaults": {"learning_rate": 0.05},
    "clipped": {"learning_rate": 0.5, "clip_threshold": 0.5, "beta_2_decay": -0.5, "epsilon_2": 0.01},
    "decayed": {"learning_rate": 0.02, "weight_decay": 0.1, "relative_step": False},
}
READ = '''
runs["read"] = [np.asarray(v).tolist() for v in model.optimizer.variables]
'''


def test_training_and_files_equal_keras_s(tmp_path):
    ours_path, theirs_path = str(tmp_path / "ours.keras"), str(tmp_path / "theirs.keras")
    half_trained, _ = CHECKS.train(ARGUMENTS["defaults"], jit=False, epochs=1)
    half_trained.save(ours_path)
    keras = CHECKS.run_keras(ARGUMENTS, ours_path, theirs_path, READ)
    CHECKS.assert_training_equals_keras(ARGUMENTS, keras)
    # Keras read gpunn's file: per weight r, c (scalar placeholders for a bias) and the velocity, in Keras's order
    read = [np.asarray(v) for v in keras["read"]]
    assert [v.shape for v in read[2:]] == [(6,), (9,), (6, 9), (), (), (9,), (9,), (4,), (9, 4), (), (), (4,), (4,),
                                           (2,), (4, 2), (), (), (2,)]
    slots = {name: np.asarray(value) for name, value in half_trained.optimizer.slots.items()}
    np.testing.assert_array_equal(read[2], slots["factor_rows"][:6])
    np.testing.assert_array_equal(read[3], slots["factor_columns"][:9])
    np.testing.assert_array_equal(read[8], slots["factor_rows"][7:16])
    np.testing.assert_array_equal(read[4].reshape(-1), slots["velocity"][:54])
    assert read[5] == read[6] == 0
    CHECKS.assert_resumes_as_keras(ours_path, keras)  # and went on training as gpunn goes on
    loaded = gpunn.models.load_model(theirs_path)  # Keras's file, read by gpunn
    saved = [np.asarray(v) for v in keras["saved"]]
    assert int(saved[0]) == loaded.optimizer.iterations == 12
    np.testing.assert_array_equal(saved[15], np.asarray(loaded.optimizer.slots["factor_columns"])[15:17])
    np.testing.assert_array_equal(saved[16].reshape(-1), np.asarray(loaded.optimizer.slots["velocity"])[103:111])
    CHECKS.assert_config_keys_are_keras_s(keras)


def test_one_step_is_keras_s_formulas_in_float64():
    arguments = {"learning_rate": 0.05, "clip_threshold": 0.3, "weight_decay": 0.2}
    gpunn.utils.set_random_seed(2)
    model = gpunn.Sequential([gpunn.Input((7,), dtype="float64"), gpunn.layers.Dense(3, activation="tanh"),
                              gpunn.layers.Dense(5, dtype="float64")])
    model.compile(gpunn.optimizers.Adafactor(**arguments), "mse")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((10, 7)), rng.standard_normal((10, 5))
    for step in (1, 2):
        before = model.get_weights()
        slots = {name: np.array(value) for name, value in model.optimizer.slots.items()}  # none before the first
        slots = {name: slots.get(name, np.zeros(99)) for name in ("factor_rows", "factor_columns", "velocity")}
        model.train_on_batch(x, y)
        grads = np.array(model.grads)
        rho, beta = min(0.05, 1 / np.sqrt(step)), 1 - step ** -0.8
        rows = columns = 0
        for weight, after, (start, stop) in zip(before, model.get_weights(), model._store.segments):
            g = grads[start:stop].reshape(weight.shape)
            w = weight - weight * 0.2 * 0.05
            alpha = max(1e-3, np.sqrt(np.mean(w * w))) * rho
            g2 = g * g + 1e-30
            if weight.ndim == 2:
                r = beta * slots["factor_rows"][rows:rows + weight.shape[0]] + (1 - beta) * g2.mean(axis=1)
                c = beta * slots["factor_columns"][columns:columns + weight.shape[1]] + (1 - beta) * g2.mean(axis=0)
                v = np.outer(r / r.mean(), c)
                rows, columns = rows + weight.shape[0], columns + weight.shape[1]
            else:
                v = beta * slots["velocity"][start:stop] + (1 - beta) * g2
                rows, columns = rows + 1, columns + 1  # the placeholders
            u = g / np.sqrt(v)
            expected = w - alpha * u / max(1.0, np.sqrt(np.mean(u * u)) / 0.3)
            np.testing.assert_allclose(after, expected, rtol=1e-12, atol=1e-14, err_msg=f"step {step}")


@pytest.mark.parametrize("name,steps_per_execution", [("defaults", 1), ("clipped", 4), ("decayed", 3)])
def test_replayed_steps_equal_eager_ones_bit_for_bit(name, steps_per_execution):
    eager = CHECKS.train(ARGUMENTS[name], jit=False)
    assert_same_training(eager, CHECKS.train(ARGUMENTS[name], jit=True, steps_per_execution=steps_per_execution))


def test_arguments_and_configuration():
    config = gpunn.optimizers.Adafactor(learning_rate=0.01, clip_threshold=2.0, relative_step=False).get_config()
    assert (config["clip_threshold"], config["relative_step"], config["beta_2_decay"]) == (2.0, False, -0.8)
    assert gpunn.optimizers.Adafactor.from_config(config).get_config() == config
    assert isinstance(gpunn.optimizers.get("adafactor"), gpunn.optimizers.Adafactor)
    with pytest.raises(ValueError, match="clip_threshold: expected a positive number, got 0"):
        gpunn.optimizers.Adafactor(clip_threshold=0)
    with pytest.raises(ValueError, match="epsilon_1: expected a finite number >= 0"):
        gpunn.optimizers.Adafactor(epsilon_1=-1.0)


@pytest.mark.gpu
def test_adafactor_on_the_gpu_matches_numpy_and_its_graph_replays_it():
    import warnings

    from gpunn.trainer.train_step import GraphFallbackWarning

    runs = {}
    for backend, jit in (("numpy", False), ("cupy", False), ("cupy", True)):
        with gpunn.use_backend(backend), warnings.catch_warnings():
            warnings.simplefilter("error", GraphFallbackWarning)
            runs[backend, jit] = CHECKS.train(ARGUMENTS["clipped"], jit=jit, steps_per_execution=2)
    for key, tolerance in ((("cupy", False), 1e-6), (("numpy", False), 1e-4)):
        for ours, reference in zip(runs["cupy", True][0].get_weights(), runs[key][0].get_weights()):
            np.testing.assert_allclose(ours, reference, rtol=tolerance, atol=tolerance / 5, err_msg=str(key))


SCRIPT_COMPILED_AGAIN = '''
import json, sys
import numpy as np

def run(keras, folder):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 8)).astype("float32"), rng.normal(size=(32, 4)).astype("float32")
    model = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(6, name="a"),
                              keras.layers.Dense(4, name="b")])
    model.set_weights([np.full((8, 6), 0.1, "float32"), np.zeros(6, "float32"),
                       np.linspace(-0.2, 0.2, 24, dtype="float32").reshape(6, 4), np.zeros(4, "float32")])
    optimizer = keras.optimizers.Adafactor(learning_rate=0.01)
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    model.compile(optimizer=optimizer, loss="mse")  # the same optimizer: its state goes on
    slots = [np.asarray(v.numpy()).ravel().tolist() for v in optimizer.variables[1:]]
    losses = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history["loss"]
    return {"slots": slots, "losses": losses, "weights": [w.ravel().tolist() for w in model.get_weights()]}
'''


def test_compiling_again_with_the_same_adafactor_keeps_its_factored_moments(tmp_path_factory):
    """Compiling again lays the model's buffers out anew; the per-row and per-column second moments, which are
    not one value per parameter, go on as Keras's (whose optimizer, already built, is kept) rather than restart."""
    from helpers import run_script_both_ways

    ours, theirs = run_script_both_ways(SCRIPT_COMPILED_AGAIN, tmp_path_factory)
    for key in ("slots", "weights"):
        for mine, keras_s in zip(ours[key], theirs[key]):
            np.testing.assert_allclose(mine, keras_s, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours["losses"], theirs["losses"], rtol=1e-5)


def test_a_frozen_weight_s_factored_moments_are_held_until_it_trains_again():
    """Layer a frozen, then trained again with the same Adafactor: its kernel's row and column factors (and its
    velocity) are where they were when it was frozen, as its Adam moments would be."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 8)).astype("float32"), rng.normal(size=(32, 4)).astype("float32")
    model = gpunn.Sequential([gpunn.Input(shape=(8,)), gpunn.layers.Dense(6, name="a"),
                              gpunn.layers.Dense(4, name="b")])
    optimizer = gpunn.optimizers.Adafactor(learning_rate=0.01)
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    layer_a = [np.asarray(v.numpy()).copy() for v in optimizer.variables[2:5]]  # rows (8,), columns (6,), velocity
    assert [value.shape for value in layer_a] == [(8,), (6,), (8, 6)]
    assert all(np.any(value != 0) for value in layer_a)
    model.get_layer("a").trainable = False
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    model.get_layer("a").trainable = True
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(x, y, batch_size=16, epochs=0, verbose=0)  # lays the buffers out again, trains nothing
    for kept, again in zip(layer_a, optimizer.variables[2:5]):
        np.testing.assert_array_equal(np.asarray(again.numpy()), kept)
