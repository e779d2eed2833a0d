"""``keras.saving.serialize_keras_object`` / ``deserialize_keras_object`` (also in ``keras.utils``).

Followed: keras/src/saving/serialization_lib.py. An object becomes ``{"module", "class_name", "config",
"registered_name"}`` (a layer also its ``build_config``), a function ``{"module": "builtins", "class_name":
"function", "config": <its registered name>, "registered_name": "function"}``; lists, tuples and dicts are
serialized item by item, NumPy arrays as ``__numpy__``. The layouts are those of the ``.keras`` files
(``models/keras_file_config.py`` writes and reads them), and every class is found by
``custom_objects.resolve``: the user's by registered name first, as Keras does.
"""
from __future__ import annotations

import types

import numpy as np

from . import custom_objects as user_objects  # ``deserialize_keras_object`` has an argument of that name

__all__ = ["serialize_keras_object", "deserialize_keras_object"]

_PLAIN = (str, int, float, bool)


def _kinds() -> dict:
    """gpunn's base class of each kind of object (named as ``keras_file_config._MODULES`` names them)."""
    from . import constraints, distillation, initializers, layers, losses, metrics, optimizers, regularizers
    from .optimizers import schedules

    return {"layer": layers.Layer, "loss": losses.Loss, "metric": metrics.Metric, "optimizer": optimizers.Optimizer,
            "schedule": schedules.LearningRateSchedule, "initializer": initializers.Initializer,
            "regularizer": regularizers.Regularizer, "constraint": constraints.Constraint,
            "distillation": (distillation.DistillationLoss, distillation.Distiller)}


def _builtins(kind: str | None) -> dict:
    """gpunn's classes of ``kind``, by lower-case class name."""
    from . import distillation
    from .models import keras_file_config

    if kind == "distillation":  # (keras.distillation's: its losses and the Distiller model)
        return {name.lower(): getattr(distillation, name) for name in distillation.__all__}
    return keras_file_config.registries().get(kind, {})


def _kind_of(cls) -> str | None:
    return next((kind for kind, base in _kinds().items() if issubclass(cls, base)), None)


def serialize_keras_object(obj):
    """The config of ``obj`` in Keras's layout (see the module docstring); ``deserialize_keras_object`` makes
    the object anew from it."""
    from .layers.feature_space import FeatureSpace
    from .models import Sequential, feature_space_files, keras_config, keras_file_config

    if obj is None or isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, (list, tuple)):
        items = [serialize_keras_object(item) for item in obj]
        return tuple(items) if isinstance(obj, tuple) else items
    if isinstance(obj, dict):
        return {key: _keras_form(serialize_keras_object(value)) for key, value in obj.items()}
    if isinstance(obj, bytes):
        return {"class_name": "__bytes__", "config": {"value": obj.decode("utf-8")}}
    if isinstance(obj, np.ndarray) and obj.ndim > 0:
        return {"class_name": "__numpy__", "config": {"value": obj.tolist(), "dtype": obj.dtype.name}}
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.item()
    if isinstance(obj, types.FunctionType):
        if obj.__name__ == "<lambda>":
            raise ValueError("obj: a lambda cannot be serialized safely (Keras refuses to load one without "
                             "safe_mode=False); use a named function, registered with register_keras_serializable")
        return {"module": "builtins", "class_name": "function", "config": user_objects.get_registered_name(obj),
                "registered_name": "function"}
    if isinstance(obj, Sequential):  # a functional model too
        return keras_config.serialized_model(obj)
    if isinstance(obj, FeatureSpace):
        return feature_space_files.config_entry(obj)  # (keras.utils's, as Keras writes it)
    kind = _kind_of(type(obj))
    if kind == "layer":
        return keras_file_config.layer_to_keras(obj)
    if not hasattr(obj, "get_config"):
        raise TypeError(f"obj: cannot serialize {type(obj).__name__} {obj!r}; to be serializable, a class must "
                        "implement get_config()")
    config = obj.get_config()
    if not isinstance(config, dict):
        raise TypeError(f"obj: the get_config() of {type(obj).__name__} should return a dict, got {config!r}")
    return keras_file_config.class_entry(type(obj), kind, serialize_keras_object(config))


