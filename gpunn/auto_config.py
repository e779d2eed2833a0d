"""Keras 3's auto-config (keras/src/ops/operation.py): a layer or model whose class has no ``get_config`` of its
own is described by the arguments it was made with, kept when it is made (``Operation.__new__``) if all are plain
values, so that ``from_config`` (``cls(**config)``) makes it again as it was. Without it, a layer of the user's
saved and loaded would come back with its constructor's defaults: silently another layer.
"""
from __future__ import annotations

import inspect

AUTO_CONFIG = "_auto_config"  # the attribute holding the arguments an object was made with (or None)
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
    arguments = None
    try:
        signature = inspect.signature(type(made).__init__)
        bound = signature.bind(made, *args, **kwargs)
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
    made.__dict__[AUTO_CONFIG] = arguments


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
    """Keras's error for an object made with arguments that are not plain values and without a ``get_config``."""
    return NotImplementedError(
        f"Object {type(made).__name__} was created by passing non-serializable argument values in `__init__()`, "
        "and therefore the object must override `get_config()` in order to be serializable. Please implement "
        "`get_config()`: return `super().get_config()` updated with the arguments `__init__` takes, so that "
        "`from_config` (`cls(**config)`) makes the object again.")
