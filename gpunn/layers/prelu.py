"""PReLU (Keras 3: ``keras/src/layers/activations/prelu.py``): f(x) = x for x >= 0, alpha * x otherwise, with
``alpha`` a trained weight of the input's sample shape (default initializer zeros), shared along
``shared_axes`` (axes counted with the batch axis, as in Keras: inputs (batch, H, W) and shared_axes=[1] give
alpha of shape (1, W)).

Forward keeps min(x, 0) for backward: d alpha = sum of dy * min(x, 0) over the batch and the shared axes, and
dx = dy * (1 where x > 0, else alpha).
"""
from __future__ import annotations

from .. import constraints, initializers, regularizers
from .base import Layer, WeightSpec, weight_property


class PReLU(Layer):
    supports_masking = True  # passes its input's mask on, as in Keras (masking.py)
    has_weights = True
    alpha = weight_property("alpha")

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.resolve("alpha_constraint", alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = list(shared_axes) if isinstance(shared_axes, (list, tuple)) else [shared_axes]
            if any(isinstance(a, bool) or not isinstance(a, int) or a < 1 for a in axes):
                raise ValueError(f"shared_axes: expected axes >= 1 (axis 0 is the batch), got {shared_axes!r}")
            self.shared_axes = axes

    def build(self, input_shape):
        for axis in self.shared_axes or []:
            if axis > len(input_shape):
                raise ValueError(f"shared_axes: axis {axis} is past the inputs' last axis (inputs of shape "
                                 f"{(None,) + tuple(input_shape)})")
        super().build(input_shape)

    def weight_specs(self):
        shape = list(self.input_shape)
        for axis in self.shared_axes or []:
            shape[axis - 1] = 1
        return [WeightSpec("alpha", tuple(shape), self.alpha_initializer, self.alpha_regularizer,
                           self.alpha_constraint)]

    def forward(self, x, training):
        ops, dtype = self.ops, x.dtype
        alpha = self.bound.weights["alpha"]
        ws = self.workspace(x.shape[0])
        zero = ws.constant("zero", 0.0, dtype)
        negative = ops.minimum(x, zero, ws.buffer("negative", x.shape, dtype))
        y = ops.maximum(x, zero, ws.buffer("y", x.shape, dtype))
        scratch = ws.buffer("scratch", x.shape, dtype)
        ops.add(y, ops.multiply(negative, alpha, scratch), y)
        reduced = (0,) + tuple(self.shared_axes or ())

        def backprop(dy, need_dx=True):
            grads = self.bound.grads
            if grads:  # a frozen layer has no gradient views
                grad = grads["alpha"]
                ops.sum(ops.multiply(dy, negative, scratch), reduced, grad.reshape((1,) + grad.shape), keepdims=True)
            if not need_dx:
                return None
            factor = ops.greater(x, zero, scratch)  # 1 above 0; alpha below: 1 * p + alpha * (1 - p)
            one_minus = ops.subtract(ws.constant("one", 1.0, dtype), factor, ws.buffer("one_minus", x.shape, dtype))
            ops.add(factor, ops.multiply(one_minus, alpha, one_minus), factor)
            return ops.multiply(dy, factor, ws.buffer("dx", x.shape, dtype))

        return y, backprop

    def get_config(self):
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": constraints.serialize(self.alpha_constraint),
            "shared_axes": self.shared_axes,
        }
