"""Layers a subclassed model holds but its ``call()`` never calls, built with weights of their own: the frozen
teacher beside the student a distiller trains (keras.io's knowledge distillation), a model kept for later.

Keras lists their weights with the model's (``model.weights``, ``get_weights``, ``count_params``) and keeps them in
its weights files at their attribute paths ('teacher/layers/dense/vars'). gpunn runs the graph of ``call()``
(``subclassed.py``), which has no place for them: the model's weight lists, its files and its loads take them from
here, each layer holding its own values as a layer built alone does.
"""
from __future__ import annotations

import warnings

import numpy as np

from .keras_variables import keras_weight_order

# The key prefix of their weights in gpunn's safetensors files (the graph's are under 'layers/').
TENSOR_PREFIX = "held/"


def layers_outside_graph(model) -> list[tuple[str, object]]:
    """(Keras's attribute path, layer) of each built layer with weights that the subclassed ``model`` holds but
    its graph does not call, in the order Keras's walk reaches them; none for other models."""
    from ..layers import sublayers
    from . import own_weights
    from .keras_attribute_paths import is_model, is_subclassed, keras_layers, saveable_paths

    if not is_subclassed(model) or own_weights.body_of(model) is not None:
        return []
    graph = list(getattr(model, "_layers", ()))
    # (the walk takes about 40 us a layer, and model.weights asks on every access: kept until the model's layers,
    # the layers it holds or their built flags change)
    key = (tuple(map(id, graph)), tuple((id(item), item.built) for item in keras_layers(model)))
    cached = model.__dict__.get("_outside_graph")
    if cached is not None and cached[0] == key:
        return cached[1]
    in_graph = {id(layer) for _, _, layer in sublayers.with_sublayers(graph)}  # (and the layers they hold)
    found = [(path, value) for path, value in saveable_paths(model)
             if path and not is_model(value) and id(value) not in in_graph and value.built and value.weight_specs()]
    model.__dict__["_outside_graph"] = (key, found)
    return found


def keras_ordered_weights(layer) -> list[np.ndarray]:
    current = dict(zip((spec.name for spec in layer.weight_specs()), layer.get_weights()))
    return [current[spec.name] for spec in keras_weight_order(layer)]


def set_keras_ordered_weights(layer, values: list) -> None:
    by_name = dict(zip((spec.name for spec in keras_weight_order(layer)), values))
    layer.set_weights([by_name[spec.name] for spec in layer.weight_specs()])


def tensors(model) -> dict[str, np.ndarray]:
    """Their weights as safetensors entries, 'held/<path>/<weight name>'."""
    found = {}
    for path, layer in layers_outside_graph(model):
        for spec, value in zip(layer.weight_specs(), layer.get_weights()):
            found[f"{TENSOR_PREFIX}{path}/{spec.name}"] = np.ascontiguousarray(value).reshape(value.shape)
    return found


def restore(model, values_at, filepath, skip_mismatch: bool = False, skipped_layers=(), check_only=False) -> None:
    """Each layer outside the graph gets the values ``values_at(path, layer)`` gives (Keras's order; None: the
    file has none for it). A layer the file lacks, or whose weights differ in number or shape, is refused by
    name, or with ``skip_mismatch`` keeps its own, with Keras's warning; a layer in ``skipped_layers`` (Keras's
    ``objects_to_skip``) keeps its own. Everything is checked before any weight is set; ``check_only``: checked
    alone (before the graph's layers are set)."""
    skipped = {id(layer) for layer in skipped_layers}
    loads, mismatched = [], []
    for path, layer in layers_outside_graph(model):
        if id(layer) in skipped:
            continue
        values = values_at(path, layer)
        expected = [spec.shape for spec in keras_weight_order(layer)]
        problem = None
        if values is None:
            problem = f"lacks the weights of layer {layer.name!r} at {path!r} (held by the model, not called)"
        elif [tuple(np.shape(value)) for value in values] != [tuple(shape) for shape in expected]:
            problem = (f"holds weights of shapes {[tuple(np.shape(v)) for v in values]} at {path!r}; layer "
                       f"{layer.name!r} there has {[tuple(s) for s in expected]}")
        if problem is None:
            loads.append((layer, values))
        elif skip_mismatch:
            mismatched.append(layer.name)
        else:
            raise ValueError(f"filepath: {filepath!r} {problem}")
    if check_only:
        return
    for layer, values in loads:
        set_keras_ordered_weights(layer, values)
    if mismatched:
        warnings.warn(f"A total of {len(mismatched)} objects could not be loaded from {filepath!r} "
                      f"(skip_mismatch=True: they keep their weights). List of objects that could not be loaded: "
                      f"{mismatched}", stacklevel=4)


def values_in_tensors(found: dict):
    """``restore``'s ``values_at`` for a safetensors file's entries."""

    def values_at(path, layer):
        keys = [f"{TENSOR_PREFIX}{path}/{spec.name}" for spec in keras_weight_order(layer)]
        if not any(key in found for key in keys):
            return None
        return [found.get(key, np.empty((0,))) for key in keys]

    return values_at
