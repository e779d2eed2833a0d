"""Flatten: (batch, d1, d2, ...) -> (batch, d1*d2*...), a view, no copy. With ``data_format="channels_first"``
(Keras's), samples of two axes or more are read channels last first: (c, h, w) flattened in (h, w, c) order."""
from __future__ import annotations

import math

from ..config import standardize_data_format
from .base import Layer


class Flatten(Layer):
    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)

    def output_sample_shape(self, input_shape):
        return (math.prod(input_shape),)

    def compute_output_shape(self, input_shape):
        """Keras's (batch axis first): an axis of unknown length gives a flattened length unknown (None)."""
        if isinstance(input_shape, (tuple, list)) and None in tuple(input_shape)[1:]:
            return (input_shape[0], None)
        return super().compute_output_shape(input_shape)

    def forward(self, x, training):
        shape = x.shape
        if self.data_format == "channels_first" and x.ndim > 2:
            # Keras's switch to channels last, copied into the layer's buffer as Permute does (a recorded step
            # replays the copy), then flattened
            ops, ws, order = self.ops, self.workspace(shape[0]), (0, *range(2, x.ndim), 1)
            moved = x.transpose(order)
            y = ops.copy_into(moved, ws.buffer("y", moved.shape, x.dtype))
            back = tuple(order.index(axis) for axis in range(x.ndim))  # the inverse permutation

            def backprop(dy, need_dx=True):
                if not need_dx:
                    return None
                return ops.copy_into(dy.reshape(moved.shape).transpose(back), ws.buffer("dx", shape, x.dtype))

            return y.reshape(shape[0], -1), backprop
        return x.reshape(shape[0], -1), (lambda dy, need_dx=True: dy.reshape(shape) if need_dx else None)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}
