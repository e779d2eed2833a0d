"""``keras.Model(inputs, outputs)``: Keras's functional API.

``inputs = keras.Input(shape=(784,)); x = layers.Dense(64, activation="relu")(inputs); outputs =
layers.Dense(10)(x); model = keras.Model(inputs=inputs, outputs=outputs)`` is the same computation as a
Sequential model of those layers, and runs as one: ``Functional`` is a Sequential whose layers were given by the
calls (``layers/symbolic.py``) instead of a list. What differs is what Keras's functional models show: ``layers``
lists the InputLayers (``get_layer(index=...)`` counts them), ``summary()`` too, there is no ``add`` or ``pop``,
and ``get_config()`` / ``to_json()`` are Keras's functional layout (``inbound_nodes``, ``input_layers``,
``output_layers``; ``keras_file_config.py``), which ``keras.Model.from_config`` reads and ``Model.from_config``
takes.

Model files (``.keras``, ``.h5``, gpunn's safetensors) hold it in Keras's functional layout: Keras loads them as
its functional models, and gpunn loads Keras's functional models of the layers it has.

Between its inputs and its one output the model may be any graph (``layers/wiring.py``): branches, skip
connections, merge layers (``Add``, ``Concatenate``... ``layers/merging.py``), an input read again further on.
Several inputs (a list, or a dict by name) run as one array of their features side by side
(``layers/packed_inputs.py``); ``fit``, ``evaluate``, ``predict`` and calls take a list or tuple of arrays in
the order of ``inputs``, or a dict by input name, as Keras does. ``layers`` lists the InputLayers and the layers
in Keras's order. Several outputs (a list, or a dict by key) are the outputs of the layers making them
(``_output_indices``); their targets are packed as the inputs are (``trainer/packed_targets.py``), ``compile``
takes a loss, loss weight and metrics per output (``trainer/compiled_outputs.py``), and ``predict`` returns a list
or dict. A layer called twice (shared layers) is refused naming what the model has. A ``training=`` fixed in a
call (``base_model(inputs, training=False)``) holds in fit, evaluate and predict,
as in Keras (``symbolic.py``).
"""
from __future__ import annotations

from ..layers import wiring
from ..layers.base import _snake, unique_name
from ..layers.input_layer import InputLayer
from ..layers.packed_inputs import PackedInputs
from ..layers.symbolic import ModelCall, SymbolicTensor
from . import subclassed
from .sequential import Sequential


def _output_list(outputs) -> tuple[list, list | None]:
    """(the outputs in Keras's order, the dict keys naming them or None): a list or tuple keeps its order; a
    dict is taken in the order of its sorted keys, as Keras flattens it (``predict`` then returns a dict)."""
    if isinstance(outputs, dict):
        keys = sorted(outputs)
        values, keys = [outputs[key] for key in keys], [str(key) for key in keys]
    elif isinstance(outputs, (list, tuple)):
        values, keys = list(outputs), None
    else:
        values, keys = [outputs], None
    if not values:
        raise ValueError("outputs: expected at least one output")
    for k, value in enumerate(values):
        if isinstance(value, InputLayer):
            raise ValueError(f"outputs: output {k} is the input {value.name!r} itself; an output must be the result "
                             "of a layer called on the inputs")
        if not isinstance(value, SymbolicTensor):
            raise ValueError(f"outputs: expected the result of calling layers on the inputs, got {value!r}"
                             + (f" for output {k}" if len(values) > 1 else ""))
    if len({id(value) for value in values}) != len(values):
        raise ValueError("outputs: an output is given twice")
    return values, keys


def _input_list(inputs) -> tuple[list, list, object]:
    """(the InputLayers in Keras's order, the names data for them is matched by, their structure as given): a
    list or tuple keeps its order; a dict is taken in the order of its sorted keys, as Keras flattens it, and
    its keys name the inputs' data."""
    if isinstance(inputs, dict):
        keys = sorted(inputs)
        layers, names = [inputs[key] for key in keys], [str(key) for key in keys]
    elif isinstance(inputs, (list, tuple)):
        layers = list(inputs)
        names = [getattr(layer, "name", None) for layer in layers]
    else:
        layers, names = [inputs], [getattr(inputs, "name", None)]
    for k, layer in enumerate(layers):
        if not isinstance(layer, InputLayer):
            raise ValueError(f"inputs: expected what keras.Input(shape=...) returns, got {layer!r}"
                             + (f" for input {k}" if len(layers) > 1 else ""))
    if len({id(layer) for layer in layers}) != len(layers):
        raise ValueError("inputs: an input is given twice")
    if not layers:
        raise ValueError("inputs: expected at least one input")
    return layers, names, inputs


