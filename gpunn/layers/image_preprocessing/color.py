"""RandomContrast and RandomBrightness (Keras 3: ``image_preprocessing/random_contrast.py``,
``random_brightness.py``): in training, each image's contrast scaled about its per-channel mean, or a value
added to all its pixels, by an amount drawn per image; the result clipped to ``value_range``. The identity in
inference. The gradient passes where the clip did not bind."""
from __future__ import annotations

from ...autodiff import functions as f
from .base import ImagePreprocessingLayer


class _PerImageDraw(ImagePreprocessingLayer):
    _USE_BASE_FACTOR = True

    def keeps_integers(self, training: bool) -> bool:
        return not training  # (Keras's pass the images through then)

    def draws(self, images, minval, maxval):
        """One value per image, shaped to broadcast over it."""
        return f.cast(self.draw((images.shape[0], 1, 1, 1), minval, maxval), images.dtype)


class RandomContrast(_PerImageDraw):
    _FACTOR_BOUNDS = (0, 1)

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(factor=factor, **kwargs)
        self.value_range = value_range
        self.make_generator(seed)

    def transform_images(self, images, training: bool):
        if not training:
            return images
        contrast = self.draws(images, 1.0 - self.factor[0], 1.0 + self.factor[1])
        mean = f.mean(f.mean(images, axis=self.height_axis, keepdims=True), axis=self.width_axis, keepdims=True)
        return f.clip((images - mean) * contrast + mean, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range, "seed": self.seed}


class RandomBrightness(_PerImageDraw):
    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(factor=factor, **kwargs)
        if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
            raise ValueError("The `value_range` argument should be a list of two numbers. "
                             f"Received: value_range={value_range}")  # Keras's message
        self.value_range = sorted(value_range)
        self.make_generator(seed)

    def transform_images(self, images, training: bool):
        if not training:
            return images
        delta = self.draws(images, self.factor[0], self.factor[1]) * (self.value_range[1] - self.value_range[0])
        return f.clip(images + delta, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range, "seed": self.seed}
