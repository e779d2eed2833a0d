"""RMSNormalization against Keras 3's (``keras/src/layers/normalization/rms_normalization.py``): values for several
axes and shapes, float64 gradients, training from the same weights, files both ways, configs, replayed steps
equal to eager, and the arguments refused by name."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_same_training, numpy_backend, run_keras  # noqa: F401

import gpunn
from gpunn import layers

# (axis, sample shape, epsilon): the last axis, a middle one, several, negative ones, and axes whose scale Keras
# broadcasts along the trailing axes rather than the normalised ones (axis=1 of (4, 4), axis=-2 of (3, 3), and
# axis=1 of (1, 3): a scale of one value, summed over the last axis in its gradient; a large epsilon keeps
# x / sqrt(x^2 + epsilon) away from a step, which finite differences could not follow)
CASES = [(-1, (6,), 1e-6), (1, (6,), 0.5), (-1, (3, 4), 1e-6), (2, (3, 4), 1e-3), ([1, 2], (3, 4), 1e-6),
         ([-1, -2], (3, 4), 1e-6), (1, (4, 4), 1e-6), (-2, (3, 3), 0.1), ([2, 3], (2, 3, 4), 1e-6),
         ([-1, 1], (2, 2), 1e-6), ([3], (2, 3, 5), 1e-6), (1, (1, 3), 0.5)]
IDS = [f"axis{axis}-{'x'.join(map(str, shape))}" for axis, shape, _ in CASES]


def _scale_shape(axis, shape):
    full = (None,) + shape
    return tuple(full[a] for a in sorted(axis if isinstance(axis, list) else [axis]))


def _built(axis, shape, epsilon, dtype="float64", rng=None):
    """The layer in a built model of ``dtype``, its scale drawn away from the initial ones when ``rng`` is given."""
    layer = layers.RMSNormalization(axis=axis, epsilon=epsilon)
    gpunn.Sequential([gpunn.Input(shape=shape, dtype=dtype), layer]).build()
    if rng is not None:
        layer.set_weights([rng.uniform(0.5, 1.5, _scale_shape(axis, shape))])
    return layer


def _reference(x, scale, axis, epsilon):
    """Keras's formula in NumPy: x * rsqrt(mean(x^2) + epsilon) * scale, scale broadcast as NumPy does."""
    axes = tuple(sorted(a % x.ndim for a in (axis if isinstance(axis, list) else [axis])))
    return x / np.sqrt((x ** 2).mean(axis=axes, keepdims=True) + epsilon) * scale


KERAS_FORWARD = r'''
import json, sys
import numpy as np
import keras
out = []
for case in json.loads(sys.stdin.read()):
    layer = keras.layers.RMSNormalization(axis=case["axis"], epsilon=case["epsilon"])
    before = layer.get_config()
    layer.build([None] + case["shape"])
    layer.set_weights([np.array(case["scale"], dtype="float32")])
    y = layer(np.array(case["x"], dtype="float32"))
    config = layer.get_config()
    out.append({"y": np.asarray(y).tolist(), "weights": [[w.name, list(w.shape)] for w in layer.weights],
                "axis_before": before["axis"], "axis": config["axis"], "epsilon": config["epsilon"],
                "keys": sorted(config)})
print(json.dumps(out))
'''


@pytest.fixture(scope="module")
def keras_forward():
    """Keras's outputs, weights and configs for each case, on the inputs and scales of ``_forward_inputs``."""
    task = []
    for index, (axis, shape, epsilon) in enumerate(CASES):
        x, scale = _forward_inputs(index, axis, shape)
        task.append({"axis": axis, "shape": list(shape), "epsilon": epsilon, "x": x.tolist(), "scale": scale.tolist()})
    return run_keras(KERAS_FORWARD, task)


def _forward_inputs(index, axis, shape):
    rng = np.random.default_rng(100 + index)
    x = (rng.standard_normal((5,) + shape) * rng.uniform(0.1, 3.0)).astype(np.float32)
    return x, rng.uniform(0.5, 1.5, _scale_shape(axis, shape)).astype(np.float32)


