"""SpatialDropout1D (Keras 3: ``keras/src/layers/regularization/spatial_dropout.py``): Dropout of whole feature
channels of a sequence, inputs (batch, steps, features) and one decision per (sample, feature) shared by every
step: Dropout with ``noise_shape=(batch, 1, features)``."""
from __future__ import annotations

from .dropout import Dropout


class SpatialDropout1D(Dropout):
    def __init__(self, rate, seed=None, name=None, dtype=None, **kwargs):
        kwargs.pop("noise_shape", None)  # a config of gpunn's Dropout shape holds it; the layer fixes its own
        super().__init__(rate, noise_shape=(None, 1, None), seed=seed, name=name, dtype=dtype, **kwargs)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"SpatialDropout1D: expected inputs of shape (batch, steps, features), got samples of "
                             f"shape {tuple(input_shape)}")
        super().build(input_shape)

    def get_config(self):
        # Keras's BaseSpatialDropout.get_config: these four only (its constructor takes nothing else)
        config = super().get_config()
        return {key: config[key] for key in ("rate", "seed", "name", "dtype") if key in config}
