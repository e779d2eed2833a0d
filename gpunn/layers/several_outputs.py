"""A layer of the user's whose ``call()`` returns several tensors, as the Encoder of Keras's guide "Making new
layers and models via subclassing" returns ``z_mean, z_log_var, z``.

A model's graph holds one value per call, batch axis first; such a layer's output is its tensors packed side by
side, each flattened per sample (``pack``: one concatenation, which autodiff runs backward). Where the call is
recorded on symbolic values, it gives back a tuple (or list) of symbolic values, each the slice of its part of
that output (``ops`` operations: ``packed[:, a:b]``, reshaped to the part's sample shape). Inside another
layer's ``call()`` the parts come back as Tensors (``unpack``), and called on its own the layer returns its
tensors as they come.
"""
from __future__ import annotations

import contextlib
import math

from ..autodiff import Tensor, functions

_rebuilding: list = []  # set while a model is rebuilt from its layers and their sources (a config, a clone)


@contextlib.contextmanager
def packed_calls():
    """Calls giving back the packed output itself: a model rebuilt from a config or cloned holds the slices of it
    as the operations they are."""
    _rebuilding.append(True)
    try:
        yield
    finally:
        _rebuilding.pop()


def _flat_size(shape) -> int:
    return int(math.prod(shape))


def record(layer, result, rows: int) -> tuple:
    """Note on ``layer`` the sample shapes of the several tensors ``result`` its call() returned for ``rows``
    samples (and whether as a tuple or a list); the sample shape of the packed output."""
    for k, part in enumerate(result):
        if not isinstance(part, Tensor) and getattr(part, "_autodiff_tensor", None) is None:
            raise ValueError(f"layer {layer.name!r}: call() returned a {type(result).__name__} whose item {k} is a "
                             f"{type(part).__name__}; a layer returns tensors")
        shape = tuple(part.shape)
        if not shape or shape[0] != rows:
            raise ValueError(f"layer {layer.name!r}: call() returned, as item {k}, shape {shape} for a batch of "
                             f"{rows} samples; a layer in a model returns one row per sample in each")
    layer.output_parts = [tuple(part.shape[1:]) for part in result]
    layer.output_container = type(result) if isinstance(result, list) else tuple
    return (sum(_flat_size(shape) for shape in layer.output_parts),)


def returns_several(result) -> bool:
    return isinstance(result, (tuple, list))


def pack(result, rows: int, dtype) -> Tensor:
    """The tensors side by side, each flattened per sample, in ``dtype``."""
    flat = [functions.cast(functions.reshape(_tensor(part), (rows, -1)), str(dtype)) for part in result]
    return flat[0] if len(flat) == 1 else functions.concatenate(flat, axis=1)


def _tensor(value) -> Tensor:
    return value if isinstance(value, Tensor) else value._autodiff_tensor()


def _bounds(parts: list) -> list[tuple[int, int]]:
    bounds, start = [], 0
    for shape in parts:
        bounds.append((start, start + _flat_size(shape)))
        start += _flat_size(shape)
    return bounds


def unpack(layer, packed: Tensor):
    """The parts of a packed output as Tensors (inside a call() of the user's), in the call's container."""
    parts = [functions.reshape(functions.get_item(packed, (slice(None), slice(a, b))), (packed.shape[0],) + shape)
             for (a, b), shape in zip(_bounds(layer.output_parts), layer.output_parts)]
    return layer.output_container(parts)


def unpack_symbolic(layer, packed):
    """The parts of a packed symbolic output, as operations on it, in the call's container."""
    from .. import ops

    parts = []
    for (a, b), shape in zip(_bounds(layer.output_parts), layer.output_parts):
        part = packed[:, a:b]
        parts.append(part if shape == (b - a,) else ops.reshape(part, (-1,) + shape))
    return layer.output_container(parts)


def of(layer):
    """The sample shapes of the parts of ``layer``'s output, or None for a layer of one output."""
    return layer.__dict__.get("output_parts")


def unpacks(layer) -> bool:
    """Whether a symbolic call of ``layer`` gives back its parts (not while a model is rebuilt)."""
    return bool(of(layer)) and not _rebuilding
