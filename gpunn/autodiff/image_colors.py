"""``keras.ops.image``'s colour-space conversions, ``rgb_to_hsv`` and ``hsv_to_rgb`` (``gpunn.ops.image``):
Keras's jax backend's formulas (after dm_pix), on float images (channels last or first, one image or a batch),
written with ``functions.py``'s differentiable functions, so each has its gradient with no rule of its own."""
from __future__ import annotations

import numpy as np

from . import array_functions as a
from . import elementwise_functions as e
from . import functions as f
from .image_functions import _check_rank, _data_format


def _checked(images, data_format):
    """Float images (rank 3 or 4) as a Tensor, and their channel axis (Keras's checks and messages)."""
    images = f.convert_to_tensor(images)
    _check_rank(tuple(images.shape))
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"Invalid images dtype: expected float dtype. Received: images.dtype={images.dtype.name}")
    return images, -1 if _data_format(data_format) == "channels_last" else -3


def _planes(images, axis: int) -> list:
    return [f.squeeze(plane, axis) for plane in a.split(images, 3, axis)]


def rgb_to_hsv(images, data_format=None):
    """RGB images to hue, saturation and value, each in [0, 1] for images in [0, 1]."""
    images, axis = _checked(images, data_format)
    eps = np.finfo(images.dtype).eps
    images = f.where(f.less(f.abs(images), eps), f.zeros_like(images), images)
    red, green, blue = _planes(images, axis)
    value = f.maximum(f.maximum(red, green), blue)
    range_ = value - f.minimum(f.minimum(red, green), blue)
    ones = f.ones_like(value)
    safe_value = f.where(f.greater(value, 0), value, ones)
    safe_range = f.where(f.greater(range_, 0), range_, ones)
    saturation = f.where(f.greater(value, 0), range_ / safe_value, f.zeros_like(value))
    norm = 1.0 / (6.0 * safe_range)
    hue = f.where(f.equal(value, green), norm * (blue - red) + 2.0 / 6.0, norm * (red - green) + 4.0 / 6.0)
    hue = f.where(f.equal(value, red), norm * (green - blue), hue)
    hue = f.where(f.greater(range_, 0), hue, f.zeros_like(hue)) + f.cast(f.less(hue, 0.0), hue.dtype)
    return f.stack([hue, saturation, value], axis=axis)


def hsv_to_rgb(images, data_format=None):
    """Hue, saturation and value images back to RGB."""
    images, axis = _checked(images, data_format)
    hue, saturation, value = _planes(images, axis)
    dh = e.mod(hue, 1.0) * 6.0
    dr = f.clip(f.abs(dh - 3.0) - 1.0, 0.0, 1.0)
    dg = f.clip(2.0 - f.abs(dh - 2.0), 0.0, 1.0)
    db = f.clip(2.0 - f.abs(dh - 4.0), 0.0, 1.0)
    one_minus_s = 1.0 - saturation
    planes = [value * (one_minus_s + saturation * d) for d in (dr, dg, db)]
    return f.stack(planes, axis=axis)
