"""RandomShear and RandomErasing (Keras 3: ``image_preprocessing/random_shear.py``, ``random_erasing.py``): in
training, each image sheared by factors drawn per image (through ``gpunn.ops.image.affine_transform``, as
``affine.py``'s layers), or a rectangle of it, of a size and place drawn per image, filled with noise or a given
value with a probability drawn per image. Both give their compute dtype, the images passed through in inference.

Their draws, arguments, checks, configs and values are Keras's, quirks included: the shear is about the image's
top-left corner (not its centre), its sign flipped for both axes at once with probability 1/2 (but gpunn loads
the config Keras writes for a number ``x_factor``, (-x, x), which Keras's own check refuses); RandomErasing checks
``fill_value`` only when it erases (in training), and its noise (``fill_value=None``) is a standard normal draw
per pixel times ``value_range[1]``, clipped to ``value_range``. What differs: Keras calls ``random.normal`` for that
noise; gpunn makes it from two uniform draws of the images' shape by the Box-Muller transform (the same
distribution, from the layer's uniform stream). Three fill values, which Keras's jax backend refuses (its
``full_like`` takes no list or tuple), fill the last axis' three entries, as ``full_like`` broadcasts them
elsewhere."""
from __future__ import annotations

import math

import numpy as np

from ...autodiff import functions as f
from .. import user_layer
from .affine import _AffineLayer, _matrix
from .base import checked_pair, factor_range
from .color_augmentations import _ColorLayer

_SHEAR_FACTOR_MESSAGE = "The `factor` argument should be a number (or a list of two numbers) in the range [0, 1.0]. "


def _shear_factor(factor, name: str) -> tuple:
    """RandomShear's factors: a number x in [0, 1] is (-x, x), a pair of numbers in [0, 1] its sorted values."""
    return checked_pair(factor, name, _SHEAR_FACTOR_MESSAGE, lambda value: 0.0 <= value <= 1.0,
                        lambda value: (-abs(value), abs(value)))


class RandomShear(_AffineLayer):
    """Output pixel (x, y) read from input (x + s_x y, s_y x + y), s_x and s_y drawn per image in ``x_factor``'s
    and ``y_factor``'s ranges (fractions of the other axis' offset), both negated for half the images."""

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                 data_format=None, seed=None, **kwargs):
        self.x_factor = _shear_factor(x_factor, "x_factor")
        self.y_factor = _shear_factor(y_factor, "y_factor")
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format=data_format, **kwargs)

    def transforms(self, rows, height, width):
        # Keras's draws, in its order: the sign, then the y factor, then the x factor
        invert = np.where(self.draw_column(rows, 0.0, 1.0) > 0.5, np.float32(-1), np.float32(1))
        shear_y = self.draw_column(rows, self.y_factor[0], self.y_factor[1]) * invert
        shear_x = self.draw_column(rows, self.x_factor[0], self.x_factor[1]) * invert
        return _matrix(1, shear_x, 0, shear_y, 1, 0)

    @classmethod
    def from_config(cls, config):
        # A factor x is written as (-x, x), which the constructor's check refuses (Keras cannot load its own
        # RandomShear's config): read such a pair as the number that gave it
        config = dict(config)
        for name in ("x_factor", "y_factor"):
            value = config.get(name)
            if isinstance(value, (tuple, list)) and len(value) == 2 and value[0] < 0 and value[0] == -value[1]:
                config[name] = value[1]
        return super().from_config(config)

    def get_config(self):
        return {**super().get_config(), "x_factor": self.x_factor, "y_factor": self.y_factor,
                "fill_mode": self.fill_mode, "interpolation": self.interpolation, "seed": self.seed,
                "fill_value": self.fill_value}


_FILL_VALUE_MESSAGE = "The `fill_value` argument should be a number (or a list of three numbers) "


