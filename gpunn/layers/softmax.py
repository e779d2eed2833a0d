"""Softmax as a layer (Keras 3: ``keras/src/layers/activations/softmax.py``), over the last axis.

An Activation('softmax') under Keras's name: the row-wise softmax op forward, its gradient backward, and,
as the output layer of a model trained with (sparse) categorical cross-entropy, fused into the loss like any
softmax output. ``axis`` is the last axis (-1, or its index counting the batch axis); Keras's other axes and
its ``mask`` argument are not supported.
"""
from __future__ import annotations

from . import masking
from .activation import Activation


class Softmax(Activation):
    def __init__(self, axis=-1, **kwargs):
        super().__init__("softmax", **kwargs)
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"axis: expected an int (the last axis, -1), got {axis!r}")
        self.axis = axis

    def build(self, input_shape):
        last = len(input_shape)  # counting the batch axis, as Keras's axis does
        if self.axis not in (-1, last):
            raise ValueError(f"axis: gpunn's Softmax normalises over the last axis (-1 or {last} for inputs of "
                             f"shape {(None,) + tuple(input_shape)}), got {self.axis!r}")
        super().build(input_shape)

    def output_mask_source(self, source):
        masking.refuse(self, source, "leaves the masked steps out of the softmax")
        return None

    def get_config(self):
        config = super().get_config()
        config.pop("activation")
        return {**config, "axis": self.axis}
