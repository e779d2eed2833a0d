"""Reshape (Keras 3: ``keras/src/layers/reshaping/reshape.py``): each sample to ``target_shape`` (without the
batch axis; one dimension may be -1, worked out from the sample's size). A view of the input, no copy;
backward reshapes the gradient back.
"""
from __future__ import annotations

import math

from . import text_inputs
from .base import Layer


def _target(target_shape) -> tuple[int, ...]:
    try:
        shape = tuple(int(d) for d in target_shape)
    except (TypeError, ValueError):
        raise ValueError(f"target_shape: expected a tuple of ints, got {target_shape!r}") from None
    if any(isinstance(d, bool) for d in target_shape) or shape.count(-1) > 1 or any(d == 0 or d < -1 for d in shape):
        raise ValueError(f"target_shape: expected positive ints and at most one -1, got {target_shape!r}")
    return shape


class Reshape(Layer):
    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = _target(target_shape)

    def output_sample_shape(self, input_shape):
        size = math.prod(input_shape)
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if size % known:
                raise ValueError(f"target_shape: samples of shape {tuple(input_shape)} ({size} values) cannot be "
                                 f"reshaped to {self.target_shape}")
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if known != size:
            raise ValueError(f"target_shape: samples of shape {tuple(input_shape)} ({size} values) cannot be reshaped "
                             f"to {self.target_shape} ({known} values)")
        return self.target_shape

    def compute_output_shape(self, input_shape):
        """Keras's (batch axis first): with an input axis of unknown length, a -1 of the target is unknown (None)."""
        if isinstance(input_shape, (tuple, list)) and None in tuple(input_shape)[1:]:
            return (input_shape[0],) + tuple(None if d == -1 else d for d in self.target_shape)
        return super().compute_output_shape(input_shape)

    def forward(self, x, training):
        if text_inputs.is_strings_view(self):  # (a reshape of strings: the numbers made of them pass as they are)
            return x, (lambda dy, need_dx=True: dy if need_dx else None)
        shape = x.shape
        y = x.reshape((shape[0],) + tuple(self.output_shape))
        return y, (lambda dy, need_dx=True: dy.reshape(shape) if need_dx else None)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}
