"""``keras.Model(inputs, outputs)``: Keras's functional API.

``inputs = keras.Input(shape=(784,)); x = layers.Dense(64, activation="relu")(inputs); outputs =
layers.Dense(10)(x); model = keras.Model(inputs=inputs, outputs=outputs)`` is the same computation as a
Sequential model of those layers, and runs as one: ``Functional`` is a Sequential whose layers were given by the
calls (``layers/symbolic.py``) instead of a list. What differs is what Keras's functional models show: ``layers``
starts with the InputLayer (``get_layer(index=...)`` counts it), ``summary()`` lists it, there is no ``add`` or
``pop``, and ``get_config()`` / ``to_json()`` are Keras's functional layout (``inbound_nodes``, ``input_layers``,
``output_layers``; ``keras_config.py``), which ``keras.Model.from_config`` reads and ``Model.from_config`` takes.

Model files (``.keras``, ``.h5``, gpunn's safetensors) hold it in Keras's functional layout: Keras loads them as
its functional models, and gpunn loads Keras's functional models that are chains.

Between its one input and one output the model may be any graph (``layers/wiring.py``): branches, skip
connections, merge layers (``Add``, ``Concatenate``... ``layers/merging.py``), the input read again further on.
``layers`` lists them in Keras's order. Several inputs or outputs and a layer called twice (shared layers) are
refused naming what the model has. A ``training=`` fixed in a call (``base_model(inputs, training=False)``)
holds in fit, evaluate and predict, as in Keras (``symbolic.py``).
"""
from __future__ import annotations

from ..layers import wiring
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


def _call_order(inputs: InputLayer, output: SymbolicTensor) -> list:
    """The calls from ``inputs`` to ``output`` in Keras's order (keras/src/ops/function.py ``map_graph``): by
    depth, the longest way to the output, deepest first; calls of one depth in the order a depth-first walk from
    the output first meets them. Every call comes after the calls it reads."""
    order_seen: dict = {}  # call -> index of first visit
    finished: list = []  # post-order: every call after its parents
    done, in_progress = set(), set()

    def visit(node):
        if not isinstance(node, SymbolicTensor):
            if node is not inputs:
                name = getattr(node, "name", node)
                raise ValueError(f"outputs: they do not come from these inputs ({inputs.name!r}) alone but also from "
                                 f"the input {name!r}; gpunn's functional models take one input")
            return
        if id(node) in done:
            return
        order_seen.setdefault(id(node), len(order_seen))
        in_progress.add(id(node))
        for parent in node.parents:
            visit(parent)
        in_progress.discard(id(node))
        done.add(id(node))
        finished.append(node)

    visit(output)
    depth: dict = {}
    for node in reversed(finished):
        here = depth.setdefault(id(node), 0)
        for parent in node.parents:
            if isinstance(parent, SymbolicTensor):
                depth[id(parent)] = max(depth.get(id(parent), 0), here + 1)
    return sorted(finished, key=lambda node: (-depth[id(node)], order_seen[id(node)]))


def _graph(inputs: InputLayer, outputs) -> tuple[list, tuple, tuple]:
    """(layers, sources, modes): the layers called from ``inputs`` to ``outputs`` in Keras's order, for each the
    indices of the layers it reads (``wiring.py``; -1: the input) and the ``training`` its call fixed (None: the
    model's mode). A model called as a layer contributes its layers in its place, its call's ``training`` holding
    for those whose own call fixed none."""
    if not isinstance(inputs, InputLayer):
        raise ValueError(f"inputs: expected what keras.Input(shape=...) returns, got {inputs!r}")
    if not isinstance(outputs, SymbolicTensor):
        raise ValueError(f"outputs: expected the result of calling layers on the inputs, got {outputs!r}")
    layers, sources, modes, made_by = [], [], [], {}  # made_by: call -> index of the layer whose output it is
    seen = set()

    def index_of(value) -> int:
        return wiring.MODEL_INPUT if value is inputs else made_by[id(value)]

    for call in _call_order(inputs, outputs):
        reads = tuple(index_of(parent) for parent in call.parents)
        inner = call.layer._layers if isinstance(call, ModelCall) else [call.layer]
        inner_sources = call.layer._sources if isinstance(call, ModelCall) else None
        inner_modes = call.layer._modes if isinstance(call, ModelCall) else None
        base = len(layers)
        for k, layer in enumerate(inner):
            if id(layer) in seen:
                raise ValueError(f"outputs: layer {layer.name!r} is called twice on the way from the inputs; gpunn's "
                                 "functional models call each layer once (shared layers are not supported)")
            seen.add(id(layer))
            layers.append(layer)
            own = None if inner_modes is None else inner_modes[k]
            modes.append(call.training if own is None else own)
            if inner_sources is None:
                sources.append(reads if k == 0 else (base + k - 1,))
            else:
                sources.append(tuple(reads[0] if s == wiring.MODEL_INPUT else base + s for s in inner_sources[k]))
        made_by[id(call)] = len(layers) - 1
    return layers, tuple(sources), tuple(modes)


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
        layers, sources, modes = _graph(inputs, outputs)
        super().__init__(name=name or unique_name("functional"), trainable=trainable)
        Sequential.add(self, inputs)
        self._connect(layers, None if wiring.is_chain(sources) else sources,
                      None if all(mode is None for mode in modes) else modes)
        self._outputs = outputs

    @classmethod
    def from_layers(cls, input_layer: InputLayer, layers: list, name=None, trainable=True,
                    sources=None, modes=None) -> "Functional":
        """The model of ``layers`` called as ``sources`` says (``wiring.py``; None: a chain, in order), each with
        the ``training`` of ``modes`` (None: none fixed)."""
        values = {wiring.MODEL_INPUT: input_layer}
        for i, layer in enumerate(layers):
            reads = (i - 1,) if sources is None else sources[i]
            training = None if modes is None else modes[i]
            values[i] = layer(wiring.layer_inputs(layer, values, reads), training=training)
        return cls(input_layer, values[len(layers) - 1], name=name, trainable=trainable)

    @property
    def layers(self) -> list:
        """As in Keras's functional models: the InputLayer, then the layers in the order they were called."""
        return [self._input_layer] + list(self._layers)

    @property
    def inputs(self) -> list:
        return [self._input_layer]

    @property
    def input(self):
        return self._input_layer

    @property
    def outputs(self) -> list:
        return [self._outputs]

    @property
    def output(self):
        return self._outputs

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
