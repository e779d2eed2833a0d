"""AlphaDropout (Keras 3: ``keras/src/layers/regularization/alpha_dropout.py``), the dropout of self-normalizing
networks (SELU activations): while training, a fraction ``rate`` of the inputs is set to SELU's negative
saturation value alpha' = -scale * alpha, then every value goes through a x + b, chosen so that inputs of zero
mean and unit variance keep them:

    a = ((1 - rate) (1 + rate alpha'^2))^(-1/2),   b = -a alpha' rate,   y = a (kept x + alpha' (1 - kept)) + b

Inference passes the inputs through. ``kept`` is drawn from the same counter-based hash as Dropout's mask (the
same on the CPU and the GPU); ``noise_shape`` broadcasts it as in Dropout. Backward: dy a kept.
"""
from __future__ import annotations

import numpy as np

from .dropout import Dropout

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


class AlphaDropout(Dropout):
    def forward(self, x, training):
        if not training or self.rate == 0.0:
            return x, lambda dy, need_dx=True: dy
        ops, dtype, rate = self.ops, x.dtype, self.rate
        ws = self.workspace(x.shape[0])
        alpha_p = -SELU_ALPHA * SELU_SCALE
        a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * rate
        shape = x.shape if self.noise_shape is None else self._concrete_noise_shape(x.shape)
        ones = ops.fill(1, ws.buffer("alpha.ones", shape, dtype))
        mask = ws.buffer("alpha.mask", shape, np.uint8)
        ops.dropout_forward(ones, rate, self.seed, self._counter_buffer, ws.buffer("alpha.unused", shape, dtype), mask)
        self.advance_counter(ws)
        kept = ops.cast_into(mask, ws.buffer("alpha.kept", shape, dtype))
        y = ops.multiply(x, kept, ws.buffer("out", x.shape, dtype))
        ops.multiply(y, ws.constant("alpha.a", a, dtype), y)
        # a alpha' (1 - kept) + b  =  (a alpha' + b) - a alpha' kept
        shift = ops.multiply(kept, ws.constant("alpha.minus_a_alpha", -a * alpha_p, dtype),
                             ws.buffer("alpha.shift", shape, dtype))
        ops.add(shift, ws.constant("alpha.dropped", a * alpha_p + b, dtype), shift)
        ops.add(y, shift, y)
        slope = ops.multiply(kept, ws.constant("alpha.a", a, dtype), kept)  # dy / dx: a where kept, else 0

        def backprop(dy, need_dx=True):
            return ops.multiply(dy, slope, dy) if need_dx else None

        return y, backprop
