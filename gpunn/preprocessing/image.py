"""``keras.preprocessing.image``: Keras 3's image file utilities under their tf.keras 2 names, and
``smart_resize``."""
from __future__ import annotations

import numpy as np

from ..autodiff import Tensor, image_functions
from ..layers.image_preprocessing.resizing import aspect_crop_box
from ..utils.image_files import array_to_img, img_to_array, load_img, save_img


def smart_resize(x, size, interpolation="bilinear", data_format="channels_last", **kwargs):
    """Keras's ``smart_resize``: the largest centred crop of an image (or a batch) with the aspect ratio of
    ``size`` (height, width), resized to ``size``; a NumPy array for a NumPy array (else gpunn's array)."""
    kwargs.pop("backend_module", None)
    if kwargs:
        raise TypeError(f"smart_resize() got unexpected keyword arguments: {list(kwargs.keys())}")  # Keras's message
    if len(size) != 2:
        raise ValueError(f"Expected `size` to be a tuple of 2 integers, but got: {size}.")
    images = np.asarray(x) if isinstance(x, (list, tuple)) else x
    shape = tuple(images.shape)
    if not 3 <= len(shape) <= 4:
        raise ValueError("Expected an image array with shape `(height, width, channels)`, or `(batch_size, height, "
                         f"width, channels)`, but got input with incorrect rank, of shape {shape}.")
    spatial = (-3, -2) if data_format == "channels_last" else (-2, -1)
    top, left, rows, columns = aspect_crop_box(shape[spatial[0]], shape[spatial[1]], int(size[0]), int(size[1]))
    index = [slice(None)] * len(shape)
    index[spatial[0]], index[spatial[1]] = slice(top, top + rows), slice(left, left + columns)
    resized = image_functions.resize(images[tuple(index)], size=tuple(size), interpolation=interpolation,
                                     data_format=data_format)
    if isinstance(images, np.ndarray):
        return resized.numpy()
    return resized if isinstance(images, Tensor) else resized.value


__all__ = ["array_to_img", "img_to_array", "load_img", "save_img", "smart_resize"]
