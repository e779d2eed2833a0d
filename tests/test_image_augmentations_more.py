"""RandomGrayscale, RandomInvert, Solarization, RandomPosterization, RandomColorDegeneration, RandomSharpness
(``image_preprocessing/color_augmentations.py``), RandomShear and RandomErasing (``shear_and_erasing.py``).

Each is compared with Keras itself (one child process on its jax backend, for every case) on the same images and
the same draws: both sides' draws are taken in turn from one stream of uniform numbers per case, so that a layer
making other draws, or in another order, than Keras's fails. Keras's ``random.randint`` (RandomPosterization) and
``random.normal`` (RandomErasing's noise) are replaced there by the floor of a uniform draw and the Box-Muller
transform of two, as gpunn makes them. Compared: batches and single images in training and inference, integer
images (Keras's dtypes), configs and the errors of bad arguments; also a model of them trained eagerly and replayed
alike, the gradient through them, and ``.keras`` files both ways."""
from __future__ import annotations

import json

import numpy as np
import pytest

import gpunn
from gpunn import layers
from helpers import assert_gradients_with_fixed_draws, run_keras



@pytest.fixture(autouse=True)
def on_numpy():
    """Every test on the NumPy backend (the CPU reference), whatever machine runs it."""
    with gpunn.use_backend("numpy"):
        yield


# Each case: (class name, constructor arguments, images' shape, training)
CASES = [
    ("RandomGrayscale", {}, (3, 4, 5, 3), True),
    ("RandomGrayscale", {"factor": 1.0, "data_format": "channels_first"}, (3, 3, 4, 5), True),
    ("RandomGrayscale", {"factor": 0.8}, (3, 4, 5, 1), True),
    ("RandomGrayscale", {}, (3, 4, 5, 3), False),
    ("RandomInvert", {}, (3, 4, 5, 3), True),
    ("RandomInvert", {"factor": (0.3, 0.8), "value_range": (0, 1)}, (3, 4, 5, 3), True),
    ("RandomInvert", {}, (3, 4, 5, 3), False),
    ("Solarization", {}, (3, 4, 5, 3), True),
    ("Solarization", {"addition_factor": 0.3, "threshold_factor": (0.2, 0.6)}, (3, 4, 5, 3), True),
    ("Solarization", {"threshold_factor": 0.5, "value_range": (0, 1)}, (3, 4, 5, 3), True),
    ("Solarization", {"addition_factor": 0.3}, (3, 4, 5, 3), False),
    ("RandomPosterization", {"factor": 4}, (3, 4, 5, 3), True),
    ("RandomPosterization", {"factor": (3, 3)}, (3, 4, 5, 3), True),
    ("RandomPosterization", {"factor": (2, 7), "value_range": (0, 1)}, (3, 4, 5, 3), True),
    ("RandomPosterization", {"factor": 4}, (3, 4, 5, 3), False),
    ("RandomColorDegeneration", {"factor": 0.5}, (3, 4, 5, 3), True),
    ("RandomColorDegeneration", {"factor": (0.2, 0.9), "value_range": (0, 1)}, (3, 4, 5, 3), True),
    ("RandomColorDegeneration", {"factor": 0.9, "data_format": "channels_first"}, (3, 3, 4, 5), True),
    ("RandomColorDegeneration", {"factor": 0.5}, (3, 4, 5, 3), False),
    ("RandomSharpness", {"factor": 0.5}, (3, 4, 5, 3), True),
    ("RandomSharpness", {"factor": (0.1, 0.9), "value_range": (0, 1)}, (3, 4, 5, 3), True),
    ("RandomSharpness", {"factor": 1.0, "data_format": "channels_first"}, (3, 3, 4, 5), True),
    ("RandomSharpness", {"factor": 0.5}, (3, 4, 5, 3), False),
    ("RandomShear", {"x_factor": 0.3}, (3, 4, 5, 3), True),
    ("RandomShear", {"x_factor": (0.1, 0.4), "y_factor": 0.3, "fill_mode": "constant", "fill_value": 7.0},
     (3, 4, 5, 3), True),
    ("RandomShear", {"y_factor": 0.5, "interpolation": "nearest", "fill_mode": "wrap",
                     "data_format": "channels_first"}, (3, 3, 4, 5), True),
    ("RandomShear", {"x_factor": 0.3, "y_factor": 0.3, "fill_mode": "nearest"}, (3, 4, 5, 3), True),
    ("RandomShear", {"x_factor": 0.3}, (3, 4, 5, 3), False),
    ("RandomErasing", {}, (3, 4, 5, 3), True),
    ("RandomErasing", {"fill_value": 3.0, "scale": (0.2, 0.6)}, (3, 4, 5, 3), True),
    ("RandomErasing", {"fill_value": 200.0, "factor": (0.2, 0.9), "value_range": (0, 100)}, (3, 4, 5, 3), True),
    ("RandomErasing", {"fill_value": 9.0, "scale": 0.5, "data_format": "channels_first"}, (3, 3, 4, 5), True),
    ("RandomErasing", {}, (3, 4, 5, 3), False),
]

