"""ELU with Keras 3's ``alpha`` (default 1.0; ``keras/src/layers/activations/elu.py``):
f(x) = x for x > 0, alpha * (exp(x) - 1) otherwise.

alpha = 1 runs in the backend's fused elu step. Another alpha builds on it: with e = elu(x) for alpha 1,
f(x) = alpha * min(e, 0) + max(x, 0) and f'(x) = alpha * (min(e, 0) + 1) + (1 - alpha) * [x > 0]
(alpha * exp(x) below 0, 1 above). Keras's ELU leaves ``alpha`` out of its config; gpunn writes it, so a saved
layer loads with its alpha.
"""
from __future__ import annotations

import functools

from .. import activations
from ..number_arguments import finite_number
from .pointwise_activation import PointwiseActivation

ELU_1 = activations.ActivationSpec("elu", 1.0)


class ELU(PointwiseActivation):
    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = finite_number("alpha", alpha)

    def fused_spec(self):
        return ELU_1 if self.alpha == 1.0 else None

    def activation_function(self):
        """As another layer's activation (``Dense(8, activation=ELU(alpha=0.7))``): Keras's elu of this alpha."""
        return functools.partial(activations.elu, alpha=self.alpha)

    def compute(self, ops, ws, x, y, derivative):
        dtype = x.dtype
        zero = ws.constant("zero", 0.0, dtype)
        alpha = ws.constant("alpha", self.alpha, dtype)
        scratch = ws.buffer("scratch", x.shape, dtype)
        x2, e = x.reshape(-1, x.shape[-1]), ws.buffer("elu", (x.size // x.shape[-1], x.shape[-1]), dtype)
        ops.bias_act_forward(x2, None, "elu", e, 1.0)  # e = elu(x) for alpha 1
        e = e.reshape(x.shape)
        ops.minimum(e, zero, e)  # expm1(min(x, 0))
        ops.multiply(e, alpha, y)
        ops.add(y, ops.maximum(x, zero, scratch), y)
        ops.add(e, ws.constant("one", 1.0, dtype), e)  # exp(min(x, 0))
        ops.multiply(e, alpha, derivative)
        ops.greater(x, zero, scratch)
        ops.multiply(scratch, ws.constant("one_minus_alpha", 1.0 - self.alpha, dtype), scratch)
        ops.add(derivative, scratch, derivative)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}
