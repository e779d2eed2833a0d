"""A random layer's seed: the argument given is its config (Keras's), so a clone draws noise of its own; the seed
it draws with travels in model files as training state, so training resumed after a load is the run without it."""
from __future__ import annotations

import json

import numpy as np
import pytest

import gpunn
from gpunn.layers import Dense, Dropout, Input
from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

CONFIGS_AND_CLONES = r'''
import json
import sys

import numpy as np


def run(keras, folder):
    layers = keras.layers
    x = np.ones((4, 20), "float32")
    out = {}
    for name, make in (("dropout", lambda seed: layers.Dropout(0.5, seed=seed)),
                       ("alpha", lambda seed: layers.AlphaDropout(0.5, seed=seed)),
                       ("noise", lambda seed: layers.GaussianNoise(1.0, seed=seed)),
                       ("gaussian_dropout", lambda seed: layers.GaussianDropout(0.5, seed=seed))):
        for seed in (None, 7):
            model = keras.Sequential([keras.Input((20,)), make(seed), layers.Dense(3)])
            drawn = np.asarray(model(x, training=True))
            clone = keras.models.clone_model(model)
            clone.set_weights(model.get_weights())
            out[f"{name} {seed}"] = {"config seed": model.layers[0].get_config()["seed"],
                                     "clone draws the same": bool(np.array_equal(
                                         drawn, np.asarray(clone(x, training=True))))}
    return out
'''


def test_configs_keep_the_seed_given_and_clones_draw_their_own_noise_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(CONFIGS_AND_CLONES, tmp_path_factory)
    assert ours == theirs
    assert ours["dropout None"] == {"config seed": None, "clone draws the same": False}
    assert ours["dropout 7"] == {"config seed": 7, "clone draws the same": True}


def _model(seed=None):
    model = gpunn.Sequential([Input(shape=(6,)), Dense(8, activation="relu"), Dropout(0.5, seed=seed), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".safetensors"])
def test_a_loaded_model_goes_on_drawing_the_masks_of_the_saved_one(numpy_backend, tmp_path, suffix):
    x = np.linspace(-1, 1, 48, dtype="float32").reshape(8, 6)
    y = x.sum(axis=1, keepdims=True)
    model = _model()
    model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    model.save(tmp_path / f"m{suffix}")
    loaded = gpunn.models.load_model(tmp_path / f"m{suffix}")
    assert loaded.layers[1].get_config()["seed"] is None
    assert loaded.layers[1].seed == model.layers[1].seed and loaded.layers[1].counter == model.layers[1].counter
    model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    loaded.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    for mine, expected in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(mine, expected)


def test_files_written_with_the_counter_alone_keep_the_seed_of_their_config(numpy_backend):
    """Files written before the seed was saved beside the counter held the drawn seed in the layer's config."""
    layer = _model(seed=11).layers[1]
    layer.restore_draw_state(5)
    assert (layer.seed, layer.counter) == (11, 5)
    layer.restore_draw_state([23, 9])
    assert (layer.seed, layer.counter, layer.get_config()["seed"]) == (23, 9, 11)
    layer.restore_draw_state([31, 2], seed=False)  # a backup restored into its own model: its counter alone
    assert (layer.seed, layer.counter) == (23, 2)


def test_the_file_holds_the_seed_and_counter_where_keras_ignores_them(numpy_backend, tmp_path):
    import zipfile

    model = _model()
    model.fit(np.ones((4, 6), "float32"), np.ones((4, 1), "float32"), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        metadata = json.loads(archive.read("metadata.json"))
        config = json.loads(archive.read("config.json"))
    dropout = model.layers[1]
    assert metadata["gpunn"]["dropout_counters"] == {dropout.name: [dropout.seed, 1]}
    assert [layer["config"].get("seed", "-") for layer in config["config"]["layers"]] == ["-", "-", None, "-"]