# Constructors Keras refuses: gpunn must raise the same exception with the same message
BAD = [
    ("RandomGrayscale", {"factor": 1.5}),
    ("RandomInvert", {"factor": 2}),
    ("RandomInvert", {"factor": "a"}),
    ("Solarization", {"addition_factor": 1.2}),
    ("Solarization", {"threshold_factor": (0.1,)}),
    ("Solarization", {"value_range": 3}),
    ("RandomPosterization", {"factor": 9}),
    ("RandomPosterization", {"factor": 0}),
    ("RandomColorDegeneration", {"factor": 1.5}),
    ("RandomColorDegeneration", {"factor": 0.5, "value_range": (1, 2, 3)}),
    ("RandomSharpness", {"factor": 2}),
    ("RandomShear", {"x_factor": -0.1}),
    ("RandomShear", {"x_factor": 0.1, "y_factor": (0.1, 2)}),
    ("RandomShear", {"x_factor": (0.1, 0.2, 0.3)}),
    ("RandomShear", {"x_factor": 0.1, "fill_mode": "mirror"}),
    ("RandomShear", {"x_factor": 0.1, "interpolation": "bicubic"}),
    ("RandomErasing", {"scale": 2}),
    ("RandomErasing", {"factor": (0.1, 0.2, 0.3)}),
    ("RandomErasing", {"data_format": "channels_middle"}),
]

# The draws: every uniform draw of a layer, on either side, takes the next numbers of the case's stream (as
# minval + u * (maxval - minval)); Keras's randint takes their floor, its normal the Box-Muller transform of two.
STREAM = r'''
import numpy as np


class Stream:
    def __init__(self, seed):
        self.numbers = np.random.default_rng(seed).uniform(size=8192).astype(np.float32)
        self.used = 0

    def take(self, shape):
        n = int(np.prod(shape))
        u = self.numbers[self.used:self.used + n].reshape(shape)
        self.used += n
        return u

    def uniform(self, shape, minval, maxval):
        return np.float32(minval) + self.take(shape) * np.float32(maxval - minval)

    def normal(self, shape):
        u, v = self.take(shape), self.take(shape)
        radius = np.sqrt(np.float32(-2.0) * np.log(np.float32(1.0) - u))
        return (radius * np.cos(np.float32(2.0 * np.pi) * v)).astype(np.float32)


def images_of(task):
    """Float images in the case's value range, and those values as bytes (integer images)."""
    low, high = task["kwargs"].get("value_range", (0, 255))
    rng = np.random.default_rng(task["seed"])
    images = rng.uniform(min(low, high), max(low, high), task["shape"]).astype(np.float32).round(3)
    return images, np.clip(np.rint(images), 0, 255).astype(np.uint8)


def run_case(make, task, call):
    """The case's three calls (a batch, one image, integer images), all in the case's mode."""
    layer = make()
    images, integers = images_of(task)
    out = np.asarray(call(layer, images))
    one = np.asarray(call(layer, images[0]))
    ints = np.asarray(call(layer, integers))
    return {"out": out.tolist(), "one": one.tolist(), "ints": ints.tolist(), "ints_dtype": str(ints.dtype),
            "config": {k: v for k, v in layer.get_config().items() if k not in ("name", "dtype", "seed", "trainable")}}
'''

