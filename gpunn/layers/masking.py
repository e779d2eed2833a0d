"""Keras's masks through a Sequential model (keras/src/layers/layer.py ``__call__`` and ``compute_mask``).

A mask marks the time steps of a sequence that are padding. In gpunn's layers ``Embedding(mask_zero=True)`` makes
one (token id 0 is padding), and so does ``Masking`` (steps whose features all equal its ``mask_value``); it
travels with the outputs through the layers that support masking (Keras's ``supports_masking``: Dense, Dropout,
the activations...), and a layer that uses it
(``GlobalAveragePooling1D``: the mean over the steps that are not padding) consumes it. As in Keras, a layer that
does not support masking drops it, with Keras's warning, and nothing after it sees it.

Models work this out once, when they build: ``link`` walks the layers and returns, for each layer that uses a
mask, the layer that makes it; ``attach`` hands each its source (again whenever the model runs, since a layer
shared by two models may have been linked by the other one). The mask itself is a buffer of the source layer's
workspace for the batch size (``mask_for(rows)``), written by its forward in the same pass, so recorded and
captured steps read it like any other buffer.
"""
from __future__ import annotations

import warnings

from . import wiring


def passes_mask(layer, source):
    """The mask source of ``layer``'s output, for an input whose mask ``source`` makes (None: no mask)."""
    if source is None or layer.supports_masking:
        return source
    # keras/src/layers/layer.py, word for word
    warnings.warn(
        f"Layer '{layer.name}' (of type {type(layer).__name__}) was passed an input with a mask attached to it. "
        "However, this layer does not support masking and will therefore destroy the mask information. "
        "Downstream layers will not see the mask.", UserWarning, stacklevel=4)
    return None


def link(layers, sources=None, output_indices=None) -> tuple[list, object]:
    """([(layer, mask source)] for the layers that use a mask, the source of the mask an output carries (the
    first found of the outputs at ``output_indices``; None: the last layer's); ``sources``: how the layers
    connect (``wiring.py``; None: a chain)."""
    if sources is not None:
        return wiring.link_masks(layers, sources, lambda layer, source: layer.output_mask_source(source),
                                 lambda layer, source: refuse(layer, source, "combines the masks of its inputs"),
                                 output_indices)
    links, source = [], None
    for layer in layers:
        if layer.uses_mask:
            links.append((layer, source))
        source = layer.output_mask_source(source)
    return links, source


def attach(links) -> None:
    for layer, source in links:
        layer.mask_source = source


def detach(layer) -> None:
    """A layer called on its own gets no mask (a model's link to another layer's mask would be stale there); nor
    does a layer after its call with a mask of its own (``given_mask.GivenMask``)."""
    if layer.uses_mask or getattr(layer, "takes_given_mask", False):
        layer.mask_source = None


def refuse(layer, source, what: str) -> None:
    """For layers whose Keras counterpart computes with the mask in a way gpunn does not (yet): an error rather
    than a silently different result."""
    if source is not None:
        raise ValueError(
            f"layer {layer.name!r} ({type(layer).__name__}) receives the padding mask of layer {source.name!r} "
            f"(mask_zero=True); Keras's {type(layer).__name__} {what} with it, which gpunn does not do. Place it "
            "after the pooling layer, or build the embedding with mask_zero=False")