@pytest.mark.parametrize("index", range(len(CASES)), ids=IDS)
def test_forward_weights_and_config_equal_keras(keras_forward, index):
    axis, shape, epsilon = CASES[index]
    theirs = keras_forward[index]
    x, scale = _forward_inputs(index, axis, shape)
    layer = layers.RMSNormalization(axis=axis, epsilon=epsilon)
    assert layer.get_config()["axis"] == theirs["axis_before"]
    model = gpunn.Sequential([gpunn.Input(shape=shape), layer])
    model.build()
    layer.set_weights([scale])
    assert [[w.name, list(w.shape)] for w in layer.weights] == theirs["weights"]
    config = layer.get_config()
    assert config["axis"] == theirs["axis"] and config["epsilon"] == theirs["epsilon"]
    assert set(config) <= set(theirs["keys"])
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs["y"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(layer(x)), theirs["y"], rtol=1e-6, atol=1e-6)
    as_op = gpunn.ops.rms_normalization(x, scale, axis=axis, epsilon=epsilon)
    np.testing.assert_allclose(np.asarray(as_op), theirs["y"], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("axis,shape,epsilon", CASES, ids=IDS)
def test_float64_values_and_gradients(axis, shape, epsilon, rng):
    from test_gradients import check_layer

    layer = _built(axis, shape, epsilon, rng=rng)
    x = rng.standard_normal((5,) + shape) * 2.0
    scale = np.array(layer.bound.weights["scale"])
    np.testing.assert_allclose(np.asarray(layer.forward(x, False)[0]), _reference(x, scale, axis, epsilon),
                               rtol=1e-12, atol=1e-14)
    _, grads = check_layer(layer, x, rng)
    assert set(grads) == {"scale"} and grads["scale"].shape == _scale_shape(axis, shape)


def test_a_frozen_layer_still_passes_the_gradient_to_its_inputs(rng):
    from test_gradients import check_layer

    layer = layers.RMSNormalization(trainable=False, dtype="float64")
    model = gpunn.Sequential([gpunn.Input(shape=(5,), dtype="float64"), layers.Dense(4, dtype="float64"), layer])
    model.compile(optimizer="sgd", loss="mse")
    model.build()
    assert layer.bound.grads == {} and layer.trainable_weights == [] and len(layer.non_trainable_weights) == 1
    dx, _ = check_layer(layer, rng.standard_normal((3, 4)), rng)
    assert np.abs(dx).max() > 0


def test_an_all_zero_sample_gives_zeros_as_keras_does():
    layer = _built(-1, (3,), 1e-6)
    y, backprop = layer.forward(np.zeros((2, 3)), True)
    assert not np.asarray(y).any()
    # d/dx of x / sqrt(x^2 + eps) at 0 is 1 / sqrt(eps): finite because of epsilon
    np.testing.assert_allclose(np.asarray(backprop(np.ones((2, 3)))), np.full((2, 3), 1e3), rtol=1e-9)


def test_names_config_and_layer_registry():
    first, second = layers.RMSNormalization(), layers.RMSNormalization()
    assert first.name.startswith("rms_normalization") and second.name.startswith("rms_normalization")
    assert first.name != second.name
    assert layers.RMSNormalization(name="rms").name == "rms"
    assert layers.RMSNormalization().get_config()["epsilon"] == 1e-6  # Keras's default, not LayerNormalization's
    made = layers.RMSNormalization(axis=[2, 1], epsilon=1e-4, name="norm")
    again = layers.RMSNormalization.from_config(made.get_config())
    assert again.get_config() == made.get_config() == {
        "name": "norm", "trainable": True, "axis": [2, 1], "epsilon": 1e-4,
        "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
                  "registered_name": None}}
    restored = layers.deserialize(layers.serialize(made))
    assert type(restored) is layers.RMSNormalization and restored.get_config() == made.get_config()
    assert layers.LAYER_CLASSES["RMSNormalization"] is layers.RMSNormalization
    assert "RMSNormalization" in layers.__all__


