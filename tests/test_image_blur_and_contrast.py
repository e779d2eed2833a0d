"""``gpunn.ops.image.gaussian_blur``, RandomGaussianBlur and AutoContrast, compared with Keras itself (one child
process on its jax backend): the blur's values (odd and even kernels, both data formats, one image and a batch),
the layers' values in training and inference on the same draws (each uniform draw, on either side, the next
numbers of one stream per case: test_image_augmentations_more.py's pattern), their configs and the errors of bad
arguments; and the blur's gradient against float64 central differences."""
from __future__ import annotations

import json

import numpy as np
import pytest

import gpunn
from gpunn import layers
from gpunn.autodiff import Tensor, gradients
from gpunn.ops import image
from helpers import run_keras
from test_image_augmentations_more import STREAM, Stream, run_case


@pytest.fixture(autouse=True)
def on_numpy():
    with gpunn.use_backend("numpy"):
        yield


# (images' shape, kernel_size, sigma, data_format)
BLURS = [
    ((6, 7, 3), (3, 3), (1.0, 1.0), "channels_last"),
    ((2, 6, 7, 3), (5, 3), (1.5, 0.7), "channels_last"),
    ((2, 6, 7, 2), (4, 4), (1.0, 2.0), "channels_last"),
    ((2, 3, 6, 7), (3, 5), (0.8, 1.2), "channels_first"),
    ((2, 6, 7), (2, 4), (1.0, 0.5), "channels_first"),
    ((1, 5, 5, 1), (1, 1), (1.0, 1.0), "channels_last"),
]

# (class name, constructor arguments, images' shape, training)
CASES = [
    ("RandomGaussianBlur", {}, (3, 5, 6, 3), True),
    ("RandomGaussianBlur", {"factor": (0.4, 0.9), "kernel_size": 5, "sigma": (0.2, 0.9)}, (4, 6, 7, 3), True),
    ("RandomGaussianBlur", {"kernel_size": (3, 5), "value_range": (0, 1), "data_format": "channels_first"},
     (3, 3, 5, 6), True),
    ("RandomGaussianBlur", {}, (3, 5, 6, 3), False),
    ("AutoContrast", {}, (3, 5, 6, 3), True),
    ("AutoContrast", {"value_range": (1, 0)}, (3, 5, 6, 3), True),
    ("AutoContrast", {"value_range": (-2, 5), "data_format": "channels_first"}, (3, 3, 5, 6), True),
    ("AutoContrast", {}, (3, 5, 6, 3), False),
]

BAD = [
    ("RandomGaussianBlur", {"factor": 1.5}),
    ("RandomGaussianBlur", {"kernel_size": 4}),
    ("RandomGaussianBlur", {"kernel_size": (3, 4)}),
    ("RandomGaussianBlur", {"kernel_size": (3, 3, 3)}),
    ("RandomGaussianBlur", {"kernel_size": "3"}),
    ("RandomGaussianBlur", {"sigma": 2.0}),
    ("RandomGaussianBlur", {"sigma": (0.1, 0.2, 0.3)}),
    ("AutoContrast", {"value_range": 255}),
    ("AutoContrast", {"value_range": (0, 1, 2)}),
]

KERAS_SIDE = STREAM + r'''
import json, sys
import jax.numpy as jnp
import keras
import keras.src.backend.jax.random as jax_random

task = json.loads(sys.stdin.read())
blurs = []
for shape, kernel_size, sigma, data_format, seed in task["blurs"]:
    x = np.random.default_rng(seed).uniform(0, 255, shape).astype(np.float32)
    blurs.append(np.asarray(keras.ops.image.gaussian_blur(x, tuple(kernel_size), tuple(sigma),
                                                          data_format=data_format)).tolist())
try:
    keras.ops.image.gaussian_blur(np.zeros((2, 3), np.float32), data_format="channels_last")
    rank_error = None
except Exception as error:
    rank_error = [type(error).__name__, str(error)]
results = []
for case in task["cases"]:
    stream = Stream(case["seed"])
    jax_random.uniform = lambda shape, minval=0.0, maxval=1.0, dtype=None, seed=None: jnp.asarray(
        stream.uniform(shape, minval, maxval), dtype or "float32")
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
print(json.dumps({"blurs": blurs, "rank_error": rank_error, "cases": results, "refused": refused}))
'''


def _blur_tasks() -> list:
    return [[list(shape), list(k), list(s), fmt, 50 + i] for i, (shape, k, s, fmt) in enumerate(BLURS)]


def _tasks() -> list:
    return [{"name": name, "kwargs": kwargs, "shape": list(shape), "training": training, "seed": 700 + k}
            for k, (name, kwargs, shape, training) in enumerate(CASES)]


@pytest.fixture(scope="module")
def keras_results():
    return run_keras(KERAS_SIDE, {"blurs": _blur_tasks(), "cases": _tasks(), "bad": BAD})


@pytest.mark.parametrize("k", range(len(BLURS)), ids=[f"{b[1]}-{b[3]}-rank{len(b[0])}" for b in BLURS])
def test_gaussian_blur_equals_kerass(keras_results, k):
    shape, kernel_size, sigma, data_format, seed = _blur_tasks()[k]
    x = np.random.default_rng(seed).uniform(0, 255, shape).astype(np.float32)
    ours = image.gaussian_blur(x, tuple(kernel_size), tuple(sigma), data_format=data_format).numpy()
    expected = np.asarray(keras_results["blurs"][k], np.float32)
    assert ours.shape == expected.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-3)


