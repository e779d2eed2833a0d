"""RandomGaussianBlur and AutoContrast (Keras 3: ``image_preprocessing/random_gaussian_blur.py``,
``auto_contrast.py``).

Their arguments, checks, configs, draws and values are Keras's, quirks included: RandomGaussianBlur's ``sigma``
must lie in [0, 1] (a number x gives [0, x]) and its message says "factor="; one pair of sigmas is drawn per batch
(all its images blurred alike, each with its own probability); its kernel's rows follow ``kernel_size[1]``
and ``sigma[1]``. AutoContrast takes each image's minimum and maximum over axes 1 and 2 (height and width, channels
last; channels and height, channels first, as Keras's), and gives a constant image back as it came (as Keras's,
but with a finite gradient where Keras's is NaN). Both give their compute dtype (float32) for integer images, as
Keras's do.

RandomGaussianBlur blurs with ``gpunn.ops.image.gaussian_blur`` (sums of shifted slices where Keras convolves: the
same values, float rounding apart). Gradients pass through the blur, the where and the clip, and through
AutoContrast's stretch (its minimum and maximum included)."""
from __future__ import annotations

from ...autodiff import functions as f
from ...autodiff.image_filters import gaussian_blur
from .base import ImagePreprocessingLayer, factor_range
from .color import sorted_value_range
from .color_augmentations import transform_value_range


def odd_kernel_size(size, name: str = "kernel_size") -> tuple:
    """Keras's ``_set_kernel_size``: an odd number, or a pair of them, as (lower, upper)."""
    message = f"{name} must be an odd number. Received: {name}={size}"
    if isinstance(size, (tuple, list)):
        if len(size) != 2:
            raise ValueError(f"The `{name}` argument should be a number (or a list of two numbers) "
                             f"Received: {name}={size}")
        if size[0] % 2 == 0 or size[1] % 2 == 0:
            raise ValueError(message)
        return size[0], size[1]
    if isinstance(size, (int, float)):
        if size % 2 == 0:
            raise ValueError(message)
        return size, size
    raise ValueError(message)


class RandomGaussianBlur(ImagePreprocessingLayer):
    """In training, each image blurred (``gpunn.ops.image.gaussian_blur``, ``kernel_size``) with a probability
    drawn per image in ``factor``'s range (a number x: [0, x]), by sigmas drawn once per batch in ``sigma``'s
    range; the result clipped to ``value_range``. The identity in inference (no draws, as Keras's)."""

    _FACTOR_BOUNDS = (0, 1)

    def __init__(self, factor=1.0, kernel_size=3, sigma=1.0, value_range=(0, 255), data_format=None, seed=None,
                 **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self._set_factor(factor)
        self.kernel_size = odd_kernel_size(kernel_size)
        self.sigma = factor_range(sigma, self._FACTOR_BOUNDS, "sigma")
        self.value_range = value_range
        self.make_generator(seed)

    def transform_images(self, images, training: bool):
        if not training:
            return images
        rows = images.shape[0]
        apply = self.chosen_images(rows)
        sigmas = f.cast(self.draw((2,), self.sigma[0], self.sigma[1]), images.dtype) + 1e-6
        blurred = gaussian_blur(images, kernel_size=self.kernel_size, sigma=sigmas, data_format=self.data_format)
        images = f.where(apply, blurred, images)
        return f.clip(images, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "kernel_size": self.kernel_size,
                "sigma": self.sigma, "value_range": self.value_range, "seed": self.seed}


class AutoContrast(ImagePreprocessingLayer):
    """Each image's values stretched linearly so that its minimum and maximum reach ``value_range``'s ends, in
    training and inference alike (no draws)."""

    def __init__(self, value_range=(0, 255), **kwargs):
        super().__init__(**kwargs)
        self.value_range = sorted_value_range(value_range)

    def transform_images(self, images, training: bool):
        original = images
        images = transform_value_range(images, self.value_range, (0, 255))
        low = f.min(images, axis=(1, 2), keepdims=True)
        high = f.max(images, axis=(1, 2), keepdims=True)
        # a constant image is given back as it came (Keras's NaN there, replaced): divided by 1 instead of 0, so
        # that its gradient stays finite (Keras's is NaN)
        stretched = f.greater(high, low)
        scale = 255.0 / f.where(stretched, high - low, f.ones_like(high))
        results = f.clip(images * scale - low * scale, 0.0, 255.0)
        results = transform_value_range(results, (0, 255), self.value_range)
        return f.where(stretched, results, original)

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range}
