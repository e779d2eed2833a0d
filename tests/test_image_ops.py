"""``gpunn.ops.image`` (``keras.ops.image``): values equal Keras 3's on its jax backend (one Keras child for every
case), gradients with respect to the images equal float64 central differences, bad arguments are refused as
Keras refuses them, and ``extract_patches`` trains inside a layer of the user's (keras-io's MLP-Mixer patches)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import gpunn
from gpunn.autodiff import Tensor, gradients
from gpunn.ops import image
from helpers import numpy_backend, run_keras  # noqa: F401  (fixture)


def _arrays() -> dict:
    rng = np.random.default_rng(7)
    last = rng.uniform(-1.0, 1.0, (2, 5, 7, 3)).astype("float32")
    return {"last": last, "first": np.ascontiguousarray(last.transpose(0, 3, 1, 2)), "one": last[0],
            "one_first": np.ascontiguousarray(last[0].transpose(2, 0, 1)),
            "bytes": rng.integers(0, 256, (2, 5, 7, 3)).astype("uint8"),
            "plane": rng.uniform(-1.0, 1.0, (5, 7)).astype("float32"),
            "volume": rng.uniform(-1.0, 1.0, (2, 4, 5, 6, 2)).astype("float32"),
            "points": rng.uniform(-2.5, 8.5, (2, 4, 6)).astype("float32"),
            "transforms": _transforms(5, 7), "transform": _transforms(5, 7)[1]}


def _transforms(height: int, width: int) -> np.ndarray:
    """A zoom (1.3, about the centre) for the first image, a rotation (30 degrees) with a translation for the
    second: the inverse maps, from output pixels to input points, as the preprocessing layers build them."""
    cy, cx = (height - 1) / 2, (width - 1) / 2
    zoom = 1.3
    angle = math.radians(30.0)
    cos, sin = math.cos(angle), math.sin(angle)
    return np.asarray([[zoom, 0.0, cx * (1 - zoom), 0.0, zoom, cy * (1 - zoom), 0.0, 0.0],
                       [cos, -sin, cx - cx * cos + cy * sin + 1.5, sin, cos, cy - cx * sin - cy * cos - 0.7, 0.0, 0.0]],
                      dtype="float32")


def _cases() -> list:
    """(function, array names as positional arguments, keyword arguments)."""
    cases = [("extract_patches", ["last", 2], {}),
             ("extract_patches", ["last", (2, 3)], {"strides": (1, 2), "padding": "same"}),
             ("extract_patches", ["last", 3], {"strides": 1, "dilation_rate": 2}),
             ("extract_patches", ["last", 2], {"strides": 2, "dilation_rate": (1, 2), "padding": "same"}),
             ("extract_patches", ["first", 2], {"strides": 1, "padding": "same", "data_format": "channels_first"}),
             ("extract_patches", ["one", (3, 2)], {"strides": (2, 1)}),
             ("extract_patches", ["one_first", 2], {"data_format": "channels_first"}),
             ("extract_patches", ["bytes", 2], {"strides": 1}),
             ("extract_patches", ["volume", (2, 2, 3)], {"strides": (1, 2, 2), "padding": "same"})]
    for interpolation in ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5"):
        cases.append(("resize", ["last", (9, 4)], {"interpolation": interpolation}))  # up the rows, down the columns
        if interpolation != "nearest":  # antialiasing widens the kernel where it scales down (the rows)
            cases.append(("resize", ["last", (3, 12)], {"interpolation": interpolation, "antialias": True}))
    cases += [("resize", ["first", (3, 9)], {"data_format": "channels_first", "interpolation": "bicubic"}),
              ("resize", ["one", (8, 4)], {"antialias": True}),
              ("resize", ["one_first", (4, 3)], {"data_format": "channels_first", "interpolation": "nearest"}),
              ("resize", ["bytes", (4, 9)], {}),
              ("resize", ["bytes", (3, 4)], {"interpolation": "nearest"}),
              ("resize", ["last", (4, 4)], {"crop_to_aspect_ratio": True}),
              ("resize", ["first", (6, 2)], {"crop_to_aspect_ratio": True, "data_format": "channels_first"}),
              ("resize", ["last", (4, 4)], {"pad_to_aspect_ratio": True, "fill_value": 0.5}),
              ("resize", ["one", (9, 3)], {"pad_to_aspect_ratio": True, "interpolation": "bicubic"}),
              ("resize", ["first", (3, 3)], {"pad_to_aspect_ratio": True, "data_format": "channels_first"}),
              ("area", ["last", (3, 16)], {}), ("area", ["last", (9, 4)], {})]
    for fill_mode in ("constant", "nearest", "wrap", "mirror", "reflect"):
        cases.append(("affine_transform", ["last", "transforms"], {"fill_mode": fill_mode, "fill_value": 0.25}))
        for order in (0, 1):
            cases.append(("map_coordinates", ["plane", "points", order], {"fill_mode": fill_mode,
                                                                           "fill_value": -0.5}))
    cases += [("affine_transform", ["last", "transforms"], {"interpolation": "nearest", "fill_value": 0.25}),
              ("affine_transform", ["last", "transforms"], {"interpolation": "nearest", "fill_mode": "mirror"})]
    cases += [("affine_transform", ["first", "transforms"], {"data_format": "channels_first", "fill_mode": "wrap"}),
              ("affine_transform", ["one", "transform"], {"fill_mode": "reflect"}),
              ("affine_transform", ["one_first", "transform"], {"data_format": "channels_first"}),
              ("affine_transform", ["bytes", "transforms"], {"fill_mode": "nearest"}),
              ("crop_images", ["last", 1, 2], {"target_height": 3, "target_width": 4}),
              ("crop_images", ["first"], {"bottom_cropping": 1, "right_cropping": 3, "top_cropping": 2,
                                          "left_cropping": 0, "data_format": "channels_first"}),
              ("crop_images", ["one"], {"bottom_cropping": 1, "right_cropping": 2, "target_height": 2,
                                        "target_width": 4}),
              ("pad_images", ["last", 1, 2], {"target_height": 8, "target_width": 10}),
              ("pad_images", ["one_first"], {"bottom_padding": 2, "right_padding": 1, "top_padding": 0,
                                             "left_padding": 3, "data_format": "channels_first"}),
              ("rgb_to_grayscale", ["last"], {}), ("rgb_to_grayscale", ["first"], {"data_format": "channels_first"}),
              ("rgb_to_grayscale", ["bytes"], {}), ("rgb_to_grayscale", ["one"], {})]
    return cases


KERAS_SIDE = r'''
import json, sys
from concurrent.futures import ThreadPoolExecutor
import numpy as np
import jax
import keras
task = json.loads(sys.stdin.read())
arrays = {name: np.asarray(values, dtype) for name, (values, dtype) in task["arrays"].items()}


def run(case):
    name, args, kwargs = case
    args = [arrays[a] if isinstance(a, str) else (tuple(a) if isinstance(a, list) else a) for a in args]
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    if name == "area":  # TensorFlow's area resizing, as JAX computes it (Keras's jax backend refuses "area")
        images, size = args
        out = jax.image.resize(images, (images.shape[0], *size, images.shape[-1]), "area", antialias=False)
    else:
        out = getattr(keras.ops.image, name)(*args, **kwargs)
    out = np.asarray(out)
    return [out.astype("float64").tolist(), str(out.dtype)]


with ThreadPoolExecutor(4) as pool:  # each case's time is XLA compiling it, which runs beside the others
    print(json.dumps(list(pool.map(run, task["cases"]))))
'''


@pytest.fixture(scope="module")
def keras_results():
    arrays = {name: [value.tolist(), str(value.dtype)] for name, value in _arrays().items()}
    return run_keras(KERAS_SIDE, {"arrays": arrays, "cases": _cases()})


def _ours(name, args, kwargs):
    arrays = _arrays()
    args = [arrays[a] if isinstance(a, str) else a for a in args]
    if name == "area":
        return image.resize(*args, interpolation="area", **kwargs)
    return getattr(image, name)(*args, **kwargs)


@pytest.mark.parametrize("kind", ["extract_patches", "resize", "area", "affine_transform", "map_coordinates",
                                  "crop_images", "pad_images", "rgb_to_grayscale"])
def test_values_equal_keras_jax(keras_results, kind):
    checked = 0
    for case, (theirs, their_dtype) in zip(_cases(), keras_results):
        if case[0] != kind:
            continue
        out = _ours(*case)
        assert isinstance(out, Tensor)
        theirs = np.asarray(theirs)
        where = f"{case}"
        assert out.shape == theirs.shape, f"shape {out.shape} vs Keras's {theirs.shape}; {where}"
        expected_dtype = "float32" if case[0] == "area" else their_dtype
        assert str(out.dtype) == expected_dtype, f"dtype {out.dtype} vs Keras's {expected_dtype}; {where}"
        if out.dtype == np.uint8:  # rounded from float32 sums: a value may fall on the other side of .5
            assert np.abs(out.numpy().astype(int) - theirs).max() <= 1, where
        else:
            np.testing.assert_allclose(out.numpy(), theirs, rtol=2e-5, atol=2e-5, err_msg=where)
        checked += 1
    assert checked


def test_single_transform_applies_to_the_whole_batch():
    arrays = _arrays()
    together = image.affine_transform(arrays["last"], arrays["transform"]).numpy()
    for k in range(2):
        alone = image.affine_transform(arrays["last"][k], arrays["transform"]).numpy()
        np.testing.assert_array_equal(together[k], alone)


def test_projective_transform_divides_by_k():
    """c0, c1 (TensorFlow's projective transforms): output (x, y) reads the input at (a x + ...) / k."""
    plane = np.arange(35.0).reshape(5, 7, 1)
    transform = np.asarray([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.25, 0.0])
    out = image.affine_transform(plane, transform, interpolation="nearest").numpy()[..., 0]
    rows, cols = np.mgrid[0:5, 0:7]
    k = 0.25 * cols + 1
    expected = plane[..., 0][np.floor(rows / k + 0.5).astype(int), np.floor(cols / k + 0.5).astype(int)]
    np.testing.assert_array_equal(out, expected)


# ---- gradients -----------------------------------------------------------------------------------------------------

GRADIENT_CASES = [
    ("extract_patches", (2, 5, 6, 2), {"size": 2}),
    ("extract_patches", (2, 5, 6, 2), {"size": (3, 2), "strides": 1, "padding": "same"}),
    ("extract_patches", (2, 2, 6, 5), {"size": 2, "strides": 1, "dilation_rate": 2, "data_format": "channels_first"}),
    ("extract_patches", (5, 6, 2), {"size": (2, 3), "strides": (2, 1), "padding": "same"}),
    ("resize", (2, 4, 5, 2), {"size": (7, 3), "interpolation": "bilinear"}),
    ("resize", (2, 4, 5, 2), {"size": (2, 8), "interpolation": "nearest"}),
    ("resize", (2, 4, 5, 2), {"size": (3, 7), "interpolation": "bicubic", "antialias": True}),
    ("resize", (2, 2, 6, 5), {"size": (4, 2), "interpolation": "lanczos3", "data_format": "channels_first"}),
    ("resize", (4, 5, 2), {"size": (3, 3), "interpolation": "area"}),
    ("resize", (2, 4, 5, 2), {"size": (3, 3), "crop_to_aspect_ratio": True}),
    ("resize", (2, 4, 5, 2), {"size": (3, 3), "pad_to_aspect_ratio": True, "fill_value": 0.3}),
    ("crop_images", (2, 4, 5, 2), {"top_cropping": 1, "left_cropping": 2, "target_height": 2, "target_width": 2}),
    ("pad_images", (2, 2, 4, 5), {"top_padding": 1, "right_padding": 2, "target_height": 6, "target_width": 7,
                                  "data_format": "channels_first"}),
    ("rgb_to_grayscale", (2, 4, 5, 3), {}),
]
for _mode in ("constant", "nearest", "wrap", "mirror", "reflect"):
    GRADIENT_CASES += [("affine_transform", (2, 4, 5, 2), {"interpolation": "bilinear", "fill_mode": _mode}),
                       ("map_coordinates", (4, 5), {"order": 1, "fill_mode": _mode})]
GRADIENT_CASES += [("affine_transform", (2, 2, 4, 5), {"interpolation": "nearest", "data_format": "channels_first"}),
                   ("affine_transform", (4, 5, 2), {"fill_mode": "reflect", "single": True}),
                   ("map_coordinates", (3, 4, 2), {"order": 0, "fill_mode": "wrap"})]


def _gradient_function(name, shape, kwargs):
    kwargs = dict(kwargs)
    if name == "affine_transform":
        transforms = _transforms(4, 5).astype("float64")
        transform = transforms[1] if kwargs.pop("single", False) else transforms
        return lambda x: image.affine_transform(x, transform, **kwargs)
    if name == "map_coordinates":
        points = np.random.default_rng(3).uniform(-2.2, 6.3, (len(shape), 3, 4))
        return lambda x: image.map_coordinates(x, points, **kwargs)
    return lambda x: getattr(image, name)(x, **kwargs)


@pytest.mark.parametrize("name, shape, kwargs", GRADIENT_CASES,
                         ids=[f"{n}-{k}" for n, _, k in GRADIENT_CASES])
def test_gradient_matches_finite_differences(name, shape, kwargs):
    function = _gradient_function(name, shape, kwargs)
    rng = np.random.default_rng(11)
    value = rng.normal(size=shape)
    out = function(Tensor(value.copy(), requires_grad=True))
    assert out.requires_grad and out.dtype == np.float64
    weights = rng.normal(size=out.shape)
    x = Tensor(value.copy(), requires_grad=True)
    (analytic,) = gradients(function(x), [x], weights)
    numeric = np.zeros(shape)
    flat = value.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + 1e-6
        up = (weights * function(value).numpy()).sum()
        flat[i] = saved - 1e-6
        down = (weights * function(value).numpy()).sum()
        flat[i] = saved
        numeric.reshape(-1)[i] = (up - down) / 2e-6
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7, err_msg=f"{name} {kwargs}")