def _calls_in_order(inputs: list, outputs: list) -> list:
    """The calls from ``inputs`` to ``outputs``, each after the calls it reads (a depth-first walk from each
    output in turn); calls from elsewhere are refused by name."""
    finished: list = []
    done = set()

    def visit(node):
        if not isinstance(node, SymbolicTensor):
            if not any(node is layer for layer in inputs):
                name = getattr(node, "name", node)
                raise ValueError(f"outputs: they do not come from the inputs given ({[i.name for i in inputs]}) "
                                 f"alone but also from the input {name!r}")
            return
        if id(node) in done:
            return
        for parent in node.parents:
            visit(parent)
        done.add(id(node))
        finished.append(node)

    for output in outputs:
        visit(output)
    return finished


def keras_order(sources: tuple, input_count: int, outputs=None) -> list:
    """The model's inputs (as their source indices, ``-1 - k``) and layers (as indices) in Keras's order
    (keras/src/ops/function.py ``map_graph``): by depth, the longest way to the output (the last layer), deepest
    first; those of one depth in the order a depth-first walk from the outputs (``outputs``: their indices, in
    order; None: the last layer alone) first meets them (an input nothing reads at depth 0, first there, as Keras
    places it). Every layer comes after what it reads."""
    first_seen: dict = {}
    finished: list = []
    done = set()

    def visit(node):
        if node in done:
            return
        first_seen.setdefault(node, len(first_seen))
        for parent in sources[node] if node >= 0 else ():
            visit(parent)
        done.add(node)
        finished.append(node)

    for output in (len(sources) - 1,) if outputs is None else outputs:
        visit(output)
    depth: dict = {}
    for node in reversed(finished):
        here = depth.setdefault(node, 0)
        for parent in sources[node] if node >= 0 else ():
            depth[parent] = max(depth.get(parent, 0), here + 1)
    for k in range(input_count):
        source = wiring.input_source(k)
        if source not in done:
            depth[source], first_seen[source] = 0, -1
            finished.append(source)
    return sorted(finished, key=lambda node: (-depth[node], first_seen[node]))


def _graph(inputs: list, outputs: list) -> tuple[list, tuple, tuple, list, tuple]:
    """(layers, sources, modes, keras_layers, output_indices): the layers called from ``inputs`` to ``outputs``
    in Keras's order,
    for each the indices of the layers it reads (``wiring.py``; ``-1 - k``: input k) and the ``training`` its call
    fixed (None: the model's mode), and what Keras's ``model.layers`` lists (the InputLayers in their places). A
    model called as a layer contributes its layers, its call's ``training`` holding for those whose own call fixed
    none; the order is that of the whole graph so made, so that rebuilding the model from its layers and their
    sources (a config, a file, a clone) gives the same order; and the indices of the layers making the
    outputs."""
    layers, sources, modes = [], [], []
    made_by: dict = {}  # call -> index of the layer whose output it is; input -> its source index
    made_by.update({id(layer): wiring.input_source(k) for k, layer in enumerate(inputs)})
    seen = set()
    for call in _calls_in_order(inputs, outputs):
        reads = tuple(made_by[id(parent)] for parent in call.parents)
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
    ends = [made_by[id(output)] for output in outputs]
    if len(set(ends)) != len(ends):
        raise ValueError("outputs: two outputs are the same layer's output; give each once")
    order = keras_order(tuple(sources), len(inputs), ends)
    new_index = {old: new for new, old in enumerate(node for node in order if node >= 0)}
    ordered = [node for node in order if node >= 0]
    return ([layers[i] for i in ordered],
            tuple(tuple(s if s < 0 else new_index[s] for s in sources[i]) for i in ordered),
            tuple(modes[i] for i in ordered),
            [inputs[-1 - node] if node < 0 else layers[node] for node in order],
            tuple(new_index[end] for end in ends))


