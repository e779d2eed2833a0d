"""Resizing and CenterCrop (Keras 3: ``image_preprocessing/resizing.py``, ``center_crop.py``): images made
(height, width) in training and inference alike, by ``gpunn.ops.image.resize`` or a centred crop."""
from __future__ import annotations

from ...autodiff import image_functions as image
from .base import ImagePreprocessingLayer


def check_size(layer: str, height, width) -> tuple[int, int]:
    for argument, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{argument}: {layer} expected a positive integer, got {value!r}")
    return height, width


class _Sized(ImagePreprocessingLayer):
    """A layer whose output images are ``height`` x ``width``."""

    def output_sample_shape(self, input_shape):
        shape = list(input_shape)
        shape[self.height_axis], shape[self.width_axis] = self.height, self.width
        return tuple(shape)


class Resizing(_Sized):
    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False, pad_to_aspect_ratio=False,
                 fill_mode="constant", fill_value=0.0, antialias=False, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.height, self.width = check_size("Resizing", height, width)
        self.interpolation = interpolation
        self.crop_to_aspect_ratio, self.pad_to_aspect_ratio = crop_to_aspect_ratio, pad_to_aspect_ratio
        self.fill_mode, self.fill_value, self.antialias = fill_mode, fill_value, bool(antialias)

    def keeps_integers(self, training: bool) -> bool:
        return True

    def transform_images(self, images, training: bool):
        return image.resize(images, size=(self.height, self.width), interpolation=self.interpolation,
                            antialias=self.antialias, crop_to_aspect_ratio=self.crop_to_aspect_ratio,
                            pad_to_aspect_ratio=self.pad_to_aspect_ratio, fill_mode=self.fill_mode,
                            fill_value=self.fill_value, data_format=self.data_format)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation, "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "antialias": self.antialias}


def aspect_crop_box(image_height: int, image_width: int, height: int, width: int) -> tuple[int, int, int, int]:
    """(top, left, rows, columns) of the largest centred crop of an image with the aspect ratio of height x width
    (Keras's ``smart_resize``, and RandomCrop's box where it cannot crop)."""
    rows = max(min(image_height, int(float(image_width * height) / width)), 1)
    columns = max(min(image_width, int(float(image_height * width) / height)), 1)
    return int(float(image_height - rows) / 2), int(float(image_width - columns) / 2), rows, columns


def smart_resize(layer: ImagePreprocessingLayer, images, height: int, width: int):
    """Keras's ``smart_resize``: the largest centred crop of the target's aspect ratio, resized (bilinear)."""
    box = aspect_crop_box(*layer.image_size(images.shape), height, width)
    return image.resize(crop(layer, images, *box), size=(height, width), data_format=layer.data_format)


def center_crop(layer: ImagePreprocessingLayer, images, height: int, width: int):
    """The centred (height, width) crop of ``images``; images smaller than that along either side are cropped to
    its aspect ratio and resized to it instead (Keras's CenterCrop)."""
    image_height, image_width = layer.image_size(images.shape)
    if image_height < height or image_width < width:
        return smart_resize(layer, images, height, width)
    return crop(layer, images, (image_height - height) // 2, (image_width - width) // 2, height, width)


def crop(layer: ImagePreprocessingLayer, images, top: int, left: int, height: int, width: int):
    index = [slice(None)] * 4
    index[layer.height_axis] = slice(top, top + height)
    index[layer.width_axis] = slice(left, left + width)
    return images[tuple(index)]


class CenterCrop(_Sized):
    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.height, self.width = check_size("CenterCrop", height, width)

    def transform_images(self, images, training: bool):
        return center_crop(self, images, self.height, self.width)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}
