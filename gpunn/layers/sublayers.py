"""Layers that a layer of the user's holds and calls inside its ``call()``, as Keras's guide "Making new layers and
models via subclassing" composes them (``MLPBlock`` holding three ``Linear`` layers; a block holding Dense and
Dropout layers, in attributes or in lists and dicts of them).

The outer layer owns every weight below it, as Keras's ``layer.weights`` lists them: its own (the trainable kind
first), then each sublayer's in the order the attributes were set, depth first. A model keeps them in its flat
buffers as weights of the outer layer, named by their path below it (``linear_1/kernel``, ``blocks/dense_1/bias``:
the paths of Keras's weights files, ``saving_lib._save_state``), and binding the outer layer binds each sublayer to
its part of those views, so a sublayer computes with the very arrays the model trains. Penalties and constraints
of sublayer weights are the outer layer's, so a model applies each once.

``trainable`` follows Keras: setting it on the outer layer sets it on every sublayer. A sublayer frozen on its own
(its flag differing from the outer layer's) is refused when the model is compiled (``check_flags``).
"""
from __future__ import annotations

import copy

import dataclasses

from ..naming import container_name, snake_case
from .gradient_views import views_below

# Layer attributes that hold layers but are not sublayers (the layer making a mask, set by a model)
NOT_SUBLAYERS = frozenset({"mask_source", "_incoming_mask_source", "_shared_from"})


def children(layer) -> list[tuple[str, object]]:
    """(path below ``layer``, sublayer) of each layer ``layer`` holds directly, each once, in the order Keras
    tracks them: the order they were assigned, or appended to a list the layer holds (``note``).

    The path is an attribute's name, or for a layer in a list, tuple or dict, the attribute's name and the layer's
    snake-case class name made unique in that container (``blocks/dense_1``), as Keras's files name them; a layer
    held twice is at the first of its attributes in Keras's saving order (saving_lib.py ``_name_key``: names
    starting with '_' last)."""
    from .base import Layer  # base calls this module: imported here, when a layer exists
    from .input_layer import InputLayer

    found: list[tuple[str, str, object, object]] = []  # (attribute, path, layer, what was tracked for it)

    def take(attribute: str, path: str, value, used: dict | None, model=None):
        if isinstance(value, Layer) and not isinstance(value, InputLayer):
            if used is not None:
                path = f"{path}/{container_name(snake_case(type(value).__name__), used)}"
            found.append((attribute, path, value, model or value))
        elif is_held_model(value):  # its layers, where Keras's files have them: '<attribute>/layers/dense'
            if used is not None:
                path = f"{path}/{container_name(snake_case(type(value).__name__), used)}"
            take(attribute, f"{path}/layers", list(value._layers), None, value)
        elif isinstance(value, (list, tuple, dict)):
            items = list(value.values()) if isinstance(value, dict) else list(value)
            inner: dict = {}
            for item in items:
                if isinstance(item, (list, tuple, dict)):
                    take(attribute, f"{path}/{container_name('container', inner)}", item, None, model)
                else:
                    take(attribute, path, item, inner, model)

    attributes = vars(layer)
    for name in list(attributes):
        if name not in NOT_SUBLAYERS and attributes[name] is not layer:
            take(name, name, attributes[name], None)
    tracked = attributes.get("_tracked", {})
    # (stable: the others as found; a held Sequential's layers at the Sequential's place)
    found.sort(key=lambda entry: tracked.get(id(entry[3]), len(tracked)))
    saved_at: dict = {}
    for attribute, path, value, _ in found:
        key = ("~" + attribute) if attribute.startswith("_") else attribute
        if id(value) not in saved_at or key < saved_at[id(value)][0]:
            saved_at[id(value)] = (key, path)
    result, seen = [], set()
    for _, _, value, _ in found:
        if id(value) not in seen:
            seen.add(id(value))
            result.append((saved_at[id(value)][1], value))
    return result


def holds_layers(value) -> bool:
    """Whether ``value`` is a layer, or a list, tuple or dict holding one (at any depth)."""
    from .base import Layer

    if isinstance(value, Layer):
        return True
    if isinstance(value, dict):
        return any(holds_layers(item) for item in value.values())
    return isinstance(value, (list, tuple)) and any(holds_layers(item) for item in value)


def is_model(value) -> bool:
    """Whether ``value`` is a gpunn model (models import layers: known by what only a model has)."""
    return hasattr(value, "_layers") and hasattr(value, "compile") and not isinstance(value, type)


def is_held_model(value) -> bool:
    """A Sequential or functional model a layer of the user's holds and calls in its ``call()`` (keras-io's
    MLP-Mixer blocks: ``self.mlp1 = keras.Sequential([Dense, Activation, Dense, Dropout])``; the functional API
    guide's layer holding a classifier model): its layers are that layer's sublayers, called as the model calls
    them. A subclassed model is not (``Sequential.__call__`` says so): its call() is the user's own."""
    return is_model(value) and (not getattr(value, "is_functional", False) or is_plain_functional(value))


def is_plain_functional(model) -> bool:
    """A model made as ``Model(inputs, outputs)`` (not a subclass of the user's with a call() of its own)."""
    return type(model).__module__.split(".")[0] == "gpunn"


