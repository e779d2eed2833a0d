"""GlobalAveragePooling1D and GlobalMaxPooling1D (Keras 3: ``keras/src/layers/pooling/``
``global_average_pooling1d.py``, ``global_max_pooling1d.py``, ``base_global_pooling.py``).

Inputs (batch, steps, features) (``data_format="channels_last"``, Keras's default) or (batch, features, steps)
(``"channels_first"``); outputs (batch, features), or with ``keepdims=True`` the steps axis kept with length 1.

The average divides the sum by the number of steps, as Keras's ``ops.mean``; given a mask (an
``Embedding(mask_zero=True)`` before it, ``masking.py``), it averages over the unmasked steps only: the sum of
the unmasked steps over their count, Keras's formula, NaN for a sample whose steps are all masked, as in Keras.
The maximum does not support masking (Keras drops the mask there, with its warning). Gradients are those of
the formulas as JAX and TensorFlow take them: dy over the count at each counted step; for the maximum, dy
shared equally between the steps that tie for it.
"""
from __future__ import annotations

import numpy as np

from .base import Layer

DATA_FORMATS = ("channels_last", "channels_first")


class _GlobalPooling1D(Layer):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        data_format = "channels_last" if data_format is None else data_format  # Keras's image_data_format()
        if data_format not in DATA_FORMATS:
            raise ValueError(f"data_format: expected one of {DATA_FORMATS} or None, got {data_format!r}")
        if not isinstance(keepdims, (bool, np.bool_)):
            raise ValueError(f"keepdims: expected True or False, got {keepdims!r}")
        self.data_format = data_format
        self.keepdims = bool(keepdims)

    @property
    def _steps_axis(self) -> int:
        """The steps axis of the batched inputs."""
        return 1 if self.data_format == "channels_last" else 2

    def build(self, input_shape):
        if len(input_shape) != 2:
            layout = "(batch, steps, features)" if self.data_format == "channels_last" else "(batch, features, steps)"
            raise ValueError(f"{type(self).__name__}: expected inputs of shape {layout}, got samples of shape "
                             f"{tuple(input_shape)} (inputs of shape {(None,) + tuple(input_shape)})")
        super().build(input_shape)

    def output_sample_shape(self, input_shape):
        features = input_shape[-1] if self.data_format == "channels_last" else input_shape[0]
        if not self.keepdims:
            return (features,)
        return (1, features) if self.data_format == "channels_last" else (features, 1)

    def _expanded(self, per_feature, rows: int):
        """A (rows, features) array as (rows, 1, features) or (rows, features, 1): broadcast along the steps."""
        return per_feature.reshape((rows, 1, -1) if self.data_format == "channels_last" else (rows, -1, 1))

    def _per_step(self, per_step, rows: int):
        """A (rows, steps) array as (rows, steps, 1) or (rows, 1, steps): broadcast along the features."""
        return per_step.reshape((rows, -1, 1) if self.data_format == "channels_last" else (rows, 1, -1))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPooling1D):
    supports_masking = True  # Keras's flag; the mask is used here and not passed on (``output_mask_source``)
    uses_mask = True
    positional_call_arguments = ("mask",)  # Keras's call(inputs, mask=None): ``pool(x, m)`` gives the mask

    def output_mask_source(self, source):
        return None

    def compute_mask(self, inputs, mask=None):
        return None  # the mask is used here, not passed on (Keras's)

    def forward(self, x, training):
        ops, dtype = self.ops, x.dtype
        rows, axis = x.shape[0], self._steps_axis
        ws = self.workspace(rows)
        y = ws.buffer("y", (rows,) + self.output_shape, dtype)
        mask = None if self.mask_source is None else self.mask_source.mask_for(rows)
        if mask is None:
            steps = ws.constant("steps", float(x.shape[axis]), dtype)
            ops.divide(ops.sum(x, axis, y, keepdims=self.keepdims), steps, y)
        else:
            count = ops.sum(mask, 1, ws.buffer("count", (rows, 1), dtype), keepdims=True)
            kept = ops.multiply(x, self._per_step(mask, rows), ws.buffer("kept", x.shape, dtype))
            total = ops.sum(kept, axis, y, keepdims=self.keepdims)
            ops.divide(total, count if y.ndim == 2 else count.reshape(rows, 1, 1), y)

        def backprop(dy, need_dx=True):
            if not need_dx:
                return None
            dx = ws.buffer("dx", x.shape, dtype)
            dy = self._expanded(dy, rows)
            if mask is None:
                return ops.divide(dy, steps, dx)
            ops.divide(dy, count.reshape(rows, 1, 1), dx)  # JAX's order: the sum's gradient, then the where
            return ops.multiply(dx, self._per_step(mask, rows), dx)

        return y, backprop


class GlobalMaxPooling1D(_GlobalPooling1D):
    def forward(self, x, training):
        ops, dtype = self.ops, x.dtype
        rows, axis = x.shape[0], self._steps_axis
        ws = self.workspace(rows)
        y = ops.max(x, axis, ws.buffer("y", (rows,) + self.output_shape, dtype), keepdims=self.keepdims)

        def backprop(dy, need_dx=True):
            if not need_dx:
                return None
            at_max = ops.equal(x, self._expanded(y, rows), ws.buffer("at_max", x.shape, dtype))
            ties = ops.sum(at_max, axis, ws.buffer("ties", (rows,) + self.output_shape, dtype), keepdims=self.keepdims)
            dx = ops.divide(self._expanded(dy, rows), self._expanded(ties, rows), ws.buffer("dx", x.shape, dtype))
            return ops.multiply(dx, at_max, dx)

        return y, backprop


GlobalAvgPool1D = GlobalAveragePooling1D
GlobalMaxPool1D = GlobalMaxPooling1D
