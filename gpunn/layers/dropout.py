"""Dropout: zero a fraction ``rate`` of the inputs while training, scale the rest by 1/(1-rate).

The mask comes from a counter-based RNG (``kernels/dropout.py``): the same seed and step give the same mask on
the CPU and the GPU, and nothing has to be stored but the seed and a counter.
"""
from __future__ import annotations

import numpy as np

from .. import random as gpunn_random
from .base import Layer


class Dropout(Layer):
    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
            raise ValueError(f"rate: expected a number in [0, 1), got {rate!r}")
        if noise_shape is not None:
            raise ValueError("noise_shape: only None (an independent mask per element) is supported")
        self.rate = float(rate)
        self.seed = seed
        self._host_counter = 0  # until the layer is bound to a device
        self._counter_buffer = None

    def build(self, input_shape):
        super().build(input_shape)
        if self.seed is None:
            self.seed = gpunn_random.new_seed()

    def bind(self, ops, weights, grads, trainable=True, owner=None):
        # One counter per backend: a layer shared by two models keeps drawing new masks whichever model runs it
        # (and a recorded step of either model increments the buffer it recorded).
        moved = self._counter_buffer is None or self.ops is not ops
        counter = self.counter
        super().bind(ops, weights, grads, trainable, owner)
        if moved:
            self._counter_buffer = ops.asarray(np.array([counter], dtype=np.int64))

    @property
    def counter(self) -> int:
        """How many masks this layer has drawn (the RNG counter). It lives on the device, so a recorded step
        draws a new mask each time; reading it here is a device read."""
        if self._counter_buffer is None:
            return self._host_counter
        return int(self.ops.to_numpy(self._counter_buffer)[0])

    @counter.setter
    def counter(self, value: int) -> None:
        self._host_counter = int(value)
        if self._counter_buffer is not None:
            self.ops.fill(int(value), self._counter_buffer)

    def forward(self, x, training):
        if not training or self.rate == 0.0:
            return x, lambda dy, need_dx=True: dy
        ops = self.ops
        ws = self.workspace(x.shape[0])
        out = ws.buffer("out", x.shape, x.dtype)
        mask = ws.buffer("mask", x.shape, np.uint8)
        ops.dropout_forward(x, self.rate, self.seed, self._counter_buffer, out, mask)
        ops.add(self._counter_buffer, ws.constant("one", 1, np.int64), self._counter_buffer)

        def backprop(dy, need_dx=True):
            if not need_dx:
                return None
            return ops.dropout_backward(dy, mask, self.rate, dy)

        return out, backprop

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
