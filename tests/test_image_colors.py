"""``gpunn.ops.image.rgb_to_hsv`` / ``hsv_to_rgb``: Keras's values (its jax backend, in a child), round trips,
gradients equal to float64 central differences, and Keras's checks."""
from __future__ import annotations

import numpy as np
import pytest

from gpunn.autodiff import Tensor, gradients
from gpunn.ops import image
from helpers import run_keras

KERAS_SIDE = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
out = []
for case in task:
    x = np.asarray(case["x"], case["dtype"])
    hsv = keras.ops.image.rgb_to_hsv(x, data_format=case["data_format"])
    out.append([np.asarray(hsv).tolist(),
                np.asarray(keras.ops.image.hsv_to_rgb(hsv, data_format=case["data_format"])).tolist()])
print(json.dumps(out))
'''


def _images(seed: int, shape) -> np.ndarray:
    x = np.random.default_rng(seed).uniform(0, 1, shape).astype(np.float32)
    flat = x.reshape(-1, 3) if shape[-1] == 3 else None
    if flat is not None:  # greys, black, and ties between the largest channels (the hue's branches)
        flat[:4] = [[0.5, 0.5, 0.5], [0.0, 0.0, 0.0], [0.2, 0.9, 0.9], [0.9, 0.9, 0.1]]
    return x


CASES = [((2, 4, 5, 3), "channels_last"), ((4, 5, 3), "channels_last"), ((2, 3, 4, 5), "channels_first")]


def test_values_are_kerass_and_convert_back():
    tasks = [{"x": _images(k, shape).tolist(), "dtype": "float32", "data_format": df}
             for k, (shape, df) in enumerate(CASES)]
    theirs = run_keras(KERAS_SIDE, tasks)
    for task, (hsv, rgb) in zip(tasks, theirs):
        x = np.asarray(task["x"], np.float32)
        ours = image.rgb_to_hsv(x, data_format=task["data_format"]).numpy()
        np.testing.assert_allclose(ours, hsv, rtol=1e-6, atol=1e-7)
        back = image.hsv_to_rgb(ours, data_format=task["data_format"]).numpy()
        np.testing.assert_allclose(back, rgb, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(back, x, atol=1e-5)
        assert ours.dtype == np.float32


@pytest.mark.parametrize("name", ["rgb_to_hsv", "hsv_to_rgb"])
def test_gradients_equal_finite_differences(name):
    rng = np.random.default_rng(3)
    x = rng.uniform(0.05, 0.95, (2, 3, 4, 3))  # (away from the kinks: ties and the hue's wrap)
    if name == "hsv_to_rgb":
        x[..., 0] = rng.uniform(0.02, 0.15, x.shape[:-1])  # one hue sector, away from its edges
    weights = rng.normal(size=x.shape)
    function = getattr(image, name)

    def objective(values):
        return float((function(values).numpy() * weights).sum())

    tensor = Tensor(x.copy(), requires_grad=True)
    (analytic,) = gradients(function(tensor), [tensor], weights)  # d sum(weights * f(x)) / dx
    numeric = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[index] = 1e-6
        numeric[index] = (objective(x + step) - objective(x - step)) / 2e-6
    np.testing.assert_allclose(np.asarray(analytic), numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("images, message", [
    (np.zeros((4, 3), np.float32), "Invalid images rank"),
    (np.zeros((2, 4, 4, 3), np.int32), "Invalid images dtype: expected float dtype"),
])
def test_keras_checks(images, message):
    for function in (image.rgb_to_hsv, image.hsv_to_rgb):
        with pytest.raises(ValueError, match=message):
            function(images)
