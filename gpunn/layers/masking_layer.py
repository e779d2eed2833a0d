"""Masking (Keras 3: ``keras/src/layers/core/masking.py``): the time steps whose features all equal
``mask_value`` are padding. They come out as zeros, and the layers after it see the mask (``masking.py``):
``GlobalAveragePooling1D`` averages the other steps, layers that support masking pass it on."""
from __future__ import annotations

import numbers

import numpy as np

from .base import Layer


class Masking(Layer):
    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, numbers.Real):
            raise ValueError(f"mask_value: expected a number, got {mask_value!r}")
        self.mask_value = mask_value

    def output_mask_source(self, source):
        return self  # Keras's compute_mask: any(inputs != mask_value, axis=-1), whatever came in

    def compute_mask(self, inputs, mask=None):
        """Keras's: the steps with a feature other than ``mask_value`` (booleans)."""
        from .. import ops

        kept = ops.any(ops.not_equal(inputs, self.mask_value), axis=-1)
        return getattr(kept, "value", kept)

    def mask_for(self, rows: int):
        """The mask of this layer's last output for batches of ``rows`` samples: 1 where a step is kept."""
        return self.workspace(rows).buffer("mask", (rows,) + tuple(self.input_shape[:-1]), self._mask_dtype)

    def forward(self, x, training):
        ops, dtype, rows = self.ops, x.dtype, x.shape[0]
        ws = self.workspace(rows)
        self._mask_dtype = dtype
        same = ops.equal(x, ws.constant("mask_value", self.mask_value, dtype), ws.buffer("same", x.shape, np.bool_))
        padding = ops.all(same, -1, ws.buffer("padding", x.shape[:-1], np.bool_))
        mask = ops.subtract(ws.constant("one", 1.0, dtype), padding, self.mask_for(rows))
        keep = mask.reshape(mask.shape + (1,))
        y = ops.multiply(x, keep, ws.buffer("y", x.shape, dtype))  # Keras: inputs * cast(mask)

        def backprop(dy, need_dx=True):
            if not need_dx:
                return None
            return ops.multiply(dy, keep, ws.buffer("dx", x.shape, dtype))

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