KERAS_SIDE = STREAM + r'''
import json, sys
import jax.numpy as jnp
import keras
import keras.src.backend.jax.random as jax_random

task = json.loads(sys.stdin.read())
results = []
for case in task["cases"]:
    stream = Stream(case["seed"])
    jax_random.uniform = lambda shape, minval=0.0, maxval=1.0, dtype=None, seed=None: jnp.asarray(
        stream.uniform(shape, minval, maxval), dtype or "float32")
    jax_random.randint = lambda shape, minval, maxval, dtype="int32", seed=None: jnp.asarray(
        np.floor(stream.uniform(shape, minval, maxval)), dtype)
    jax_random.normal = lambda shape, mean=0.0, stddev=1.0, dtype=None, seed=None: jnp.asarray(
        stream.normal(shape) * stddev + mean, dtype or "float32")
    result = run_case(lambda: getattr(keras.layers, case["name"])(**case["kwargs"]), case,
                      lambda layer, x: layer(x, training=case["training"]))
    results.append({**result, "used": stream.used})
refused = []
for name, kwargs in task["bad"]:
    try:
        getattr(keras.layers, name)(**kwargs)
        refused.append(None)
    except Exception as error:
        refused.append([type(error).__name__, str(error)])
saved = {}
if task.get("files"):
    files = task["files"]
    images = np.asarray(files["images"], "float32")
    ours = keras.saving.load_model(files["ours"])
    saved["ours_in_keras"] = np.asarray(ours.predict(images, verbose=0)).tolist()
    saved["configs"] = [ours.layers[k].get_config() for k in (0, 1)]
    inputs = keras.Input((6, 7, 3))
    x = keras.layers.RandomShear(0.2, (0.1, 0.3), fill_mode="constant", name="shear")(inputs)
    x = keras.layers.Solarization(0.1, 0.6, name="solarization")(x)
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    model.save(files["theirs"])
    saved["theirs"] = np.asarray(model.predict(images, verbose=0)).tolist()
print(json.dumps({"cases": results, "refused": refused, "files": saved}))
'''

_namespace: dict = {}
exec(compile(STREAM, "stream.py", "exec"), _namespace)
Stream, images_of, run_case = _namespace["Stream"], _namespace["images_of"], _namespace["run_case"]


def _tasks() -> list:
    return [{"name": name, "kwargs": kwargs, "shape": list(shape), "training": training, "seed": 300 + k}
            for k, (name, kwargs, shape, training) in enumerate(CASES)]


def _file_model():
    gpunn.utils.set_random_seed(6)
    return gpunn.Sequential([gpunn.Input((6, 7, 3)), layers.RandomColorDegeneration(0.3, name="degeneration"),
                             layers.RandomErasing(0.5, fill_value=2.0, name="erasing"), layers.Flatten(),
                             layers.Dense(2)])


