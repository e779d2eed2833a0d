"""Where Keras 3's weights files keep the variables of a subclassed model: under the paths of its attributes.

Keras saves a model by walking it (keras/src/saving/saving_lib.py ``_save_state`` / ``_walk_saveable``): each
object's own variables at its path, then each attribute in ``sorted(dir(obj))`` order with the names starting with
'_' last, skipping what a plain Layer has; for a Sequential or functional model its ``layers`` first. An object
reached twice is saved at the first path that reaches it. The objects of a list, tuple or dict (and of
``layers``) are named by their snake-case class name made unique in it (``dense``, ``dense_1``), a list inside
one ``container``, ``container_1``...

For a functional or Sequential model that walk gives 'layers/<name>' per layer (``keras_variables.
keras_layer_paths``). For a subclassed model it follows the attributes: ``self.head`` at 'head', a list
``self.blocks`` at 'blocks/dense' and 'blocks/dense_1'. Keras's ``model.layers`` (the tracked layers, in the order
they were set) is one more attribute, 'layers', in its sorted place: a layer held in an attribute whose name
sorts after it ('out', 'seq') is saved at 'layers/<its unique name in model.layers>'. A compiled model's
optimizer is at 'optimizer', as for every model.

gpunn runs a subclassed model as the functional graph of its ``call()`` (``subclassed.py``), the layers of a
model it holds flattened into that graph; this walk goes over the objects the user set, which are the graph's
layers, so each weight goes where Keras's own walk puts it whatever order ``call()`` uses them in.
"""
from __future__ import annotations

from ..layers import sublayers
from ..layers.base import Layer
from ..layers.input_layer import InputLayer
from ..naming import container_name, snake_case
from .keras_variables import keras_layer_paths

def is_subclassed(model) -> bool:
    """Whether ``model`` is a subclass of keras.Model with a call() of its own (not a functional model)."""
    return "_internal_attributes" in vars(model)

def is_model(value) -> bool:
    from .sequential import Sequential

    return isinstance(value, Sequential)

def _sort_key(name: str) -> str:
    """saving_lib.py ``_name_key``: attributes starting with '_' come last."""
    return f"~{name}" if name.startswith("_") else name

def user_attributes(model) -> list[tuple[str, object]]:
    """(name, value) of what the subclass set on ``model`` (and the properties its classes define), as Keras's
    ``dir()`` sees them."""
    from .subclassed import SET_LATER

    internal = model._internal_attributes | SET_LATER
    found = {name: value for name, value in vars(model).items() if name not in internal}
    for cls in type(model).__mro__:
        if cls.__module__.startswith("gpunn."):
            break
        for name, attribute in vars(cls).items():
            if isinstance(attribute, property) and name not in found and not name.startswith("__"):
                try:
                    found[name] = getattr(model, name)
                except Exception:  # Keras passes over an attribute that raises, too
                    continue
    return list(found.items())

def keras_layers(model) -> list:
    """Keras's ``model.layers`` of the subclassed ``model``: the layers and models it holds, in the order it set
    them (``subclassed.tracked_layers``)."""
    from .subclassed import tracked_layers

    return list(getattr(model, "_tracked", None) or tracked_layers(model))

def _children(model) -> list[tuple[str, object]]:
    """(attribute, value) in the order Keras walks them."""
    if not is_subclassed(model):
        return [("layers", model._graph_layers)]
    attributes = user_attributes(model) + [("layers", keras_layers(model))]
    return sorted(attributes, key=lambda item: _sort_key(item[0]))

def saveable_paths(model) -> list[tuple[str, object]]:
    """(path, object) of each layer and model that Keras's walk reaches from the subclassed ``model``, each once,
    in the walk's order: the model itself at '', a layer holding layers once (its sublayers are at their paths
    below it, ``keras_variables.owner_paths``)."""
    found: list[tuple[str, object]] = []
    visited: set = set()

    def join(path: str, name: str) -> str:
        return f"{path}/{name}" if path else name

    def visit(path: str, value) -> None:
        if id(value) in visited:
            return
        if not is_model(value):
            visited.update(id(owner) for _, owner in sublayers.owners(value))
            found.append((path, value))
            return
        visited.add(id(value))
        found.append((path, value))
        body = vars(value).get("_own_weights_body")
        if body is not None:  # a model holding weights of its own: they and its layers are its body's, at its path
            visited.update(id(owner) for _, owner in sublayers.owners(body))
            found.append((path, body))
            return
        if not is_subclassed(value):
            # its ``layers`` first, named as keras_layer_paths names them (InputLayers included where Keras has them)
            for layer_path, layer in zip(keras_layer_paths(value), value._graph_layers):
                visit(join(path, layer_path), layer)
            return
        for name, child in _children(value):
            walk(join(path, name), child)

    def walk(path: str, value) -> None:
        if isinstance(value, Layer) or is_model(value):
            visit(path, value)
        elif isinstance(value, (list, tuple, dict)):
            used: dict = {}
            for item in (value.values() if isinstance(value, dict) else value):
                if isinstance(item, Layer) or is_model(item):
                    visit(join(path, container_name(snake_case(type(item).__name__), used)), item)
                elif isinstance(item, (list, tuple, dict)):
                    walk(join(path, container_name("container", used)), item)

    visit("", model)
    return found

def graph_layer_paths(model, filepath=None) -> dict[int, str]:
    """{id(layer): its path} for each layer of the subclassed ``model``'s graph that holds weights. A layer with
    weights that no attribute holds (one made inside ``call()``) has no place in Keras's files: refused by name."""
    reached = {id(value): path for path, value in saveable_paths(model) if not is_model(value)}
    where = f"filepath: {filepath!r}: " if filepath is not None else ""
    for layer in model._layers:
        if id(layer) not in reached and not isinstance(layer, InputLayer) and layer.weight_specs():
            raise ValueError(
                f"{where}layer {layer.name!r} of {type(model).__name__} holds weights but no attribute of the model "
                "holds the layer (it was made inside call()); Keras's weights files keep a subclassed model's "
                "weights under its attributes: set the layer as an attribute in __init__"
            )
    return reached