def owners(layer) -> list[tuple[str, object]]:
    """(path below ``layer``, layer) of ``layer`` ('') and every layer below it, depth first, each once."""
    found: list[tuple[str, object]] = []
    seen: set = set()

    def visit(path: str, owner):
        if id(owner) in seen:
            return
        seen.add(id(owner))
        found.append((path, owner))
        for child_path, child in children(owner):
            visit(f"{path}/{child_path}" if path else child_path, child)

    visit("", layer)
    return found


def never_built(layer) -> bool:
    """A built-in sublayer made in ``__init__`` that ``call()`` never called: no shape, no weights (as Keras)."""
    return not layer.built and layer.input_shape is None and layer.declared_input_shape is None and not (
        _is_user_layer(layer))


def own_specs(layer) -> list:
    """The weights ``layer`` made itself, in Keras's order for one layer: the trainable kind first. A built-in
    sublayer that was never built (made in ``__init__``, never called by ``call()``) has none, as in Keras."""
    if _is_user_layer(layer):
        specs = list(layer.__dict__.get("_added_specs", []))
    else:
        specs = [] if never_built(layer) else layer.weight_specs()
    return [s for s in specs if s.trainable] + [s for s in specs if not s.trainable]


def note(owner, value, key: str = "_tracked") -> None:
    """Note the layers in ``value`` (a layer, or a list, tuple or dict of them) as tracked by ``owner`` now,
    those not noted before (Keras's tracker: its layers are in the order they were first assigned), in
    ``owner.<key>`` ({id(layer): rank}); a model's layers (models included) in its ``_tracking_order``."""
    from .base import Layer

    tracked = owner.__dict__.get(key)
    if tracked is None:
        tracked = {}
        object.__setattr__(owner, key, tracked)
    # a model keeps the layers noted alive, as Keras's tracker keeps them: a layer replaced and freed would leave
    # its id, and its rank, to the next one made (a layer's attributes are its sublayers: not there)
    held = owner.__dict__.setdefault(f"{key}_held", []) if key != "_tracked" else None

    def visit(item):
        if isinstance(item, Layer) or is_model(item):
            if held is not None and id(item) not in tracked:
                held.append(item)
            tracked.setdefault(id(item), len(tracked))
        elif isinstance(item, (list, tuple)):
            for inner in item:
                visit(inner)
        elif isinstance(item, dict):
            for inner in item.values():
                visit(inner)

    visit(value)


class TrackedList(list):
    """A list a layer of the user's holds (Keras's TrackedList): layers put in it later are noted then."""

    def __init__(self, items, owner, key: str = "_tracked"):
        super().__init__(items)
        self._owner, self._key = owner, key

    def append(self, value):
        super().append(value)
        note(self._owner, value, self._key)

    def extend(self, values):
        values = list(values)
        super().extend(values)
        note(self._owner, values, self._key)

    def insert(self, index, value):
        super().insert(index, value)
        note(self._owner, value, self._key)

    def __setitem__(self, index, value):
        super().__setitem__(index, value)
        note(self._owner, value, self._key)

    def __iadd__(self, values):
        self.extend(values)
        return self

    def __deepcopy__(self, memo):
        # a plain list of copies (a get_config's copy.deepcopy of it), not a copy of the layer holding it
        return [copy.deepcopy(item, memo) for item in self]


class TrackedDict(dict):
    """A dict a layer of the user's holds (Keras's TrackedDict): layers put in it later are noted then, so that
    ``self.embeddings = {}`` filled afterwards keeps the weights where Keras has them (``get_weights`` order)."""

    def __init__(self, items, owner, key: str = "_tracked"):
        super().__init__(items)
        self._owner, self._key = owner, key

    def __setitem__(self, name, value):
        super().__setitem__(name, value)
        note(self._owner, value, self._key)

    def update(self, *args, **kwargs):
        added = dict(*args, **kwargs)
        super().update(added)
        note(self._owner, added, self._key)

    def setdefault(self, name, default=None):
        if name not in self:
            self[name] = default
        return self[name]

    def __ior__(self, other):
        self.update(other)
        return self

    def __deepcopy__(self, memo):
        # a plain dict of copies (a get_config's copy.deepcopy of it), not a copy of the layer holding it
        return {copy.deepcopy(key, memo): copy.deepcopy(value, memo) for key, value in self.items()}


def tracked(value, owner, key: str = "_tracked"):
    """``value`` as a layer holds it: a plain list or dict becomes one noting the layers put in it later."""
    if type(value) is list:
        return TrackedList(value, owner, key)
    if type(value) is dict:
        return TrackedDict(value, owner, key)
    return value


def _is_user_layer(layer) -> bool:
    """A layer whose computation is its call() (a layer of the user's, or a built-in written so): its weights are
    those add_weight made, then those of the layers it holds."""
    from .user_layer import runs_call

    return runs_call(layer)