def _wiring(inputs, outputs) -> tuple:
    """(the inputs' parts, the outputs' parts, the graph between them) as ``Functional._wire`` takes them."""
    input_parts = _input_list(inputs)
    output_parts = _output_list(outputs)
    return input_parts, output_parts, _graph(input_parts[0], output_parts[0])


class Functional(Sequential):
    is_functional = True  # configs and files take Keras's functional layout (keras_file_config.py)

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if kwargs:
            raise TypeError(f"Model: unexpected keyword argument(s) {sorted(kwargs)}")
        if inputs is None or outputs is None:
            raise ValueError("Model: expected keras.Model(inputs=..., outputs=...) (a subclass of keras.Model with "
                             "a call() method of its own needs no inputs or outputs)")
        wiring_parts = _wiring(inputs, outputs)  # errors before a name is taken
        super().__init__(name=name or unique_name("functional"), trainable=trainable)
        self._wire(inputs, outputs, *wiring_parts)

    def _wire(self, inputs, outputs, input_parts, output_parts, graph) -> None:
        """Take the graph from ``inputs`` to ``outputs`` (``_wiring``'s parts of it) as the model's layers."""
        input_layers, input_names, structure = input_parts
        output_values, output_keys = output_parts
        layers, sources, modes, keras_layers, ends = graph
        Sequential.add(self, input_layers[0])
        self._input_layers, self._input_structure, self._keras_layers = input_layers, structure, keras_layers
        if len(input_layers) > 1:
            self._packed = PackedInputs(input_names, [layer.declared_input_shape for layer in input_layers])
        several = len(output_values) > 1  # one output in a dict trains as one output (its key names it)
        chain = wiring.is_chain(sources) and len(input_layers) == 1 and not several
        self._output_keys = output_keys
        self._connect(layers, None if chain else sources,
                      None if all(mode is None for mode in modes) else modes, ends if several else None)
        self._outputs = output_values
        self._output_structure = outputs

    @classmethod
    def from_layers(cls, inputs, layers: list, name=None, trainable=True, sources=None, modes=None,
                    outputs=None, output_keys=None) -> "Functional":
        """The model of ``layers`` called as ``sources`` says (``wiring.py``; None: a chain, in order), each with
        the ``training`` of ``modes`` (None: none fixed); ``inputs``: an InputLayer, or the list (or dict) of the
        model's several; ``outputs``: the indices of the layers making its outputs (None: the last layer alone),
        keyed by ``output_keys`` when they were a dict."""
        input_layers, _, _ = _input_list(inputs)
        values = {wiring.input_source(k): layer for k, layer in enumerate(input_layers)}
        for i, layer in enumerate(layers):
            reads = (i - 1,) if sources is None else sources[i]
            training = None if modes is None else modes[i]
            values[i] = layer(wiring.layer_inputs(layer, values, reads), training=training)
        ends = [values[i] for i in (outputs if outputs is not None else [len(layers) - 1])]
        if outputs is None and output_keys is None:
            return cls(inputs, ends[0], name=name, trainable=trainable)
        return cls(inputs, dict(zip(output_keys, ends)) if output_keys is not None else ends, name=name,
                   trainable=trainable)

    @property
    def layers(self) -> list:
        """As in Keras's functional models: the InputLayers and the layers, in Keras's order."""
        return list(self._keras_layers)

    @property
    def inputs(self) -> list:
        return list(self._input_layers)

    @property
    def input(self):
        """The input, or the inputs as they were given (list or dict), as Keras's ``model.input``."""
        return self._input_layers[0] if len(self._input_layers) == 1 else self._input_structure

    @property
    def outputs(self) -> list:
        return list(self._outputs)

    @property
    def output(self):
        """The output, or the outputs as they were given (list or dict), as Keras's ``model.output``."""
        return self._outputs[0] if len(self._outputs) == 1 and self._output_keys is None else \
            self._output_structure

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


