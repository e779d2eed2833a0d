"""Activation: applies an activation function as a layer of its own (no weights)."""
from __future__ import annotations

from .. import activations
from .base import Layer


class Activation(Layer):
    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def forward(self, x, training):
        ops, act = self.ops, self.activation
        shape = x.shape
        z = x.reshape(-1, shape[-1])
        ws = self.workspace(z.shape[0])
        y = ws.buffer("y", z.shape, z.dtype)  # never overwrite x: the layer before keeps it for its own backward
        if act.elementwise:
            ops.bias_act_forward(z, None, act.name, y, act.alpha)
        else:
            ops.softmax(z, y)

        def backprop(dy, need_dx=True):
            if not need_dx:
                return None
            dy2 = dy.reshape(y.shape)
            dx = ws.buffer("dx", y.shape, y.dtype)
            if act.elementwise:
                preact = z if act.needs_preactivation else None
                ops.act_backward_bias_grad(dy2, y, preact, act.name, dx, None, act.alpha)
            else:
                ops.softmax_backward(y, dy2, dx, ws.buffer("softmax_scratch", y.shape, y.dtype),
                                     ws.buffer("row_sums", (y.shape[0], 1), y.dtype))
            return dx.reshape(shape)

        return y.reshape(shape), backprop

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}
