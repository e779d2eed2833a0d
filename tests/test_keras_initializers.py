"""Keras 3's initializer spellings (keras/src/initializers/__init__.py): the aliases 'uniform', 'normal', 'one',
'zero' and class names as strings; None as a layer's initializer, which Keras's Layer.add_weight turns into
'glorot_uniform' for a float weight; and Constant of an array, which Keras computes as cast(value) * ones(shape)
and so takes when it broadcasts to the weight's shape."""
from __future__ import annotations

import math

import numpy as np
import pytest

import gpunn
from gpunn import initializers, layers


@pytest.mark.parametrize("name, cls, defaults", [
    ("uniform", initializers.RandomUniform, {"minval": -0.05, "maxval": 0.05, "seed": None}),
    ("normal", initializers.RandomNormal, {"mean": 0.0, "stddev": 0.05, "seed": None}),
    ("one", initializers.Ones, {}),
    ("zero", initializers.Zeros, {}),
    ("RandomUniform", initializers.RandomUniform, {"minval": -0.05, "maxval": 0.05, "seed": None}),
    ("GlorotNormal", initializers.GlorotNormal, {"seed": None}),
])
def test_keras_aliases_and_class_names(name, cls, defaults):
    init = initializers.get(name)
    assert type(init) is cls and init.get_config() == defaults


def test_uniform_and_normal_draw_with_keras_defaults():
    gpunn.utils.set_random_seed(0)
    uniform = initializers.get("uniform")((200, 100), "float64")
    assert uniform.min() >= -0.05 and uniform.max() <= 0.05 and uniform.std() == pytest.approx(0.1 / math.sqrt(12),
                                                                                               rel=0.02)
    normal = initializers.get("normal")((200, 100), "float64")
    assert normal.mean() == pytest.approx(0.0, abs=0.002) and normal.std() == pytest.approx(0.05, rel=0.02)
    dense = layers.Dense(4, kernel_initializer="uniform", bias_initializer="normal")
    assert type(dense.kernel_initializer) is initializers.RandomUniform
    assert type(dense.bias_initializer) is initializers.RandomNormal


def test_none_means_glorot_uniform_as_keras_add_weight_does():
    assert type(initializers.get(None)) is initializers.GlorotUniform
    gpunn.utils.set_random_seed(1)
    model = gpunn.Sequential([gpunn.Input(shape=(300,), dtype="float64"),
                              layers.Dense(200, kernel_initializer=None, bias_initializer=None)])
    kernel, bias = model.get_weights()
    limit = math.sqrt(6.0 / (300 + 200))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
    bias_limit = math.sqrt(3.0 / 200)  # a 1-D weight: fan_in = fan_out = 200
    assert np.abs(bias).max() <= bias_limit and np.abs(bias).max() > 0.8 * bias_limit
    config = model.layers[0].get_config()
    assert config["kernel_initializer"]["class_name"] == config["bias_initializer"]["class_name"] == "GlorotUniform"


def test_constant_of_a_scalar_is_unchanged():
    init = initializers.Constant(0.5)
    assert init.get_config() == {"value": 0.5}
    np.testing.assert_array_equal(init((3,), "float64"), np.full(3, 0.5))
    assert initializers.Constant(np.float32(2.0)).get_config() == {"value": 2.0}


