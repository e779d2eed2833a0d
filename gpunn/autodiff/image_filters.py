"""``keras.ops.image.gaussian_blur`` (``gpunn.ops.image``): Keras's jax backend's blur, differentiable with respect to
the images as ``functions.py``'s functions are.

Keras convolves each channel with the same normalised Gaussian kernel (a depthwise convolution, "same" zero
padding). Without a convolution of its own here, the blur is the sum of the kernel's shifted slices of the padded
images, each times its weight: the same sums in another order (float rounding apart), whose gradient comes from
the slices and products, with no rule of its own. The kernel is a constant (no gradient to ``sigma``), computed in
the images' float dtype as Keras computes it.
"""
from __future__ import annotations

import numpy as np

from . import array_functions as a
from . import functions as f
from .image_functions import _array, _check_rank, _compute_dtype, _data_format


def _kernel_1d(size, sigma, dtype) -> np.ndarray:
    kind = dtype.type
    x = np.arange(size, dtype=dtype) - kind((size - 1) / 2)
    kernel = np.exp(kind(-0.5) * (x / kind(sigma)) ** 2)
    return kernel / np.sum(kernel)


def gaussian_kernel(kernel_size, sigma, dtype="float32") -> np.ndarray:
    """Keras's 2-D kernel, of shape (height, width): as Keras builds it, its rows come from ``kernel_size[1]`` and
    ``sigma[1]``, its columns from ``kernel_size[0]`` and ``sigma[0]`` (the same for the square kernels and equal
    sigmas mostly used)."""
    dtype = np.dtype(dtype)
    if not isinstance(sigma, (int, float)):
        sigma = _array(sigma)[1].tolist()  # a tensor (a layer's draws): its values, on the host
    sigma = (sigma, sigma) if isinstance(sigma, (int, float)) else tuple(sigma)
    return np.outer(_kernel_1d(kernel_size[1], sigma[1], dtype), _kernel_1d(kernel_size[0], sigma[0], dtype))


def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    """Each channel of the images (rank 3 or 4, channels last or first) blurred by the Gaussian kernel of
    ``kernel_size`` and ``sigma`` (each a pair), zeros beyond the edges; the output has the images' shape."""
    images = f.convert_to_tensor(images)
    shape = tuple(images.shape)
    _check_rank(shape)
    data_format = _data_format(data_format)
    dtype = _compute_dtype(np.dtype(images.dtype))
    if images.dtype != dtype:
        images = f.cast(images, dtype)
    kernel = gaussian_kernel(kernel_size, sigma, dtype)
    height_axis = len(shape) - (3 if data_format == "channels_last" else 2)
    axes = (height_axis, height_axis + 1)
    widths = [(0, 0)] * len(shape)
    for axis, size in zip(axes, kernel.shape):
        widths[axis] = ((size - 1) // 2, size - 1 - (size - 1) // 2)  # JAX's "SAME" padding
    padded = a.pad(images, widths)
    height, width = shape[axes[0]], shape[axes[1]]
    total = None
    for dy in range(kernel.shape[0]):
        for dx in range(kernel.shape[1]):
            key = [slice(None)] * len(shape)
            key[axes[0]], key[axes[1]] = slice(dy, dy + height), slice(dx, dx + width)
            term = f.get_item(padded, tuple(key)) * kernel[dy, dx]
            total = term if total is None else total + term
    return total
