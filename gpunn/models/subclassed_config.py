"""A subclassed model's config and file entry as Keras 3 writes them (keras/src/models/model.py, ops/operation.py):

- ``get_config()`` is what the class is made again from: ``{"name", "trainable", "dtype"}``, and for a class
  without a ``get_config`` of its own the arguments the model was made with, defaults included, when all are plain
  values (Keras's auto-config, taken when the model is made); a class that has one adds its own keys to
  ``super().get_config()``.
- ``from_config(config)`` calls the class with it.
- A ``.keras`` file names the class (its module and registered name), holds that config, the input shape the
  model was built for and its compile config, and keeps the weights under the model's attributes
  (``keras_attribute_paths.py``). ``load_model`` makes the class again where it is known (``custom_objects``,
  ``custom_object_scope``, ``register_keras_serializable``) and builds it for that shape; gpunn's file also keeps
  the traced graph (``metadata.json``), which loads as a functional model where the class is not known.
"""
from __future__ import annotations

import inspect

from .. import dtype_policies, overrides

AUTO_CONFIG = "_auto_config"  # the model's attribute holding the arguments it was made with (or None)
_PLAIN = (str, int, float, bool, type(None))


def _plain(value) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain(item) for key, item in value.items())
    return isinstance(value, _PLAIN)


def take_arguments(model, args: tuple, kwargs: dict) -> None:
    """Keep the arguments ``model`` is being made with, as Keras's ``Operation.__new__`` keeps them: bound to the
    class's ``__init__``, defaults included, ``name`` left out; none when one is not a plain value (a layer, a
    function) or comes by position only or as ``*args``."""
    arguments = None
    try:
        signature = inspect.signature(type(model).__init__)
        bound = signature.bind(model, *args, **kwargs)
    except (TypeError, ValueError):
        bound = None
    if bound is not None:
        parameters = list(signature.parameters.values())[1:]
        if not any(p.kind == p.POSITIONAL_ONLY for p in parameters):
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            arguments.pop(next(iter(signature.parameters)))  # self
            for p in parameters:
                if p.kind == p.VAR_KEYWORD:
                    arguments.update(arguments.pop(p.name, {}))
                elif p.kind == p.VAR_POSITIONAL and arguments.pop(p.name, ()):
                    arguments = None
                    break
            if arguments is not None:
                arguments.pop("name", None)
                if not _plain(arguments):
                    arguments = None
    model.__dict__[AUTO_CONFIG] = arguments


def config(model) -> dict:
    """Keras's ``get_config()`` of a subclassed model (see the module docstring): its name and the arguments it was
    made with (``Operation.get_config``), then its flag and dtype policy over them (``Layer.get_config``)."""
    found = {"name": model.name}
    arguments = model.__dict__.get(AUTO_CONFIG)
    if arguments is not None and overrides.user_definition(type(model), "get_config") is None:
        found.update(arguments)
        parameters = inspect.signature(type(model).__init__).parameters
        takes_kwargs = "kwargs" in parameters and parameters["kwargs"].kind == inspect.Parameter.VAR_KEYWORD
        if "name" not in parameters and not takes_kwargs:
            found.pop("name", None)  # (Keras's rule: it could not be given back)
    found["trainable"] = model.trainable
    found["dtype"] = dtype_policies.serialize(dtype_policies.DTypePolicy(model.__dict__.get("_model_dtype")))
    return found


def from_config(cls, config: dict):
    """The model ``cls(**config)`` makes, as Keras's ``Model.from_config`` makes a subclassed one."""
    try:
        return cls(**config)
    except TypeError as exc:
        raise TypeError(f"Unable to revive model from config. When overriding the `get_config()` method, make sure "
                        f"that the returned config contains all items used as arguments in the constructor to {cls}, "
                        f"which is the default behavior. You can override this default behavior by defining a "
                        f"`from_config(cls, config)` class method to specify how to create an instance of "
                        f"{cls.__name__} from its config.\n\nReceived config={config}\n\nError encountered during "
                        f"deserialization: {exc}") from exc  # Keras's message


def build_shape(model):
    """The input shape the model was built for, batch axis None, in its inputs' structure (Keras's
    ``build_config["input_shape"]``): one shape, or a list of them."""
    structure = model._input_structure
    if isinstance(structure, dict):
        return {key: [None, *layer.declared_input_shape] for key, layer in structure.items()}
    shapes = [[None, *layer.declared_input_shape] for layer in input_layers(model)]
    return shapes if isinstance(structure, (list, tuple)) else shapes[0]


def input_layers(model) -> list:
    """The model's InputLayers in the order of its inputs' structure (a dict's keys, a list's positions), which
    ``build_shape`` writes its shapes in."""
    structure = model._input_structure
    if isinstance(structure, dict):
        return list(structure.values())
    return list(structure) if isinstance(structure, (list, tuple)) else list(model._input_layers)


def model_entry(model, compile_config) -> dict:
    """The model as Keras's ``serialize_keras_object`` writes a subclassed one in a ``.keras`` file."""
    from ..custom_objects import user_class_entry

    entry = user_class_entry(type(model), model.get_config())
    entry["build_config"] = {"input_shape": build_shape(model)}
    if compile_config is not None:
        entry["compile_config"] = compile_config
    return entry


def model_class(entry: dict):
    """The keras.Model subclass (with a call() of its own) a file's model entry names, where the user made it known
    (``custom_objects``, ``custom_object_scope``, ``register_keras_serializable``); else None."""
    from ..custom_objects import user_class
    from .sequential import Sequential

    found = user_class(entry, Sequential, ())
    return found if found is not None and overrides.user_definition(found, "call") is not None else None
