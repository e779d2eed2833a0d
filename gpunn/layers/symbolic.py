"""Symbolic calls, Keras's functional API for a chain of layers: ``x = Dense(64)(inputs)`` on ``inputs =
keras.Input(shape=...)`` returns a ``SymbolicTensor``, a record of the call (the layer and what it was called on),
with the shape Keras's ``KerasTensor`` would have. ``keras.Model(inputs, outputs)`` (``models/functional.py``)
follows these records back from the outputs to the inputs.

As in Keras, the call builds the layer for the shape it receives (its weights exist from then on).
"""
from __future__ import annotations


class SymbolicTensor:
    """The output of ``layer`` called on ``parent`` (an InputLayer or another SymbolicTensor), of sample shape
    ``sample_shape``."""

    def __init__(self, layer, parent, sample_shape: tuple):
        self.layer = layer
        self.parent = parent
        self._sample_shape = tuple(sample_shape)

    @property
    def shape(self) -> tuple:
        return (None,) + self._sample_shape

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> str:
        return "float32"

    def __repr__(self) -> str:
        return f"<SymbolicTensor shape={self.shape} from layer {self.layer.name!r}>"


def is_symbolic(value) -> bool:
    from .input_layer import InputLayer

    return isinstance(value, (SymbolicTensor, InputLayer))


def sample_shape_of(value) -> tuple:
    """The sample shape (no batch axis) a symbolic value carries."""
    if isinstance(value, SymbolicTensor):
        return value._sample_shape
    return tuple(value.declared_input_shape)


def call_symbolic(layer, inputs, training=None, mask=None) -> SymbolicTensor:
    """``layer(inputs)`` on a symbolic input: the layer built for its shape, the call recorded."""
    if training is not None:
        raise ValueError(f"training: a functional model runs layer {layer.name!r} as fit/evaluate/predict ask "
                         f"(training in fit, inference otherwise); a fixed training={training!r} in the graph is "
                         "not supported: leave it out, or freeze the layers (trainable=False) to keep "
                         "BatchNormalization in inference mode")
    if mask is not None:
        raise ValueError("mask: gpunn layers take no mask; leave mask=None")
    shape = sample_shape_of(inputs)
    from ..models.sequential import _build_layer

    if not layer.built or tuple(layer.input_shape) != shape:
        _build_layer(layer, shape)
    return SymbolicTensor(layer, inputs, layer.output_shape)


class ModelCall(SymbolicTensor):
    """A Sequential model called on a symbolic input: its layers join the functional model in its place, the
    very objects (sharing their weights with it), as they join a Sequential it is added to."""


def call_symbolic_model(model, inputs, training=None, mask=None) -> SymbolicTensor:
    if training is not None or mask is not None:
        call_symbolic(model, inputs, training, mask)  # the same refusals, by name
    shape = sample_shape_of(inputs)
    if not model.built or tuple(model.input_shape[1:]) != shape:
        model.build((None,) + shape)
    return ModelCall(model, inputs, model.output_shape[1:])
