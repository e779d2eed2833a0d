"""NonNeg: the weights made non-negative, max(w, 0), as Keras 3's ``ops.maximum(w, 0)`` (negatives become 0,
NaN stays NaN)."""
from __future__ import annotations

from .base import ProjectionWithOps, constant


class NonNeg(ProjectionWithOps):
    def apply(self, ops, ws, weight) -> None:
        ops.maximum(weight, constant(ws, 0, weight.dtype), weight)
