"""Rescaling (Keras 3: ``keras/src/layers/preprocessing/rescaling.py``): y = x * scale + offset, with ``scale``
and ``offset`` numbers or arrays broadcast against each sample (e.g. one per feature), cast to the layer's
dtype. Backward: dx = dy * scale. The constants go to the device once per backend and dtype.
"""
from __future__ import annotations

import numpy as np

from .base import Layer


def _constant(argument: str, value):
    """A number or an array of numbers, as float64 on the host (Keras's serialized NumPy array accepted)."""
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":
        value = value["config"]["value"]
    if isinstance(value, bool):
        raise ValueError(f"{argument}: expected a number or an array of numbers, got {value!r}")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{argument}: expected a number or an array of numbers, got {value!r}") from None
    if not np.isfinite(array).all():
        raise ValueError(f"{argument}: expected finite values, got {value!r}")
    return array


class Rescaling(Layer):
    supports_masking = True  # passes its input's mask on, as in Keras (masking.py)

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = scale, offset
        self._host = (_constant("scale", scale), _constant("offset", offset))
        self._device: dict = {}  # (backend, dtype) -> (scale, offset)

    def build(self, input_shape):
        sample = (1,) + tuple(input_shape)
        for argument, value in zip(("scale", "offset"), self._host):
            try:
                fits = np.broadcast_shapes(sample, value.shape) == sample
            except ValueError:
                fits = False
            if not fits:
                raise ValueError(f"{argument}: a value of shape {value.shape} does not broadcast to samples of shape "
                                 f"{tuple(input_shape)}")
        super().build(input_shape)

    def _constants(self, ops, dtype):
        key = (id(ops), np.dtype(dtype).str)
        found = self._device.get(key)
        if found is None or found[0] is not ops:
            found = self._device[key] = (ops,) + tuple(ops.asarray(v, dtype=dtype) for v in self._host)
        return found[1], found[2]

    def forward(self, x, training):
        ops = self.ops
        ws = self.workspace(x.shape[0])
        scale, offset = self._constants(ops, x.dtype)
        y = ops.multiply(x, scale, ws.buffer("y", x.shape, x.dtype))
        ops.add(y, offset, y)

        def backprop(dy, need_dx=True):
            if not need_dx:
                return None
            return ops.multiply(dy, scale, ws.buffer("dx", x.shape, x.dtype))

        return y, backprop

    def get_config(self):
        def plain(value):
            return value if isinstance(value, (int, float)) else np.asarray(value, dtype=np.float64).tolist()

        return {**super().get_config(), "scale": plain(self.scale), "offset": plain(self.offset)}
