"""RandomContrast and RandomBrightness (Keras 3: ``image_preprocessing/random_contrast.py``,
``random_brightness.py``): in training, each image's contrast scaled about its per-channel mean, or a value
added to all its pixels, by an amount drawn per image; the result clipped to ``value_range``. The identity in
inference. The gradient passes where the clip did not bind."""
from __future__ import annotations

from ...autodiff import functions as f
from .base import ImagePreprocessingLayer


def per_image(draw, images, minval, maxval):
    """One value per image from ``draw`` (a layer's ``draw``), shaped to broadcast over it."""
    return f.cast(draw((images.shape[0], 1, 1, 1), minval, maxval), images.dtype)


def adjust_contrast(layer, images, draw, factor, value_range):
    """RandomContrast's computation (also RandomColorJitter's contrast step)."""
    contrast = per_image(draw, images, 1.0 - factor[0], 1.0 + factor[1])
    mean = f.mean(f.mean(images, axis=layer.height_axis, keepdims=True), axis=layer.width_axis, keepdims=True)
    return f.clip((images - mean) * contrast + mean, value_range[0], value_range[1])


def adjust_brightness(images, draw, factor, value_range):
    """RandomBrightness's computation (``value_range`` sorted; also RandomColorJitter's brightness step)."""
    delta = per_image(draw, images, factor[0], factor[1]) * (value_range[1] - value_range[0])
    return f.clip(images + delta, value_range[0], value_range[1])


def sorted_value_range(value_range) -> list:
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
        raise ValueError("The `value_range` argument should be a list of two numbers. "
                         f"Received: value_range={value_range}")  # Keras's message
    return sorted(value_range)


class PerImageDraw(ImagePreprocessingLayer):
    """A colour layer: ``adjust(images, draw)`` in training, the identity in inference."""

    _USE_BASE_FACTOR = True

    def keeps_integers(self, training: bool) -> bool:
        return not training  # (Keras's pass the images through then)

    def transform_images(self, images, training: bool):
        if not training or self.in_trial():  # (a trial learns the output shape: the images', in either mode)
            self.inference_draws(images.shape[0])
            return images
        return self.adjust(images, self.draw)

    def adjust(self, images, draw):
        raise NotImplementedError

    def inference_draws(self, rows: int) -> None:
        """The draws Keras's layer makes in inference too (none for most), so that the stream advances alike."""


class RandomContrast(PerImageDraw):
    _FACTOR_BOUNDS = (0, 1)

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(factor=factor, **kwargs)
        self.value_range = value_range
        self.make_generator(seed)

    def adjust(self, images, draw):
        return adjust_contrast(self, images, draw, self.factor, self.value_range)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range, "seed": self.seed}


class RandomBrightness(PerImageDraw):
    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(factor=factor, **kwargs)
        self.value_range = sorted_value_range(value_range)
        self.make_generator(seed)

    def adjust(self, images, draw):
        return adjust_brightness(images, draw, self.factor, self.value_range)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range, "seed": self.seed}
