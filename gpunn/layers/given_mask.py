"""A padding mask given to one call of a layer (``layer(x, mask=m)`` on its own, ``x._keras_mask``, or
``self.pool(x, mask=...)`` inside a call() of the user's), for a layer that computes with one: read as a model's
layers read the mask of the layer making it (``mask_for``)."""
from __future__ import annotations

import numpy as np


class GivenMask:
    """A padding mask given to an eager call (``layer(x, mask=m)``, or carried as ``x._keras_mask``), read as a
    model's layers read the mask of the layer making it (``mask_for``)."""

    def __init__(self, ops, mask, dtype):
        self.mask = ops.asarray(np.asarray(ops.to_numpy(mask) if hasattr(mask, "device") else mask), dtype=dtype)

    def mask_for(self, rows: int):
        return self.mask


def given_mask(layer, mask, x, ops, dtype) -> GivenMask | None:
    """The mask given to a call of ``layer`` on ``x``, checked, for a layer that computes with one (others
    ignore it, as Keras passes a mask only to a call() taking one); None without."""
    if mask is None or not (layer.uses_mask or getattr(layer, "takes_given_mask", False)):
        return None
    if hasattr(layer, "check_given_mask"):  # (Softmax's: broadcastable from the last axis)
        layer.check_given_mask(tuple(np.shape(mask)), tuple(x.shape))
    elif np.shape(mask) != tuple(x.shape[:np.ndim(mask)]):
        raise ValueError(f"mask: expected the shape of the inputs' samples and steps {tuple(x.shape[:-1])}, got "
                         f"{np.shape(mask)}")
    return GivenMask(ops, mask, dtype)
