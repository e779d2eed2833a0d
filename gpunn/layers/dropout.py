"""Dropout: zero a fraction ``rate`` of the inputs while training, scale the rest by 1/(1-rate).

The mask comes from a counter-based RNG (``kernels/dropout.py``, see ``seeded.py``): the same seed and step give
the same mask on the CPU and the GPU, and nothing has to be stored but the seed and a counter.

``noise_shape`` (Keras 3: ``keras/src/layers/regularization/dropout.py``) draws a smaller mask that is broadcast
over the inputs, e.g. ``(None, 1, features)``: one decision per sample and feature, shared by every step (None
takes the input's size on that axis). It is drawn as a dropout of ones, whose result (0 or 1/(1-rate)) then
scales the inputs forward and the gradient backward.
"""
from __future__ import annotations

import numbers

import numpy as np

from .seeded import SeededLayer


class Dropout(SeededLayer):
    supports_masking = True  # passes its input's mask on, as in Keras (masking.py)

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0.0 <= rate < 1.0:
            raise ValueError(f"rate: expected a number in [0, 1), got {rate!r}")
        self.noise_shape = _check_noise_shape(noise_shape)
        self.rate = float(rate)

    def build(self, input_shape):
        if self.noise_shape is not None:
            full = (None,) + tuple(input_shape)
            if len(self.noise_shape) != len(full) or any(
                    n is not None and n != 1 and d is not None and n != d for n, d in zip(self.noise_shape, full)):
                raise ValueError(f"noise_shape: expected one entry per axis of the inputs {full}, each None, 1 or "
                                 f"that axis's size, got {self.noise_shape}")
        super().build(input_shape)

    def _concrete_noise_shape(self, shape) -> tuple:
        concrete = tuple(d if n is None else n for n, d in zip(self.noise_shape, shape))
        if concrete[0] not in (1, shape[0]):
            raise ValueError(f"noise_shape: its batch entry {concrete[0]} does not fit a batch of {shape[0]} "
                             "samples; use None for the batch axis")
        return concrete

    def forward(self, x, training):
        if not training or self.rate == 0.0:
            return x, lambda dy, need_dx=True: dy
        ops = self.ops
        ws = self.workspace(x.shape[0])
        out = ws.buffer("out", x.shape, x.dtype)
        if self.noise_shape is not None:
            return self._broadcast_forward(ops, ws, x, out)
        mask = ws.buffer("mask", x.shape, np.uint8)
        ops.dropout_forward(x, self.rate, self.seed, self._counter_buffer, out, mask)
        self.advance_counter(ws)

        def backprop(dy, need_dx=True):
            if not need_dx:
                return None
            return ops.dropout_backward(dy, mask, self.rate, dy)

        return out, backprop

    def _broadcast_forward(self, ops, ws, x, out):
        shape = self._concrete_noise_shape(x.shape)
        ones = ops.fill(1, ws.buffer("noise.ones", shape, x.dtype))
        scale = ws.buffer("noise.scale", shape, x.dtype)  # 0 or 1 / (1 - rate)
        ops.dropout_forward(ones, self.rate, self.seed, self._counter_buffer, scale,
                            ws.buffer("noise.mask", shape, np.uint8))
        self.advance_counter(ws)
        ops.multiply(x, scale, out)

        def backprop(dy, need_dx=True):
            return ops.multiply(dy, scale, dy) if need_dx else None

        return out, backprop

    def get_config(self):
        noise_shape = None if self.noise_shape is None else list(self.noise_shape)
        return {**super().get_config(), "rate": self.rate, "noise_shape": noise_shape}


def _check_noise_shape(noise_shape):
    """Keras's ``_validate_noise_shape``: None, or a sequence of positive ints and Nones, as a tuple."""
    if noise_shape is None:
        return None
    if isinstance(noise_shape, str) or not hasattr(noise_shape, "__iter__"):
        raise ValueError(f"noise_shape: expected a tuple or list of integers (or None), got {noise_shape!r}")
    noise_shape = tuple(noise_shape)
    for index, dim in enumerate(noise_shape):
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim <= 0):
            raise ValueError(f"noise_shape: expected positive integers or None, got {dim!r} at index {index}")
    return tuple(None if dim is None else int(dim) for dim in noise_shape)
