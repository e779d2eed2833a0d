"""Equalization (``gpunn/layers/image_preprocessing/equalization.py``): Keras's images (Keras itself in a child),
configs and modes; a model of it trains eagerly and replayed alike."""
from __future__ import annotations

import json

import numpy as np

import gpunn
from gpunn import layers
from helpers import numpy_backend, run_keras  # noqa: F401

KERAS_SIDE = r'''
import json, sys
import numpy as np
import keras
out = []
for case in json.loads(sys.stdin.read()):
    layer = keras.layers.Equalization(**case["kwargs"])
    x = np.asarray(case["x"], "float32")
    out.append({"training": np.asarray(layer(x, training=True)).tolist(),
                "config": {k: v for k, v in layer.get_config().items() if k not in ("name", "dtype", "trainable")}})
print(json.dumps(out))
'''

CASES = [({}, (3, 6, 7, 3), 255.0), ({"bins": 16}, (2, 5, 4, 3), 255.0), ({"value_range": (0, 1)}, (2, 5, 6, 3), 1.0),
         ({"data_format": "channels_first"}, (2, 3, 6, 7), 255.0), ({"value_range": (-1, 1), "bins": 32}, (4, 4, 4, 1),
                                                                     1.0)]


def test_equalization_is_kerass(numpy_backend):
    rng = np.random.default_rng(0)
    tasks = []
    for kwargs, shape, scale in CASES:
        x = rng.beta(2, 5, shape) * scale
        tasks.append({"kwargs": kwargs, "x": x.tolist()})
    tasks.append({"kwargs": {}, "x": np.full((2, 4, 4, 3), 7.0).tolist()})  # one bin: left as it is
    theirs = run_keras(KERAS_SIDE, tasks)
    for task, expected in zip(tasks, theirs):
        layer = layers.Equalization(**task["kwargs"])
        x = np.asarray(task["x"], np.float32)
        np.testing.assert_allclose(np.asarray(layer(x, training=True)), expected["training"], rtol=1e-6, atol=1e-5)
        np.testing.assert_array_equal(layer(x, training=False), x)
        config = {k: v for k, v in layer.get_config().items() if k not in ("name", "dtype", "trainable")}
        assert json.loads(json.dumps(config)) == json.loads(json.dumps(expected["config"]))
    images = np.random.default_rng(1).integers(0, 256, (2, 4, 5, 3)).astype(np.uint8)
    assert np.asarray(layers.Equalization()(images)).dtype == np.float32
    assert np.asarray(layers.Equalization()(images, training=False)).dtype == np.uint8  # passed through


def test_a_model_with_it_trains_and_replays_alike(numpy_backend):
    rng = np.random.default_rng(2)
    x, y = rng.uniform(0, 255, (12, 5, 6, 3)).astype(np.float32), rng.integers(0, 2, 12)
    runs = []
    for jit in (False, True):
        gpunn.utils.set_random_seed(0)
        model = gpunn.Sequential([gpunn.Input((5, 6, 3)), layers.Equalization(), layers.Rescaling(1 / 255),
                                  layers.Flatten(), layers.Dense(2)])
        model.compile(optimizer="adam", loss=gpunn.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=jit)
        runs.append((model.fit(x, y, batch_size=4, epochs=2, verbose=0).history["loss"], model.get_weights()))
    assert runs[0][0] == runs[1][0] and np.all(np.isfinite(runs[0][0]))
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)
