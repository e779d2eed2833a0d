"""Keras's image file utilities (``keras.utils.load_img``, ``img_to_array``, ``array_to_img``, ``save_img``;
Keras 3's ``keras/src/utils/image_utils.py``): images read and written through Pillow (``pip install pillow``) and
turned into NumPy arrays (height, width, channels), float32 by default, and back. Their arguments, defaults,
resampling and messages are Keras's, so ``img_to_array(load_img(path, target_size=(28, 28)))`` gives the array
Keras gives."""
from __future__ import annotations

import io
import os
import pathlib
import warnings

import numpy as np

from .. import _compat
from ..config import floatx
from ..config import standardize_data_format

# Keras's names of Pillow's resampling filters (load_img's ``interpolation``)
_RESAMPLING = {"nearest": "NEAREST", "bilinear": "BILINEAR", "bicubic": "BICUBIC", "hamming": "HAMMING",
               "box": "BOX", "lanczos": "LANCZOS"}
COLOR_MODES = {"grayscale": ("L", "I;16", "I"), "rgb": ("RGB",), "rgba": ("RGBA",)}


def _pil(function: str):
    image = _compat.pil_image()
    if image is None:
        raise ImportError(f"Could not import PIL.Image. The use of `{function}` requires PIL.")  # Keras's message
    return image


def _resampling(image, interpolation: str):
    if interpolation not in _RESAMPLING:
        raise ValueError(f"Invalid interpolation method {interpolation} specified. Supported methods are "
                         f"{', '.join(_RESAMPLING)}")  # Keras's message
    return getattr(getattr(image, "Resampling", image), _RESAMPLING[interpolation])


def open_image(path, function: str):
    """A Pillow image of ``path`` (a path, ``bytes`` path or ``io.BytesIO``), its file read and closed."""
    image = _pil(function)
    if isinstance(path, io.BytesIO):
        return image.open(path)
    if isinstance(path, (pathlib.Path, bytes, str)):
        with open(os.fspath(path), "rb") as handle:
            return image.open(io.BytesIO(handle.read()))
    raise TypeError(f"path should be path-like or io.BytesIO, not {type(path)}")  # Keras's message


def in_color_mode(img, color_mode: str):
    """``img`` converted to "L" (grayscale: 16- and 32-bit greyscale kept), "RGB" or "RGBA", as Keras does."""
    if color_mode not in COLOR_MODES:
        raise ValueError('color_mode must be "grayscale", "rgb", or "rgba"')  # Keras's message
    kept = COLOR_MODES[color_mode]
    return img if img.mode in kept else img.convert(kept[0])


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False):
    """A Pillow image from a file, in ``color_mode``, resized to ``target_size`` (height, width) by Pillow's
    ``interpolation`` filter; with ``keep_aspect_ratio`` the largest centred crop of the target's aspect ratio is
    what is resized."""
    img = in_color_mode(open_image(path, "load_img"), color_mode)
    if target_size is None:
        return img
    target = (int(target_size[1]), int(target_size[0]))  # Pillow's (width, height)
    if img.size == target:
        return img
    resample = _resampling(_pil("load_img"), interpolation)
    if not keep_aspect_ratio:
        return img.resize(target, resample)
    width, height = img.size
    crop_height = min(height, (width * target[1]) // target[0])
    crop_width = min(width, (height * target[0]) // target[1])
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    return img.resize(target, resample, box=[left, top, left + crop_width, top + crop_height])


def img_to_array(img, data_format=None, dtype=None):
    """A Pillow image (or anything NumPy reads) as a 3-D array in ``dtype`` (floatx by default): (height, width,
    channels), or channels first; a greyscale image gets its channel axis."""
    data_format = standardize_data_format(data_format)
    x = np.asarray(img, dtype=dtype or floatx())
    if x.ndim == 2:
        return x[None] if data_format == "channels_first" else x[:, :, None]
    if x.ndim != 3:
        raise ValueError(f"Unsupported image shape: {x.shape}")  # Keras's message
    return x.transpose(2, 0, 1) if data_format == "channels_first" else x


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A 3-D array as a Pillow image ("RGBA", "RGB" or "L", or 32-bit "I" for one channel above 255); with
    ``scale`` its values are first stretched to [0, 255]."""
    data_format = standardize_data_format(data_format)
    image = _pil("array_to_img")
    x = np.asarray(x, dtype=dtype or floatx())
    if x.ndim != 3:
        raise ValueError(f"Expected image array to have rank 3 (single image). Got array with shape: {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        top = np.max(x)
        if top != 0:
            x /= top
        x *= 255
    channels = x.shape[2]
    if channels in (3, 4):
        return image.fromarray(x.astype("uint8"), "RGBA" if channels == 4 else "RGB")
    if channels == 1:
        if np.max(x) > 255:
            return image.fromarray(x[:, :, 0].astype("int32"), "I")
        return image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"Unsupported channel number: {channels}")  # Keras's message


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """``array_to_img(x)`` written to ``path`` in ``file_format`` (by default the path's extension; "jpg" is
    JPEG, which takes no alpha channel: an RGBA image is written as RGB, with Keras's warning)."""
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower()
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("The JPEG format does not support RGBA images, converting to RGB.", stacklevel=2)
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)
