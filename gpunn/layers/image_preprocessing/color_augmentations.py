"""RandomGrayscale, RandomInvert, Solarization, RandomPosterization, RandomColorDegeneration and RandomSharpness
(Keras 3: ``image_preprocessing/random_grayscale.py``, ``random_invert.py``, ``solarization.py``,
``random_posterization.py``, ``random_color_degeneration.py``, ``random_sharpness.py``): in training, each image's
pixel values changed by an amount, or with a probability, drawn per image; the identity in inference (where
RandomGrayscale, RandomPosterization, RandomColorDegeneration and RandomSharpness draw all the same, as Keras's do,
so that their streams advance alike).

Their draws, arguments, checks, configs and values are Keras's, quirks included: RandomColorDegeneration's factor
x is (-x, x) (a negative factor saturates colours), Solarization's addition and threshold draws lie in
[low, high * 255) (the low end not scaled), RandomPosterization's drawn bit counts lie in [low, high) (the high
one never drawn), RandomGrayscale writes no seed in its config. What differs:

- RandomPosterization draws its bit counts as the floor of a uniform draw in [low, high) where Keras calls
  ``random.randint(low, high)``: the same distribution (each integer alike), from the layer's uniform stream.
- RandomSharpness blurs with a sum of the 3x3 kernel's shifted slices of the zero-padded images, where Keras calls
  a depthwise convolution: the same sums, in another order (float rounding apart).

Gradients pass as in Keras: through the where, clip and blend of each (not through RandomPosterization, whose
bit shifts are on integers)."""
from __future__ import annotations

import numpy as np

from ...autodiff import Tensor, array_module
from ...autodiff import array_functions as a
from ...autodiff import functions as f
from ...autodiff import image_functions as image
from .base import ImagePreprocessingLayer, checked_pair
from .color import sorted_value_range

def transform_value_range(images, original, target):
    """Keras's ``_transform_value_range``: images of the ``original`` range mapped linearly onto ``target`` (the
    bounds in the images' dtype, as Keras casts them)."""
    if original[0] == target[0] and original[1] == target[1]:
        return images
    kind = np.dtype(images.dtype).type
    images = (images - kind(original[0])) / (kind(original[1]) - kind(original[0]))
    return images * (kind(target[1]) - kind(target[0])) + kind(target[0])


class _ColorLayer(ImagePreprocessingLayer):
    def keeps_integers(self, training: bool) -> bool:
        return not training  # (Keras's pass the images through then, as they came)

    def draws(self, images, minval, maxval, shape=None):
        """One value per image (shaped to broadcast over it), in the images' dtype."""
        shape = (images.shape[0], 1, 1, 1) if shape is None else shape
        return f.cast(self.draw(shape, minval, maxval), images.dtype)


class RandomGrayscale(_ColorLayer):
    """Each image made grey (its luma in every channel, ``gpunn.ops.image.rgb_to_grayscale``) with probability
    ``factor``; the images need 3 channels (or 1: left as they are)."""

    def __init__(self, factor=0.5, data_format=None, seed=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        if factor < 0 or factor > 1:
            raise ValueError(f"`factor` should be between 0 and 1. Received: factor={factor}")  # Keras's message
        self.factor = factor
        self.make_generator(seed)
        self._integer_images = None

    def keeps_integers(self, training: bool) -> bool:
        return True  # Keras's gives integer images back in their type in training too

    def __call__(self, inputs=None, *more, **keywords):
        # Keras computes integer images' luma in float32 and truncates it back to their dtype (base.py's rule
        # would round it): the call notes their dtype for transform_images
        # (arrays only: in tf.data's map Keras's take the images in their compute dtype)
        values = inputs.value if isinstance(inputs, Tensor) else inputs
        array = isinstance(values, np.ndarray) or hasattr(values, "__cuda_array_interface__")
        self._integer_images = values.dtype if array and values.dtype.kind in "ui" else None
        try:
            return super().__call__(inputs, *more, **keywords)
        finally:
            self._integer_images = None

    def transform_images(self, images, training: bool):
        rows = images.shape[0]
        apply = f.reshape(f.less(self.draw((rows,), 0.0, 1.0), self.factor), (rows, 1, 1, 1))
        if not training:  # (Keras's draws in inference too)
            return images
        if self._integer_images is not None:
            grey = f.cast(image.rgb_to_grayscale(f.cast(images, self._integer_images), self.data_format),
                          images.dtype)
        else:
            grey = image.rgb_to_grayscale(images, data_format=self.data_format)
        return f.where(apply, grey, images)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}  # (no seed: Keras's writes none)


class RandomInvert(_ColorLayer):
    """Each image inverted (``value_range[1] - x``) with a probability drawn per image in ``factor``'s range
    (a number x: [0, x])."""

    _FACTOR_BOUNDS = (0, 1)

    def __init__(self, factor=1.0, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self._set_factor(factor)
        self.value_range = value_range
        self.make_generator(seed)

    def transform_images(self, images, training: bool):
        if not training:
            return images
        rows = images.shape[0]
        apply = self.chosen_images(rows)
        return f.where(apply, self.value_range[1] - images, images)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range, "seed": self.seed}


_SOLARIZATION_FACTOR_MESSAGE = ("The `addition_factor` and `threshold_factor` arguments should be a number (or a "
                                "list of two numbers) in the range [0, 1]. ")


def _solarization_factor(factor, name: str) -> tuple:
    """Solarization's factors: a number x is (0, x), a pair its sorted values, each in [0, 1]."""
    return checked_pair(factor, name, _SOLARIZATION_FACTOR_MESSAGE, lambda value: 0 <= value <= 1.0,
                        lambda value: (0, value))


