"""Keras 3's image preprocessing layers (``gpunn/layers/image_preprocessing/``): Resizing, CenterCrop, RandomCrop,
RandomFlip, RandomZoom, RandomTranslation, RandomRotation, RandomContrast, RandomBrightness.

Each is compared with Keras itself (a child process on its jax backend) on the same images: the deterministic
ones as they are, the random ones with their uniform draws replaced, on both sides, by the same given numbers (the
layers' own streams differ: gpunn's are NumPy's), so that the transform each image gets is the same. Also: the
modes (identity in inference, transforms on its own), configs and files both ways, training in a model (replayed
steps equal eager ones, bit for bit), the gradient through a layer inside a model, and the errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

import gpunn
from gpunn import layers
from helpers import (assert_gradients_with_fixed_draws, numpy_backend, run_keras,  # noqa: F401
                     run_keras_with_tensorflow_script)

# Each case: (class name, constructor arguments, images' shape, training, data_format)
CASES = [
    ("Resizing", {"height": 7, "width": 4}, (2, 5, 6, 3), False),
    ("Resizing", {"height": 3, "width": 3, "interpolation": "nearest"}, (2, 5, 6, 3), False),
    ("Resizing", {"height": 8, "width": 9, "interpolation": "bicubic"}, (2, 5, 6, 3), False),
    ("Resizing", {"height": 3, "width": 2, "antialias": True}, (2, 7, 6, 2), False),
    ("Resizing", {"height": 4, "width": 8, "crop_to_aspect_ratio": True}, (2, 5, 6, 3), False),
    ("Resizing", {"height": 4, "width": 8, "pad_to_aspect_ratio": True, "fill_value": 2.5}, (2, 5, 6, 3), False),
    ("Resizing", {"height": 4, "width": 3, "data_format": "channels_first"}, (2, 3, 5, 6), False),
    ("CenterCrop", {"height": 3, "width": 4}, (2, 5, 6, 3), True),
    ("CenterCrop", {"height": 4, "width": 3}, (2, 6, 6, 1), False),
    ("CenterCrop", {"height": 7, "width": 4}, (2, 5, 6, 3), False),  # taller than the images: resized
    ("CenterCrop", {"height": 2, "width": 3, "data_format": "channels_first"}, (2, 3, 5, 6), False),
    ("RandomCrop", {"height": 3, "width": 4}, (2, 5, 6, 3), True),
    ("RandomCrop", {"height": 5, "width": 4}, (2, 5, 6, 3), True),  # no room along the height: resized
    ("RandomCrop", {"height": 10, "width": 4}, (2, 8, 6, 3), True),  # taller than the images
    ("RandomCrop", {"height": 4, "width": 9}, (2, 8, 6, 3), True),
    ("RandomCrop", {"height": 4, "width": 4}, (2, 4, 2, 1), True),
    ("RandomCrop", {"height": 3, "width": 4}, (2, 5, 6, 3), False),  # inference: uncropped, as Keras 3's
    ("RandomFlip", {}, (3, 4, 5, 2), True),
    ("RandomFlip", {"mode": "horizontal"}, (3, 4, 5, 2), True),
    ("RandomFlip", {"mode": "vertical", "data_format": "channels_first"}, (3, 2, 4, 5), True),
    ("RandomFlip", {}, (3, 4, 5, 2), False),
    ("RandomZoom", {"height_factor": 0.3}, (3, 5, 6, 2), True),
    ("RandomZoom", {"height_factor": (-0.4, 0.2), "width_factor": 0.3, "fill_mode": "constant",
                    "fill_value": 1.5}, (3, 5, 6, 2), True),
    ("RandomZoom", {"height_factor": 0.5, "fill_mode": "wrap", "interpolation": "nearest"}, (3, 5, 6, 2), True),
    ("RandomZoom", {"height_factor": 0.5, "fill_mode": "nearest", "data_format": "channels_first"}, (3, 2, 5, 6),
     True),
    ("RandomZoom", {"height_factor": 0.3}, (3, 5, 6, 2), False),
    ("RandomTranslation", {"height_factor": 0.3, "width_factor": (-0.2, 0.4)}, (3, 5, 6, 2), True),
    ("RandomTranslation", {"height_factor": 0.5, "width_factor": 0.5, "fill_mode": "constant"}, (3, 5, 6, 2), True),
    ("RandomRotation", {"factor": 0.2}, (3, 5, 6, 2), True),
    ("RandomRotation", {"factor": (-0.5, 0.1), "fill_mode": "wrap", "interpolation": "nearest"}, (3, 6, 5, 1), True),
    ("RandomRotation", {"factor": 0.2}, (3, 5, 6, 2), False),
    ("RandomContrast", {"factor": 0.5}, (3, 4, 5, 3), True),
    ("RandomContrast", {"factor": (0.2, 0.9), "value_range": (0, 1)}, (3, 4, 5, 3), True),
    ("RandomBrightness", {"factor": 0.3}, (3, 4, 5, 3), True),
    ("RandomBrightness", {"factor": (-0.5, 0.2), "value_range": (0, 1)}, (3, 4, 5, 3), True),
    ("RandomBrightness", {"factor": 0.3}, (3, 4, 5, 3), False),
]

# The draws replaced: each call of a layer's uniform returns minval + u * (maxval - minval), u taken in turn
# from the case's list (Keras's layers call keras.src.backend.jax.random.uniform; gpunn's, their ``uniform``).
KERAS_SIDE = r'''
import json, sys
import numpy as np
import jax.numpy as jnp
import keras
import keras.src.backend.jax.random as jax_random

results = []
for case in json.loads(sys.stdin.read()):
    draws = [np.asarray(u, "float32") for u in case["draws"]]

    def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
        u = draws.pop(0).reshape(shape)
        return jnp.asarray(minval + u * (maxval - minval), dtype or "float32")

    jax_random.uniform = uniform
    layer = getattr(keras.layers, case["name"])(**case["kwargs"])
    images = np.asarray(case["images"], "float32")
    out = np.asarray(layer(images, training=case["training"]))
    one = np.asarray(layer(images[0], training=False))
    results.append({"out": out.tolist(), "one": one.tolist(), "config": {
        k: v for k, v in layer.get_config().items() if k not in ("name", "dtype", "seed", "trainable")}})
print(json.dumps(results))
'''


def _case_task(k: int, case: tuple) -> dict:
    name, kwargs, shape, training = case
    rng = np.random.default_rng(100 + k)
    images = rng.uniform(0, 255, shape).astype(np.float32).round(1)
    draws = [rng.uniform(0, 1, shape[0]).tolist() for _ in range(2)]  # enough for every layer's calls
    if name == "RandomCrop":
        draws = [[float(rng.uniform())] for _ in range(2)]
    return {"name": name, "kwargs": kwargs, "images": images.tolist(), "training": training, "draws": draws}


def _ours(task: dict) -> dict:
    draws = [np.asarray(u, np.float32) for u in task["draws"]]
    layer = getattr(layers, task["name"])(**task["kwargs"])

    def uniform(shape, minval, maxval):
        u = draws.pop(0).reshape(shape)
        return gpunn.autodiff.Tensor(np.float32(minval) + u * np.float32(maxval - minval))

    layer.uniform = uniform
    images = np.asarray(task["images"], np.float32)
    out = np.asarray(layer(images, training=task["training"]))
    one = np.asarray(layer(images[0], training=False))
    config = {k: v for k, v in layer.get_config().items() if k not in ("name", "dtype", "seed", "trainable")}
    return {"out": out.tolist(), "one": one.tolist(), "config": json.loads(json.dumps(config))}


@pytest.fixture(scope="module")
def keras_results():
    tasks = [_case_task(k, case) for k, case in enumerate(CASES)]
    return tasks, run_keras(KERAS_SIDE, tasks)


@pytest.mark.parametrize("k", range(len(CASES)), ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_layer_equals_keras_on_the_same_draws(numpy_backend, keras_results, k):
    tasks, theirs = keras_results
    ours = _ours(tasks[k])
    expected = np.asarray(theirs[k]["out"], np.float32)
    got = np.asarray(ours["out"], np.float32)
    assert got.shape == expected.shape, CASES[k]
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-3, err_msg=str(CASES[k]))
    np.testing.assert_allclose(np.asarray(ours["one"]), np.asarray(theirs[k]["one"]), rtol=2e-5, atol=2e-3)
    assert ours["config"] == json.loads(json.dumps(theirs[k]["config"]))


def test_random_layers_transform_on_their_own_and_not_in_inference(numpy_backend):
    gpunn.utils.set_random_seed(3)
    images = np.random.default_rng(0).uniform(0, 255, (8, 6, 7, 3)).astype(np.float32)
    for layer in (layers.RandomFlip(), layers.RandomZoom(0.3), layers.RandomTranslation(0.2, 0.2),
                  layers.RandomRotation(0.2), layers.RandomContrast(0.4), layers.RandomBrightness(0.3)):
        assert not np.allclose(layer(images), images), layer.name  # training=True by default on its own
        np.testing.assert_array_equal(layer(images, training=False), images)
        assert layer(images[0]).shape == images[0].shape  # one image
    flipped = np.asarray(layers.RandomFlip("horizontal", seed=5)(images))
    for image, out in zip(images, flipped):  # each image flipped or not, as a whole
        assert np.array_equal(out, image) or np.array_equal(out, image[:, ::-1])
    assert not all(np.array_equal(o, i) for o, i in zip(flipped, images))


def test_a_model_called_without_training_transforms_as_kerass_does(numpy_backend):
    """Keras's layers default to training=True in call(): a model of them called plainly (``augment(images)``, as
    the tutorials show augmented images) transforms, also nested in a functional model, while Dropout there keeps
    its own default (off); predict and training=False do not transform."""
    gpunn.utils.set_random_seed(2)
    images = np.random.default_rng(0).uniform(0, 255, (6, 5, 6, 3)).astype(np.float32)
    augment = gpunn.Sequential([layers.RandomFlip("horizontal"), layers.RandomTranslation(0.3, 0.3)])
    assert not np.allclose(augment(images), images)
    np.testing.assert_array_equal(augment(images, training=False), images)
    inputs = gpunn.Input((5, 6, 3))
    model = gpunn.Model(inputs, layers.Dropout(0.9)(layers.Flatten()(augment(inputs))))
    flat = images.reshape(6, -1)
    plain = np.asarray(model(images))
    assert not np.allclose(plain, flat)
    assert np.count_nonzero(plain) > 0.5 * plain.size  # (the dropout of rate 0.9 is off)
    np.testing.assert_array_equal(model.predict(images, verbose=0), flat)
    np.testing.assert_array_equal(model(images, training=False), flat)


def test_a_sequential_of_image_layers_takes_one_image(numpy_backend):
    images = np.random.default_rng(1).uniform(0, 255, (2, 10, 12, 3)).astype(np.float32)
    resize_and_rescale = gpunn.Sequential([layers.Resizing(6, 6), layers.Rescaling(1 / 255)])
    one = np.asarray(resize_and_rescale(images[0]))
    assert one.shape == (6, 6, 3)
    np.testing.assert_allclose(one, np.asarray(resize_and_rescale(images))[0], rtol=1e-6)


def test_training_none_given_does_not_transform_as_in_keras(numpy_backend):
    """Keras passes a ``training=None`` given on to the layer's call, where it is falsy: on its own, and in the
    subclassed-model idiom ``self.augment(x, training=training)`` called plainly, nothing is transformed."""
    images = np.ones((4, 8, 8, 1), np.float32)
    augment = layers.RandomTranslation(0.5, 0.5, fill_mode="constant", seed=2)
    np.testing.assert_array_equal(augment(images, training=None), images)
    assert not np.allclose(augment(images), images)

    class Model(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.augment = layers.RandomTranslation(0.5, 0.5, fill_mode="constant", seed=2)
            self.flatten = layers.Flatten()

        def call(self, x, training=None):
            return self.flatten(self.augment(x, training=training))

    model = Model()
    np.testing.assert_array_equal(model(images), images.reshape(4, -1))
    assert not np.allclose(model(images, training=True), images.reshape(4, -1))


def test_a_variant_made_again_draws_on_from_the_models_stream(numpy_backend):
    """Images of more sizes than the variants kept: each call draws new transforms (the variants' augmentation
    layers share the model's streams), also for a variant made again."""
    from gpunn.models import shape_variants

    model = gpunn.Sequential([gpunn.Input((8, 8, 1)), layers.RandomTranslation(0.4, 0.4, fill_mode="constant",
                                                                                 seed=1)])
    rng = np.random.default_rng(0)
    sizes = list(range(9, 10 + shape_variants.KEPT_VARIANTS + 1))
    images = {s: rng.uniform(1, 2, (2, s, s, 1)).astype(np.float32) for s in sizes}
    first = {s: np.asarray(model(images[s])) for s in sizes}
    second = {s: np.asarray(model(images[s])) for s in sizes}
    assert not any(np.array_equal(first[s], second[s]) for s in sizes)


def test_uint8_images_come_back_in_kerass_dtypes(numpy_backend):
    images = np.random.default_rng(1).integers(0, 256, (2, 5, 6, 3)).astype(np.uint8)
    for layer in (layers.CenterCrop(3, 3), layers.RandomFlip(), layers.RandomZoom(0.2), layers.RandomContrast(0.3)):
        assert np.asarray(layer(images)).dtype == np.float32, layer.name
    resized = np.asarray(layers.Resizing(3, 4)(images))  # Keras's Resizing keeps integer images integers
    expected = np.asarray(layers.Resizing(3, 4)(images.astype(np.float32)))
    assert resized.dtype == np.uint8 and np.array_equal(resized, np.clip(np.rint(expected), 0, 255))
    for layer in (layers.RandomCrop(3, 3), layers.RandomContrast(0.3), layers.RandomBrightness(0.3)):
        passed = np.asarray(layer(images, training=False))  # passed through in inference, as they came
        assert passed.dtype == np.uint8 and np.array_equal(passed, images), layer.name


def _augmented_model(seed: int, jit: bool):
    gpunn.utils.set_random_seed(seed)
    model = gpunn.Sequential([
        gpunn.Input((6, 7, 3)), layers.Rescaling(1 / 255), layers.Resizing(5, 5), layers.RandomFlip("horizontal"),
        layers.RandomZoom(0.2), layers.RandomRotation(0.1), layers.RandomContrast(0.2, value_range=(0, 1)),
        layers.Flatten(), layers.Dense(8, activation="relu"), layers.Dense(3)])
    model.compile(optimizer="adam", loss=gpunn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=jit)
    return model


def test_augmented_model_trains_and_replays_equal_eager(numpy_backend):
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 255, (24, 6, 7, 3)).astype(np.float32)
    y = rng.integers(0, 3, 24)
    runs = []
    for jit in (False, True):
        model = _augmented_model(7, jit)
        history = model.fit(x, y, batch_size=8, epochs=3, verbose=0)
        runs.append((model.get_weights(), history.history["loss"]))
        assert np.all(np.isfinite(history.history["loss"]))
        # inference: no augmentation, so two predictions agree
        np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    (eager, eager_loss), (replayed, replayed_loss) = runs
    assert eager_loss == replayed_loss
    for a, b in zip(eager, replayed):
        np.testing.assert_array_equal(a, b)