class Model(Functional, metaclass=_ModelType):
    """``keras.Model``: ``Model(inputs=..., outputs=..., name=...)`` makes a functional model (a ``Functional``,
    as Keras's does); ``isinstance(model, Model)`` holds for every gpunn model, Sequential ones too.

    A subclass with a ``call()`` of its own (``class WideAndDeep(keras.Model)``) learns its graph from that
    ``call()`` on the first data it sees (``subclassed.py``); one that passes ``inputs`` and ``outputs`` to
    ``super().__init__`` is a functional model made by its constructor."""

    def __new__(cls, *args, **kwargs):
        if cls is Model:
            return Functional(*args, **kwargs)
        return object.__new__(cls)

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        name = name or unique_name(_snake(type(self).__name__))
        if inputs is not None or outputs is not None:
            Functional.__init__(self, inputs, outputs, name=name, trainable=trainable, **kwargs)
            self._awaits_trace = False
            return
        if kwargs:
            raise TypeError(f"Model: unexpected keyword argument(s) {sorted(kwargs)}")
        if type(self).call is Model.call:
            raise TypeError(f"{type(self).__name__}: a subclass of keras.Model needs a call() method (or inputs and "
                            "outputs given to super().__init__)")
        Sequential.__init__(self, name=name, trainable=trainable)
        self._awaits_trace = True
        self._output_labels = None
        self._outputs_as_tuple = False
        self._internal_attributes = set(vars(self)) | {"_internal_attributes"}

    def call(self, inputs, training=None, mask=None):
        """What a subclass defines: the outputs for ``inputs``, by calling its layers."""
        raise NotImplementedError(f"{type(self).__name__}.call")

    # ---- the graph of call() -------------------------------------------------------------------------
    def _trace_for(self, x, argument: str = "x") -> None:
        """Learn the graph of ``call()`` from inputs shaped like the data ``x``, once (``subclassed.py``)."""
        if getattr(self, "_awaits_trace", False):
            self._trace(subclassed.inputs_like(argument, x))

    def _trace(self, inputs) -> None:
        if type(self).build is not Model.build and not getattr(self, "_user_built", False):
            # The subclass makes layers in a build() of its own (Keras calls it before call()); its
            # super().build() comes back to Model.build, which then only takes note.
            self._building = True
            try:
                self.build(subclassed.shapes_of(inputs))
            finally:
                self._building = False
        tracked = subclassed.tracked_layers(self)
        outputs = subclassed.trace(self, inputs)
        several = isinstance(outputs, (list, tuple)) and len(outputs) > 1
        parts = _wiring(inputs, outputs)
        before = dict(vars(self))
        self._awaits_trace = False
        try:
            self._wire(inputs, outputs, *parts)
        except Exception:  # e.g. a layer refusing the shape it is given: the model stays as it was
            vars(self).clear()
            vars(self).update(before)
            raise
        self._tracked = tracked
        if several:  # tf.keras 2's names for the outputs of a subclassed model
            self._output_labels = [f"output_{k + 1}" for k in range(len(outputs))]
            self._outputs_as_tuple = isinstance(outputs, tuple)
        if self.compiled:  # compile's losses and metrics per output, now that the outputs are known
            self._resolve_compile()

    def build(self, input_shape=None) -> None:
        if getattr(self, "_building", False):  # super().build() in a subclass's own build(), run by _trace
            self._user_built = True
            return
        if getattr(self, "_awaits_trace", False):
            self._user_built = True
            if input_shape is None:
                raise ValueError(f"build: {type(self).__name__} learns its layers from call(); pass the input "
                                 "shape, build((None, features)) (or a list of shapes for several inputs), or call "
                                 "fit/predict on data")
            self._trace(subclassed.inputs_of_shape(input_shape))
            return
        super().build(input_shape)

    @property
    def layers(self) -> list:
        """Before the graph is known, the layers the subclass set as attributes (Keras's tracking); after, the
        functional model's layers, InputLayers included."""
        if getattr(self, "_awaits_trace", False):
            return subclassed.tracked_layers(self)
        return super().layers

__all__ = ["Functional", "Model", "ModelCall"]
