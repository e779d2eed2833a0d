"""Keras's ``model.layers`` of a model holding other models: a Sequential added to a Sequential, or a model
called as a layer in a functional one, is one entry in the place of its first layer. gpunn runs and counts the
held model's layers in the outer model's flat list (``_graph_layers``), so that code indexing ``model.layers``
(``model.layers[0].trainable = False``) reaches what it reaches in Keras.

Files: a model's config and weights hold a model it holds as Keras's do (its own entry, its layers' variables
under its path: ``held_in_files``) where that entry says all the model does with the held model's layers: the
held model is called once, on one input, and none of its layers is called elsewhere (by the outer model, or in
another held model). Otherwise its layers are written in its place, as shared layers, which both load.
"""
from __future__ import annotations

from collections import Counter

from ..layers.wiring import layer_of as _layer_of


def owners(held_models) -> dict:
    """{id(layer): the held model it belongs to (the first, for a layer two of them share)} for the layers of
    ``held_models`` (not their InputLayers: a model called on the outer model's inputs shares them, and Keras
    lists them in the outer model)."""
    from ..layers.input_layer import InputLayer

    owner = {}
    for model in held_models:
        # (its operations, keras.ops on its values, are calls of its graph and not among its layers)
        for layer in list(model._graph_layers) + [_layer_of(call) for call in getattr(model, "_calls", ())]:
            if not isinstance(layer, InputLayer):
                owner.setdefault(id(layer), model)
    return owner


def top_level(flat: list, held_models) -> list:
    """``flat`` (the outer model's layers, in order) with each run of a held model's layers replaced by that
    model, once."""
    owner = owners(held_models)
    entries, listed = [], set()
    for layer in flat:
        model = owner.get(id(layer))
        if model is None:
            entries.append(layer)
        elif id(model) not in listed:
            listed.add(id(model))
            entries.append(model)
    return entries


def _calls_outside(model, held_models) -> Counter:
    """Per layer id, how many of ``model``'s calls of it are not its held models' calls of it."""
    counts = Counter(id(_layer_of(call)) for call in model._calls)
    calls = model.__dict__.get("_held_calls", {})
    for held in held_models:
        for call in held._calls:
            counts[id(_layer_of(call))] -= calls.get(id(held), 1)
    return counts


def entries(model, flat: list) -> list:
    """Keras's ``model.layers`` (or ``operations``) from ``flat``: each held model once, in the place of its first
    layer, and a layer of a held model that the model also calls outside it, after that model, as Keras lists a
    layer it calls directly."""
    held = model.__dict__.get("_held_models", ())
    if not held:
        return list(flat)
    owner, outside = owners(held), _calls_outside(model, held)
    listed, out = set(), []
    for layer in flat:
        holder = owner.get(id(layer))
        if holder is None:
            out.append(layer)
            continue
        if id(holder) not in listed:
            listed.add(id(holder))
            out.append(holder)
        if outside[id(layer)] > 0:
            out.append(layer)
    return out


def exclusive(model) -> list:
    """The held models that ``model`` calls once and whose layers it calls in no other place: each is, in the
    model, exactly one call of it."""
    held = model.__dict__.get("_held_models", ())
    calls = model.__dict__.get("_held_calls", {})
    once = [m for m in held if calls.get(id(m), 1) == 1]
    outside = _calls_outside(model, held)
    inside = Counter(id(_layer_of(call)) for m in held for call in m._calls)
    return [m for m in once if all(outside[id(_layer_of(call))] == 0 and inside[id(_layer_of(call))] == 1
                                   for call in m._calls)]


def held_in_files(model) -> list:
    """The held models that ``model``'s config and weights files hold as entries of their own, as Keras's do:
    those it calls once, on one input, whose layers it calls nowhere else (another is written flat, its layers
    in its place)."""
    return [held for held in exclusive(model) if getattr(held, "_packed", None) is None]
