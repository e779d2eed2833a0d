"""Keras 3's auto-config (keras/src/ops/operation.py): a layer or model whose class has no ``get_config`` of its
own is described by the arguments it was made with, kept when it is made (``Operation.__new__``) if all are plain
values, so that ``from_config`` (``cls(**config)``) makes it again as it was. Without it, a layer of the user's
saved and loaded would come back with its constructor's defaults: silently another layer.
"""
from __future__ import annotations

import inspect

AUTO_CONFIG = "_auto_config"  # the attribute holding the arguments an object was made with (or None)
_BY_POSITION = "_auto_config_error_args"  # set where they were not kept for coming by position only or as *args
_PLAIN = (str, int, float, bool, type(None))


def _plain(value) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain(item) for key, item in value.items())
    return isinstance(value, _PLAIN)


def take_arguments(made, args: tuple, kwargs: dict) -> None:
    """Keep the arguments ``made`` (a layer or a model) is being made with, as Keras's ``Operation.__new__`` keeps
    them: bound to the class's ``__init__``, defaults included, ``name`` left out; none when one is not a plain
    value (a layer, a function) or comes by position only or as ``*args``."""
    arguments, by_position = None, False
    try:
        signature = inspect.signature(type(made).__init__)
        bound = signature.bind(made, *args, **kwargs)
    except (TypeError, ValueError):
        bound = None
    if bound is not None:
        parameters = list(signature.parameters.values())[1:]
        by_position = any(p.kind == p.POSITIONAL_ONLY for p in parameters)
        if not by_position:
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            arguments.pop(next(iter(signature.parameters)))  # self
            for p in parameters:
                if p.kind == p.VAR_KEYWORD:
                    arguments.update(arguments.pop(p.name, {}))
                elif p.kind == p.VAR_POSITIONAL and arguments.pop(p.name, ()):
                    arguments, by_position = None, True
                    break
            if arguments is not None:
                arguments.pop("name", None)
                if not _plain(arguments):
                    arguments = None
    made.__dict__[AUTO_CONFIG] = arguments
    made.__dict__[_BY_POSITION] = by_position


def named_arguments(made) -> dict | None:
    """``Operation.get_config`` from the kept arguments: ``{"name", **arguments}``, the name left out where the
    class could not take it back (no ``name`` parameter, no ``**kwargs``: Keras's rule); None where the arguments
    were not kept (one was not a plain value)."""
    arguments = made.__dict__.get(AUTO_CONFIG)
    if arguments is None:
        return None
    found = {"name": made.name, **arguments}
    parameters = inspect.signature(type(made).__init__).parameters
    takes_kwargs = "kwargs" in parameters and parameters["kwargs"].kind == inspect.Parameter.VAR_KEYWORD
    if "name" not in parameters and not takes_kwargs:
        found.pop("name", None)  # (Keras's rule: it could not be given back)
    return found


def not_serializable(made) -> NotImplementedError:
    """Keras's error for an object whose arguments were not kept (by position only or as ``*args``, or not plain
    values), of a class without a ``get_config``."""
    if made.__dict__.get(_BY_POSITION):
        return NotImplementedError(
            f"Object {type(made).__name__} was created by passing positional only or variadic positional arguments "
            "(e.g., `*args`) to `__init__()`, which is not supported by the automatic config generation. Please "
            "remove all positional only and variadic arguments from `__init__()` or override `get_config()` and "
            "`from_config()` to make the object serializable.")
    return NotImplementedError(
        f"Object {type(made).__name__} was created by passing non-serializable argument values in `__init__()`, "
        "and therefore the object must override `get_config()` in order to be serializable. Please implement "
        "`get_config()`: return `super().get_config()` updated with the arguments `__init__` takes, so that "
        "`from_config` (`cls(**config)`) makes the object again.")
