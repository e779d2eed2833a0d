"""Identity (Keras 3: ``keras/src/layers/core/identity.py``): returns its input unchanged; a placeholder."""
from __future__ import annotations

from .base import Layer


class Identity(Layer):
    supports_masking = True  # passes its input's mask on, as in Keras (masking.py)

    def forward(self, x, training):
        return x, (lambda dy, need_dx=True: dy if need_dx else None)
