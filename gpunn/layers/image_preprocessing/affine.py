"""RandomZoom, RandomTranslation and RandomRotation (Keras 3: ``image_preprocessing/random_zoom.py``,
``random_translation.py``, ``random_rotation.py``): in training, each image zoomed, shifted or rotated by an
amount drawn per image, through ``gpunn.ops.image.affine_transform`` with Keras's matrices (interpolation
"bilinear" or "nearest"; the space uncovered filled by ``fill_mode``: "reflect", "wrap", "constant" with
``fill_value``, or "nearest"). The identity in inference. The transforms are made on the host from the layer's
draws (a few numbers per image); the gradient goes back through the interpolation to the images."""
from __future__ import annotations

import math

import numpy as np

from ...autodiff import image_functions as image
from .base import ImagePreprocessingLayer, check_fill_and_interpolation, checked_pair

_SHIFT_FACTOR_MESSAGE = ("The `height_factor` and `width_factor` arguments should be a number (or a list of two "
                         "numbers) in the range ")


def _factor_range(factor, argument: str, open_below: bool) -> tuple[float, float]:
    """Keras's RandomZoom / RandomTranslation factors: a number x is (-x, x), a pair its sorted values, each in
    (-1, 1] for a zoom, [-1, 1] for a shift."""
    message = _SHIFT_FACTOR_MESSAGE + ("(-1.0, 1.0]. " if open_below else "[-1.0, 1.0]. ")
    return checked_pair(factor, argument, message,
                        lambda value: (-1.0 < value if open_below else -1.0 <= value) and value <= 1.0,
                        lambda value: (-abs(value), abs(value)))


class _AffineLayer(ImagePreprocessingLayer):
    def __init__(self, fill_mode, interpolation, seed, fill_value, **kwargs):
        super().__init__(**kwargs)
        check_fill_and_interpolation(fill_mode, interpolation)
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, fill_value
        self.make_generator(seed)

    def transform_images(self, images, training: bool):
        if not training:
            return images
        height, width = self.image_size(images.shape)
        transform = self.transforms(images.shape[0], height, width)
        return image.affine_transform(images, transform.astype(np.float32), interpolation=self.interpolation,
                                      fill_mode=self.fill_mode, fill_value=self.fill_value,
                                      data_format=self.data_format)

    def draw_column(self, rows: int, minval: float, maxval: float) -> np.ndarray:
        return np.asarray(self.draw((rows, 1), minval, maxval).numpy(), dtype=np.float32)

    def transforms(self, rows: int, height: int, width: int) -> np.ndarray:
        """(rows, 8): each image's transform, output to input coordinates, as affine_transform takes them."""
        raise NotImplementedError


def _matrix(a0, a1, a2, b0, b1, b2) -> np.ndarray:
    """(rows, 8) transforms from their six entries (numbers or a value per image; the last two are 0)."""
    rows = max(np.size(v) for v in (a0, a1, a2, b0, b1, b2))
    columns = [np.broadcast_to(np.asarray(v, np.float32).reshape(-1, 1), (rows, 1)) for v in (a0, a1, a2, b0, b1, b2)]
    return np.concatenate(columns + [np.zeros((rows, 2), np.float32)], axis=1)


class RandomZoom(_AffineLayer):
    """A factor x > 0 zooms out (the image shrinks, up to (1 + x) times), x < 0 zooms in; without a
    ``width_factor`` the width is zoomed as the height (one draw)."""

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_lower, self.height_upper = _factor_range(height_factor, "height_factor", open_below=True)
        if width_factor is not None:
            self.width_lower, self.width_upper = _factor_range(width_factor, "width_factor", open_below=True)
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format=data_format, **kwargs)

    def transforms(self, rows, height, width):
        height_zoom = self.draw_column(rows, 1.0 + self.height_lower, 1.0 + self.height_upper)
        width_zoom = height_zoom if self.width_factor is None else \
            self.draw_column(rows, 1.0 + self.width_lower, 1.0 + self.width_upper)
        x_offset = (np.float32(width) - 1.0) / 2.0 * (1.0 - width_zoom)
        y_offset = (np.float32(height) - 1.0) / 2.0 * (1.0 - height_zoom)
        return _matrix(width_zoom, 0, x_offset, 0, height_zoom, y_offset)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor,
                "fill_mode": self.fill_mode, "interpolation": self.interpolation, "seed": self.seed,
                "fill_value": self.fill_value}


class RandomTranslation(_AffineLayer):
    """Shifts of up to a fraction of the height and width (positive: down and right)."""

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_lower, self.height_upper = _factor_range(height_factor, "height_factor", open_below=False)
        self.width_lower, self.width_upper = _factor_range(width_factor, "width_factor", open_below=False)
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format=data_format, **kwargs)

    def transforms(self, rows, height, width):
        dy = self.draw_column(rows, self.height_lower, self.height_upper) * np.float32(height)
        dx = self.draw_column(rows, self.width_lower, self.width_upper) * np.float32(width)
        return _matrix(1, 0, -dx, 0, 1, -dy)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor,
                "fill_mode": self.fill_mode, "interpolation": self.interpolation, "seed": self.seed,
                "fill_value": self.fill_value}


class RandomRotation(_AffineLayer):
    """Rotations by up to ``factor`` of a full turn (a pair: its range; positive: counter-clockwise), about the
    image's centre."""

    _USE_BASE_FACTOR = True

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, factor=factor, data_format=data_format,
                         **kwargs)

    def transforms(self, rows, height, width):
        angle = self.draw_column(rows, self.factor[0] * 360.0, self.factor[1] * 360.0)[:, 0]
        angle = angle * np.float32(math.pi / 180.0)
        cx, cy = 0.5 * (np.float32(width) - 1), 0.5 * (np.float32(height) - 1)
        cos, sin = np.cos(angle), np.sin(angle)
        # Keras's _compute_affine_matrix with no shift, shear or scale
        a0, a1, b0, b1 = cos, -sin, sin, cos
        return _matrix(a0, a1, cx - cx * a0 - cy * a1, b0, b1, cy - cx * b0 - cy * b1)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "interpolation": self.interpolation, "seed": self.seed}
