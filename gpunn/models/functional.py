"""``keras.Model(inputs, outputs)``: Keras's functional API, for models that are a chain of layers.

``inputs = keras.Input(shape=(784,)); x = layers.Dense(64, activation="relu")(inputs); outputs =
layers.Dense(10)(x); model = keras.Model(inputs=inputs, outputs=outputs)`` is the same computation as a
Sequential model of those layers, and runs as one: ``Functional`` is a Sequential whose layers were given by the
calls (``layers/symbolic.py``) instead of a list. What differs is what Keras's functional models show: ``layers``
starts with the InputLayer (``get_layer(index=...)`` counts it), ``summary()`` lists it, there is no ``add`` or
``pop``, and ``get_config()`` / ``to_json()`` are Keras's functional layout (``inbound_nodes``, ``input_layers``,
``output_layers``; ``keras_config.py``), which ``keras.Model.from_config`` reads and ``Model.from_config`` takes.

Model files (``.keras``, ``.h5``, gpunn's safetensors) hold it in Keras's functional layout: Keras loads them as
its functional models, and gpunn loads Keras's functional models that are chains.

A graph that is not a chain (several inputs or outputs, a layer called twice, merge layers) is refused naming
what it has; so is a fixed ``training=`` in a call (``symbolic.py``).
"""
from __future__ import annotations

from ..layers.base import unique_name
from ..layers.input_layer import InputLayer
from ..layers.symbolic import ModelCall, SymbolicTensor
from .sequential import Sequential


def _single(argument: str, value):
    if isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if isinstance(value, (list, tuple, dict)):
        raise ValueError(f"{argument}: gpunn's functional models take one input and one output, got "
                         f"{len(value)} {argument}")
    return value


def _chain(inputs: InputLayer, outputs) -> list:
    """The layers (and models) called from ``inputs`` to ``outputs``, in order."""
    if not isinstance(inputs, InputLayer):
        raise ValueError(f"inputs: expected what keras.Input(shape=...) returns, got {inputs!r}")
    if not isinstance(outputs, SymbolicTensor):
        raise ValueError(f"outputs: expected the result of calling layers on the inputs, got {outputs!r}")
    calls, node = [], outputs
    while isinstance(node, SymbolicTensor):
        calls.append(node.layer)
        node = node.parent
    if node is not inputs:
        raise ValueError(f"outputs: they do not come from these inputs ({inputs.name!r}) but from the input "
                         f"{getattr(node, 'name', node)!r}")
    calls.reverse()
    seen = set()
    for layer in calls:
        if id(layer) in seen:
            raise ValueError(f"outputs: layer {layer.name!r} is called twice on the way from the inputs; gpunn's "
                             "functional models are a chain of distinct layers")
        seen.add(id(layer))
    return calls


class Functional(Sequential):
    is_functional = True  # configs and files take Keras's functional layout (keras_file_config.py)

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if kwargs:
            raise TypeError(f"Model: unexpected keyword argument(s) {sorted(kwargs)}")
        if inputs is None or outputs is None:
            raise ValueError("Model: gpunn builds models of the functional API, keras.Model(inputs=..., "
                             "outputs=...), and Sequential ones; subclassed models (a call() method of your "
                             "own) are not supported")
        inputs, outputs = _single("inputs", inputs), _single("outputs", outputs)
        calls = _chain(inputs, outputs)
        super().__init__(name=name or unique_name("functional"), trainable=trainable)
        Sequential.add(self, inputs)
        for layer in calls:
            Sequential.add(self, layer)  # a model called as a layer adds its layers, as in a Sequential

    @classmethod
    def from_layers(cls, input_layer: InputLayer, layers: list, name=None, trainable=True) -> "Functional":
        """The chain ``input_layer`` -> ``layers``, called in order."""
        x = input_layer
        for layer in layers:
            x = layer(x)
        return cls(input_layer, x, name=name, trainable=trainable)

    @property
    def layers(self) -> list:
        """As in Keras's functional models: the InputLayer, then the layers in the order they were called."""
        return [self._input_layer] + list(self._layers)

    @property
    def inputs(self) -> list:
        return [self._input_layer]

    def add(self, layer) -> None:
        raise AttributeError("'Functional' object has no attribute 'add': a functional model is made whole by "
                             "keras.Model(inputs, outputs); use a Sequential model to add layers")

    def pop(self):
        raise AttributeError("'Functional' object has no attribute 'pop': a functional model is made whole by "
                             "keras.Model(inputs, outputs); use a Sequential model to remove layers")

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self.layers[index]
        return super().get_layer(name=name)

    def __repr__(self) -> str:
        return f"<Functional name={self.name!r} layers={len(self._layers)} built={self.built}>"


class _ModelType(type):
    def __instancecheck__(cls, instance) -> bool:
        return isinstance(instance, Sequential)  # Keras: every model, Sequential ones too, is a keras.Model


class Model(metaclass=_ModelType):
    """``keras.Model``: ``Model(inputs=..., outputs=..., name=...)`` makes a functional model (a ``Functional``,
    as Keras's does); ``isinstance(model, Model)`` holds for every gpunn model, Sequential ones too."""

    def __new__(cls, *args, **kwargs):
        return Functional(*args, **kwargs)  # a subclass of Model (a call() of its own) is refused there

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return Functional.from_config(config, custom_objects)


__all__ = ["Functional", "Model", "ModelCall"]
