"""LayerNormalization over the last axis (Keras default epsilon 1e-3): each sample normalised on its own."""
from __future__ import annotations

from . import unused_keras_arguments
from .normalization import _ScaleShift


class LayerNormalization(_ScaleShift):
    supports_masking = True  # passes its input's mask on, as in Keras (masking.py)

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        # Keras pops its deprecated rms_scaling from kwargs too (RMSNormalization is the layer for that)
        unused_keras_arguments.refuse_used("LayerNormalization", "has RMSNormalization for RMS scaling",
                                           rms_scaling=kwargs.pop("rms_scaling", False))
        super().__init__(epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                         gamma_regularizer, beta_constraint, gamma_constraint, **kwargs)
        if axis not in (-1,):
            raise ValueError(f"axis: only the last axis (-1) is supported, got {axis!r}")
        self.axis = axis

    def forward(self, x, training):
        x2 = x.reshape(-1, x.shape[-1])
        ws = self.workspace(x.shape[0])
        _, var, centered = self.moments(ws, x2, axis=1)
        return self.normalize_scale_shift(x, ws, centered, var, stats_axis=1)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