def test_scale_is_a_variable_after_build_only():
    layer = layers.RMSNormalization()
    with pytest.raises(AttributeError, match="not built"):
        layer.scale  # noqa: B018
    layer.build((None, 3, 7))
    assert layer.scale.shape == (7,) and layer.count_params() == 7
    np.testing.assert_array_equal(np.asarray(layer.scale), np.ones(7))  # Keras's "ones" initializer
    assert layer.get_config()["axis"] == [-1]
    with pytest.raises(ValueError, match="axis: 1 normalises an axis of unknown length"):
        layers.RMSNormalization(axis=1).build((None, None, 7))


# ---------------------------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("make,error,match", [
    (lambda: layers.RMSNormalization(axis="last"), TypeError, "axis: expected an int or a non-empty list"),
    (lambda: layers.RMSNormalization(axis=[]), TypeError, "axis: expected an int or a non-empty list"),
    (lambda: layers.RMSNormalization(axis=True), TypeError, "axis: expected an int"),
    (lambda: layers.RMSNormalization(axis=[1, 1.5]), TypeError, "axis: expected an int"),
    (lambda: layers.RMSNormalization(epsilon=-1e-3), ValueError, "epsilon: expected a finite number >= 0"),
    (lambda: layers.RMSNormalization(epsilon="small"), ValueError, "epsilon: expected a finite number"),
    (lambda: layers.RMSNormalization(epsilon=float("nan")), ValueError, "epsilon: expected a finite number"),
    (lambda: layers.RMSNormalization(center=True), TypeError, "unexpected keyword argument"),
], ids=["axis-str", "axis-empty", "axis-bool", "axis-float", "epsilon-negative", "epsilon-str", "epsilon-nan",
        "unknown-argument"])
def test_bad_arguments_are_refused_by_name(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("axis,shape,match", [
    (0, (3,), r"axis: 0 is out of bounds for inputs of shape \(None, 3\) \(the batch axis"),
    (2, (3,), "axis: 2 is out of bounds"),
    (-3, (3,), "axis: -3 is out of bounds"),
    ([1, -1], (3,), r"axis: \[1, -1\] names an axis twice"),
    (1, (4, 1), r"axis: 1 gives a scale of shape \(4,\).*does not broadcast to the samples' shape \(4, 1\)"),
    ([1, 3], (2, 3, 4), r"scale of shape \(2, 4\).*does not broadcast"),
], ids=["batch-axis", "past-the-end", "before-the-start", "twice", "scale-grows-the-output", "scale-misaligned"])
def test_axes_that_do_not_fit_the_inputs_are_refused_at_build(axis, shape, match):
    with pytest.raises(ValueError, match=match):
        gpunn.Sequential([gpunn.Input(shape=shape), layers.RMSNormalization(axis=axis)])


# ------------------------------------------------------------------------------------ training and files


def _model(dtype=None):
    return gpunn.Sequential([
        gpunn.Input(shape=(4, 5), dtype=dtype), layers.Dense(6, activation="tanh", dtype=dtype),
        layers.RMSNormalization(axis=[1, 2], epsilon=1e-3, dtype=dtype), layers.Flatten(dtype=dtype),
        layers.Dense(8, activation="relu", dtype=dtype), layers.RMSNormalization(dtype=dtype),
        layers.Dense(3, activation="softmax", dtype=dtype)])


def _data(n=64):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((n, 4, 5)).astype("float32")
    return x, (x[:, 0, :3] + 0.3 * rng.standard_normal((n, 3))).argmax(axis=1)


def _with_scales_away_from_one(model):
    rng = np.random.default_rng(6)
    for layer in model.layers:
        if isinstance(layer, layers.RMSNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, layer.scale.shape).astype("float32")])
    return model


KERAS_FIT = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x, y = np.array(task["x"], dtype="float32"), np.array(task["y"])
model = keras.saving.load_model(task["gpunn_file"])
out = {"classes": [type(layer).__name__ for layer in model.layers],
       "weight_paths": [w.path for w in model.weights]}