def test_transform_and_coordinates_get_no_gradient():
    images = Tensor(np.ones((1, 3, 3, 1)), requires_grad=True)
    transform = Tensor(np.asarray([1.0, 0, 0.2, 0, 1.0, 0.1, 0, 0]), requires_grad=True)
    grad_images, grad_transform = gradients(image.affine_transform(images, transform), [images, transform],
                                            np.ones((1, 3, 3, 1)))
    assert grad_images is not None and grad_transform is None


# ---- bad arguments -------------------------------------------------------------------------------------------------

BAD = [
    (TypeError, "Expected an int or a tuple", lambda x: image.extract_patches(x, "2")),
    (ValueError, "Expected a tuple of length 2 or 3", lambda x: image.extract_patches(x, (2, 1, 1, 1))),
    (ValueError, "Expected 'valid' or 'same'", lambda x: image.extract_patches(x, 2, padding="full")),
    (ValueError, "Invalid `strides`", lambda x: image.extract_patches(x, 2, strides=(1, 2, 3))),
    (ValueError, "Invalid images rank", lambda x: image.extract_patches(x[0, 0], 2)),
    (ValueError, "Invalid images rank", lambda x: image.extract_patches(x[0], (2, 2, 2))),
    (ValueError, "`data_format` argument must be one of", lambda x: image.extract_patches(x, 2, data_format="nhwc")),
    (ValueError, "Expected `size` to be a tuple of 2 integers", lambda x: image.resize(x, (2,))),
    (ValueError, "must have positive height and width", lambda x: image.resize(x, (2, 0))),
    (ValueError, "Invalid images rank", lambda x: image.resize(x[0, 0], (2, 2))),
    (ValueError, "Only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio`",
     lambda x: image.resize(x, (2, 2), pad_to_aspect_ratio=True, crop_to_aspect_ratio=True)),
    (ValueError, "interpolation=cubic", lambda x: image.resize(x, (2, 2), interpolation="cubic")),
    (ValueError, "Only `'constant'` is supported", lambda x: image.resize(x, (2, 2), fill_mode="reflect")),
    (ValueError, "interpolation=bicubic", lambda x: image.affine_transform(x, np.eye(3).reshape(-1)[:8],
                                                                           interpolation="bicubic")),
    (ValueError, "fill_mode=edge", lambda x: image.affine_transform(x, np.zeros(8), fill_mode="edge")),
    (ValueError, "Invalid transform rank", lambda x: image.affine_transform(x, np.zeros((1, 1, 8)))),
    (ValueError, r"transform.shape=\(1, 6\)", lambda x: image.affine_transform(x, np.zeros((1, 6)))),
    (ValueError, r"transform.shape=\(3, 8\)", lambda x: image.affine_transform(x, np.zeros((3, 8)))),
    (ValueError, "coordinate leading dim of 3", lambda x: image.map_coordinates(x, np.zeros((3, 5)), 1)),
    (ValueError, "expected at least rank 2", lambda x: image.map_coordinates(x[0, 0, 0], np.zeros(1), 1)),
    (ValueError, "order=3", lambda x: image.map_coordinates(x, np.zeros((4, 5)), 3)),
    (ValueError, "fill_mode=edge", lambda x: image.map_coordinates(x, np.zeros((4, 5)), 1, fill_mode="edge")),
    (ValueError, "Invalid channel size", lambda x: image.rgb_to_grayscale(x[..., :2])),
    (ValueError, "Must specify exactly two of top_cropping, bottom_cropping, target_height",
     lambda x: image.crop_images(x, 1, 1)),
    (ValueError, "top_cropping must be >= 0", lambda x: image.crop_images(x, -1, 1, target_height=1, target_width=1)),
    (ValueError, "bottom_cropping must be >= 0",
     lambda x: image.crop_images(x, 1, 1, target_height=5, target_width=1)),
    (ValueError, "Must specify exactly two of left_padding, right_padding, target_width",
     lambda x: image.pad_images(x, 1, 1, right_padding=1, target_height=9, target_width=9)),
    (ValueError, "bottom_padding must be >= 0", lambda x: image.pad_images(x, 1, 1, target_height=2,
                                                                           target_width=9)),
]