def test_gradient_through_a_layer_inside_a_model_equals_finite_differences(numpy_backend):
    """Augmentations after a Dense layer: their gradient reaches the Dense weights (float64 finite differences of
    the training-mode output, the draws fixed)."""
    gpunn.utils.set_random_seed(4)
    f64 = {"dtype": "float64"}
    augmentations = [layers.RandomZoom(0.3, 0.2, fill_mode="constant", **f64), layers.RandomRotation(0.2, **f64),
                     layers.RandomFlip(**f64), layers.RandomContrast(0.5, value_range=(-100, 100), **f64)]
    model = gpunn.Sequential([gpunn.Input((6,), dtype="float64"), layers.Dense(4 * 5 * 2, **f64),
                              layers.Reshape((4, 5, 2), **f64), *augmentations,
                              layers.Resizing(3, 4, interpolation="bicubic", **f64), layers.Flatten(**f64),
                              layers.Dense(1, **f64)])
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(3, 6)), rng.normal(size=(3, 1))
    assert_gradients_with_fixed_draws(model, augmentations, x, y, np.random.default_rng(9).uniform(0, 1, 3))


def test_random_crop_in_a_model_refuses_inference_of_another_shape(numpy_backend):
    model = gpunn.Sequential([gpunn.Input((6, 7, 3)), layers.RandomCrop(4, 4), layers.Flatten(), layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    x = np.ones((4, 6, 7, 3), np.float32)
    model.fit(x, np.zeros((4, 2)), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="CenterCrop for inference"):
        model.predict(x, verbose=0)


@pytest.mark.parametrize("make, message", [
    (lambda: layers.RandomFlip("sideways"), "mode: RandomFlip expected one of"),
    (lambda: layers.RandomZoom(1.5), r"in the range \(-1.0, 1.0\]"),
    (lambda: layers.RandomZoom(-1.0), r"in the range \(-1.0, 1.0\]"),
    (lambda: layers.RandomTranslation(0.2, [0.1]), "width_factor=.0.1."),
    (lambda: layers.RandomRotation(2.0), r"in the range \[-1, 1\]"),
    (lambda: layers.RandomContrast(-0.1), r"in the range \[0, 1\]"),
    (lambda: layers.RandomBrightness(0.2, value_range=5), "value_range"),
    (lambda: layers.Resizing(0, 4), "height: Resizing expected a positive integer"),
    (lambda: layers.CenterCrop(3, 4, data_format="channels_middle"), "data_format"),
])
def test_bad_arguments_are_refused_by_name(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("make", [lambda: layers.RandomZoom(0.2, fill_mode="mirror"),
                                  lambda: layers.RandomRotation(0.2, interpolation="bicubic")])
def test_unsupported_modes_raise_keras_exception(make):
    with pytest.raises(NotImplementedError, match="Unknown `"):
        make()


def test_samples_that_are_not_images_are_refused(numpy_backend):
    with pytest.raises(ValueError, match="takes images"):
        gpunn.Sequential([gpunn.Input((28, 28)), layers.RandomFlip(), layers.Flatten(), layers.Dense(2)])


KERAS_FILES = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
images = np.asarray(task["images"], "float32")
theirs = keras.saving.load_model(task["ours"])
inputs = keras.Input((6, 7, 3))
x = keras.layers.Resizing(5, 4)(inputs)
x = keras.layers.RandomFlip()(x)
x = keras.layers.RandomZoom(0.2)(x)
x = keras.layers.CenterCrop(4, 4)(x)
outputs = keras.layers.Dense(2)(keras.layers.Flatten()(x))
model = keras.Model(inputs, outputs)
model.save(task["theirs"])
print(json.dumps({"ours_in_keras": np.asarray(theirs.predict(images, verbose=0)).tolist(),
                  "theirs": np.asarray(model.predict(images, verbose=0)).tolist()}))
'''


def test_files_load_both_ways_and_predict_alike(numpy_backend, tmp_path):
    gpunn.utils.set_random_seed(6)
    model = gpunn.Sequential([gpunn.Input((6, 7, 3)), layers.Resizing(5, 5, interpolation="bicubic"),
                              layers.RandomFlip("vertical"), layers.RandomTranslation(0.1, 0.1),
                              layers.RandomBrightness(0.1), layers.CenterCrop(4, 3), layers.Flatten(), layers.Dense(2)])
    images = np.random.default_rng(3).uniform(0, 255, (2, 6, 7, 3)).astype(np.float32)
    ours_path, theirs_path = tmp_path / "ours.keras", tmp_path / "theirs.keras"
    model.save(ours_path)
    result = run_keras(KERAS_FILES, {"images": images.tolist(), "ours": str(ours_path), "theirs": str(theirs_path)})
    np.testing.assert_allclose(result["ours_in_keras"], model.predict(images, verbose=0), rtol=1e-4, atol=1e-3)
    loaded = gpunn.models.load_model(theirs_path)  # Keras's recorded training=True is its default: no fixed mode
    np.testing.assert_allclose(loaded.predict(images, verbose=0), result["theirs"], rtol=1e-4, atol=1e-3)
    assert [type(layer).__name__ for layer in loaded.layers[1:5]] == ["Resizing", "RandomFlip", "RandomZoom",
                                                                     "CenterCrop"]
    again = gpunn.models.load_model(ours_path)
    np.testing.assert_array_equal(again.predict(images, verbose=0), model.predict(images, verbose=0))


@pytest.mark.gpu
def test_augmented_model_on_the_gpu_matches_numpy():
    """The draws are made on the host from the same seeds, so CuPy's run transforms the same images as NumPy's;
    eager and replayed CuPy steps (the layers' host calls between graph segments) agree with it."""
    rng = np.random.default_rng(8)
    x = rng.uniform(0, 255, (24, 6, 7, 3)).astype(np.float32)
    y = rng.integers(0, 3, 24)
    weights = {}
    for backend, jit in (("numpy", False), ("cupy", False), ("cupy", True)):
        with gpunn.use_backend(backend):
            model = _augmented_model(7, jit)
            model.fit(x, y, batch_size=8, epochs=2, verbose=0)
            weights[backend, jit] = model.get_weights()
    for key in (("cupy", False), ("cupy", True)):
        for ours, reference in zip(weights[key], weights["numpy", False]):
            np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=2e-5, err_msg=str(key))


IN_TF_DATA = r'''
import json, sys
import numpy as np
import tensorflow as tf
task = json.loads(sys.stdin.read())
if task["lib"] == "keras":
    import keras
else:
    import gpunn as keras
layers = keras.layers
x = np.asarray(task["x"], "uint8")
resize_and_rescale = keras.Sequential([layers.Resizing(6, 5), layers.Rescaling(1.0 / 255)])
augment = keras.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.2)])
ds = tf.data.Dataset.from_tensor_slices((x, np.arange(len(x)) % 2))
ds = ds.map(lambda a, b: (resize_and_rescale(a), b)).batch(4)
plain = [a.numpy().tolist() for a, _ in ds]
augmented = ds.map(lambda a, b: (augment(a, training=True), b))
shapes = [list(a.shape) for a, _ in augmented]
kept = [a.numpy().tolist() for a, _ in ds.map(lambda a, b: (augment(a, training=False), b))]
sizes = tf.data.Dataset.from_generator(  # images of several sizes, as tfds's tf_flowers yields them
    lambda: ((x[k, :5 + k % 3, :6 + k % 2], k) for k in range(len(x))),
    output_signature=(tf.TensorSpec((None, None, 3), tf.uint8), tf.TensorSpec((), tf.int64)))
