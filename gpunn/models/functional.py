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
or dict. A layer called several times (a shared layer) runs its later calls as SharedCalls
(``layers/shared_call.py``). A ``training=`` fixed in a call (``base_model(inputs, training=False)``) holds in fit, evaluate and predict,
as in Keras (``symbolic.py``).
"""
from __future__ import annotations

import functools
import weakref

from .. import auto_config, compute_turns, dtype_policies, keras_objects, overrides
from ..autodiff.default_float import floatx
from ..custom_objects import custom_object_scope
from ..layers import several_outputs, sublayers, text_inputs, variable_paths, wiring
from ..layers.base import Layer, unique_name
from ..naming import snake_case
from ..ops import get_ops
from ..trainer import custom_steps
from ..layers.input_layer import Input, InputLayer
from ..layers.operation import is_operation
from ..layers.packed_inputs import PackedInputs
from ..layers.shared_call import SharedCall, is_shared_call
from ..layers.symbolic import ModelCall, SymbolicTensor
from . import outside_graph, own_weights, subclassed, subclassed_config
from .keras_attribute_paths import is_subclassed, keras_layers
from .model_entries import entries
from .sequential import Sequential
from ..unknown_arguments import refuse_unknown


def _refuse_nested(argument: str, values: list, keys=None) -> None:
    """A list, tuple or dict inside the model's inputs or outputs (``[o1, [o2, o3]]``): Keras flattens such a
    structure and gives data and predictions back in it; gpunn's models take one level. ``keys``: a dict's keys,
    in the order of ``values``."""
    for k, value in enumerate(values):
        if isinstance(value, (list, tuple, dict)):
            item = k if keys is None else repr(keys[k])
            raise ValueError(f"{argument}: nested structures are not supported (item {item} is a "
                             f"{type(value).__name__}); give one flat list, or a dict of tensors by name "
                             f"(e.g. [a, b, c] for [a, [b, c]])")


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
    _refuse_nested("outputs", values, keys)
    for k, value in enumerate(values):
        if isinstance(value, InputLayer):  # an input given back as it came: through an Identity layer, a graph's
            # outputs being layers' (Keras's model lists no layer for it)
            from ..layers.identity import Identity

            identity = Identity()
            identity._gives_back = value  # named after the input in output_names, and not in model.layers
            values[k] = value = identity(value)
        if not isinstance(value, SymbolicTensor):
            raise ValueError(f"outputs: expected the result of calling layers on the inputs, got {value!r}"
                             + (f" for output {k}" if len(values) > 1 else ""))
    seen = set()
    for k, value in enumerate(values):
        if id(value) in seen:  # the same value again (Keras's test_partial_loss_partial_label): through an
            # Identity layer, so that each output has a layer of its own, as an input given back has
            from ..layers.identity import Identity

            values[k] = Identity(name=unique_name(f"{value.layer.name}_again"))(value)
        seen.add(id(values[k]))
    return values, keys


def _stand_in(tensor: SymbolicTensor) -> InputLayer:
    """The input of a model whose input is a layer's output (``keras.Model(inputs=encoded_features, ...)``):
    Keras's ``clone_graph_nodes`` gives such a model a new ``keras.Input`` of that output's shape and dtype, named
    after it with "CLONE", and the layers after it read that input. The tensor stays the graph's: the model's
    walk from its outputs stops at it (``_calls_in_order``)."""
    layer = Input(batch_shape=tensor.shape, dtype=tensor.dtype, name=unique_name(f"{tensor.layer.name}CLONE"))
    layer.stands_for = tensor
    return layer


def _stand_ins(inputs: list) -> dict:
    """id of a layer output taken as a model input -> the index of the input standing for it."""
    return {id(layer.stands_for): k for k, layer in enumerate(inputs) if getattr(layer, "stands_for", None) is not None}


def _input_list(inputs) -> tuple[list, list, object]:
    """(the InputLayers in Keras's order, the names data for them is matched by, their structure as given): a
    list or tuple keeps its order; a dict is taken in the order of its sorted keys, as Keras flattens it, and
    its keys name the inputs' data. A layer's output given as an input is replaced by an input standing for it
    (``_stand_in``), in the structure too."""
    if isinstance(inputs, SymbolicTensor) or isinstance(inputs, (list, tuple, dict)) and any(
            isinstance(value, SymbolicTensor) for value in (inputs.values() if isinstance(inputs, dict) else inputs)):
        def replace(value):
            return _stand_in(value) if isinstance(value, SymbolicTensor) else value

        if isinstance(inputs, dict):
            inputs = {key: replace(value) for key, value in inputs.items()}
        elif isinstance(inputs, (list, tuple)):
            inputs = type(inputs)(replace(value) for value in inputs)
        else:
            inputs = replace(inputs)
    if isinstance(inputs, dict):
        keys = sorted(inputs)
        layers, names = [inputs[key] for key in keys], [str(key) for key in keys]
    elif isinstance(inputs, (list, tuple)):
        layers = list(inputs)
        names = [getattr(layer, "name", None) for layer in layers]
    else:
        layers, names = [inputs], [getattr(inputs, "name", None)]
    _refuse_nested("inputs", layers, names if isinstance(inputs, dict) else None)
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
    stand_ins = _stand_ins(inputs)

    def visit(node):
        if id(node) in stand_ins:
            return
        if not isinstance(node, SymbolicTensor):
            if not any(node is layer for layer in inputs):
                name = getattr(node, "name", node)
                twin = " (another Input of that name: names must be unique)" if name in [i.name for i in inputs] \
                    else ""
                raise ValueError(f"outputs: they do not come from the inputs given ({[i.name for i in inputs]}) "
                                 f"alone but also from the input {name!r}{twin}")
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


def keras_order(sources: tuple, input_count: int, outputs=None, layer_keys=None) -> tuple[list, list]:
    """(the calls in the order they run, the layers in Keras's order) (keras/src/ops/function.py ``map_graph``).
    Calls are indices, inputs their source indices ``-1 - k``; ``layer_keys``: per call, its layer (calls of a
    shared layer share it; None: each call its own); layers are given as the key of a call of them, inputs as
    their source index.

    Keras's rule: a call's depth is the longest way from it to an output, raised to the deepest of its layer's
    calls seen so far; a layer's depth is its calls' deepest. Deepest first; those of one depth in the order a
    depth-first walk from the outputs (``outputs``: their indices, in order; None: the last call alone) first
    meets their layer (an input nothing reads at depth 0, first there, as Keras places it). Every call comes
    after what it reads."""
    def key(node):
        return node if node < 0 or layer_keys is None else layer_keys[node]

    first_seen: dict = {}  # per layer
    finished: list = []
    done = set()

    def visit(node):
        if node in done:
            return
        first_seen.setdefault(key(node), len(first_seen))
        for parent in sources[node] if node >= 0 else ():
            visit(parent)
        done.add(node)
        finished.append(node)

    for output in (len(sources) - 1,) if outputs is None else outputs:
        visit(output)
    depth: dict = {}  # per call
    layer_depth: dict = {}
    for node in reversed(finished):
        here = max(depth.setdefault(node, 0), layer_depth.get(key(node), 0))
        depth[node] = layer_depth[key(node)] = here
        for parent in sources[node] if node >= 0 else ():
            depth[parent] = max(depth.get(parent, 0), here + 1)
    for k in range(input_count):
        source = wiring.input_source(k)
        if source not in done:
            depth[source] = layer_depth[source] = 0
            first_seen[source] = -1
            finished.append(source)
    calls = sorted(finished, key=lambda node: (-depth[node], first_seen[key(node)], node))
    layers = sorted(layer_depth, key=lambda layer: (-layer_depth[layer], first_seen[layer]))
    return calls, layers


def _graph(inputs: list, outputs: list) -> tuple[list, tuple, tuple, list, tuple]:
    """(layers, sources, modes, keras_layers, output_indices): the layers called from ``inputs`` to ``outputs``
    in Keras's order,
    for each the indices of the layers it reads (``wiring.py``; ``-1 - k``: input k) and the ``training`` its call
    fixed (None: the model's mode), and what Keras's ``model.layers`` lists (the InputLayers in their places). A
    model called as a layer contributes its layers, its call's ``training`` holding for those whose own call fixed
    none; the order is that of the whole graph so made, so that rebuilding the model from its layers and their
    sources (a config, a file, a clone) gives the same order; and the indices of the layers making the
    outputs."""
    names = [layer.name for layer in inputs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:  # Keras: 'The name "inputs" is used 2 times in the model. All operation names should be unique.'
        raise ValueError(f"inputs: the name {repeated[0]!r} is used {names.count(repeated[0])} times among the model's "
                         "inputs; all names should be unique (give each keras.Input its own name)")
    layers, sources, modes = [], [], []
    made_by: dict = {}  # call -> index of the layer whose output it is; input -> its source index
    made_by.update({id(layer): wiring.input_source(k) for k, layer in enumerate(inputs)})
    made_by.update({tensor: wiring.input_source(k) for tensor, k in _stand_ins(inputs).items()})
    node_keys = []  # per call: what numbers it among its layer's calls (Keras's node index)
    made = _calls_in_order(inputs, outputs)
    # the graph of the calls as Keras sees them, a model called as a layer one operation: per call, the calls
    # (or inputs) it reads
    operation_sources = []
    operation_of: dict = {id(layer): wiring.input_source(k) for k, layer in enumerate(inputs)}
    operation_of.update({tensor: wiring.input_source(k) for tensor, k in _stand_ins(inputs).items()})
    for index, call in enumerate(made):
        operation_sources.append(tuple(operation_of[id(parent)] for parent in call.parents))
        operation_of[id(call)] = index
    for call in made:
        reads = tuple(made_by[id(parent)] for parent in call.parents)
        inner = call.layer._calls if isinstance(call, ModelCall) else [call.layer]
        inner_sources = call.layer._sources if isinstance(call, ModelCall) else None
        inner_modes = call.layer._modes if isinstance(call, ModelCall) else None
        base = len(layers)
        inner_nodes = call.layer._nodes if isinstance(call, ModelCall) else [0]
        for k, layer in enumerate(inner):
            layers.append(wiring.layer_of(layer))
            node_keys.append((0, call.node_index) if call.node_index is not None and not isinstance(call, ModelCall)
                             else (1, call.sequence, inner_nodes[k]))
            own = None if inner_modes is None else inner_modes[k]
            modes.append(call.training if own is None else own)
            if inner_sources is None:
                sources.append(reads if k == 0 else (base + k - 1,))
            else:
                # (its input k: what the call gave it there)
                sources.append(tuple(reads[-1 - s] if wiring.is_model_input(s) else base + s for s in inner_sources[k]))
        made_by[id(call)] = len(layers) - 1
    ends = [made_by[id(output)] for output in outputs]
    if len(set(ends)) != len(ends):
        raise ValueError("outputs: two outputs are the same layer's output; give each once")
    first_call: dict = {}  # per layer, the index of a call of it: the key keras_order groups its calls by
    layer_keys = [first_call.setdefault(id(layer), i) for i, layer in enumerate(layers)]
    order, layer_order = keras_order(tuple(sources), len(inputs), ends, layer_keys)
    new_index = {old: new for new, old in enumerate(node for node in order if node >= 0)}
    ordered = [node for node in order if node >= 0]
    calls = _calls_of([layers[i] for i in ordered])
    nodes = _node_indices([layers[i] for i in ordered], [node_keys[i] for i in ordered])
    keras_layers = [inputs[-1 - node] if node < 0 else layers[node] for node in layer_order]
    return (calls,
            tuple(tuple(s if s < 0 else new_index[s] for s in sources[i]) for i in ordered),
            tuple(modes[i] for i in ordered),
            _held_models_at_their_depth(inputs, made, operation_sources,
                                        [operation_of[id(output)] for output in outputs], keras_layers),
            tuple(new_index[end] for end in ends), nodes)


def _held_models_at_their_depth(inputs: list, made: list, sources: list, ends: list, keras_layers: list) -> list:
    """``keras_layers`` (Keras's order of the flattened graph) with each model called as a layer placed as Keras
    places it: one operation, at the depth of its call, its layers together there in its own order (Keras
    lists a held model deeper than a sibling branch after that branch's layers, and orders its ``weights`` and
    optimizer variables so). Unchanged when no model is held, or when a held model's layer is also called
    outside it (the flattened order, which lists such a layer by its first call). ``made``: the calls in the
    order they run, ``sources`` what each reads, ``ends`` the calls making the outputs (``_graph``)."""
    if not any(isinstance(call, ModelCall) for call in made):
        return keras_layers
    first_call: dict = {}
    keys = [first_call.setdefault(id(call.layer), index) for index, call in enumerate(made)]
    _, operations = keras_order(tuple(sources), len(inputs), ends, keys)
    placed = []
    for node in operations:
        if node < 0:
            placed.append(inputs[-1 - node])
        elif isinstance(made[node], ModelCall):
            placed += [layer for layer in made[node].layer._keras_ordered_layers()
                       if not isinstance(layer, InputLayer)]
        else:
            placed.append(wiring.layer_of(made[node].layer))
    same = len(placed) == len(keras_layers) and {id(item) for item in placed} == {id(item) for item in keras_layers}
    return placed if same else keras_layers


def _calls_of(layers: list) -> list:
    """The calls of ``layers`` (in the order they run): a layer's first call the layer itself, its later ones
    SharedCalls (a shared layer: the same weights, buffers and gradients of their own)."""
    seen: set = set()
    calls = []
    for layer in layers:
        calls.append(SharedCall(layer) if id(layer) in seen else layer)
        seen.add(id(layer))
    return calls


def _node_indices(layers: list, keys: list) -> tuple:
    """Each call's node index, as Keras numbers a layer's calls: in the order they were made (``keys``)."""
    by_layer: dict = {}
    for i, (layer, key) in enumerate(zip(layers, keys)):
        by_layer.setdefault(id(layer), []).append((key, i))
    nodes = [0] * len(layers)
    for calls in by_layer.values():
        for node, (_, i) in enumerate(sorted(calls)):
            nodes[i] = node
    return tuple(nodes)


def _wiring(inputs, outputs) -> tuple:
    """(the inputs' parts, the outputs' parts, the graph between them) as ``Functional._wire`` takes them."""
    input_parts = _input_list(inputs)
    output_parts = _output_list(outputs)
    return input_parts, output_parts, _graph(input_parts[0], output_parts[0])


class Functional(Sequential):
    is_functional = True  # configs and files take Keras's functional layout (keras_file_config.py)

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        # the model's dtype policy (in Keras's config of the model, which a subclass of the user's is made again
        # from): its layers compute in their own
        dtype = dtype_policies.dtype_name(kwargs.pop("dtype", None))
        if dtype is not None and dtype not in ("float32", "float64"):
            raise ValueError(f"dtype: gpunn's models compute in float32 or float64, got {dtype!r}")
        refuse_unknown("Model", kwargs)
        if inputs is None or outputs is None:
            raise ValueError("Model: expected keras.Model(inputs=..., outputs=...) (a subclass of keras.Model with "
                             "a call() method of its own needs no inputs or outputs)")
        wiring_parts = _wiring(inputs, outputs)  # errors before a name is taken
        super().__init__(name=name or unique_name("functional"), trainable=trainable)
        self._wire(inputs, outputs, *wiring_parts)
        if dtype is not None:
            self._config_dtype = dtype

    def _wire(self, inputs, outputs, input_parts, output_parts, graph) -> None:
        """Take the graph from ``inputs`` to ``outputs`` (``_wiring``'s parts of it) as the model's layers."""
        input_layers, input_names, structure = input_parts
        if len(input_layers) > 1 and any(getattr(layer, "variable_axes", ()) for layer in input_layers):
            raise ValueError("inputs: gpunn takes axes of any length (shape=(None, ...)) in a model of one input; "
                             "give each of several inputs its length (pad or cut the samples: "
                             "keras.utils.pad_sequences)")
        output_values, output_keys = output_parts
        layers, sources, modes, keras_layers, ends, nodes = graph
        Sequential.add(self, input_layers[0])
        self._input_layers, self._input_structure, self._keras_layers = input_layers, structure, keras_layers
        if len(input_layers) > 1:
            # (a string input's columns hold what the layer reading it made of the strings: text_inputs.py)
            self._packed = PackedInputs(input_names, text_inputs.encoded_shapes(self, layers, sources))
            if isinstance(structure, dict):
                self._packed.dict_order = [str(key) for key in structure]
        several = len(output_values) > 1  # one output in a dict trains as one output (its key names it)
        shared = any(is_shared_call(layer) for layer in layers)
        chain = wiring.is_chain(sources) and len(input_layers) == 1 and not several and not shared
        self._output_keys = output_keys
        self._connect(layers, None if chain else sources,
                      None if all(mode is None for mode in modes) else modes, ends if several else None, nodes)
        self._outputs = output_values
        self._output_structure = outputs
        model_calls = [call for call in _calls_in_order(input_layers, output_values) if isinstance(call, ModelCall)]
        self._held_models = list({id(call.layer): call.layer for call in model_calls}.values())
        # (what files record: the training of its call; a model called more than once is written flat)
        self._held_training = {id(call.layer): call.training for call in model_calls}
        self._held_calls = {id(model): sum(call.layer is model for call in model_calls) for model in self._held_models}
        for model in self._held_models:  # (told when it changes: Sequential._tell_holders)
            model.__dict__.setdefault("_holders", []).append(weakref.ref(self))

    @classmethod
    def from_layers(cls, inputs, layers: list, name=None, trainable=True, sources=None, modes=None,
                    outputs=None, output_keys=None, nodes=None, make=None) -> "Functional":
        """The model of ``layers`` called as ``sources`` says (``wiring.py``; None: a chain, in order), each with
        the ``training`` of ``modes`` (None: none fixed); ``inputs``: an InputLayer, or the list (or dict) of the
        model's several; ``outputs``: the indices of the layers making its outputs (None: the last layer alone),
        keyed by ``output_keys`` when they were a dict. ``make(inputs, outputs, name=, trainable=)`` makes the
        model of them (default: ``cls``; a subclass of the user's made from its graph: ``subclassed_config``)."""
        make = make or cls
        input_layers, _, _ = _input_list(inputs)
        values = {wiring.input_source(k): layer for k, layer in enumerate(input_layers)}
        for i, layer in enumerate(layers):
            reads = (i - 1,) if sources is None else sources[i]
            training = None if modes is None else modes[i]
            with several_outputs.packed_calls():  # (its slices are among the layers)
                values[i] = layer(wiring.layer_inputs(layer, values, reads), training=training)
            if nodes is not None:  # a shared layer's calls keep the node indices they had (configs, clones)
                values[i].node_index = nodes[i]
        ends = [values[i] for i in (outputs if outputs is not None else [len(layers) - 1])]
        if outputs is None and output_keys is None:
            return make(inputs, ends[0], name=name, trainable=trainable)
        return make(inputs, dict(zip(output_keys, ends)) if output_keys is not None else ends, name=name,
                    trainable=trainable)

    @property
    def layers(self) -> list:
        """As in Keras's functional models: the InputLayers and the layers, in Keras's order (not the keras.ops
        operations between them, which are in ``operations``); a model called as a layer is one entry
        (``model_entries.py``)."""
        return entries(self, [layer for layer in self._graph_layers if not hasattr(layer, "_gives_back")])

    @property
    def _graph_layers(self) -> list:
        return [layer for layer in self._keras_layers if not is_operation(layer)]

    def _keras_ordered_layers(self) -> list:
        """Its layers and operations in Keras's order, InputLayers included, a model it holds flattened in place
        (what a model calling it lists in that model's place)."""
        return list(self._keras_layers)

    @property
    def operations(self) -> list:
        """Keras's ``Functional.operations``: the layers and the keras.ops operations, in Keras's order (a model
        called as a layer one entry)."""
        return entries(self, [layer for layer in self._keras_layers if not hasattr(layer, "_gives_back")])

    @property
    def output_names(self) -> list[str]:
        """As Keras's: the names of the operations making the outputs, a model called as a layer (a student, a
        tower) naming its own (``student_loss`` in the logs), not its last layer."""
        names = super().output_names
        outputs = self.__dict__.get("_outputs")
        if getattr(self, "_output_labels", None) or not outputs or len(outputs) != len(names):
            return names
        return [value.layer.name if isinstance(value, ModelCall)
                else value.layer._gives_back.name if hasattr(value.layer, "_gives_back") else name
                for value, name in zip(outputs, names)]

    def _weight_order(self) -> list:
        """The layers in the order Keras lists their weights (``weights``, ``get_weights``...)."""
        return self._held_models_in_place()

    def _held_models_in_place(self) -> list:
        """The layers in the order of Keras's ``model.layers``, a model called as a layer standing for its own
        layers in its own order: Keras lists each item's whole ``weights`` in turn, so two towers called side by
        side keep their weights apart (the graph's order interleaves them)."""
        held = {id(model): model for model in self.__dict__.get("_held_models", ())}
        if not held:
            return self._layers
        mine = {id(layer) for layer in self._layers}
        order, seen = [], set()
        for item in self.layers:
            for layer in held[id(item)]._weight_order() if id(item) in held else [item]:
                if id(layer) in mine and id(layer) not in seen:
                    seen.add(id(layer))
                    order.append(layer)
        return order + [layer for layer in self._layers if id(layer) not in seen]

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

    def __repr__(self) -> str:
        return f"<Functional name={self.name!r} layers={len(self._layers)} built={self.built}>"


class _ModelType(type):
    def __instancecheck__(cls, instance) -> bool:
        if cls is not Model:  # a subclass of the user's: its own instances
            return super().__instancecheck__(instance)
        return isinstance(instance, Sequential)  # Keras: every model, Sequential ones too, is a keras.Model

    def __subclasscheck__(cls, subclass) -> bool:
        if cls is not Model or not isinstance(subclass, type):
            return super().__subclasscheck__(subclass)
        return issubclass(subclass, Sequential)  # (Keras's Sequential subclasses Model)

    def __call__(cls, *args, **kwargs):
        model = super().__call__(*args, **kwargs)
        if cls is not Model and "_awaits_trace" not in vars(model):  # a subclass's __init__ skipped Model's
            raise RuntimeError(f"{cls.__name__}: its __init__ must call super().__init__() (before setting "
                               "layers), as Keras requires")
        return model


class Model(Functional, metaclass=_ModelType):
    """``keras.Model``: ``Model(inputs=..., outputs=..., name=...)`` makes a functional model (a ``Functional``,
    as Keras's does); ``isinstance(model, Model)`` holds for every gpunn model, Sequential ones too.

    A subclass with a ``call()`` of its own (``class WideAndDeep(keras.Model)``) learns its graph from that
    ``call()`` on the first data it sees (``subclassed.py``); one that passes ``inputs`` and ``outputs`` to
    ``super().__init__`` is a functional model made by its constructor."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        user_build = vars(cls).get("build")
        if user_build is None or getattr(user_build, "_gpunn_wrapped", False):
            return

        @functools.wraps(user_build)
        def build(self, input_shape=None, *args, **kwargs):
            # model.build(shape) called by the script: the model learns its graph, which runs this build first
            # (_trace_call); run by _trace_call, or on a model that knows its graph, it is the user's build
            if args or kwargs or getattr(self, "_building", False) or not getattr(self, "_awaits_trace", False):
                return user_build(self, input_shape, *args, **kwargs)
            if input_shape is None:
                raise ValueError(f"build: {type(self).__name__} learns its layers from call(); pass the input "
                                 "shape, build((None, features)) (or a list of shapes for several inputs)")
            self._trace(subclassed.inputs_of_shape(input_shape))

        build._gpunn_wrapped = True
        cls.build = build

    def __new__(cls, *args, **kwargs):
        if cls is Model:
            return Functional(*args, **kwargs)
        model = object.__new__(cls)
        auto_config.take_arguments(model, args, kwargs)  # (Keras's auto-config: get_config)
        return model

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        name = name or unique_name(snake_case(type(self).__name__))
        if inputs is self and outputs is None:  # ``super().__init__(self)`` (TensorFlow's 2023 pandas tutorial),
            inputs = None  # which tf.keras 2 ran as ``super().__init__()``
        if inputs is not None or outputs is not None:
            if overrides.user_definition(type(self), "call"):
                overrides.refuse(type(self), "call", "a model given inputs and outputs",
                                 "such a model runs the graph from its inputs to its outputs; either let call() "
                                 "define the model (no inputs or outputs given to super().__init__) or drop call()")
            Functional.__init__(self, inputs, outputs, name=name, trainable=trainable, **kwargs)
            self._awaits_trace = False
            return
        dtype = dtype_policies.dtype_name(kwargs.pop("dtype", None))  # (in Keras's config of the model)
        if dtype is not None and dtype not in ("float32", "float64"):
            raise ValueError(f"dtype: gpunn's models compute in float32 or float64, got {dtype!r}")
        refuse_unknown("Model", kwargs)
        if type(self).call is Model.call and custom_steps.has_own(self, "train_step"):
            # Keras's GAN / distiller pattern: the step is the model
            custom_steps.refuse_overridden_hooks(self, "a model without a call()", ("train_step",))
        # (a call() may be given to the class after the model is made, as the TF time-series tutorial's FeedBack
        # gets its own: it is needed when the model first runs, _trace_call)
        Sequential.__init__(self, name=name, trainable=trainable)
        self._input_layers, self._outputs, self._keras_layers = [], [], []
        self._input_structure = self._output_structure = None
        self._awaits_trace = True
        self._output_labels = None
        self._outputs_as_tuple = False
        self._model_dtype = dtype or floatx()  # the policy its config names (its layers compute in their own)
        self._internal_attributes = set(vars(self)) | {"_internal_attributes"}

    def __setattr__(self, name, value):
        # After Model.__init__, what the subclass sets: Keras tracks a layer (or model) when it is assigned, or
        # appended to a list the model holds, and orders model.layers, weights and files so (subclassed.py)
        internal = vars(self).get("_internal_attributes")
        keras_objects.refuse_foreign_variable(self, name, value)
        if internal is not None and getattr(getattr(value, "_layer", None), "standalone_variable", False):
            # a keras.Variable set as an attribute: a weight of the model's own, as Keras tracks it (own_weights.py)
            from ..standalone_variables import as_layer_weight

            value = as_layer_weight(own_weights.body(self), name, value)
        if internal is None or name in internal or name in subclassed.SET_LATER or \
                not isinstance(value, (Layer, Sequential, list, tuple, dict)):
            object.__setattr__(self, name, value)
            return
        value = sublayers.tracked(value, self, subclassed.TRACKING_ORDER)
        object.__setattr__(self, name, value)
        sublayers.note(self, value, subclassed.TRACKING_ORDER)

    def call(self, inputs, training=None, mask=None):
        """What a subclass defines: the outputs for ``inputs``, by calling its layers."""
        raise NotImplementedError(f"{type(self).__name__}.call")

    def _modes_in_fit(self, warn: bool = True):
        if "_internal_attributes" in vars(self) and not subclassed.takes_training(self):
            return subclassed.modes_of_a_call_without_training(self, warn)
        return super()._modes_in_fit()

    def add_loss(self, loss) -> None:
        """Keras's ``self.add_loss(loss)`` in call(): a loss computed from the model's values, which fit adds to
        the compiled loss (``layers/model_losses.py``); in a model holding weights of its own, its body's
        (``own_weights.py``), as a layer of the user's adds one."""
        body = own_weights.body_of(self)
        if body is not None:
            body.add_loss(loss)
            return
        subclassed.add_loss(self, loss)

    def add_weight(self, *args, **kwargs):
        """Keras's ``add_weight``: a weight of the model's own, which its ``call()`` computes with beside its
        layers; such a model runs its ``call()`` as one layer of the user's (``own_weights.py``)."""
        return own_weights.body(self).add_weight(*args, **kwargs)

    add_variable = add_weight

    # ---- the graph of call() -------------------------------------------------------------------------
    def _trace_for(self, x, argument: str = "x") -> None:
        """Learn the graph of ``call()`` from inputs shaped like the data ``x``, once (``subclassed.py``): in a
        compute turn, so that a server's first requests, arriving together, trace it once."""
        with compute_turns.turn(self.ops or get_ops()):
            if getattr(self, "_awaits_trace", False):
                self._trace(subclassed.inputs_like(argument, x))
            super()._trace_for(x, argument)

    def _trace(self, inputs) -> None:
        with variable_paths.scope(self.name):  # Keras traces call() under the model's name: the layers' paths
            self._trace_call(inputs)

    def _trace_call(self, inputs) -> None:
        if type(self).call is Model.call:
            raise NotImplementedError(f"{type(self).__name__}: a subclass of keras.Model needs a call() method (or "
                                      "inputs and outputs given to super().__init__); Keras's message: Model "
                                      f"{type(self).__name__} does not have a `call()` method implemented.")
        if type(self).build is not Model.build and not getattr(self, "_user_built", False):
            # The subclass makes layers in a build() of its own (Keras calls it before call()); its
            # super().build() comes back to Model.build, which then only takes note.
            self._building = True
            try:
                self.build(subclassed.shapes_of(inputs))
            finally:
                self._building = False
        tracked = subclassed.tracked_layers(self)
        if own_weights.body_of(self) is not None:
            outputs = own_weights.trace(self, inputs, self._internal_attributes | subclassed.SET_LATER)
        else:
            outputs = subclassed.trace(self, inputs)
        several = isinstance(outputs, (list, tuple)) and len(outputs) > 1
        parts = _wiring(inputs, outputs)
        before = dict(vars(self))
        self._awaits_trace = False
        try:
            self._wire(inputs, outputs, *parts)
            self._tracked = tracked
            if several:  # tf.keras 2's names for the outputs of a subclassed model
                self._output_labels = [f"output_{k + 1}" for k in range(len(outputs))]
                self._unnamed_outputs = True  # (its logs are named as Keras names them: trainer/plan.py)
                self._outputs_as_tuple = isinstance(outputs, tuple)
            elif isinstance(outputs, (list, tuple)):  # one output, returned in a tuple or list: predicted in one
                self._one_output_in = type(outputs)
            if self.compiled:  # compile's losses and metrics per output, now that the outputs are known
                self._resolve_compile()
        except Exception:  # a layer refusing the shape it is given, a loss list of the wrong length...: the model
            vars(self).clear()  # stays as it was, to be compiled or given data again
            vars(self).update(before)
            raise

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

    def get_config(self) -> dict:
        """Keras's: for a subclass with a call() of its own, what ``from_config`` makes it again from (its name,
        trainable flag, dtype policy, and the arguments it was made with: ``subclassed_config.py``); a class with
        a get_config of its own adds its keys to this one."""
        if is_subclassed(self) or subclassed_config.is_functional_subclass(self):
            return subclassed_config.config(self)
        return super().get_config()

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        """Keras's: a subclass with a call() of its own, or an ``__init__`` of its own (which builds its graph), is
        called with ``config`` (``cls(**config)``); a functional model is made from its graph's config, as an
        instance of a subclass made from its graph (``subclassed_config.made_from_its_graph``), which is also
        given the config's other keys."""
        graph_config = isinstance(config, dict) and all(key in config for key in ("name", "layers", "input_layers",
                                                                                    "output_layers"))
        if overrides.is_gpunn_class(cls) or (subclassed_config.made_from_its_graph(cls) and graph_config):
            return super().from_config(config, custom_objects)
        from .keras_config import check_custom_objects

        check_custom_objects(custom_objects)
        with custom_object_scope(custom_objects):
            return subclassed_config.from_config(cls, config)

    def _weight_order(self) -> list:
        """The layers in the order Keras lists their weights: a subclass's in the order it set them as attributes
        (Keras's tracking), whatever their order in the graph; the layers of a model it holds at that model's
        place, in that model's own order."""
        tracked = getattr(self, "_tracked", None) or (keras_layers(self) if is_subclassed(self) else None)
        if not tracked:
            return self._held_models_in_place()
        place: dict = {}

        def visit(item, path: tuple) -> None:
            place.setdefault(id(item), path)
            if hasattr(item, "_internal_attributes"):  # a subclassed model: its attributes' order
                inner = subclassed.tracked_layers(item)
            else:
                inner = getattr(item, "_layers", ())
            for k, layer in enumerate(inner):
                visit(layer, path + (k,))

        for k, item in enumerate(tracked):
            visit(item, (k,))
        # (with the layers it holds built but does not call, whose weights Keras lists too: outside_graph.py)
        outside = [layer for _, layer in outside_graph.layers_outside_graph(self)]
        return sorted(self._layers + outside, key=lambda layer: place.get(id(layer), (len(tracked),)))

    @property
    def layers(self) -> list:
        """As in Keras: a subclassed model's are the layers and models it set as attributes, in the order it set
        them (its traced graph's, InputLayers and operations included, are ``_graph_layers``)."""
        if getattr(self, "_awaits_trace", False) or is_subclassed(self):
            return keras_layers(self)
        return super().layers

__all__ = ["Functional", "Model", "ModelCall"]