@pytest.mark.parametrize("error, message, call", BAD, ids=[m for _, m, _ in BAD])
def test_bad_arguments_are_refused_as_keras_refuses_them(error, message, call):
    with pytest.raises(error, match=message):
        call(np.zeros((2, 5, 7, 3), "float32"))


# ---- in a model ----------------------------------------------------------------------------------------------------

class Patches(gpunn.layers.Layer):
    """keras-io's MLP-Mixer patches: (batch, patches, patch values)."""

    def __init__(self, patch_size, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = patch_size

    def call(self, x):
        patches = gpunn.ops.image.extract_patches(x, self.patch_size)
        batch, rows, cols, depth = gpunn.ops.shape(patches)
        return gpunn.ops.reshape(patches, (batch, rows * cols, depth))


def test_patches_layer_trains_in_a_functional_model():
    gpunn.utils.set_random_seed(5)
    inputs = gpunn.Input((8, 8, 3))
    x = Patches(4)(inputs)
    x = gpunn.layers.Dense(5)(x)
    x = gpunn.layers.GlobalAveragePooling1D()(x)
    model = gpunn.Model(inputs, gpunn.layers.Dense(3)(x))
    assert model.output_shape == (None, 3)
    model.compile(optimizer=gpunn.optimizers.Adam(0.01),
                  loss=gpunn.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (32, 8, 8, 3)).astype("float32")
    y = (x[:, :4].mean(axis=(1, 2, 3)) > x[:, 4:].mean(axis=(1, 2, 3))).astype("int64") + (x[..., 0].mean((1, 2)) > .5)
    losses = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history["loss"]
    assert all(np.isfinite(losses)) and losses[1] < losses[0]
    assert model.predict(x[:3], verbose=0).shape == (3, 3)


SYMBOLIC_KERAS = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x = np.asarray(task["x"], "float32")
ours = keras.saving.load_model(task["ours"])
inputs = keras.Input((8, 8, 3))
h = keras.ops.image.resize(inputs, (6, 7), interpolation="bicubic")
h = keras.ops.image.crop_images(h, top_cropping=1, left_cropping=1, target_height=4, target_width=5)
h = keras.ops.image.pad_images(h, top_padding=1, left_padding=2, target_height=6, target_width=7)
h = keras.ops.image.hsv_to_rgb(keras.ops.image.rgb_to_hsv(h / 255.0))
h = keras.ops.image.rgb_to_grayscale(h)
h = keras.ops.image.extract_patches(h, 2, strides=(2, 3))
theirs = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(h)))
theirs.save(task["theirs"])
print(json.dumps({"ours": ours.predict(x, verbose=0).tolist(), "theirs": theirs.predict(x, verbose=0).tolist()}))
'''


def test_image_functions_on_a_functional_models_symbolic_values_save_as_kerass(numpy_backend, tmp_path):
    """``keras.ops.image`` between layers of a functional model: operations of its graph, written as Keras writes
    them (``keras.src.ops.image.Resize``...), so that each side loads the other's file and predicts alike."""
    inputs = gpunn.Input((8, 8, 3))
    h = image.resize(inputs, (5, 5))
    h = image.pad_images(h, top_padding=1, left_padding=0, target_height=6, target_width=6)
    h = image.rgb_to_hsv(h)
    h = image.extract_patches(h, 2)
    model = gpunn.Model(inputs, gpunn.layers.Dense(2)(gpunn.layers.Flatten()(h)))
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(3).uniform(0, 1, (3, 8, 8, 3)).astype(np.float32)
    model.fit(x, np.zeros((3, 2)), epochs=1, verbose=0)  # (trains: the operations pass the gradient back)
    model.save(tmp_path / "ours.keras")
    result = run_keras(SYMBOLIC_KERAS, {"x": x.tolist(), "ours": str(tmp_path / "ours.keras"),
                                        "theirs": str(tmp_path / "theirs.keras")})
    np.testing.assert_allclose(result["ours"], model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    theirs = gpunn.models.load_model(tmp_path / "theirs.keras")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), result["theirs"], rtol=1e-5, atol=1e-5)