def test_gaussian_blur_refuses_bad_ranks_as_keras(keras_results):
    with pytest.raises(ValueError) as caught:
        image.gaussian_blur(np.zeros((2, 3), np.float32), data_format="channels_last")
    assert [type(caught.value).__name__, str(caught.value)] == keras_results["rank_error"]


def test_gaussian_blur_is_an_operation_keras_names():
    from gpunn.layers.keras_operations import OPERATIONS

    module, name, parameters, init, call, _ = OPERATIONS["image.gaussian_blur"]
    assert (module, name, call) == ("image", "GaussianBlur", ("images",))
    assert [p[0] for p in parameters] == ["images", "kernel_size", "sigma", "data_format"]
    assert "gaussian_blur" in gpunn.autodiff.IMAGE_FUNCTIONS


@pytest.mark.parametrize("data_format, shape", [("channels_last", (2, 4, 5, 2)), ("channels_first", (3, 4, 5))])
def test_gaussian_blur_gradient_matches_finite_differences(data_format, shape):
    rng = np.random.default_rng(3)
    value = rng.normal(size=shape)

    def blur(x):
        return image.gaussian_blur(x, (3, 4), (0.9, 1.3), data_format=data_format)

    weights = rng.normal(size=shape)
    x = Tensor(value.copy(), requires_grad=True)
    out = blur(x)
    assert out.dtype == np.float64 and out.requires_grad
    (analytic,) = gradients(out, [x], weights)
    numeric = np.zeros(shape)
    flat = value.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + 1e-6
        up = (weights * blur(value).numpy()).sum()
        flat[i] = saved - 1e-6
        down = (weights * blur(value).numpy()).sum()
        flat[i] = saved
        numeric.reshape(-1)[i] = (up - down) / 2e-6
    np.testing.assert_allclose(np.asarray(analytic), numeric, rtol=1e-6, atol=1e-7)


def _ours(task: dict) -> dict:
    stream = Stream(task["seed"])

    def make():
        layer = getattr(layers, task["name"])(**task["kwargs"])
        layer.uniform = lambda shape, minval, maxval: Tensor(stream.uniform(shape, minval, maxval))
        return layer

    result = run_case(make, task, lambda layer, x: layer(x, training=task["training"]))
    result["config"] = json.loads(json.dumps(result["config"]))
    result["used"] = stream.used
    return result


@pytest.mark.parametrize("k", range(len(CASES)), ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_layer_equals_keras_on_the_same_draws(keras_results, k):
    theirs = keras_results["cases"][k]
    ours = _ours(_tasks()[k])
    for key in ("out", "one", "ints"):
        expected, got = np.asarray(theirs[key], np.float32), np.asarray(ours[key], np.float32)
        assert got.shape == expected.shape, (key, CASES[k])
        np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-3, err_msg=f"{key}: {CASES[k]}")
    assert ours["ints_dtype"] == theirs["ints_dtype"] == "float32"
    assert ours["config"] == json.loads(json.dumps(theirs["config"]))
    assert ours["used"] == theirs["used"]  # as many draws, in the same order
    if CASES[k][0] == "RandomGaussianBlur" and CASES[k][3]:
        assert not np.allclose(ours["out"], _tasks_images(k)), "nothing blurred"


def _tasks_images(k: int):
    low, high = CASES[k][1].get("value_range", (0, 255))
    rng = np.random.default_rng(_tasks()[k]["seed"])
    return rng.uniform(min(low, high), max(low, high), CASES[k][2]).astype(np.float32).round(3)


@pytest.mark.parametrize("k", range(len(BAD)), ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_arguments_are_refused_as_kerass_are(keras_results, k):
    name, kwargs = BAD[k]
    expected = keras_results["refused"][k]
    assert expected is not None, "Keras took them"
    with pytest.raises(Exception) as caught:
        getattr(layers, name)(**json.loads(json.dumps(kwargs)))
    assert [type(caught.value).__name__, str(caught.value)] == expected


def test_auto_contrast_keeps_constant_images_and_passes_gradients():
    flat = np.full((1, 3, 4, 2), 7.0, np.float32)
    np.testing.assert_array_equal(layers.AutoContrast()(flat), flat)  # nothing to stretch: as it came
    x = Tensor(np.random.default_rng(1).uniform(10, 200, (2, 3, 4, 1)), requires_grad=True)
    layer = layers.AutoContrast(dtype="float64")
    out = layer.call(x)
    (grad,) = gradients(out, [x], np.ones(out.shape))
    assert np.all(np.isfinite(np.asarray(grad)))


def test_layers_are_registered_and_recorded_as_training_by_default():
    from gpunn.layers import LAYER_CLASSES
    from gpunn.models.keras_file_config import TRAINING_TRUE_BY_DEFAULT

    for name in ("RandomGaussianBlur", "AutoContrast"):
        assert name in layers.__all__ and LAYER_CLASSES[name] is getattr(layers, name)
        assert name in TRAINING_TRUE_BY_DEFAULT
    blur = layers.RandomGaussianBlur.from_config(layers.RandomGaussianBlur(0.5, 5, (0.1, 0.4)).get_config())
    assert blur.factor == (0, 0.5) and blur.kernel_size == (5, 5) and blur.sigma == (0.1, 0.4)


def test_auto_contrast_on_a_constant_image_keeps_it_and_a_finite_gradient():
    flat = np.full((2, 4, 5, 3), 77.0)
    layer = layers.AutoContrast(dtype="float64")
    np.testing.assert_array_equal(layer(flat), flat)
    images = Tensor(flat.copy(), requires_grad=True)
    (grad,) = gradients(layer.call(images), [images], np.ones_like(flat))
    assert np.all(np.isfinite(np.asarray(grad)))