def _file_images():
    return np.random.default_rng(3).uniform(0, 255, (2, 6, 7, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def keras_results(tmp_path_factory):
    """Keras's results for every case, its errors for the bad arguments, and the ``.keras`` files both ways (a
    model of gpunn's saved for Keras, one of Keras's saved for gpunn): one child process."""
    folder = tmp_path_factory.mktemp("files")
    with gpunn.use_backend("numpy"):
        _file_model().save(folder / "ours.keras")
    files = {"images": _file_images().tolist(), "ours": str(folder / "ours.keras"),
             "theirs": str(folder / "theirs.keras")}
    return run_keras(KERAS_SIDE, {"cases": _tasks(), "bad": BAD, "files": files}), folder


def _ours(task: dict) -> dict:
    stream = Stream(task["seed"])

    def make():
        layer = getattr(layers, task["name"])(**task["kwargs"])
        layer.uniform = lambda shape, minval, maxval: gpunn.autodiff.Tensor(stream.uniform(shape, minval, maxval))
        return layer

    result = run_case(make, task, lambda layer, x: layer(x, training=task["training"]))
    result["config"] = json.loads(json.dumps(result["config"]))
    result["used"] = stream.used
    return result


@pytest.mark.parametrize("k", range(len(CASES)), ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_layer_equals_keras_on_the_same_draws(keras_results, k):
    theirs = keras_results[0]["cases"][k]
    ours = _ours(_tasks()[k])
    for key in ("out", "one"):
        expected, got = np.asarray(theirs[key], np.float32), np.asarray(ours[key], np.float32)
        assert got.shape == expected.shape, (key, CASES[k])
        np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-3, err_msg=f"{key}: {CASES[k]}")
    # integer images: Keras's dtype back, and its values (bytes exactly)
    assert ours["ints_dtype"] == theirs["ints_dtype"], CASES[k]
    tolerance = 0 if ours["ints_dtype"] == "uint8" else 2e-3
    np.testing.assert_allclose(ours["ints"], theirs["ints"], rtol=2e-5 if tolerance else 0, atol=tolerance,
                               err_msg=f"ints: {CASES[k]}")
    assert ours["config"] == json.loads(json.dumps(theirs["config"]))
    assert ours["used"] == theirs["used"]  # as many draws


@pytest.mark.parametrize("k", range(len(BAD)), ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_arguments_are_refused_as_kerass_are(keras_results, k):
    name, kwargs = BAD[k]
    expected = keras_results[0]["refused"][k]
    assert expected is not None, "Keras took them"
    with pytest.raises(Exception) as caught:
        getattr(layers, name)(**json.loads(json.dumps(kwargs)))  # (as Keras got them: tuples become lists)
    assert [type(caught.value).__name__, str(caught.value)] == expected


def test_call_time_refusals_as_kerass():
    images = np.ones((2, 4, 5, 4), np.float32)  # four channels: not RGB
    for layer in (layers.RandomGrayscale(1.0), layers.RandomColorDegeneration(0.5)):
        with pytest.raises(ValueError, match="Invalid channel size: expected 3 .RGB. or 1 .Grayscale."):
            layer(images)
    erasing = layers.RandomErasing(fill_value="grey")  # checked where Keras checks it: when erasing
    np.testing.assert_array_equal(erasing(images, training=False), images)
    with pytest.raises(ValueError, match=r"The `fill_value` argument should be a number \(or a list of three"):
        erasing(images)


def test_random_layers_transform_on_their_own_and_not_in_inference():
    gpunn.utils.set_random_seed(3)
    images = np.random.default_rng(0).uniform(0, 255, (8, 6, 7, 3)).astype(np.float32)
    for layer in (layers.RandomGrayscale(0.9), layers.RandomInvert(), layers.Solarization(0.2, 0.5),
                  layers.RandomPosterization(3), layers.RandomColorDegeneration(0.8), layers.RandomSharpness(0.9),
                  layers.RandomShear(0.3, 0.3), layers.RandomErasing()):
        out = np.asarray(layer(images))  # training=True by default on its own
        assert out.shape == images.shape and not np.allclose(out, images), layer.name
        np.testing.assert_array_equal(layer(images, training=False), images)
    # three fill values, one per channel (Keras's jax backend refuses them: its full_like takes no list)
    erased = np.asarray(layers.RandomErasing(scale=(0.5, 0.5), fill_value=(1, 300, 3))(images))
    changed = np.any(erased != images, axis=-1)
    assert changed.any() and np.all(erased[changed] == np.float32([1, 255, 3]))  # clipped to value_range
    noisy = np.asarray(layers.RandomErasing((1, 1), scale=(0.3, 0.3), value_range=(-1e9, 1e9))(
        np.zeros((64, 10, 10, 1), np.float32)))
    # the erased pixels: a standard normal draw each, times value_range[1], clipped to value_range (at 1 sigma)
    noise = noisy[noisy != 0] / 1e9
    assert noise.size > 1500 and abs(noise.mean()) < 0.1
    assert abs(np.mean(np.abs(noise) == 1) - 0.3173) < 0.05


def _augmented_model(seed: int, jit: bool):
    gpunn.utils.set_random_seed(seed)
    model = gpunn.Sequential([
        gpunn.Input((6, 7, 3)), layers.RandomGrayscale(0.3), layers.RandomInvert(0.3), layers.Solarization(0.1, 0.8),
        layers.RandomPosterization(6), layers.RandomColorDegeneration(0.4), layers.RandomSharpness(0.6),
        layers.RandomShear(0.2, 0.1), layers.RandomErasing(0.5), layers.Rescaling(1 / 255), layers.Flatten(),
        layers.Dense(8, activation="relu"), layers.Dense(3)])
    model.compile(optimizer="adam", loss=gpunn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=jit)
    return model


def test_augmented_model_trains_and_replays_equal_eager():
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 255, (24, 6, 7, 3)).astype(np.float32)
    y = rng.integers(0, 3, 24)
    runs = []
    for jit in (False, True):
        model = _augmented_model(7, jit)
        history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        runs.append((model.get_weights(), history.history["loss"]))
        assert np.all(np.isfinite(history.history["loss"]))
        np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))  # no draws
    (eager, eager_loss), (replayed, replayed_loss) = runs
    assert eager_loss == replayed_loss
    for a, b in zip(eager, replayed):
        np.testing.assert_array_equal(a, b)


