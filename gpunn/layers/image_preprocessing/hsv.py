"""RandomSaturation, RandomHue and RandomColorJitter (Keras 3: ``image_preprocessing/random_saturation.py``,
``random_hue.py``, ``random_color_jitter.py``): in training, each image's saturation scaled or hue turned by an
amount drawn per image, in HSV (``gpunn.ops.image.rgb_to_hsv`` / ``hsv_to_rgb``); RandomColorJitter applies
brightness, contrast, saturation and hue in that order, those it is given factors for, all drawn from its own
stream as Keras's are. The identity in inference.

As Keras's: RandomSaturation converts the images as they come (``value_range`` only clips the scaled saturation,
which lies in [0, 1]), its draw s in ``factor`` becoming the scale s / (1 - s); RandomHue maps ``value_range``
to [0, 1] and back, and turns the hue by up to ``factor`` / 2 of a turn either way."""
from __future__ import annotations

from ... import fuzz_factor
from ...autodiff import functions as f
from ...autodiff import image_colors
from .base import factor_range
from .color import PerImageDraw, adjust_brightness, adjust_contrast, sorted_value_range



def _channel(layer, images, k: int):
    return images[:, k] if layer.data_format == "channels_first" else images[..., k]


def _with_channel(layer, images, k: int, value):
    planes = [value if j == k else _channel(layer, images, j) for j in range(3)]
    return f.stack(planes, axis=1 if layer.data_format == "channels_first" else -1)


def _per_image_plane(values, dtype):
    return f.reshape(f.cast(values, dtype), (-1, 1, 1))


def adjust_saturation(layer, images, draw, factor, value_range):
    scale = draw((images.shape[0],), factor[0], factor[1])
    scale = _per_image_plane(scale / (1 - scale + fuzz_factor.epsilon()), images.dtype)
    hsv = image_colors.rgb_to_hsv(images, data_format=layer.data_format)
    saturation = f.clip(_channel(layer, hsv, 1) * scale, value_range[0], value_range[1])
    return image_colors.hsv_to_rgb(_with_channel(layer, hsv, 1, saturation), data_format=layer.data_format)


def adjust_hue(layer, images, draw, factor, value_range):
    rows = images.shape[0]
    sign = f.where(f.greater(draw((rows,), 0.0, 1.0), 0.5), -1.0, 1.0)
    turn = _per_image_plane(sign * draw((rows,), factor[0], factor[1]) * 0.5, images.dtype)
    low, high = value_range
    if (low, high) != (0, 1):
        images = (images - low) / (high - low)
    hsv = image_colors.rgb_to_hsv(images, data_format=layer.data_format)
    hue = _channel(layer, hsv, 0) + turn
    hue = f.where(f.greater(hue, 1.0), hue - 1.0, hue)
    hue = f.where(f.less(hue, 0.0), hue + 1.0, hue)
    images = f.clip(image_colors.hsv_to_rgb(_with_channel(layer, hsv, 0, hue), data_format=layer.data_format), 0, 1)
    return images if (low, high) == (0, 1) else images * (high - low) + low


class RandomSaturation(PerImageDraw):
    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(factor=factor, data_format=data_format, **kwargs)
        self.value_range = sorted_value_range(value_range)
        self.make_generator(seed)

    def adjust(self, images, draw):
        return adjust_saturation(self, images, draw, self.factor, self.value_range)

    def inference_draws(self, rows: int) -> None:
        self.draw((rows,), self.factor[0], self.factor[1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range, "seed": self.seed}


class RandomHue(PerImageDraw):
    _FACTOR_BOUNDS = (0, 1)

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(factor=factor, data_format=data_format, **kwargs)
        self.value_range = value_range
        self.make_generator(seed)

    def adjust(self, images, draw):
        return adjust_hue(self, images, draw, self.factor, self.value_range)

    def inference_draws(self, rows: int) -> None:
        self.draw((rows,), 0.0, 1.0)
        self.draw((rows,), self.factor[0], self.factor[1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range, "seed": self.seed}


class RandomColorJitter(PerImageDraw):
    _USE_BASE_FACTOR = False

    def __init__(self, value_range=(0, 255), brightness_factor=None, contrast_factor=None, saturation_factor=None,
                 hue_factor=None, seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.value_range = value_range
        self.brightness_factor, self.contrast_factor = brightness_factor, contrast_factor
        self.saturation_factor, self.hue_factor = saturation_factor, hue_factor
        # each step as the layer Keras makes for it would parse its factor and range (its checks, at once)
        self._steps = []
        if brightness_factor is not None:
            factor, value_range_ = factor_range(brightness_factor, (-1, 1)), sorted_value_range(value_range)
            self._steps.append(lambda x, draw, s=factor, r=value_range_: adjust_brightness(x, draw, s, r))
        if contrast_factor is not None:
            factor = factor_range(contrast_factor, (0, 1))
            self._steps.append(lambda x, draw, s=factor: adjust_contrast(self, x, draw, s, value_range))
        if saturation_factor is not None:
            factor, value_range_ = factor_range(saturation_factor, (-1, 1)), sorted_value_range(value_range)
            self._steps.append(lambda x, draw, s=factor, r=value_range_: adjust_saturation(self, x, draw, s, r))
        if hue_factor is not None:
            factor = factor_range(hue_factor, (0, 1))
            self._steps.append(lambda x, draw, s=factor: adjust_hue(self, x, draw, s, value_range))
        self.make_generator(seed)

    def adjust(self, images, draw):
        for step in self._steps:
            images = step(images, draw)
        return images

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range, "brightness_factor": self.brightness_factor,
                "contrast_factor": self.contrast_factor, "saturation_factor": self.saturation_factor,
                "hue_factor": self.hue_factor, "seed": self.seed}