def flat_specs_and_owners(layer) -> list[tuple]:
    """(spec, the layer that made it) of every weight of a layer of the user's and of the layers below it, in
    Keras's ``layer.weights`` order, the sublayers' named by their path (``linear_1/kernel``)."""
    found = []
    for path, owner in owners(layer):
        for spec in own_specs(owner):
            found.append((spec if not path else dataclasses.replace(spec, name=f"{path}/{spec.name}"), owner))
    return found


def flat_specs(layer) -> list:
    return [spec for spec, _ in flat_specs_and_owners(layer)]


def with_sublayers(layers) -> list[tuple[int, str, object]]:
    """(index in ``layers``, path below that layer, layer) of each of ``layers`` ('') and every layer below it."""
    return [(index, path, owner) for index, layer in enumerate(layers) for path, owner in owners(layer)]


def below(layer, path: str):
    """The layer at ``path`` below ``layer`` ('' is ``layer``); KeyError if there is none."""
    for found_path, owner in owners(layer):
        if found_path == path:
            return owner
    raise KeyError(f"no layer at {path!r} inside layer {layer.name!r}")


def has_sublayers(layer) -> bool:
    return bool(children(layer))


def held_weights(layer) -> dict:
    """{weight name: (the Ops of its array, the array it is now)} of ``layer`` and the layers below it, each where
    it lives now: a sublayer bound since the outer layer was (it ran in another model, which trained it, or on its
    own) holds its weights in that binding, not in the outer layer's views of them, so a deeper layer's binding
    wins. (A sublayer called on its own, or taken from another model, so keeps its values when the outer layer is
    bound.)"""
    held = {}
    for path, owner in owners(layer):  # (outer layers first)
        for name, array in owner.bound.weights.items():
            held[f"{path}/{name}" if path else name] = (owner.ops, array)
    return held


def bound_elsewhere(layer, owner) -> bool:
    """Whether ``layer`` or a layer below it computes with views another ``owner`` than this one handed out."""
    return any(below_layer.bound.owner is not owner for _, below_layer in owners(layer))


def check_held_once(layers) -> None:
    """Refuse a layer held by a layer of the user's that the model also uses elsewhere (directly, or inside
    another layer): gpunn keeps each weight in one place of a model's buffers."""
    where: dict = {}
    for layer in layers:
        for path, owner in owners(layer):
            place = f"inside layer {layer.name!r} (at {path!r})" if path else "as a layer of the model"
            if id(owner) in where:
                raise ValueError(
                    f"layer {owner.name!r} is used {where[id(owner)]} and {place}; gpunn keeps a layer held by a "
                    "layer of the user's in that layer alone, so weights tied across the model (a layer of your "
                    "own reading another layer's kernel, as Hands-On ML's DenseTranspose does) are not supported: "
                    "give each place a layer of its own")
            where[id(owner)] = place


def bind_children(layer, ops, weights: dict, grads: dict, trainable: bool, owner) -> None:
    """Bind each sublayer of ``layer`` to its part of the views ``layer`` was just bound with."""
    seen: set = set()
    for path, child in children(layer):
        if id(child) in seen or never_built(child):
            continue
        seen.add(id(child))
        prefix = f"{path}/"
        child.bind(ops, {name[len(prefix):]: view for name, view in weights.items() if name.startswith(prefix)},
                   views_below(grads, prefix),
                   trainable=trainable, owner=owner)


def variable_of(layer, name: str):
    """The Variable of the weight ``name`` (a path below ``layer``) as its own layer gives it, so that
    ``block.weights`` holds the very objects ``block.linear_1.kernel`` returns."""
    for path, owner in owners(layer):
        if path and name.startswith(f"{path}/") and "/" not in name[len(path) + 1:]:
            return owner.variable(name[len(path) + 1:])
    return None


def frozen_variables(layer) -> frozenset:
    """The names of ``layer``'s own weights frozen by themselves (``layer.kernel.trainable = False``)."""
    return layer.__dict__.get("_frozen_variables", frozenset())


def set_frozen_variables(layer, names) -> None:
    layer.__dict__["_frozen_variables"] = frozenset(names)


def frozen_on_its_own(owner, name: str) -> bool:
    """Whether the weight ``name`` (a path below ``owner`` too: its last part is the name) of the layer ``owner``
    made was frozen by itself."""
    return name.rsplit("/", 1)[-1] in frozen_variables(owner)


def set_trainable(layer, value: bool) -> None:
    """Keras's ``Layer.trainable`` setter: the flag goes down to every sublayer."""
    for _, child in children(layer):
        child.trainable = value


def check_flags(layer) -> None:
    """Refuse a sublayer frozen while its trainable outer layer is not: gpunn trains (or freezes) a layer of the
    user's with everything below it. (A frozen outer layer freezes all of them, whatever their flags, as in
    Keras, where a layer made with ``trainable=False`` sets the flag before its sublayers exist.)"""
    if not layer.trainable:
        return
    for path, owner in owners(layer)[1:]:
        if not owner.trainable:
            raise ValueError(
                f"trainable: layer {owner.name!r} (at {path!r} inside layer {layer.name!r}) has trainable=False, "
                f"its outer layer trainable=True; gpunn trains or freezes a layer of the user's with all the "
                f"layers inside it: set {layer.name}.trainable instead")
