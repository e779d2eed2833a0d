"""``x._keras_mask`` on a symbolic value of the functional API (Keras's masking guide prints it): the padding mask
the value carries, found by walking its layers back to its input as a model links its masks when it builds
(``masking.py``), and given as a ``SymbolicMask``; a value carrying none has no such attribute, as in Keras
(``getattr(x, "_keras_mask", None)`` reads None)."""
from __future__ import annotations

import warnings


class SymbolicMask:
    """The padding mask a symbolic value carries: booleans of shape ``shape`` (batch first), made by
    ``source`` (the Embedding, Masking or user's layer that makes it). For reading and printing: masks reach the
    layers using them by themselves."""

    dtype = "bool"

    def __init__(self, source, shape: tuple):
        self.source = source
        self.shape = tuple(shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<SymbolicTensor shape={self.shape}, dtype=bool: the padding mask made by layer {self.source.name!r}>"


def mask_of(value):
    """The SymbolicMask ``value`` (a SymbolicTensor) carries, or None."""
    from . import symbolic, wiring

    chain = []
    while isinstance(value, symbolic.SymbolicTensor):
        if isinstance(value, symbolic.ModelCall) or wiring.takes_list(value.layer) or len(value.parents) != 1:
            break  # a model called in the graph keeps its masks inside; a merge refuses masked inputs
        chain.append(value)
        value = value.parent
    source, made = None, None
    with warnings.catch_warnings():  # (the warning of a layer dropping the mask comes when the model builds)
        warnings.simplefilter("ignore")
        for step in reversed(chain):
            source, before = step.layer.output_mask_source(source), source
            if source is not before:
                made = step  # the value whose layer made the mask (or None, after a layer dropped it)
    if source is None:
        return None
    shape = getattr(source, "_mask_shape", None)  # a mask a user's compute_mask makes, else the value's steps
    steps = list(made._sample_shape[:-1] if shape is None else shape)
    if symbolic.is_symbolic(value) and not isinstance(value, symbolic.SymbolicTensor):  # the model's Input
        for axis, length in enumerate(tuple(value.shape)[1:1 + len(steps)]):
            if length is None:  # (gpunn builds axes of any length at a trial length: Keras shows None)
                steps[axis] = None
    return SymbolicMask(source, (None,) + tuple(steps))
