"""RandomFlip (Keras 3: ``image_preprocessing/random_flip.py``): in training, each image flipped left-right
("horizontal"), top-bottom ("vertical") or both ("horizontal_and_vertical", the default) with probability 1/2.
As Keras's, one draw per image decides: in "horizontal_and_vertical" an image is flipped both ways or not at all.
The gradient flips back where the image was flipped."""
from __future__ import annotations

from ...autodiff import array_functions as a
from ...autodiff import functions as f
from .base import ImagePreprocessingLayer

MODES = ("horizontal", "vertical", "horizontal_and_vertical")


class RandomFlip(ImagePreprocessingLayer):
    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        if mode not in MODES:  # (Keras flips nothing for another mode, without a word)
            raise ValueError(f"mode: RandomFlip expected one of {MODES}, got {mode!r}")
        self.mode = mode
        self.make_generator(seed)

    def transform_images(self, images, training: bool):
        if not training:
            return images
        flips = f.less_equal(self.draw((images.shape[0], 1, 1, 1), 0.0, 1.0), 0.5)
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            images = f.where(flips, a.flip(images, axis=self.width_axis), images)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            images = f.where(flips, a.flip(images, axis=self.height_axis), images)
        return images

    def get_config(self):
        return {**super().get_config(), "seed": self.seed, "mode": self.mode}
