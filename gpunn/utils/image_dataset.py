"""``keras.utils.image_dataset_from_directory``: the image files of a directory (``.bmp``, ``.gif``, ``.jpeg``,
``.jpg``, ``.png``) as batches of (images, labels), a class per subdirectory, each image resized to
``image_size`` (float32, (height, width, channels) or channels first).

Followed: keras/src/utils/image_dataset_utils.py. Where the script has imported TensorFlow (and Keras 3 can be
imported beside it), the result is Keras's own ``tf.data.Dataset`` (Keras's function is called: its decoding and
TensorFlow's resizing). Elsewhere it is a ``PyDataset`` of NumPy batches made as Keras's TensorFlow-free "grain"
format makes them: the same files in the same order, splits and labels (``directory_index.py``), each image read
by Pillow in ``color_mode`` and resized by ``gpunn.ops.image.resize`` (Keras's ``ops.image.resize`` with the same
interpolation and aspect-ratio options), shuffled anew at each epoch from the whole set. TensorFlow is looked up,
never imported.
"""
from __future__ import annotations

import functools
import os
import sys

import numpy as np

from .. import _compat
from ..autodiff import image_functions, image_sampling
from ..config import standardize_data_format
from .directory_index import FileBatches, check_labels, check_split, index_directory, subsets
from .image_files import in_color_mode, open_image

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
CHANNELS = {"rgb": 3, "rgba": 4, "grayscale": 1}
INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic")


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, color_mode="rgb",
                                 batch_size=32, image_size=(256, 256), shuffle=True, seed=None, validation_split=None,
                                 subset=None, interpolation="bilinear", follow_links=False, crop_to_aspect_ratio=False,
                                 pad_to_aspect_ratio=False, data_format=None, format="tf", verbose=True):
    """See the module docstring; the arguments are Keras's. ``subset="both"`` gives [training, validation]."""
    check_labels(labels, label_mode, class_names, "image")
    if color_mode not in CHANNELS:
        raise ValueError('`color_mode` must be one of {"rgb", "rgba", "grayscale"}. '
                         f"Received: color_mode={color_mode}")  # Keras's message
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    elif not isinstance(image_size, (list, tuple)) or len(image_size) != 2:
        raise ValueError(f"Invalid `image_size` value. Expected a tuple of 2 integers. Received: "
                         f"image_size={image_size}")
    interpolation = str(interpolation).lower()
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"Argument `interpolation` should be one of {INTERPOLATIONS}. Received: "
                         f"interpolation={interpolation}")
    if format not in ("tf", "grain"):
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')
    if pad_to_aspect_ratio and crop_to_aspect_ratio:
        raise ValueError("Only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` can be set to `True`.")
    check_split(validation_split, subset, shuffle, seed)
    if not os.path.isdir(directory):
        raise ValueError(f"directory: {directory!r} is not a directory")
    data_format = standardize_data_format(data_format)
    arguments = dict(labels=labels, label_mode=label_mode, class_names=class_names, color_mode=color_mode,
                     batch_size=batch_size, image_size=image_size, shuffle=shuffle, seed=seed,
                     validation_split=validation_split, subset=subset, interpolation=interpolation,
                     follow_links=follow_links, crop_to_aspect_ratio=crop_to_aspect_ratio,
                     pad_to_aspect_ratio=pad_to_aspect_ratio, data_format=data_format, format=format,
                     verbose=verbose)
    keras_own = _compat.keras_utility("image_dataset_from_directory") if (
        "tensorflow" in sys.modules and format == "tf") else None
    if keras_own is not None:
        return keras_own(directory, **arguments)
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    if seed is None:
        seed = np.random.randint(1e6)
    if interpolation not in image_sampling.RESIZE_INTERPOLATIONS:
        raise ValueError(f"interpolation: {interpolation!r} resizes images in TensorFlow only; without it, gpunn "
                         f"resizes with one of {image_sampling.RESIZE_INTERPOLATIONS}")
    file_paths, labels, class_names = index_directory(os.fspath(directory), labels, ALLOWLIST_FORMATS, class_names,
                                                      shuffle, seed, follow_links, verbose)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(f"label_mode: 'binary' needs exactly 2 classes, got class_names={class_names}")
    options = dict(label_mode=label_mode, num_classes=len(class_names) if class_names else 0, batch_size=batch_size,
                   color_mode=color_mode, image_size=tuple(int(n) for n in image_size), interpolation=interpolation,
                   crop_to_aspect_ratio=crop_to_aspect_ratio, pad_to_aspect_ratio=pad_to_aspect_ratio,
                   data_format=data_format)
    return subsets(functools.partial(ImageFiles, **options), file_paths, labels, class_names, validation_split, subset,
                   shuffle, seed, lambda part: f"No {part}images found in directory {directory}. Allowed formats: "
                                               f"{ALLOWLIST_FORMATS}")


class ImageFiles(FileBatches):
    """The files' images, read by Pillow and resized as Keras's "grain" format does, and their labels."""

    def __init__(self, paths, labels, label_mode, num_classes, batch_size, shuffle, seed, color_mode, image_size,
                 interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio, data_format):
        super().__init__(paths, labels, label_mode, num_classes, batch_size, shuffle, seed)
        self.color_mode, self.image_size, self.interpolation = color_mode, image_size, interpolation
        self.crop_to_aspect_ratio, self.pad_to_aspect_ratio = crop_to_aspect_ratio, pad_to_aspect_ratio
        self.data_format = data_format

    def load(self, path: str) -> np.ndarray:
        img = np.asarray(in_color_mode(open_image(path, "load_img"), self.color_mode), dtype=np.float32)
        if img.ndim == 2:
            img = img[:, :, None]
        if self.data_format == "channels_first":
            img = img.transpose(2, 0, 1)
        resized = image_functions.resize(img, size=self.image_size, interpolation=self.interpolation,
                                         crop_to_aspect_ratio=self.crop_to_aspect_ratio,
                                         pad_to_aspect_ratio=self.pad_to_aspect_ratio, data_format=self.data_format)
        return np.asarray(resized.numpy(), dtype=np.float32)

    def stack(self, values: list) -> np.ndarray:
        return np.stack(values)
