"""Flatten: (batch, d1, d2, ...) -> (batch, d1*d2*...), a view, no copy."""
from __future__ import annotations

import math

from .base import Layer


class Flatten(Layer):
    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, x, training):
        shape = x.shape
        return x.reshape(shape[0], -1), (lambda dy, need_dx=True: dy.reshape(shape) if need_dx else None)
