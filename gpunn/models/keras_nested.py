"""Keras functional configs that call a model as a layer (``x = base_model(inputs, training=False)``, saved by
Keras), flattened into the graph of its layers, as gpunn builds such a model itself (``functional.py``).

Keras keeps the called model as one layer entry whose config holds its own layers (a Sequential's list, or a
functional model's graph), and its weights under that entry's path (``layers/sequential/layers/dense/vars``).
``flatten`` rewrites the config: the nested model's layers take its place, the first reading what the call read,
its output standing for the call's; each layer's ``training`` is its own call's, else the nested call's; and
it returns where each layer's variables are in a Keras 3 weights file (``keras_variables.keras_layer_paths``
names them for flat models).
"""
from __future__ import annotations

from ..layers.operation import is_keras_operation
from ..layers.base import unique_name
from ..naming import container_name, snake_case

MODEL_CLASSES = ("Sequential", "Functional", "Model")


def _name(entry: dict) -> str:
    return entry.get("name") or entry["config"].get("name")


class _Paths:
    """Keras's ``_save_container_state`` names within one container: the snake-case class name, '_1', '_2'..."""

    def __init__(self, prefix: str):
        self.prefix, self.used = prefix, {}

    def next(self, class_name: str) -> str:
        return f"{self.prefix}/{container_name(snake_case(class_name), self.used)}"


def _tensor(name: str) -> dict:
    return {"class_name": "__keras_tensor__", "config": {"keras_history": [name, 0, 0]}}


def _node(parents: list, takes_list: bool, training, mark) -> dict:
    tensors = [_tensor(parent) for parent in parents]
    node = {"args": [tensors] if takes_list else tensors, "kwargs": {} if training is None else {"training": training}}
    if training is False:
        node.update(mark)
    return node


def has_nested(config: dict) -> bool:
    return any(entry.get("class_name") in MODEL_CLASSES for entry in config.get("layers", []))


def flatten(config: dict, inbound, fixed_mark: str, prefix: str = "layers") -> tuple[dict, dict]:
    """(the functional ``config`` with its called models replaced by their layers, {layer name: its weights'
    path}). ``inbound(entry, node)`` reads a layer entry's node as (parent names, the training it fixed or None)
    by the rules of the Keras that wrote it; ``fixed_mark``: the key marking a node whose ``training=False`` was fixed."""
    paths, renames, layers = {}, {}, []
    container = _Paths(prefix)
    for entry in config["layers"]:
        name, path = _name(entry), container.next(entry["class_name"])
        nodes = entry.get("inbound_nodes") or []
        if entry["class_name"] not in MODEL_CLASSES:
            layers.append(_renamed(entry, renames))
            paths[name] = path
            continue
        if len(nodes) != 1:
            raise ValueError(f"layer {name!r}: a model called {len(nodes)} times; gpunn's functional models call each "
                             "layer once")
        parents, training = inbound(entry, nodes[0])
        if len(parents) != 1:
            raise ValueError(f"layer {name!r}: a model called on {len(parents)} inputs; gpunn calls models of one "
                             "input inside another")
        inner, inner_paths, output = _expanded(entry, renames.get(parents[0], parents[0]), training, inbound,
                                               fixed_mark, path)
        layers += inner
        paths.update(inner_paths)
        renames[name] = output
    outer_names = [_name(entry) for entry in layers]
    repeated = sorted({n for n in outer_names if outer_names.count(n) > 1})
    if repeated:
        raise ValueError(f"layer names {repeated}: a model called inside another has layers of the same names as the "
                         "other's; gpunn flattens called models into one model, whose layer names must be unique")
    return {**config, "layers": layers, "output_layers": _renamed_endpoint(config["output_layers"], renames)}, paths


def _expanded(entry: dict, parent: str, training, inbound, fixed_mark: str, path: str):
    """(the called model's layers, reading ``parent``, {name: weights path}, the name of its output layer)."""
    inner = entry["config"]
    mark = {fixed_mark: True}
    if entry["class_name"] == "Sequential":
        container = _Paths(f"{path}/layers")
        layers, paths, previous = [], {}, parent
        for layer in inner["layers"]:
            if layer["class_name"] == "InputLayer":
                continue  # a Sequential's weights file lists no InputLayer
            if layer["class_name"] in MODEL_CLASSES:
                raise ValueError(f"layer {_name(layer)!r}: a model nested two levels deep; gpunn reads one level")
            # (a layer of the user's whose get_config leaves out its name: Keras names it anew when loading)
            name = _name(layer)
            if name is None:
                name = unique_name(snake_case(layer["class_name"]))
                layer = {**layer, "config": {**layer["config"], "name": name}}
            layers.append({**layer, "name": name, "inbound_nodes": [_node([previous], False, training, mark)]})
            paths[name] = container.next(layer["class_name"])
            previous = name
        return layers, paths, previous
    flat, paths = flatten(inner, inbound, fixed_mark, prefix=f"{path}/layers")
    sources = flat["input_layers"]
    input_name = sources[0] if isinstance(sources[0], str) else sources[0][0] if len(sources) == 1 else None
    if input_name is None:
        raise ValueError(f"layer {_name(entry)!r}: a called model of several inputs; gpunn calls models of one input "
                         "inside another")
    layers = []
    for layer in flat["layers"]:
        if _name(layer) == input_name:
            continue
        if is_keras_operation(layer):  # its node holds its constants: only what it reads changes
            layers.append(_renamed(layer, {input_name: parent}))
            continue
        node = (layer.get("inbound_nodes") or [None])[0]
        parents, own = inbound(layer, node)
        mode = own if own is not None else training
        parents = [parent if p == input_name else p for p in parents]
        takes_list = isinstance(node, dict) and len(node.get("args") or []) == 1 and isinstance(node["args"][0], list)
        layers.append({**layer, "inbound_nodes": [_node(parents, takes_list, mode, mark)]})
    paths.pop(input_name, None)
    output = flat["output_layers"]
    if isinstance(output, dict) or isinstance(output[0], list) and len(output) > 1:
        raise ValueError(f"layer {_name(entry)!r}: a called model of several outputs; gpunn calls models of one "
                         "output inside another")
    return layers, paths, output[0] if isinstance(output[0], str) else output[0][0]


def _renamed(entry: dict, renames: dict) -> dict:
    """``entry`` with the layers its nodes read renamed (a called model stands for its output layer)."""
    if not renames or not entry.get("inbound_nodes"):
        return entry

    def rename(value):
        if isinstance(value, dict):
            if value.get("class_name") == "__keras_tensor__":
                history = value["config"]["keras_history"]
                config = {**value["config"], "keras_history": [renames.get(history[0], history[0])] + history[1:]}
                return {**value, "config": config}
            return {key: rename(item) for key, item in value.items()}
        if isinstance(value, list):
            if value and isinstance(value[0], str) and value[0] in renames and len(value) in (3, 4):
                return [renames[value[0]]] + value[1:]  # tf.keras 2's [name, node, tensor, kwargs]
            return [rename(item) for item in value]
        return value

    return {**entry, "inbound_nodes": rename(entry["inbound_nodes"])}


def _renamed_endpoint(value, renames: dict):
    if isinstance(value, list) and value and isinstance(value[0], str):
        return [renames.get(value[0], value[0])] + value[1:]
    if isinstance(value, list):
        return [_renamed_endpoint(item, renames) for item in value]
    if isinstance(value, dict):
        return {key: _renamed_endpoint(item, renames) for key, item in value.items()}
    return value