def test_gradient_through_the_layers_inside_a_model_equals_finite_differences():
    """After a Dense layer, their gradient reaches its weights (float64 finite differences of the training-mode
    output, the draws fixed): through the grey blend, the inversion, the solarization's where, the blur, the
    shear's interpolation and the erasing's where."""
    gpunn.utils.set_random_seed(4)
    f64 = {"dtype": "float64"}
    augmentations = [layers.RandomGrayscale(0.5, **f64), layers.RandomInvert(value_range=(0, 3), **f64),
                     layers.Solarization(0.1, (0.2, 0.7), value_range=(-3, 3), **f64),
                     layers.RandomColorDegeneration(0.7, value_range=(-50, 50), **f64),
                     layers.RandomSharpness(0.8, value_range=(-50, 50), **f64),
                     layers.RandomShear(0.3, 0.2, fill_mode="constant", **f64),
                     layers.RandomErasing(scale=(0.2, 0.4), fill_value=0.5, **f64)]
    model = gpunn.Sequential([gpunn.Input((3,), dtype="float64"), layers.Dense(3 * 4 * 3, **f64),
                              layers.Reshape((3, 4, 3), **f64), *augmentations, layers.Flatten(**f64),
                              layers.Dense(1, **f64)])
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(3, 3)), rng.normal(size=(3, 1))
    assert_gradients_with_fixed_draws(model, augmentations, x, y, np.random.default_rng(9).uniform(0, 1, 64))


def test_files_load_both_ways_and_predict_alike(keras_results):
    result, folder = keras_results
    files = result["files"]
    images = _file_images()
    model = gpunn.models.load_model(folder / "ours.keras")
    np.testing.assert_allclose(files["ours_in_keras"], model.predict(images, verbose=0), rtol=1e-4, atol=1e-3)
    degeneration, erasing = files["configs"]
    assert degeneration["factor"] == [-0.3, 0.3] and erasing["fill_value"] == 2.0 and erasing["factor"] == [0, 0.5]
    loaded = gpunn.models.load_model(folder / "theirs.keras")  # Keras's recorded training=True: no fixed mode
    np.testing.assert_allclose(loaded.predict(images, verbose=0), files["theirs"], rtol=1e-4, atol=1e-3)
    shear, solarization = loaded.layers[1], loaded.layers[2]  # (after the InputLayer)
    assert type(shear).__name__ == "RandomShear" and type(solarization).__name__ == "Solarization"
    assert shear.x_factor == (-0.2, 0.2) and tuple(shear.y_factor) == (0.1, 0.3) and shear.fill_mode == "constant"
    assert tuple(solarization.addition_factor) == (0, 0.1) and tuple(solarization.threshold_factor) == (0, 0.6)
    assert not np.allclose(loaded(images), loaded(images, training=False))  # augments when called plainly