resized = sizes.map(lambda a, b: (resize_and_rescale(a), b))
varied = [a.numpy().tolist() for a, _ in resized]
print(json.dumps({"spec": str(augmented.element_spec), "plain": plain, "shapes": shapes, "kept": kept,
                  "varied_spec": str(resized.element_spec), "varied": varied}))
'''


def test_image_layers_in_tf_data_maps_as_kerass(tmp_path):
    """The TF data-augmentation tutorial's pipeline: a Sequential of Resizing and Rescaling mapped over single
    images, then augmentation mapped over batches (live against Keras where GPUNN_KERAS_TF_PYTHON names an
    interpreter with TensorFlow)."""
    x = np.random.default_rng(5).integers(0, 256, (6, 9, 8, 3)).astype(np.uint8)
    theirs = run_keras_with_tensorflow_script(IN_TF_DATA, {"lib": "keras", "x": x.tolist()}, backend="tensorflow")
    ours = run_keras_with_tensorflow_script(IN_TF_DATA, {"lib": "gpunn", "x": x.tolist()}, backend="tensorflow",
                                            gpunn_path=True)
    assert ours["spec"] == theirs["spec"] and ours["shapes"] == theirs["shapes"] == [[4, 6, 5, 3], [2, 6, 5, 3]]
    assert ours["varied_spec"] == theirs["varied_spec"]
    for key in ("plain", "kept", "varied"):
        for a, b in zip(ours[key], theirs[key]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
