"""Dropout: zero a fraction ``rate`` of the inputs while training, scale the rest by 1/(1-rate).

The mask comes from a counter-based RNG (``kernels/dropout.py``, see ``seeded.py``): the same seed and step give
the same mask on the CPU and the GPU, and nothing has to be stored but the seed and a counter.
"""
from __future__ import annotations

import numpy as np

from .seeded import SeededLayer


class Dropout(SeededLayer):
    supports_masking = True  # passes its input's mask on, as in Keras (masking.py)

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
            raise ValueError(f"rate: expected a number in [0, 1), got {rate!r}")
        if noise_shape is not None:
            raise ValueError("noise_shape: only None (an independent mask per element) is supported")
        self.rate = float(rate)

    def forward(self, x, training):
        if not training or self.rate == 0.0:
            return x, lambda dy, need_dx=True: dy
        ops = self.ops
        ws = self.workspace(x.shape[0])
        out = ws.buffer("out", x.shape, x.dtype)
        mask = ws.buffer("mask", x.shape, np.uint8)
        ops.dropout_forward(x, self.rate, self.seed, self._counter_buffer, out, mask)
        self.advance_counter(ws)

        def backprop(dy, need_dx=True):
            if not need_dx:
                return None
            return ops.dropout_backward(dy, mask, self.rate, dy)

        return out, backprop

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}