def test_constant_of_an_array_fills_a_weight_it_broadcasts_to():
    values = np.array([0.1, -0.2, 0.3])
    model = gpunn.Sequential([gpunn.Input(shape=(2,), dtype="float64"),
                              layers.Dense(3, bias_initializer=initializers.Constant(values),
                                           kernel_initializer=initializers.Constant(np.arange(6.0).reshape(2, 3)))])
    kernel, bias = model.get_weights()
    np.testing.assert_array_equal(kernel, np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(bias, values)
    np.testing.assert_array_equal(initializers.Constant(values)((4, 3), "float64"), np.tile(values, (4, 1)))
    # the config is JSON-friendly and rebuilds the same initializer
    config = initializers.serialize(initializers.Constant(values))
    assert config == {"class_name": "Constant", "config": {"value": [0.1, -0.2, 0.3]}}
    np.testing.assert_array_equal(initializers.get(config)((3,), "float64"), values)


def test_constant_of_an_array_of_another_shape_is_refused_naming_both_shapes():
    with pytest.raises(ValueError, match=r"value: a Constant of shape \(4,\) cannot fill a weight of shape \(2, 3\)"):
        initializers.Constant(np.zeros(4))((2, 3))
    with pytest.raises(ValueError, match=r"value: a Constant of shape \(2, 3\) cannot fill a weight of shape \(3,\)"):
        initializers.Constant(np.zeros((2, 3)))((3,))
    with pytest.raises(ValueError, match="value: expected a number or an array of numbers"):
        initializers.Constant("big")


def test_every_keras_initializer_name_an_mlp_uses_is_here_as_the_same_class():
    """keras.initializers exports each class under its snake_case name too (he_normal is HeNormal), and
    Orthogonal / Identity under older names; gpunn offers the same names for the same classes."""
    import importlib.util
    import json

    from helpers import run_keras_script

    if importlib.util.find_spec("keras") is None or importlib.util.find_spec("jax") is None:
        pytest.skip("keras and jax are in the test extra; Keras's exported names are the spec")
    listing = ("import json, keras; i = keras.initializers; print(json.dumps({n: getattr(i, n).__name__ "
               "for n in dir(i) if not n.startswith('_')}))")
    run = run_keras_script(listing, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    theirs = json.loads(run.stdout.strip().splitlines()[-1])
    skipped = {"STFT", "stft", "STFTInitializer"}  # a signal-processing initializer: no MLP use
    for name, class_name in theirs.items():
        if name in skipped:
            continue
        mine = getattr(initializers, name, None)
        assert mine is not None, name
        assert mine.__name__ == class_name.replace("Initializer", "") or mine.__name__ == class_name, name


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (2, 3, 6)])
def test_orthogonal_gives_orthonormal_rows_or_columns_times_gain(shape):
    values = initializers.Orthogonal(gain=1.5, seed=7)(shape, "float64")
    flat = values.reshape(-1, shape[-1]) / 1.5
    small = min(flat.shape)
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)
    np.testing.assert_array_equal(values, initializers.Orthogonal(gain=1.5, seed=7)(shape, "float64"))
    gpunn.utils.set_random_seed(3)
    first = initializers.get("orthogonal")(shape, "float64")
    assert not np.array_equal(first, initializers.get("orthogonal")(shape, "float64"))  # unseeded: new draws


def test_orthogonal_fixes_the_sign_of_each_column_as_keras_does():
    """q * sign(diag(r)): the QR factorisation made unique, so R's diagonal is positive."""
    values = initializers.Orthogonal(seed=2)((6, 4), "float64")
    draw = np.random.default_rng(2).normal(0.0, 1.0, (6, 4))
    r = values.T @ draw  # draw = q r with q = values
    assert (np.diag(r) > 0).all() and np.allclose(np.tril(r, -1), 0.0, atol=1e-12)


def test_identity_and_the_shapes_both_refuse():
    np.testing.assert_array_equal(initializers.get("identity")((2, 3), "float32"), np.eye(2, 3))
    np.testing.assert_array_equal(initializers.Identity(gain=3.0)((3, 2), "float64"), 3.0 * np.eye(3, 2))
    with pytest.raises(ValueError, match="Identity matrix initializer can only be used for 2D matrices"):
        initializers.Identity()((3,), "float32")
    with pytest.raises(ValueError, match="must be at least two-dimensional"):
        initializers.Orthogonal()((3,), "float32")


def test_orthogonal_kernels_train_and_survive_a_keras_file(tmp_path):
    gpunn.utils.set_random_seed(1)
    model = gpunn.Sequential([gpunn.Input(shape=(4,)),
                              layers.Dense(4, kernel_initializer=initializers.orthogonal(gain=2.0, seed=5)),
                              layers.Dense(2, kernel_initializer="identity")])
    model.compile(optimizer="sgd", loss="mse")
    kernel = model.layers[0].kernel.numpy()
    np.testing.assert_allclose(kernel.T @ kernel, 4.0 * np.eye(4), atol=1e-5)
    np.testing.assert_array_equal(model.layers[1].kernel.numpy(), np.eye(4, 2))
    model.save(tmp_path / "m.keras")
    loaded = gpunn.models.load_model(tmp_path / "m.keras")
    assert loaded.layers[0].kernel_initializer.get_config() == {"gain": 2.0, "seed": 5}
    assert type(loaded.layers[1].kernel_initializer) is initializers.Identity
    assert initializers.deserialize(initializers.serialize(initializers.Orthogonal(3.0))).gain == 3.0