class Solarization(_ColorLayer):
    """Pixels at or above a threshold drawn per image inverted (``255 - x`` on the 0-255 scale), after a value drawn
    per image is added (and the sum clipped to [0, 255]); with the default factors (0) every pixel is inverted."""

    def __init__(self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(**kwargs)
        self.make_generator(seed)
        self.addition_factor = _solarization_factor(addition_factor, "addition_factor")
        self.threshold_factor = _solarization_factor(threshold_factor, "threshold_factor")
        self.value_range = sorted_value_range(value_range)

    def keeps_integers(self, training: bool) -> bool:
        return False  # Keras's gives its compute dtype in inference too

    def transform_images(self, images, training: bool):
        if not training:
            return images
        additions = self.draws(images, self.addition_factor[0], self.addition_factor[1] * 255)
        thresholds = self.draws(images, self.threshold_factor[0], self.threshold_factor[1] * 255)
        results = f.clip(transform_value_range(images, self.value_range, (0, 255)) + additions, 0, 255)
        results = f.where(f.less(results, thresholds), results, 255 - results)
        return transform_value_range(results, (0, 255), self.value_range)

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range, "addition_factor": self.addition_factor,
                "threshold_factor": self.threshold_factor, "seed": self.seed}


class RandomPosterization(_ColorLayer):
    """Each image's values (on the 0-255 scale, truncated to bytes) kept to their highest bits, a number of bits
    drawn per image in [factor's low, factor's high) (a number x: [1, x); a pair of equal numbers: that many)."""

    _FACTOR_BOUNDS = (1, 8)
    _MAX_FACTOR = 8

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self._set_factor(factor)
        self.value_range = sorted_value_range(value_range)
        self.make_generator(seed)

    def transform_images(self, images, training: bool):
        rows = images.shape[0]
        xp = array_module(images)
        low, high = self.factor
        if low != high:
            # Keras's randint(low, high): each integer of [low, high) alike; the floor of a uniform draw there
            # (kept below high, where float32 rounding might reach it)
            bits = np.minimum(np.floor(self.draw((rows,), low, high).numpy()), high - 1)
        else:
            bits = np.full((rows,), low)
        if not training:  # (Keras's draws in inference too)
            return images
        shift = xp.asarray((self._MAX_FACTOR - bits).astype(np.uint8).reshape(rows, 1, 1, 1))
        values = transform_value_range(images, self.value_range, (0, 255)).value
        # Keras casts to uint8, which in JAX truncates, saturating outside [0, 255]
        values = xp.clip(values, 0, 255).astype(np.uint8)
        values = ((values >> shift) << shift).astype(images.dtype)
        # the bit shifts are on integers: no gradient, as in Keras
        return transform_value_range(Tensor(values), (0, 255), self.value_range)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range, "seed": self.seed}


class RandomColorDegeneration(_ColorLayer):
    """Each image blended towards its grey version (``x + t * (grey - x)``) by a weight t drawn per image in
    ``factor``'s range (a number x: [-x, x], as Keras's), clipped to ``value_range``; RGB images."""

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self._set_factor(factor)
        self.value_range = sorted_value_range(value_range)
        self.make_generator(seed)

    def transform_images(self, images, training: bool):
        weight = self.draws(images, self.factor[0], self.factor[1])
        if not training:  # (Keras's draws in inference too)
            return images
        grey = image.rgb_to_grayscale(images, data_format=self.data_format)
        return f.clip(images + weight * (grey - images), self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range, "seed": self.seed}


class RandomSharpness(_ColorLayer):
    """Each image blended with its blur (3x3 kernel: 5/13 at the centre, 1/13 around it, zeros beyond the edges)
    as ``x + (1 - s) * (blur - x)``, s twice a value drawn per image in ``factor``'s range (a number x: [0, x]):
    s < 1 blurs, s > 1 sharpens; clipped to ``value_range``."""

    _FACTOR_BOUNDS = (0, 1)

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self._set_factor(factor)
        self.value_range = sorted_value_range(value_range)
        self.make_generator(seed)

    def keeps_integers(self, training: bool) -> bool:
        return False  # Keras's gives its compute dtype in inference too

    def blur(self, images):
        """Keras's depthwise 3x3 convolution with "same" (zero) padding, as a weighted sum of shifted slices."""
        kind = np.dtype(images.dtype).type
        edge, centre = kind(1.0 / 13.0), kind(5.0 / 13.0)
        widths = [(0, 0)] * 4
        widths[self.height_axis], widths[self.width_axis] = (1, 1), (1, 1)
        padded = a.pad(images, widths)
        height, width = self.image_size(images.shape)
        total = None
        for dy in range(3):
            for dx in range(3):
                key = [slice(None)] * 4
                key[self.height_axis], key[self.width_axis] = slice(dy, dy + height), slice(dx, dx + width)
                term = f.get_item(padded, tuple(key)) * (centre if dy == dx == 1 else edge)
                total = term if total is None else total + term
        return total

    def transform_images(self, images, training: bool):
        sharpness = self.draws(images, self.factor[0], self.factor[1], shape=(images.shape[0],)) * 2
        if not training:  # (Keras's draws in inference too)
            return images
        sharpness = f.reshape(sharpness, (-1, 1, 1, 1))
        images = images + (1.0 - sharpness) * (self.blur(images) - images)
        return f.clip(images, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range, "seed": self.seed}
