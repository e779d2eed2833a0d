"""UnitNormalization (Keras 3: ``keras/src/layers/normalization/unit_normalization.py``): each sample scaled to
unit L2 norm over ``axis`` (default -1), ``y = x / max(||x||, 1e-12)`` as Keras's ``ops.normalize``.

Backward, with n = ||x|| and d = max(n, 1e-12): dx = (dy - y sum(dy y)) / d where n > 1e-12 (the projection
that keeps the norm), dx = dy / 1e-12 below (x / 1e-12 is linear there).
"""
from __future__ import annotations

import numpy as np

from .base import Layer

EPSILON = 1e-12


class UnitNormalization(Layer):
    supports_masking = True  # passes its input's mask on, as in Keras (masking.py)

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not axes or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes):
            raise TypeError(f"axis: expected an int or a list of ints, got {axis!r}")
        self.axis = [int(a) for a in axes] if isinstance(axis, (list, tuple)) else int(axis)

    def build(self, input_shape):
        rank = len(input_shape) + 1  # Keras counts the batch axis
        for a in ([self.axis] if isinstance(self.axis, int) else self.axis):
            if not -rank <= a < rank or a % rank == 0:
                raise ValueError(f"axis: {a} is out of bounds for inputs of shape {(None,) + tuple(input_shape)} "
                                 "(the batch axis 0 cannot be normalised)")
        super().build(input_shape)

    def _axes(self, ndim: int) -> tuple:
        return tuple(sorted(a % ndim for a in ([self.axis] if isinstance(self.axis, int) else self.axis)))

    def forward(self, x, training):
        ops, dtype = self.ops, x.dtype
        ws = self.workspace(x.shape[0])
        axes = self._axes(x.ndim)
        reduced = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
        squares = ops.multiply(x, x, ws.buffer("squares", x.shape, dtype))
        norm = ops.sqrt(ops.sum(squares, axes, ws.buffer("norm", reduced, dtype), keepdims=True),
                        ws.buffer("norm", reduced, dtype))
        epsilon = ws.constant("epsilon", EPSILON, dtype)
        denominator = ops.maximum(norm, epsilon, ws.buffer("denominator", reduced, dtype))
        y = ops.divide(x, denominator, ws.buffer("y", x.shape, dtype))

        def backprop(dy, need_dx=True):
            if not need_dx:
                return None
            along = ops.sum(ops.multiply(dy, y, squares), axes, ws.buffer("along", reduced, dtype), keepdims=True)
            ops.multiply(along, ops.greater(norm, epsilon, ws.buffer("above", reduced, dtype)), along)
            dx = ops.multiply(y, along, ws.buffer("dx", x.shape, dtype))
            ops.subtract(dy, dx, dx)
            return ops.divide(dx, denominator, dx)

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