history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
out["history"] = {k: [float(v) for v in vs] for k, vs in history.history.items()}
out["weights"] = [np.asarray(w).tolist() for w in model.get_weights()]
out["predict"] = model.predict(x, verbose=0).tolist()
print(json.dumps(out))
'''


def test_training_ends_with_keras_weights_and_history(tmp_path):
    gpunn.utils.set_random_seed(3)
    model = _with_scales_away_from_one(_model())
    model.compile(optimizer=gpunn.optimizers.Adam(learning_rate=0.02), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.save(tmp_path / "start.keras")  # before training: Keras starts from these weights
    x, y = _data()
    theirs = run_keras(KERAS_FIT, {"x": x.tolist(), "y": y.tolist(), "gpunn_file": str(tmp_path / "start.keras")})
    assert theirs["classes"] == [type(layer).__name__ for layer in model.layers]
    # a model loaded from a file: its layers built from their own configs, under no model's name in both
    loaded = gpunn.models.load_model(tmp_path / "start.keras")
    assert theirs["weight_paths"] == [w.path for w in loaded.weights]
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
    assert set(history) == set(theirs["history"])
    for key, values in theirs["history"].items():
        np.testing.assert_allclose(history[key], values, rtol=2e-4, atol=2e-5, err_msg=key)
    assert history["loss"][-1] < history["loss"][0]  # it learned something, so the comparison means something
    for index, (got, want) in enumerate(zip(model.get_weights(), theirs["weights"], strict=True)):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5, err_msg=f"weight {index}")
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs["predict"], rtol=2e-4, atol=2e-5)


KERAS_FILES = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x = np.array(task["x"], dtype="float32")
rng = np.random.default_rng(8)
model = keras.Sequential([keras.Input(shape=(4, 5)), keras.layers.Dense(6, activation="tanh"),
                          keras.layers.RMSNormalization(axis=[1, 2], epsilon=1e-3), keras.layers.Flatten(),
                          keras.layers.Dense(8, activation="relu"), keras.layers.RMSNormalization(),
                          keras.layers.Dense(3, activation="softmax")])
model.set_weights([rng.uniform(0.5, 1.5, w.shape) for w in model.get_weights()])
for path in task["keras_files"]:
    model.save(path)
print(json.dumps({"predict": model.predict(x, verbose=0).tolist()}))
'''


def test_keras_files_load_in_gpunn(tmp_path):
    x, _ = _data(n=6)
    files = [str(tmp_path / "theirs.keras"), str(tmp_path / "theirs.h5")]
    theirs = run_keras(KERAS_FILES, {"x": x.tolist(), "keras_files": files})
    for path in files:
        model = gpunn.models.load_model(path)
        norms = [layer for layer in model.layers if isinstance(layer, layers.RMSNormalization)]
        assert [(n.axis, n.epsilon) for n in norms] == [([1, 2], 1e-3), ([-1], 1e-6)], path
        np.testing.assert_allclose(model.predict(x, verbose=0), theirs["predict"], rtol=1e-5, atol=1e-6,
                                   err_msg=path)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_save_and_load_round_trip(tmp_path, suffix):
    model = _with_scales_away_from_one(_model())
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = _data(n=32)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / f"model{suffix}")
    restored = gpunn.models.load_model(tmp_path / f"model{suffix}")
    assert [layer.get_config() for layer in restored.layers] == [layer.get_config() for layer in model.layers]
    for got, want in zip(restored.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    # training goes on from the restored optimizer state as it would have without the file
    assert restored.optimizer.iterations == model.optimizer.iterations
    more = restored.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    assert more == model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history


# ----------------------------------------------------------------------------------------- replayed steps


def _train(jit, steps_per_execution=1):
    gpunn.utils.set_random_seed(9)
    model = _model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=jit,
                  steps_per_execution=steps_per_execution)
    x, y = _data(n=70)
    return model, model.fit(x, y, batch_size=16, epochs=3, verbose=0).history


def test_replayed_steps_equal_eager_bit_for_bit():
    eager = _train(False)
    assert_same_training(eager, _train(True))
    assert_same_training(eager, _train(True, steps_per_execution=2))


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replay"])
def test_a_training_step_allocates_nothing_after_the_first(jit):
    from test_step_allocations import assert_later_steps_allocate_nothing

    model = _model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=jit)
    x, y = _data(n=48)
    assert_later_steps_allocate_nothing(model, x, y, batch_size=16)
