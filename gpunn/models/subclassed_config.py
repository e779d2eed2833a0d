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

from .. import auto_config, dtype_policies, overrides
from ..custom_objects import MissingCustomObjectError

# Model classes of gpunn's written as a script's subclass, which Keras's files name by a public module
# (("keras.distillation", "Distiller")): each is added by the package defining it.
KERAS_MODEL_CLASSES: dict[tuple[str, str], type] = {}


def config(model) -> dict:
    """Keras's ``get_config()`` of a subclassed model (see the module docstring): its name and the arguments it was
    made with (``Operation.get_config``), then its flag and dtype policy over them (``Layer.get_config``)."""
    found = {"name": model.name}
    named = auto_config.named_arguments(model)
    if overrides.user_definition(type(model), "get_config") is None:
        if named is None:  # (made with a model or layer as an argument: Keras's error, as for a layer)
            raise auto_config.not_serializable(model)
        found = named
    found["trainable"] = model.trainable
    found["dtype"] = dtype_policies.serialize(dtype_policies.DTypePolicy(model.__dict__.get("_model_dtype")))
    if is_functional_subclass(model):  # (made again by calling the class: only what its __init__ takes)
        spec = inspect.getfullargspec(type(model).__init__)
        if spec.varkw is None:
            found = {key: value for key, value in found.items() if key in spec.args[1:] + spec.kwonlyargs}
    return found


def from_config(cls, config: dict):
    """The model ``cls(**config)`` makes, as Keras's ``Model.from_config`` makes a subclassed one."""
    try:
        return cls(**config)
    except MissingCustomObjectError:  # (a class of the user's its config names, not given: said as it is)
        raise
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
    if not getattr(model, "_awaits_trace", False):  # (a model not built yet has no shape to record, as in Keras)
        entry["build_config"] = {"input_shape": build_shape(model)}
    if compile_config is not None:
        entry["compile_config"] = compile_config
    return entry


def functional_like_constructor(cls) -> bool:
    """Keras's ``functional_like_constructor``: whether ``cls(inputs, outputs, ...)`` is how the class is made (its
    ``__init__`` takes Functional's arguments, or ``*args, **kwargs``)."""
    from .functional import Functional

    spec = inspect.getfullargspec(cls.__init__)
    # Keras's Functional takes (inputs, outputs, name); gpunn's also trainable
    return spec.args[1:] in (["inputs", "outputs", "name"], inspect.getfullargspec(Functional.__init__).args[1:]) or (
        spec.varargs is not None and spec.varkw is not None)


def is_functional_subclass(model) -> bool:
    """Whether ``model`` is a keras.Model subclass of the user's whose own ``__init__`` builds a functional model
    (``super().__init__(inputs=..., outputs=...)``, keras-io's packaging recipe): Keras writes it as its class with
    the arguments it was made with (``Model.get_config``), and makes it again by calling the class."""
    return getattr(model, "is_functional", False) and not overrides.is_gpunn_class(type(model)) and \
        overrides.user_definition(type(model), "call") is None and not functional_like_constructor(type(model))


def made_from_its_graph(cls) -> bool:
    """Whether ``cls`` is a keras.Model subclass of the user's made as ``cls(inputs, outputs, ...)``: no call() of
    its own, and an ``__init__`` taking Functional's arguments or ``*args, **kwargs`` (a class that overrides
    ``compute_loss`` or adds methods, or one without an ``__init__``). Keras makes it again by calling it with its
    graph's inputs and outputs, so a config, a file or a clone keeps the class (``functional_from_config``)."""
    from .functional import Functional

    return isinstance(cls, type) and issubclass(cls, Functional) and not overrides.is_gpunn_class(cls) and \
        overrides.user_definition(cls, "call") is None and functional_like_constructor(cls)


def names_its_class(model) -> bool:
    """Whether ``model``, a Sequential or functional model, is of a class of the user's without a call() of its
    own (a functional subclass of either kind, a Sequential subclass): Keras's ``serialize_keras_object`` names
    that class, with ``get_config()``, in files and JSON, and loading makes it again where the class is known."""
    from .sequential import Sequential

    cls = type(model)
    return isinstance(model, Sequential) and not overrides.is_gpunn_class(cls) and \
        overrides.user_definition(cls, "call") is None and not getattr(model, "_awaits_trace", False)


def graph_maker(cls, extras: dict | None = None):
    """How ``Functional.from_layers`` makes a model of ``cls`` (``made_from_its_graph``) from its graph: called
    with the inputs, outputs, name and trainable flag, and the keys of its config beyond the graph's (``extras``:
    what its ``get_config`` added, as Keras's ``functional_from_config`` passes them); None for other classes."""
    if not made_from_its_graph(cls):
        return None

    def make(inputs, outputs, name=None, trainable=True):
        return cls(inputs=inputs, outputs=outputs, name=name, trainable=trainable, **(extras or {}))

    return make


# The keys of a functional model's config that describe its graph (Keras's functional_from_config pops them; the
# others go to the class's __init__)
GRAPH_CONFIG_KEYS = ("name", "trainable", "layers", "input_layers", "output_layers")


def model_class(entry: dict):
    """The keras.Model subclass (with a call() of its own, or an ``__init__`` of its own building a functional model)
    a file's model entry names, where the user made it known (``custom_objects``, ``custom_object_scope``,
    ``register_keras_serializable``); else None."""
    from ..custom_objects import user_class
    from .sequential import Sequential

    found = user_class(entry, Sequential, ())
    if found is None:  # (the user's class of that name first, as for any other object)
        return KERAS_MODEL_CLASSES.get((entry.get("module"), entry.get("class_name")))
    return found
