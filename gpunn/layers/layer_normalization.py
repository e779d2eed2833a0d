"""LayerNormalization over the last axis (Keras default epsilon 1e-3): each sample normalised on its own."""
from __future__ import annotations

from .normalization import _ScaleShift, normalize_backward


class LayerNormalization(_ScaleShift):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if axis not in (-1,):
            raise ValueError(f"axis: only the last axis (-1) is supported, got {axis!r}")
        self.axis = axis

    def forward(self, x, training):
        xp = self.ops.xp
        x2 = x.reshape(-1, x.shape[-1])
        mean = x2.mean(axis=1, keepdims=True)
        var = x2.var(axis=1, keepdims=True)
        inv_std = 1.0 / xp.sqrt(var + self.epsilon)
        xhat = (x2 - mean) * inv_std
        y = self.scale_shift(xhat)

        def backprop(dy, need_dx=True):
            dxhat = self.scale_shift_backward(dy.reshape(xhat.shape), xhat)
            if not need_dx:
                return None
            return normalize_backward(dxhat, xhat, inv_std, axis=1).reshape(x.shape)

        return y.reshape(x.shape), backprop

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
