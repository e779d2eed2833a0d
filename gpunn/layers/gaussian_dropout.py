"""GaussianDropout: multiply the inputs by 1-centred normal noise while training; the identity in inference.

Keras 3 (``keras/src/layers/regularization/gaussian_dropout.py``): ``rate`` as Dropout's, the noise
N(1, rate / (1 - rate)), ``inputs * random.normal(shape, mean=1, stddev=sqrt(rate / (1 - rate)))`` when
training. gpunn refuses ``rate=1``, where that standard deviation is infinite (Keras would output inf/NaN).
The multipliers come from the counter-based hash (``kernels/gaussian_noise.py``) and are kept for backward:
dx = dy * multipliers.
"""
from __future__ import annotations

import math

from .gaussian_noise import check_unit_interval
from .seeded import SeededLayer


class GaussianDropout(SeededLayer):
    supports_masking = True  # passes its input's mask on, as in Keras (masking.py)

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = check_unit_interval("rate", rate, upper_open=True)

    @property
    def stddev(self) -> float:
        return math.sqrt(self.rate / (1.0 - self.rate))

    def forward(self, x, training):
        if not training or self.rate == 0.0:
            return x, lambda dy, need_dx=True: dy if need_dx else None
        ops = self.ops
        ws = self.workspace(x.shape[0])
        multipliers = self.draw_normal(ws, "multipliers", x, 1.0, self.stddev)
        y = ops.multiply(x, multipliers, ws.buffer("y", x.shape, x.dtype))

        def backprop(dy, need_dx=True):
            if not need_dx:
                return None
            return ops.multiply(dy, multipliers, dy)  # in place, as Dropout's backward

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}
