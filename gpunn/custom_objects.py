"""Keras's registry of a user's own objects (keras/src/saving/object_registration.py): the losses and metric
functions or classes a model file names but gpunn does not have. ``load_model(custom_objects=...)``,
``custom_object_scope(...)`` and ``register_keras_serializable()`` make them known by name; the losses' and
metrics' lookups consult them (``lookup``) before giving up with ``MissingCustomObjectError``.
"""
from __future__ import annotations

import contextlib
import contextvars
import threading
import types

from . import _registry

_GLOBAL_OBJECTS: dict = {}  # name -> object: register_keras_serializable and get_custom_objects()
_GLOBAL_NAMES: dict = {}  # object -> its registered name ("package>name")
_scopes = threading.local()


class MissingCustomObjectError(ValueError, TypeError):
    """A file or config names a function or class of the user's that is not known here (a TypeError as Keras's
    "Could not locate class", and a ValueError as gpunn's earlier releases raised)."""


def get_custom_objects() -> dict:
    """The global dict of custom objects, by name (Keras's ``get_custom_objects``): entries added to it are
    found by every later load."""
    return _GLOBAL_OBJECTS


class CustomObjectScope:
    """``with custom_object_scope({"name": object}):`` the objects are known by name inside the block (Keras's
    ``CustomObjectScope``)."""

    def __init__(self, *dicts, custom_objects=None):
        dicts = dicts + (custom_objects,)  # (Keras 3 names its one dict; tf.keras 2 took several by position)
        for objects in dicts:
            if objects is not None and not isinstance(objects, dict):
                raise TypeError(f"custom_objects: expected dicts {{name: object}}, got {type(objects).__name__}")
        self.custom_objects = {}
        for objects in dicts:
            self.custom_objects.update(objects or {})

    def __enter__(self):
        _stack().append(self.custom_objects)
        return self

    def __exit__(self, *exc):
        _stack().pop()
        return False


custom_object_scope = CustomObjectScope


def _stack() -> list:
    if not hasattr(_scopes, "stack"):
        _scopes.stack = []
    return _scopes.stack


def register_keras_serializable(package="Custom", name=None):
    """Decorator registering a function or class under ``"package>name"`` (name: its own by default), as
    Keras's: files then name it that way, and loading finds it without ``custom_objects``."""
    def decorate(obj):
        registered = f"{package}>{name or obj.__name__}"
        if isinstance(obj, type) and not hasattr(obj, "get_config"):
            raise ValueError(f"Cannot register a class that does not have a get_config() method: {obj!r}")
        # a name registered again points at the new object, as in Keras 3 (a notebook cell run twice defines the
        # class again)
        _GLOBAL_OBJECTS[registered] = obj
        _GLOBAL_NAMES[obj] = registered
        return obj

    return decorate


def get_registered_name(obj) -> str:
    """The name a file gives ``obj``: its registered name, else its own."""
    try:
        return _GLOBAL_NAMES.get(obj, getattr(obj, "__name__", None) or type(obj).__name__)
    except TypeError:  # unhashable
        return getattr(obj, "__name__", None) or type(obj).__name__


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The object known by ``name``: in the innermost scope first, then the global registry, then
    ``custom_objects`` and ``module_objects``; None when none has it."""
    for objects in reversed(_stack()):
        if name in objects:
            return objects[name]
    for objects in (_GLOBAL_OBJECTS, custom_objects or {}, module_objects or {}):
        if name in objects:
            return objects[name]
    return None


def lookup(*names):
    """The first object known by one of ``names`` (a registered name, then a plain one), or None."""
    for name in names:
        if isinstance(name, str):
            found = get_registered_object(name)
            if found is not None:
                return found
    return None


def _of_kind(found, base):
    return found if base is None or isinstance(found, type) and issubclass(found, base) else None


def user_class(config: dict, base: type, builtins=()):
    """The class of the user's a serialized object names, found as Keras's ``_retrieve_class_or_fn`` finds it:
    by its ``registered_name`` (the class name when the config has none) first, so that a registered class named
    like a built-in one is still the user's; then, when gpunn has no class of that name (``builtins``: its own, by
    lower-case name), by the plain class name, which older files and tf.keras's wrote without a registered name.
    None when it names none of the user's subclasses of ``base``."""
    class_name = config.get("class_name")
    found = _of_kind(lookup(config.get("registered_name") or class_name), base)
    if found is None and str(class_name).strip().lower().replace("-", "_") not in builtins:
        found = _of_kind(lookup(class_name), base)
    return found


def resolve(config: dict, argument: str, builtins, base: type):
    """The class a serialized object ({"class_name", "config", "registered_name"}) names: the user's
    (``user_class``), else gpunn's own of that name (``builtins``, by lower-case name). Every config gpunn reads
    resolves its class here. A name registered under a package ("P>Name") that is not known here fails rather
    than silently becoming gpunn's class of the same plain name, as Keras refuses it."""
    found = user_class(config, base, builtins)
    if found is not None:
        return found
    check_registered(config, argument)
    with hint_on_unknown():
        return _registry.lookup(argument, config.get("class_name"), builtins)


def check_registered(config: dict, argument: str) -> None:
    """Refuse a config naming a class registered under a package ("P>Name") that is not known here: reading it
    as gpunn's class of the same plain name would silently build another object (Keras refuses it too)."""
    registered = config.get("registered_name")
    if isinstance(registered, str) and ">" in registered and registered != config.get("class_name"):
        raise missing(argument, registered)


