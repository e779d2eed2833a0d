"""ReLU with Keras 3's arguments (``keras/src/layers/activations/relu.py``, the math of
``keras/src/activations/activations.py``'s ``ReLU.static_call``):

    f(x) = min(x, max_value)                   for x > threshold
    f(x) = negative_slope * (x - threshold)    for x < threshold (0 at x = threshold)

computed as Keras does: (x if x > threshold else 0), clipped to [0, max_value], minus
negative_slope * max(threshold - x, 0). Defaults (no max, slope 0, threshold 0) are the plain relu, a slope
with neither max nor threshold is leaky_relu, and max_value=6 alone is relu6 (Keras takes its relu6 op there):
all three run in the backend's fused activation step.
"""
from __future__ import annotations

import functools

from .. import activations
from ..number_arguments import finite_number
from .pointwise_activation import PointwiseActivation


class ReLU(PointwiseActivation):
    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = finite_number("max_value", max_value, 0.0, allow_none=True, allow_inf=True)  # (inf: no cap)
        self.negative_slope = finite_number("negative_slope", negative_slope, 0.0)
        self.threshold = finite_number("threshold", threshold, 0.0)

    def activation_function(self):
        """As another layer's activation (``Dense(8, activation=ReLU(threshold=0.5))``): Keras's relu of these
        arguments."""
        return functools.partial(activations.relu, negative_slope=self.negative_slope, max_value=self.max_value,
                                 threshold=self.threshold)

    def fused_spec(self):
        if self.threshold != 0.0:
            return None
        if self.max_value is not None:
            relu6 = self.max_value == 6.0 and self.negative_slope == 0.0
            # relu6's gradient, 0 at 0 and at 6, is what ``compute`` gives there too
            return activations.ActivationSpec("relu6", 0.0) if relu6 else None
        if self.negative_slope == 0.0:
            return activations.ActivationSpec("relu", 0.0)
        return activations.ActivationSpec("leaky_relu", self.negative_slope)

    def compute(self, ops, ws, x, y, derivative):
        dtype = x.dtype
        threshold = ws.constant("threshold", self.threshold, dtype)
        scratch = ws.buffer("scratch", x.shape, dtype)
        ops.greater(x, threshold, derivative)  # 1 where x > threshold: the identity part
        ops.multiply(x, derivative, y)
        if self.max_value is not None:
            maximum = ws.constant("max_value", self.max_value, dtype)
            ops.minimum(y, maximum, y)
            ops.multiply(derivative, ops.greater(maximum, x, scratch), derivative)  # flat above max_value
        if self.negative_slope != 0.0:
            slope = ws.constant("negative_slope", self.negative_slope, dtype)
            below = ops.subtract(threshold, x, scratch)
            ops.maximum(below, ws.constant("zero", 0.0, dtype), below)
            ops.multiply(below, slope, below)
            ops.subtract(y, below, y)
            ops.multiply(ops.greater(threshold, x, scratch), slope, scratch)  # the slope below the threshold
            ops.add(derivative, scratch, derivative)

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}
