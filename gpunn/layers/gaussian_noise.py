"""GaussianNoise: add N(0, stddev^2) noise to the inputs while training; the identity in inference.

Keras 3 (``keras/src/layers/regularization/gaussian_noise.py``): ``stddev`` in [0, 1], an optional ``seed``,
``inputs + random.normal(shape, mean=0, stddev)`` when training. The normals come from the counter-based
hash (``kernels/gaussian_noise.py`` via ``ops.random_normal``), so CPU and GPU draw the same noise and a
recorded step draws new noise at every replay. The gradient passes through unchanged.
"""
from __future__ import annotations

import numbers

from .seeded import SeededLayer


def check_unit_interval(argument: str, value, upper_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            0.0 <= value < 1.0 if upper_open else 0.0 <= value <= 1.0):
        raise ValueError(f"{argument}: expected a number in [0, 1{')' if upper_open else ']'}, got {value!r}")
    return float(value)


class GaussianNoise(SeededLayer):
    supports_masking = True  # passes its input's mask on, as in Keras (masking.py)

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.stddev = check_unit_interval("stddev", stddev)

    def forward(self, x, training):
        if not training or self.stddev == 0.0:
            return x, lambda dy, need_dx=True: dy if need_dx else None
        ops = self.ops
        ws = self.workspace(x.shape[0])
        noise = self.draw_normal(ws, "noise", x, 0.0, self.stddev)
        y = ops.add(x, noise, ws.buffer("y", x.shape, x.dtype))
        return y, lambda dy, need_dx=True: dy if need_dx else None

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev}
