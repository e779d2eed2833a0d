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


X = np.linspace(-1, 1, 48, dtype="float32").reshape(8, 6)
Y = X.sum(axis=1, keepdims=True)


@gpunn.saving.register_keras_serializable(package="dropout_seeds_test")
class DenseThenDropout(gpunn.layers.Layer):
    """A layer of the user's holding a Dropout, whose config keeps no name (its ``**kwargs`` are not passed on):
    a model made again from a file names it anew."""

    def __init__(self, **kwargs):
        super().__init__()
        self.dense, self.dropout = Dense(8), Dropout(0.5)

    def call(self, x, training=None):
        return self.dropout(self.dense(x), training=training)


def _fit(model, epochs=1):
    model.fit(X, Y, epochs=epochs, batch_size=4, shuffle=False, verbose=0)


def _assert_both_go_on_alike(model, loaded, epochs=1):
    """Trained on, the loaded model draws what the saved one draws: the same weights, bit for bit."""
    _fit(model, epochs)
    _fit(loaded, epochs)
    for mine, expected in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(mine, expected)


def _model(seed=None):
    model = gpunn.Sequential([Input(shape=(6,)), Dense(8, activation="relu"), Dropout(0.5, seed=seed), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".safetensors"])
def test_a_loaded_model_goes_on_drawing_the_masks_of_the_saved_one(numpy_backend, tmp_path, suffix):
    model = _model()
    _fit(model, epochs=2)
    model.save(tmp_path / f"m{suffix}")
    loaded = gpunn.models.load_model(tmp_path / f"m{suffix}")
    assert loaded.layers[1].get_config()["seed"] is None
    assert loaded.layers[1].seed == model.layers[1].seed and loaded.layers[1].counter == model.layers[1].counter
    _assert_both_go_on_alike(model, loaded, epochs=2)


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".safetensors"])
def test_files_written_with_the_counters_alone_keep_the_seeds_of_their_configs(numpy_backend, tmp_path, suffix,
                                                                               monkeypatch):
    """Files written before the seeds were saved beside the counters held each drawn seed in its layer's config:
    such a file (written here with the seeds left out) resumes as the model saved."""
    from gpunn.models import h5_format, keras_format

    def no_draws(model):
        return {}

    model = _model()
    _fit(model)
    dropout = model.layers[1]
    with monkeypatch.context() as patched:
        patched.setattr(keras_format, "model_draws", no_draws)
        patched.setattr(h5_format, "model_draws", no_draws)
        patched.setattr(keras_format, "draws", lambda layers: {})
        patched.setattr(dropout, "_given_seed", dropout.seed)  # (what get_config wrote then)
        model.save(tmp_path / f"m{suffix}")
    loaded = gpunn.models.load_model(tmp_path / f"m{suffix}")
    assert (loaded.layers[1].seed, loaded.layers[1].counter) == (dropout.seed, dropout.counter)
    _assert_both_go_on_alike(model, loaded)


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".safetensors"])
def test_a_dropout_inside_a_layer_of_the_user_s_resumes_when_the_layer_is_named_anew(numpy_backend, tmp_path,
                                                                                     suffix):
    """A layer of the user's whose config holds no name is named anew in the model loaded in the same process:
    its Dropout's draws are found all the same."""
    model = gpunn.Sequential([Input(shape=(6,)), DenseThenDropout(), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    _fit(model)
    model.save(tmp_path / f"m{suffix}")
    loaded = gpunn.models.load_model(tmp_path / f"m{suffix}")
    assert loaded.layers[0].name != model.layers[0].name
    _assert_both_go_on_alike(model, loaded)


def test_the_file_holds_the_seed_and_counter_where_keras_ignores_them(numpy_backend, tmp_path):
    import zipfile

    model = _model()
    model.fit(np.ones((4, 6), "float32"), np.ones((4, 1), "float32"), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        metadata = json.loads(archive.read("metadata.json"))
        config = json.loads(archive.read("config.json"))
    dropout = model.layers[1]
    # (the counters as they always were, so that a gpunn written before the seeds were kept reads them)
    assert metadata["gpunn"]["dropout_counters"] == {dropout.name: 1}
    assert metadata["gpunn"]["dropout_draws"] == {"keys": "index", "draws": {"1": [dropout.seed, 1]}}
    assert [layer["config"].get("seed", "-") for layer in config["config"]["layers"]] == ["-", "-", None, "-"]


def test_dropouts_of_layers_of_the_user_s_named_anew_in_another_order_keep_their_own_draws(numpy_backend, tmp_path):
    """Two layers of the user's that keep no name, made in another order than the model calls them: a model
    made again from the file names them anew in its own order, so names would swap their seeds and counters."""
    from gpunn.backend import clear_session

    second, first = DenseThenDropout(), DenseThenDropout()  # (the one made first is called second)
    inputs = Input(shape=(6,))
    model = gpunn.Model(inputs, Dense(1)(second(first(inputs))))
    model.compile(optimizer="sgd", loss="mse")
    _fit(model)
    first.dropout.counter = 5  # (the two counters differ)
    for suffix in (".keras", ".h5", ".safetensors"):
        model.save(tmp_path / f"m{suffix}")
        clear_session()  # (names handed out again, as in a new process)
        loaded = gpunn.models.load_model(tmp_path / f"m{suffix}")
        drawn = [(layer.dropout.seed, layer.dropout.counter) for layer in loaded.layers[1:3]]
        assert drawn == [(first.dropout.seed, 5), (second.dropout.seed, second.dropout.counter)], suffix
