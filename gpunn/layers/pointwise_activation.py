"""The shared step of the activation layers (ReLU, LeakyReLU, ELU): y = f(x) element by element.

Where the backend's fused activation step computes f (``activation_step.py``: relu, leaky_relu with any
slope, elu with alpha 1), the layer runs it, as the Activation layer does. Otherwise the layer writes y and
the derivative f'(x) in one pass of Ops primitives (``compute``) and backward is dx = dy * f'(x). Either way
x is never overwritten (the layer before keeps it for its own backward) and every buffer comes from the
layer's workspace.
"""
from __future__ import annotations

from .activation_step import activation_backward, activation_forward
from .base import Layer


class PointwiseActivation(Layer):
    supports_masking = True  # ReLU, LeakyReLU, ELU pass their input's mask on, as in Keras (masking.py)

    def fused_spec(self):
        """The ActivationSpec the backend's fused step computes this layer with, or None (use ``compute``)."""
        return None

    def compute(self, ops, ws, x, y, derivative) -> None:
        """Write f(x) into ``y`` and f'(x) into ``derivative`` (both shaped like x)."""
        raise NotImplementedError

    def forward(self, x, training):
        ops, shape = self.ops, x.shape
        ws = self.workspace(shape[0])
        spec = self.fused_spec()
        if spec is not None:
            z = x.reshape(-1, shape[-1])
            y = activation_forward(ops, ws, z, None, spec, may_overwrite_z=False)

            def fused_backprop(dy, need_dx=True):
                if not need_dx:
                    return None
                dx = ws.buffer("dx", y.shape, y.dtype)
                return activation_backward(ops, ws, dy.reshape(y.shape), y, z, spec, dx, None).reshape(shape)

            return y.reshape(shape), fused_backprop

        y = ws.buffer("y", shape, x.dtype)
        derivative = ws.buffer("derivative", shape, x.dtype)
        self.compute(ops, ws, x, y, derivative)

        def backprop(dy, need_dx=True):
            if not need_dx:
                return None
            dx = ops.multiply(dy.reshape(shape), derivative, ws.buffer("dx", shape, x.dtype))
            # 0 where f' is 0 (a ReLU's units off or flat above max_value): a select, as jax's where and the
            # fused relu's, so that a NaN dy there (a row's 0/0 loss) passes 0 rather than NaN * 0
            flat = ops.equal(derivative, ws.constant("zero", 0.0, x.dtype), ws.buffer("flat", shape, bool))
            return ops.copy_where(ws.constant("zero", 0.0, x.dtype), flat, dx)

        return y, backprop
