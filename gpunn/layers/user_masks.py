"""Masks and the layers of the user's (Keras's guide "Understanding masking & padding"): a ``call(self, inputs,
mask=None)`` gets the padding mask of its input, and a ``compute_mask(self, inputs, mask=None)`` says what mask
its output carries, as Keras's ``Layer.__call__`` does it.

gpunn links masks when a model builds (``masking.py``): each layer using a mask reads the buffer of the layer
making it. For a layer of the user's, that plan is learnt from its own ``compute_mask``, called once on ones:
None drops the mask; the mask it was given, returned as it is, passes it on; anything else makes the layer a mask
source itself, whose mask its forward computes with ``compute_mask`` on each batch (a custom embedding's
``ops.not_equal(inputs, 0)``). Without a ``compute_mask`` of its own, ``supports_masking`` decides, as for
gpunn's layers."""
from __future__ import annotations

import functools
import inspect

import numpy as np

from ..autodiff import Tensor
from . import masking


@functools.lru_cache(maxsize=None)
def _call_takes_mask(cls) -> bool:
    try:
        return "mask" in inspect.signature(cls.call).parameters
    except (TypeError, ValueError):
        return False


def call_takes_mask(layer) -> bool:
    """Whether ``layer`` is a layer of the user's whose ``call()`` takes a ``mask`` argument."""
    from . import user_layer

    return user_layer.runs_call(layer) and _call_takes_mask(type(layer))


def _has_own_compute_mask(layer) -> bool:
    from . import user_layer

    return user_layer.runs_call(layer) and any(
        "compute_mask" in vars(klass) for klass in type(layer).__mro__ if klass.__module__.split(".")[0] != "gpunn")


def output_mask_source(layer, source):
    """The layer making the mask of ``layer``'s output (None: no mask), for an input whose mask ``source`` makes."""
    if not _has_own_compute_mask(layer) or isinstance(layer.input_shape, list):
        return masking.passes_mask(layer, source)
    # (a mask covers the samples' axes but the features': the input's shape less its last axis)
    incoming = None if source is None else Tensor(np.ones((2,) + tuple(layer.input_shape)[:-1], dtype=bool))
    result = layer.compute_mask(Tensor(np.ones((2,) + tuple(layer.input_shape), dtype="float32")), incoming)
    if isinstance(result, (list, tuple)):  # one mask per tensor of a call() returning several
        if any(mask is not None for mask in result):
            raise ValueError(
                f"layer {layer.name!r} ({type(layer).__name__}): its call() returns several tensors and its "
                "compute_mask gives them masks, which gpunn does not carry to the layers after it in a model (they "
                "would compute over the padding). Called on its own, the layer gives each tensor its "
                "_keras_mask; in a model, apply the mask inside call() or split the layer into layers of one output")
        return None
    layer._makes_own_mask = result is not None and result is not incoming
    if result is None or result is incoming:
        return None if result is None else source
    layer._mask_shape = tuple(np.shape(getattr(result, "value", result)))[1:]
    layer._incoming_mask_source = source  # (what compute_mask is given on each batch: write_own_mask)
    return layer


def mask_argument(layer, inputs, shapes_only: bool):
    """The ``mask`` a call() of the user's gets: the mask of its input as a boolean Tensor, None without one. On
    the call on ones that learns shapes, a mask of ones where a model's input could carry one (a sequence: the
    batch and steps axes), as Keras hands a symbolic mask to the first call."""
    source = layer.mask_source
    first = inputs[0] if isinstance(inputs, list) else inputs
    rows = first.shape[0]
    if source is not None:
        mask = source.mask_for(rows)
        return Tensor(mask != 0)
    if shapes_only and len(first.shape) >= 3:
        return Tensor(np.ones(tuple(first.shape[:-1]), dtype=bool))
    return None


def write_own_mask(layer, inputs) -> None:
    """For a layer that makes its output's mask (``output_mask_source`` returned the layer): ``compute_mask`` on
    this batch and the mask its input carries, written into the layer's mask buffer as the layers after it read
    it (1 where not padding)."""
    if not getattr(layer, "_makes_own_mask", False):
        return
    rows = (inputs[0] if isinstance(inputs, list) else inputs).shape[0]
    source = getattr(layer, "_incoming_mask_source", None)
    mask = None if source is None else Tensor(source.mask_for(rows) != 0)
    value = getattr(layer.compute_mask(inputs, mask), "value", None)
    out = layer.mask_for(rows)
    out[...] = layer.ops.asarray(value != 0, dtype=out.dtype)