def missing(kind: str, name: str, in_model: bool = False) -> MissingCustomObjectError:
    """``in_model``: the model itself needs it (a layer class), so loading without the compile config would not
    do."""
    return MissingCustomObjectError(
        f"{kind}: could not locate {name!r}, a function or class of the program that wrote the model; pass it to "
        f"load_model(..., custom_objects={{{name!r}: ...}}) (or model_from_json, custom_object_scope)"
        + (" or register it with gpunn.saving.register_keras_serializable()" if in_model else
           ", register it with gpunn.saving.register_keras_serializable(), or load with compile=False"))


_LOADING = contextvars.ContextVar("loading_a_model_file", default=False)  # (per thread)


@contextlib.contextmanager
def loading():
    """The block reads a model file (``load_model``): an unknown name may be a function or class of the program
    that wrote it, and the refusal says where such objects go."""
    token = _LOADING.set(True)
    try:
        yield
    finally:
        _LOADING.reset(token)


@contextlib.contextmanager
def hint_on_unknown():
    """An unknown-name ValueError raised in the block becomes a MissingCustomObjectError saying where the user's
    own objects go (the name may be one of theirs, saved in a model file)."""
    try:
        yield
    except MissingCustomObjectError:
        raise
    except _registry.UnknownNameError as exc:  # the closest name and the hint first, then the long list
        suggestion = f" Did you mean {exc.close!r}?" if exc.close else ""
        if not _LOADING.get():  # (a name given to compile or get: a typo, or a metric given as the loss)
            metric = exc.argument == "loss" and str(exc.name).lower() in ("accuracy", "acc")
            note = (f" {exc.name!r} is a metric: give it in metrics=[...], with a loss such as "
                    "'sparse_categorical_crossentropy'." if metric else "")
            raise MissingCustomObjectError(
                f"{exc.argument}: unknown name {exc.name!r}.{suggestion}{note} A function or class of your own is "
                "found by name through custom_object_scope or register_keras_serializable (or give the object "
                "itself)" + (f"; else, expected one of {exc.choices}" if exc.choices else "")) from None
        raise MissingCustomObjectError(
            f"{exc.argument}: unknown name {exc.name!r}.{suggestion} A function or class of the user's goes in "
            f"load_model(..., custom_objects={{{exc.name!r}: ...}}) (or custom_object_scope, "
            "register_keras_serializable); load_model(..., compile=False) skips the compile config"
            + (f"; else, expected one of {exc.choices}" if exc.choices else "")) from None
    except ValueError as exc:
        raise MissingCustomObjectError(
            f"{exc} A function or class of the user's goes in load_model(..., custom_objects={{name: ...}}) (or "
            "custom_object_scope, register_keras_serializable); load_model(..., compile=False) skips the "
            "compile config.") from None


def user_class_entry(cls, config) -> dict:
    """A class of the user's as Keras's ``serialize_keras_object`` writes it: its module (None for
    ``__main__``, as Keras writes it), name, config and registered name, which Keras finds it by; a class of
    gpunn's written as a subclass, under the public module Keras writes for its own (``_keras_module``)."""
    keras_module = vars(cls).get("_keras_module")
    if keras_module is not None:
        return {"module": keras_module, "class_name": cls.__name__, "config": config, "registered_name": None}
    return {"module": None if cls.__module__ == "__main__" else cls.__module__, "class_name": cls.__name__,
            "config": config, "registered_name": get_registered_name(cls)}


def class_entry(obj, config: dict) -> dict:
    """``obj`` (an initializer, regularizer or constraint) as a config entry: a class of the user's as
    ``user_class_entry`` writes it, gpunn's own by class name."""
    cls = type(obj)
    if cls.__module__.split(".")[0] != "gpunn":
        return user_class_entry(cls, config)
    return {"class_name": cls.__name__, "config": config}


def function_entry(function) -> dict:
    """A function of the user's (an initializer, a regularizer) as a config entry: its registered name, which
    model files write as Keras writes a function (``{"class_name": "function", "config": name}``)."""
    if getattr(function, "__name__", None) == "<lambda>":
        raise ValueError("a lambda cannot be saved (Keras refuses to load one without safe_mode=False); use a named "
                         "function, registered with register_keras_serializable")
    if not isinstance(function, (types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
        # (a functools.partial, an object with __call__: its name alone would lose what it holds; Keras's message)
        if callable(getattr(function, "get_config", None)):
            raise TypeError(f"Cannot serialize object {function!r} of type {type(function)}: gpunn saves such an "
                            "object with its get_config() when its class subclasses keras.regularizers.Regularizer, "
                            "keras.initializers.Initializer or keras.constraints.Constraint (whichever it stands "
                            "for); subclass it")
        raise TypeError(f"Cannot serialize object {function!r} of type {type(function)}. To be serializable, a "
                        "class must implement the `get_config()` method.")
    return {"class_name": "function", "config": get_registered_name(function)}


def function_of_entry(entry: dict, kind: str):
    """The function a ``function_entry`` names, among the user's objects; a clear error where it is unknown."""
    found = lookup(entry.get("config"))
    if found is None or not callable(found):
        raise missing(kind, str(entry.get("config")))
    return found
