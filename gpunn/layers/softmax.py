"""Softmax as a layer (Keras 3: ``keras/src/layers/activations/softmax.py``), over the last axis.

An Activation('softmax') under Keras's name: the row-wise softmax op forward, its gradient backward, and,
as the output layer of a model trained with (sparse) categorical cross-entropy, fused into the loss like any
softmax output. ``axis`` is the last axis (-1, or its index counting the batch axis); Keras's other axes are
not supported.

A mask given to a call of the layer on its own (``Softmax()(x, mask=m)``, or ``Softmax()(x, m)``: the second
argument of Keras's ``call(inputs, mask=None)``) is Keras's: broadcastable to the inputs, its positions that are
False (or not above 0.5) get -1e9 before the softmax and 0 after it. The padding mask of a layer before it in a
model (an Embedding's ``mask_zero``) is refused, as Keras's broadcasts it against the wrong axes.
"""
from __future__ import annotations

import functools

from .. import activations
from . import masking
from .activation import Activation


def _large_negative_number(dtype) -> float:
    return -3e4 if str(dtype) == "float16" else -1e9  # Keras's, which float16 cannot hold


class Softmax(Activation):
    # Keras's call(inputs, mask=None): a second positional argument is the mask (``Layer._positional``)
    positional_call_arguments = ("mask",)
    # computes with a mask given to an eager call (calling.py); a model's padding mask is refused
    # (output_mask_source), so it links to no mask in a model (``uses_mask`` stays False)
    takes_given_mask = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__("softmax", **kwargs)
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"axis: expected an int (the last axis, -1), got {axis!r}")
        self.axis = axis

    def activation_function(self):
        """As another layer's activation (``Dense(3, activation=Softmax())``): the fused softmax over the last
        axis; over another (``axis=1``), Keras's softmax over that axis."""
        if self.axis == -1:
            return self.activation
        return functools.partial(activations.softmax, axis=self.axis)

    def build(self, input_shape):
        last = len(input_shape)  # counting the batch axis, as Keras's axis does
        if self.axis not in (-1, last):
            raise ValueError(f"axis: gpunn's Softmax normalises over the last axis (-1 or {last} for inputs of "
                             f"shape {(None,) + tuple(input_shape)}), got {self.axis!r}")
        super().build(input_shape)

    def output_mask_source(self, source):
        masking.refuse(self, source, "leaves the masked steps out of the softmax")
        return None

    @staticmethod
    def check_given_mask(mask_shape: tuple, inputs_shape: tuple) -> None:
        """Keras's check of an explicit mask: broadcastable to the inputs, counting from the last axis."""
        broadcastable = len(mask_shape) <= len(inputs_shape) and all(
            m in (1, i) for m, i in zip(mask_shape[::-1], inputs_shape[::-1]))
        if not broadcastable:
            raise ValueError("mask: the `mask` must be broadcastable to `inputs` (each of its dimensions, counted "
                             f"from the last, 1 or the inputs'); got inputs.shape={inputs_shape}, "
                             f"mask.shape={mask_shape}")

    def forward(self, x, training):
        given = None if self.mask_source is None else self.mask_source.mask_for(x.shape[0])
        if given is None:
            return super().forward(x, training)
        ops, dtype = self.ops, x.dtype
        ws = self.workspace(x.shape[0])
        keep = ops.greater(given, 0.5, ws.buffer("keep", x.shape, dtype))  # Keras's mask > 0.5
        # Keras's where(mask, x, -1e9), which leaves a masked -inf or NaN out (only a call on its own, or one
        # inside a call() of the user's, which a step runs as a host call, gets here: a model's mask is refused, so
        # this is never recorded)
        z = ops.copy_into(ops.xp.where(keep > 0, x, dtype.type(_large_negative_number(dtype))),
                          ws.buffer("masked", x.shape, dtype))
        y, softmax_backprop = super().forward(z, training)
        out = ops.multiply(y, keep, ws.buffer("out", x.shape, dtype))  # 0 where masked, a whole row masked too

        def backprop(dy, need_dx=True):
            if not need_dx:
                return None
            dz = softmax_backprop(ops.multiply(dy, keep, ws.buffer("dy_kept", x.shape, dtype)))
            return ops.multiply(dz, keep, dz)

        return out, backprop

    def get_config(self):
        config = super().get_config()
        config.pop("activation")
        return {**config, "axis": self.axis}
