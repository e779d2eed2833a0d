"""Equalization (Keras 3: ``image_preprocessing/equalization.py``): in training, each channel's histogram
equalized, the identity in inference.

As Keras's: the histogram of a channel is taken over the whole batch (all its images' pixels of that channel,
``bins`` bins over [0, 255] after mapping ``value_range`` there), a channel whose pixels fill at most one bin is
left as it is, and each pixel is replaced by the rounded, rescaled cumulative count of its bin. Computed on the
arrays (NumPy or CuPy) with no gradient: Keras's has none either (its lookup goes through integer indices)."""
from __future__ import annotations

import numpy as np

from ...autodiff import Tensor, array_module
from .base import ImagePreprocessingLayer
from .color import sorted_value_range


def _scaled(values, source: tuple, target: tuple):
    """Keras's ``_scale_values``: ``values * scale + offset``, the two Python numbers (as Keras rounds)."""
    scale = (target[1] - target[0]) / (source[1] - source[0])
    return values * scale + (target[0] - source[0] * scale)


class Equalization(ImagePreprocessingLayer):
    def __init__(self, value_range=(0, 255), bins=256, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.bins = bins
        self.value_range = sorted_value_range(value_range)

    def keeps_integers(self, training: bool) -> bool:
        return not training  # (passed through in inference, as they came)

    def transform_images(self, images, training: bool):
        if not training:
            return images
        values = images.value
        xp = array_module(values)
        axis = 1 if self.data_format == "channels_first" else values.ndim - 1
        channels = [self._equalized(xp, xp.take(values, k, axis=axis).astype(np.float32))
                    for k in range(values.shape[axis])]
        return Tensor(xp.stack(channels, axis=axis).astype(values.dtype))

    def _equalized(self, xp, channel):
        channel = _scaled(channel, self.value_range, (0, 255))
        bins = self.bins
        scaled = (channel - np.float32(0)) * np.float32(bins - 1) / np.float32(255)
        indices = xp.clip(scaled.astype(np.int32), 0, bins - 1).reshape(-1)
        histogram = xp.bincount(indices, minlength=bins)
        if int(xp.count_nonzero(histogram)) <= 1:
            equalized = channel
        else:
            cdf = xp.cumsum(histogram)
            cdf_min = cdf[int(xp.argmax(cdf > 0))]
            denominator = cdf[-1] - cdf_min
            denominator = denominator if int(denominator) != 0 else 1
            # (the integer counts divided in float32 as XLA divides them, by the reciprocal: its .5 ties round so)
            scale = np.float32(1) / np.float32(denominator)
            table = xp.clip(xp.round(((cdf - cdf_min) * 255).astype(np.float32) * scale), 0, 255)
            lookup = xp.clip((channel / np.float32(255.0)) * np.float32(bins - 1), 0, bins - 1).astype(np.int32)
            equalized = xp.take(table, lookup).astype(np.float32)
        return _scaled(equalized, (0, 255), self.value_range)

    def get_config(self):
        return {**super().get_config(), "bins": self.bins, "value_range": self.value_range}