def _keras_form(value):
    """A config gpunn's own ``get_config`` nests in its layout ({"class_name", "config"}: an optimizer's
    schedule, say) in Keras's, with the module of its kind."""
    if not (isinstance(value, dict) and set(value) == {"class_name", "config"}):
        return value
    from .models import keras_file_config

    for kind, classes in keras_file_config.registries().items():
        cls = classes.get(str(value["class_name"]).lower())
        if cls is not None and kind != "layer":
            return keras_file_config.class_entry(cls, kind, serialize_keras_object(value["config"]))
    return value


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """The object ``config`` describes (``serialize_keras_object``'s output, gpunn's or Keras's), made anew;
    ``custom_objects`` ({name: class or function}) are known by name meanwhile, with the scopes' and the
    registered ones. A plain value comes back as it is (a name included, as in Keras)."""
    if kwargs.keys() - {"module_objects", "printable_module_name"}:
        raise TypeError(f"deserialize_keras_object: unexpected arguments {sorted(kwargs)}")
    module_objects = kwargs.get("module_objects") or {}
    if isinstance(config, str) and user_objects.lookup(config) is None and config in module_objects:
        return module_objects[config]  # Keras's older path: a name looked up in the module given
    with user_objects.custom_object_scope(custom_objects):
        return _deserialize(config, safe_mode)


def _deserialize(config, safe_mode: bool):
    if config is None:
        return None
    if isinstance(config, str):
        found = user_objects.lookup(config)  # a function the older formats saved by name
        return config if found is None else found
    if isinstance(config, (list, tuple)):
        return [_deserialize(item, safe_mode) for item in config]
    if isinstance(config, _PLAIN):
        return config
    if not isinstance(config, dict):
        raise TypeError(f"config: could not parse {type(config).__name__} {config!r}")
    if "class_name" not in config or "config" not in config:
        return {key: _deserialize(value, safe_mode) for key, value in config.items()}
    class_name, inner = config["class_name"], config["config"]
    special = _special(class_name, inner, safe_mode)
    if special is not _NOT_SPECIAL:
        return special
    if class_name == "function":
        return _function(inner)
    return _instance(config)


_NOT_SPECIAL = object()


def _special(class_name, inner, safe_mode: bool):
    if class_name == "__numpy__":
        return np.array(inner["value"], dtype=inner["dtype"])
    if class_name == "__bytes__":
        return inner["value"].encode("utf-8")
    if class_name == "__ellipsis__":
        return Ellipsis
    if class_name == "__lambda__":
        raise ValueError("config: holds a serialized Python lambda, which gpunn does not load (Keras loads it "
                         "only with safe_mode=False, as code); use a named function registered with "
                         "register_keras_serializable")
    return _NOT_SPECIAL


def _function(name):
    """A function saved by its registered name: the user's, else gpunn's activation, loss or metric function of
    that name (Keras searches its built-in modules the same way)."""
    from . import activations, losses, metrics

    if not isinstance(name, str):
        raise TypeError(f"config: a serialized function names it by a str, got {name!r}")
    found = user_objects.lookup(name)
    if found is not None:
        return found
    for module in (activations, losses, metrics):
        function = getattr(module, name, None)
        if isinstance(function, types.FunctionType):
            return function
    raise user_objects.missing("function", name)


def _instance(config: dict):
    """A new object of the class ``config`` names, by the reader of its kind (the ``.keras`` files')."""
    from . import constraints, initializers, layers, losses, metrics, optimizers, regularizers
    from .models import Sequential, feature_space_files, keras_config, keras_file_config
    from .optimizers import schedules

    # (Keras writes a Sequential's module as "keras", a functional model's as "keras.src.models.functional")
    if config["class_name"] in ("Sequential", "Functional", "Model") and (
            config.get("module") is None or str(config.get("module")).split(".")[0] == "keras"):
        return keras_config.model_from_entry(Sequential, config)
    if feature_space_files.is_feature_space_config(config) and config.get("module") in ("keras.utils", None):
        return feature_space_files.from_config_entry(config)
    kind = keras_file_config.kind_of_module(config.get("module"))
    builtins = _builtins(kind)
    cls = user_objects.resolve(config, f"{kind or 'object'} class_name", builtins, _kinds().get(kind))
    if isinstance(cls, types.FunctionType):
        return cls
    if isinstance(cls, type) and issubclass(cls, Sequential):  # a model class of the user's
        return keras_config.model_from_entry(Sequential, config)
    kind = _kind_of(cls)
    if kind == "layer":
        return layers.deserialize(config)
    if kind in keras_file_config.registries() and cls in _builtins(kind).values():  # gpunn's own: as files read it
        readers = {"loss": losses.as_loss, "metric": metrics.get, "initializer": initializers.get,
                   "regularizer": regularizers.get, "constraint": constraints.deserialize,
                   "schedule": schedules.deserialize, "optimizer": optimizers.get}
        return readers[kind](keras_file_config.object_from_keras(config, kind))
    if not hasattr(cls, "from_config"):
        raise TypeError(f"config: cannot make a {config['class_name']!r}: its class has no from_config()")
    instance = cls.from_config(config["config"] if config["config"] is not None else {})
    if config.get("build_config") and hasattr(instance, "build_from_config"):
        instance.build_from_config(config["build_config"])
    return instance
