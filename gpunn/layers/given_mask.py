"""A padding mask given to one call of a layer (``layer(x, mask=m)`` on its own, ``x._keras_mask``, or
``self.pool(x, mask=...)`` inside a call() of the user's), for a layer that computes with one: read as a model's
layers read the mask of the layer making it (``mask_for``)."""
from __future__ import annotations

import numpy as np


class GivenMask:
    """A padding mask given to one call (``layer(x, mask=m)``, one carried as ``x._keras_mask``, or one given to
    a layer inside a call() of the user's), read as a model's layers read the mask of the layer making it
    (``mask_for``)."""

    def __init__(self, ops, mask, dtype):
        self.mask = ops.asarray(np.asarray(ops.to_numpy(mask) if hasattr(mask, "device") else mask), dtype=dtype)

    def mask_for(self, rows: int):
        return self.mask


def given_mask(layer, mask, x, ops, dtype, explicit: bool = True) -> GivenMask | None:
    """The mask given to a call of ``layer`` on ``x``, checked, for a layer that computes with one; None without.
    A mask the input carries (``explicit`` False: ``x._keras_mask``) is left to the layers that take one, as
    Keras passes it; one given by name to a layer whose call() takes none is refused, as Keras refuses it."""
    if mask is None or not takes_mask(layer, explicit):
        return None
    if hasattr(layer, "check_given_mask"):  # (Softmax's: broadcastable from the last axis)
        layer.check_given_mask(tuple(np.shape(mask)), tuple(x.shape))
    elif np.shape(mask) != tuple(x.shape[:np.ndim(mask)]):
        raise ValueError(f"mask: expected the shape of the inputs' samples and steps {tuple(x.shape[:-1])}, got "
                         f"{np.shape(mask)}")
    return GivenMask(ops, mask, dtype)


def takes_mask(layer, explicit: bool = True) -> bool:
    """Whether ``layer`` computes with a mask given to its call; a mask given by name to one whose call() takes
    none is refused, as Keras refuses it (``explicit`` False: one the input carries, which such a layer leaves)."""
    if layer.uses_mask or getattr(layer, "takes_given_mask", False):
        return True
    if explicit and getattr(layer, "keras_call_takes_mask", False):
        raise ValueError(f"mask: gpunn's {type(layer).__name__} ({layer.name!r}) does not compute with a mask "
                         "(Keras's does); leave mask=None")
    if explicit:
        raise TypeError(f"mask: layer {layer.name!r} ({type(layer).__name__}) takes no mask: its call() has no "
                        "mask argument (Keras refuses it too: 'got an unexpected keyword argument mask')")
    if getattr(layer, "keras_values_follow_mask", False):  # Keras's would compute other values with it
        raise ValueError(carried_mask_refused(layer))
    return False


def carried_mask_refused(layer) -> str:
    """Why a mask the input carries (``x._keras_mask``) is refused by ``layer``, whose Keras twin computes other
    values with it."""
    return (f"inputs: carry a padding mask (x._keras_mask, from Masking or Embedding(mask_zero=True)), with which "
            f"Keras's {type(layer).__name__} computes (its values, or its output's mask); gpunn's ({layer.name!r}) "
            f"does not compute with a mask, and refuses it here as in a model. Call it on the values alone "
            f"(np.asarray(x)) to compute without the mask")
