"""Activation: applies an activation function as a layer of its own (no weights). With 'glu' the last axis is
halved (Keras's ``glu`` splits it in two), as ``output_sample_shape`` declares."""
from __future__ import annotations

from .. import activations
from .activation_step import activation_backward, activation_forward
from .base import Layer


class Activation(Layer):
    supports_masking = True  # passes its input's mask on, as in Keras (masking.py)

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def output_sample_shape(self, input_shape):
        if self.activation.name != "glu":
            return input_shape
        width = input_shape[-1]
        if width is not None and width % 2:
            raise ValueError(f"activation 'glu': axis size must be divisible by 2, got inputs of shape "
                             f"{(None,) + tuple(input_shape)}")
        return tuple(input_shape[:-1]) + (None if width is None else width // 2,)

    def forward(self, x, training):
        ops, act = self.ops, self.activation
        shape = x.shape
        ws = self.workspace(shape[0])
        z = x.reshape(-1, shape[-1])
        # Never overwrite x: the layer before keeps it for its own backward.
        y = activation_forward(ops, ws, z, None, act, may_overwrite_z=False, may_halve_width=True, shape=shape)

        def backprop(dy, need_dx=True):
            if not need_dx:
                return None
            dx = ws.buffer("dx", z.shape, z.dtype)
            return activation_backward(ops, ws, dy.reshape(y.shape), y, z, act, dx, None).reshape(shape)

        return y.reshape(shape[:-1] + y.shape[-1:]), backprop

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}
