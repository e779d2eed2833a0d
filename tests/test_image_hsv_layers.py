"""RandomSaturation, RandomHue and RandomColorJitter (``gpunn/layers/image_preprocessing/hsv.py``): Keras's images
on the same draws (Keras itself in a child, its uniform draws and gpunn's replaced by the same numbers), Keras's
configs and checks, the identity in inference, and a model of them trained eagerly and replayed alike."""
from __future__ import annotations

import json

import numpy as np
import pytest

import gpunn
from gpunn import layers
from helpers import numpy_backend, run_keras  # noqa: F401

CASES = [
    ("RandomSaturation", {"factor": 0.5}, (3, 4, 5, 3)),
    ("RandomSaturation", {"factor": (0.2, 0.9), "value_range": (0, 1)}, (3, 4, 5, 3)),
    ("RandomSaturation", {"factor": (-0.6, 0.3), "data_format": "channels_first"}, (3, 3, 4, 5)),
    ("RandomHue", {"factor": 0.4}, (3, 4, 5, 3)),
    ("RandomHue", {"factor": (0.1, 0.9), "value_range": (0, 1), "data_format": "channels_first"}, (3, 3, 4, 5)),
    ("RandomColorJitter", {"brightness_factor": 0.2, "contrast_factor": 0.3, "saturation_factor": 0.5,
                           "hue_factor": 0.3}, (3, 4, 5, 3)),
    ("RandomColorJitter", {"value_range": (0, 1), "hue_factor": (0.2, 0.6)}, (3, 4, 5, 3)),
    ("RandomColorJitter", {"contrast_factor": (0.1, 0.5), "saturation_factor": 0.2}, (3, 4, 5, 3)),
]

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
        return jnp.asarray(minval + draws.pop(0).reshape(shape) * (maxval - minval), dtype or "float32")

    jax_random.uniform = uniform
    layer = getattr(keras.layers, case["name"])(**case["kwargs"])
    x = np.asarray(case["x"], "float32")
    results.append({"out": np.asarray(layer(x, training=True)).tolist(), "config": {
        k: v for k, v in layer.get_config().items() if k not in ("name", "dtype", "seed", "trainable")}})
print(json.dumps(results))
'''


def _task(k: int, case) -> dict:
    name, kwargs, shape = case
    rng = np.random.default_rng(k)
    scale = 1.0 if kwargs.get("value_range") == (0, 1) else 255.0
    return {"name": name, "kwargs": kwargs, "x": (rng.uniform(0, 1, shape) * scale).tolist(),
            "draws": [rng.uniform(0, 1, shape[0]).tolist() for _ in range(6)]}


@pytest.fixture(scope="module")
def keras_results():
    tasks = [_task(k, case) for k, case in enumerate(CASES)]
    return tasks, run_keras(KERAS_SIDE, tasks)


@pytest.mark.parametrize("k", range(len(CASES)), ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_layer_equals_keras_on_the_same_draws(numpy_backend, keras_results, k):
    tasks, theirs = keras_results
    task = tasks[k]
    draws = [np.asarray(u, np.float32) for u in task["draws"]]
    layer = getattr(layers, task["name"])(**task["kwargs"])
    layer.uniform = lambda shape, low, high: gpunn.autodiff.Tensor(
        np.float32(low) + draws.pop(0).reshape(shape) * np.float32(high - low))
    images = np.asarray(task["x"], np.float32)
    scale = 1.0 if task["kwargs"].get("value_range") == (0, 1) else 255.0
    np.testing.assert_allclose(np.asarray(layer(images, training=True)), theirs[k]["out"], atol=1e-5 * scale)
    config = {k: v for k, v in layer.get_config().items() if k not in ("name", "dtype", "seed", "trainable")}
    assert json.loads(json.dumps(config)) == json.loads(json.dumps(theirs[k]["config"]))
    np.testing.assert_array_equal(layer(images, training=False), images)


def test_a_model_of_them_replays_as_it_runs_eagerly(numpy_backend):
    rng = np.random.default_rng(4)
    x, y = rng.uniform(0, 255, (16, 5, 6, 3)).astype(np.float32), rng.integers(0, 2, 16)
    runs = []
    for jit in (False, True):
        gpunn.utils.set_random_seed(3)
        model = gpunn.Sequential([gpunn.Input((5, 6, 3)), layers.RandomColorJitter(
            brightness_factor=0.1, contrast_factor=0.2, saturation_factor=0.3, hue_factor=0.1),
            layers.Rescaling(1 / 255), layers.Flatten(), layers.Dense(2)])
        model.compile(optimizer="adam", loss=gpunn.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=jit)
        runs.append((model.fit(x, y, batch_size=8, epochs=2, verbose=0).history["loss"], model.get_weights()))
    assert runs[0][0] == runs[1][0] and np.all(np.isfinite(runs[0][0]))
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make, message", [
    (lambda: layers.RandomSaturation(1.5), r"in the range \[-1, 1\]"),
    (lambda: layers.RandomSaturation(0.2, value_range=3), "value_range"),
    (lambda: layers.RandomHue(-0.2), r"in the range \[0, 1\]"),
    (lambda: layers.RandomColorJitter(hue_factor=2.0), r"in the range \[0, 1\]"),
    (lambda: layers.RandomColorJitter(brightness_factor=0.1, value_range=[1]), "value_range"),
])
def test_bad_arguments_are_refused_as_keras_refuses_them(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_one_channel_images_pass_in_inference_and_inference_draws_as_kerass(numpy_backend):
    """As Keras's: in inference the images come back as they are, whatever their channels (one, here), and
    RandomSaturation and RandomHue still make their draws (one, two), RandomColorJitter none."""
    grey = np.random.default_rng(0).uniform(0, 255, (2, 5, 6, 1)).astype(np.float32)
    for layer, expected in ((layers.RandomSaturation(0.3), 1), (layers.RandomHue(0.3), 2),
                            (layers.RandomColorJitter(hue_factor=0.2, saturation_factor=0.2), 0)):
        calls = []
        real = layer.uniform
        layer.uniform = lambda shape, low, high, real=real, calls=calls: calls.append(shape) or real(shape, low, high)
        np.testing.assert_array_equal(layer(grey, training=False), grey)
        assert calls == [(2,)] * expected, type(layer).__name__
