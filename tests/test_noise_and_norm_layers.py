"""AlphaDropout, SpatialDropout1D, Dropout's ``noise_shape`` and UnitNormalization against Keras 3's definitions
(``keras/src/layers/regularization/``, ``keras/src/layers/normalization/unit_normalization.py``): values,
gradients, statistics of the random ones, configs in Keras's layout, replayed steps equal to eager."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_same_training, numpy_backend, run_keras  # noqa: F401

import gpunn
from gpunn import layers
from gpunn.layers.alpha_dropout import SELU_ALPHA, SELU_SCALE


def _bound(layer, input_shape, dtype="float64"):
    gpunn.Sequential([gpunn.Input(shape=input_shape, dtype=dtype), layer]).build()
    return layer


# ------------------------------------------------------------------------------------- AlphaDropout


def test_alpha_dropout_keeps_zero_mean_and_unit_variance_and_uses_keras_affine_map(rng):
    rate = 0.3
    layer = _bound(layers.AlphaDropout(rate, seed=3), (400,))
    x = rng.standard_normal((500, 400))
    y, backprop = layer.forward(x, True)
    y = np.asarray(y).copy()
    alpha_p = -SELU_ALPHA * SELU_SCALE
    a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * rate
    dropped = np.isclose(y, a * alpha_p + b, rtol=0, atol=1e-12)
    assert abs(dropped.mean() - rate) < 0.01
    np.testing.assert_allclose(y[~dropped], a * x[~dropped] + b, rtol=1e-12, atol=1e-12)
    assert abs(y.mean()) < 0.01 and abs(y.std() - 1.0) < 0.01  # the point of alpha dropout
    dy = rng.standard_normal(x.shape)
    dx = np.asarray(backprop(dy.copy()))
    np.testing.assert_allclose(dx, np.where(dropped, 0.0, a * dy), rtol=1e-12)
    again, _ = layer.forward(x, True)
    assert not np.array_equal(np.asarray(again), y)  # a new mask every step
    np.testing.assert_array_equal(np.asarray(layer.forward(x, False)[0]), x)  # inference: the identity


def test_alpha_dropout_with_a_noise_shape_drops_whole_columns(rng):
    layer = _bound(layers.AlphaDropout(0.5, noise_shape=(1, None), seed=1), (64,))
    y = np.asarray(layer.forward(rng.standard_normal((32, 64)), True)[0])
    alpha_p = -SELU_ALPHA * SELU_SCALE
    a = (0.5 * (1 + 0.5 * alpha_p ** 2)) ** -0.5
    dropped = np.isclose(y, a * alpha_p - a * alpha_p * 0.5, atol=1e-12)
    assert np.all(dropped == dropped[0]) and 0 < dropped[0].sum() < 64


# ------------------------------------------------------------------------------ noise shapes, spatial


def test_dropout_noise_shape_shares_the_mask_along_broadcast_axes(rng):
    layer = _bound(layers.Dropout(0.4, noise_shape=(None, 1, 6), seed=2), (5, 6))
    x = rng.random((50, 5, 6)) + 1.0
    y = np.asarray(layer.forward(x, True)[0]).copy()
    kept = y != 0
    assert np.all(kept == kept[:, :1, :])  # one decision per (sample, feature), shared by the steps
    assert abs(1 - kept.mean() - 0.4) < 0.06
    np.testing.assert_allclose(y[kept], x[kept] / 0.6, rtol=1e-12)


def test_spatial_dropout_1d_drops_whole_channels_and_writes_keras_config(rng):
    layer = _bound(layers.SpatialDropout1D(0.5, seed=4), (7, 9))
    y = np.asarray(layer.forward(rng.random((20, 7, 9)) + 1.0, True)[0])
    kept = y != 0
    assert np.all(kept == kept[:, :1, :]) and 0.3 < kept.mean() < 0.7
    config = layer.get_config()
    assert set(config) <= {"rate", "seed", "name", "dtype"} and config["rate"] == 0.5
    assert layers.SpatialDropout1D.from_config(config).get_config() == config
    with pytest.raises(ValueError, match=r"SpatialDropout1D: expected inputs of shape \(batch, steps, features\)"):
        gpunn.Sequential([gpunn.Input(shape=(4,)), layers.SpatialDropout1D(0.2)])


@pytest.mark.parametrize("noise_shape,match", [("abc", "expected a tuple or list"), ((None, 0), "positive integers"),
                                               ((None, 2.5), "positive integers")])
def test_bad_noise_shapes_are_refused_by_name(noise_shape, match):
    with pytest.raises(ValueError, match=match):
        layers.Dropout(0.2, noise_shape=noise_shape)


def test_a_noise_shape_that_does_not_fit_the_inputs_is_refused_at_build():
    with pytest.raises(ValueError, match="noise_shape: expected one entry per axis"):
        gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dropout(0.2, noise_shape=(None, 3))])


# ------------------------------------------------------------------------------- UnitNormalization


@pytest.mark.parametrize("axis,shape", [(-1, (6,)), (1, (6,)), ([1, 2], (3, 4)), (-2, (3, 4))])
def test_unit_normalization_values_and_gradients(axis, shape, rng):
    from test_gradients import build, check_layer

    layer = build(layers.UnitNormalization(axis=axis), input_shape=shape)
    x = rng.standard_normal((5,) + shape)
    axes = tuple(a % (len(shape) + 1) for a in (axis if isinstance(axis, list) else [axis]))
    expected = x / np.maximum(np.sqrt((x ** 2).sum(axis=axes, keepdims=True)), 1e-12)
    np.testing.assert_allclose(np.asarray(layer.forward(x, False)[0]), expected, rtol=1e-12)
    check_layer(layer, x, rng)


def test_unit_normalization_of_a_zero_sample_stays_finite():
    layer = _bound(layers.UnitNormalization(), (3,))
    y, backprop = layer.forward(np.zeros((2, 3)), True)
    assert not np.asarray(y).any()
    assert np.isfinite(np.asarray(backprop(np.ones((2, 3))))).all()


def test_unit_normalization_refuses_the_batch_axis():
    with pytest.raises(ValueError, match="axis: 0 is out of bounds"):
        gpunn.Sequential([gpunn.Input(shape=(3,)), layers.UnitNormalization(axis=0)])
    with pytest.raises(TypeError, match="axis"):
        layers.UnitNormalization(axis="last")


# ------------------------------------------------------------------------------- training and files


def _model():
    return gpunn.Sequential([
        gpunn.Input(shape=(12,)), layers.Embedding(30, 6), layers.SpatialDropout1D(0.3),
        layers.GlobalAveragePooling1D(), layers.Dense(16, activation="selu", kernel_initializer="lecun_normal"),
        layers.AlphaDropout(0.1), layers.Dense(8), layers.UnitNormalization(), layers.Dropout(0.2, noise_shape=(None, 1)),
        layers.Dense(1, activation="sigmoid")])


def _train(jit, steps_per_execution=1):
    gpunn.utils.set_random_seed(9)
    rng = np.random.default_rng(9)
    x, y = rng.integers(0, 30, (70, 12)), rng.integers(0, 2, 70)
    model = _model()
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"], jit_compile=jit,
                  steps_per_execution=steps_per_execution)
    return model, model.fit(x, y, batch_size=16, epochs=3, verbose=0).history


def test_replayed_steps_equal_eager_bit_for_bit():
    eager = _train(False)
    assert_same_training(eager, _train(True))
    assert_same_training(eager, _train(True, steps_per_execution=2))


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replay"])
def test_a_training_step_allocates_nothing_after_the_first(jit, rng):
    from test_step_allocations import assert_later_steps_allocate_nothing

    model = _model()
    model.compile(optimizer="adam", loss="binary_crossentropy", jit_compile=jit)
    assert_later_steps_allocate_nothing(model, rng.integers(0, 30, (48, 12)),
                                        rng.integers(0, 2, 48).astype(np.float32), batch_size=16)


KERAS_FILES = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x = np.array(task["x"])
mine = keras.saving.load_model(task["gpunn_file"])
out = {"predict": mine.predict(x, verbose=0).tolist(),
       "classes": [type(layer).__name__ for layer in mine.layers],
       "noise_shape": mine.layers[7].noise_shape, "axis": mine.layers[6].axis}
model = keras.Sequential([keras.Input(shape=(12,)), keras.layers.Embedding(30, 6), keras.layers.SpatialDropout1D(0.3),
                          keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(16, activation="selu"),
                          keras.layers.AlphaDropout(0.1), keras.layers.Dense(8), keras.layers.UnitNormalization(),
                          keras.layers.Dropout(0.2, noise_shape=(None, 1)), keras.layers.Dense(1, activation="sigmoid")])
model.save(task["keras_file"])
out["keras_predict"] = model.predict(x, verbose=0).tolist()
print(json.dumps(out))
'''


def test_model_files_load_both_ways_with_keras(tmp_path, rng):
    x = rng.integers(0, 30, (5, 12))
    model = _model()
    model.save(tmp_path / "mine.keras")
    result = run_keras(KERAS_FILES, {"x": x.tolist(), "gpunn_file": str(tmp_path / "mine.keras"),
                                     "keras_file": str(tmp_path / "theirs.keras")})
    assert result["classes"] == [type(layer).__name__ for layer in model.layers]
    assert result["noise_shape"] == [None, 1] and result["axis"] == -1
    np.testing.assert_allclose(result["predict"], model.predict(x, verbose=0), rtol=1e-5, atol=1e-7)
    theirs = gpunn.models.load_model(tmp_path / "theirs.keras")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), result["keras_predict"], rtol=1e-5, atol=1e-7)