class RandomErasing(_ColorLayer):
    """With a probability drawn per image in ``factor``'s range (a number x: [0, x]), a rectangle of the image
    replaced by ``fill_value`` (a number, three numbers for the last axis, or None: noise); its sides are
    sqrt(s) of the image's, s drawn per side in ``scale``'s range, and its place is drawn per image."""

    _FACTOR_BOUNDS = (0, 1)

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None, value_range=(0, 255), seed=None,
                 data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self._set_factor(factor)
        self.scale = factor_range(scale, self._FACTOR_BOUNDS, "scale")
        self.fill_value = fill_value
        self.value_range = value_range
        self.make_generator(seed)

    def keeps_integers(self, training: bool) -> bool:
        return False  # Keras's gives its compute dtype in inference too

    def _bounds(self, rows: int, length: int, ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keras's ``_compute_crop_bounds``: a side of ``ratio`` times the length, at a place drawn per image."""
        side = (ratio * np.float32(length)).astype(np.float32)
        start = np.asarray(self.draw((rows,), 0.0, 1.0).numpy(), np.float32) * (np.float32(length) - side)
        return start, start + side

    def _mask(self, shape, rows: int) -> np.ndarray:
        height, width = self.image_size(shape)
        ratio = np.sqrt(np.asarray(self.draw((rows, 2), self.scale[0], self.scale[1]).numpy(), np.float32))
        x0, x1 = self._bounds(rows, width, ratio[:, 0])
        y0, y1 = self._bounds(rows, height, ratio[:, 1])
        grid_y, grid_x = np.meshgrid(np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32),
                                     indexing="ij")
        index = (None, None, slice(None), slice(None)) if self.data_format == "channels_first" else (
            None, slice(None), slice(None), None)
        grid_x, grid_y = grid_x[index], grid_y[index]
        x0, x1, y0, y1 = (v[:, None, None, None] for v in (x0, x1, y0, y1))
        return (grid_x >= x0) & (grid_x < x1) & (grid_y >= y0) & (grid_y < y1)

    def _normal(self, shape):
        """Standard normal draws (Keras's ``random.normal``) by the Box-Muller transform of two uniform draws:
        sqrt(-2 log(1 - u)) cos(2 pi v), u in [0, 1) (so the logarithm's argument is positive)."""
        u, v = self.draw(shape, 0.0, 1.0).numpy(), self.draw(shape, 0.0, 1.0).numpy()
        radius = np.sqrt(np.float32(-2.0) * np.log(np.float32(1.0) - u))
        return (radius * np.cos(np.float32(2.0 * math.pi) * v)).astype(np.float32)

    def _fill(self, images):
        fill_value = self.fill_value
        shape = tuple(images.shape)
        if fill_value is None:
            fill = self._normal(shape) * np.float32(self.value_range[1])
        elif isinstance(fill_value, (tuple, list)):
            if len(fill_value) != 3:
                raise ValueError(_FILL_VALUE_MESSAGE)
            fill = np.broadcast_to(np.asarray(fill_value, np.float32), shape)  # (Keras's full_like: the last axis)
        elif isinstance(fill_value, (int, float)):
            fill = np.ones(shape, np.float32) * np.float32(fill_value)
        else:
            raise ValueError(_FILL_VALUE_MESSAGE)
        return np.clip(fill, self.value_range[0], self.value_range[1]).astype(images.dtype)

    def transform_images(self, images, training: bool):
        called = user_layer.running_call()
        if not training or (called is not None and called[0] == "trial"):  # (learning the output shape: no draws)
            return images
        rows = images.shape[0]
        # Keras's draws, in its order: the rectangle's sides, its place (x, then y), the probability, the
        # threshold, then the noise
        mask = self._mask(images.shape, rows)
        apply = np.asarray(self.chosen_images(rows).numpy())
        return f.where(mask & apply, self._fill(images), images)  # (host arrays go to the images' device)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale, "fill_value": self.fill_value,
                "value_range": self.value_range, "seed": self.seed}
