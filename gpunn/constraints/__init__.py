"""Weight constraints with Keras 3's names and formulas (``keras.constraints``): ``MaxNorm``, ``MinMaxNorm``,
``NonNeg``, ``UnitNorm``, their snake_case aliases, and ``get`` / ``serialize`` / ``deserialize``.

Layers take them as ``kernel_constraint=`` / ``bias_constraint=`` (Dense), ``beta_constraint=`` /
``gamma_constraint=`` (BatchNormalization, LayerNormalization) and ``alpha_constraint=`` (PReLU). As in Keras,
a training step applies each trained weight's constraint after the optimizer's update; frozen weights are left
as they are.
"""
from __future__ import annotations

import inspect

from .. import custom_objects as user_objects
from .. import keras_objects
from .._registry import lookup
from .base import Constraint
from .function_constraint import FunctionConstraint
from .non_negative import NonNeg
from .norms import MaxNorm, MinMaxNorm, UnitNorm

# Keras exports each class under its snake_case name too.
max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm
maxnorm, nonneg, unitnorm = MaxNorm, NonNeg, UnitNorm  # Keras 2's names (tf.keras 2 kept them too)

_CLASSES = (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm)
# keras/src/constraints/__init__.py ALL_OBJECTS_DICT: class names and their snake_case (looked up in lower case)
_BY_NAME = {cls.__name__.lower(): cls for cls in _CLASSES}
_BY_NAME.update(max_norm=MaxNorm, min_max_norm=MinMaxNorm, non_neg=NonNeg, unit_norm=UnitNorm, maxnorm=MaxNorm,
                nonneg=NonNeg, unitnorm=UnitNorm)


def serialize(constraint) -> dict | None:
    if isinstance(constraint, FunctionConstraint):
        return user_objects.function_entry(constraint.function)
    return None if constraint is None else user_objects.class_entry(constraint, constraint.get_config())


def deserialize(config, custom_objects=None, *, argument: str = "constraint") -> Constraint:
    """A constraint from ``{"class_name", "config"}`` (Keras's native layout, with "module", also reads);
    ``custom_objects``: {class name: Constraint subclass} for classes of one's own."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"{argument}: expected a serialized constraint {{'class_name': ..., 'config': ...}}, "
                         f"got {config!r}")
    custom = dict(custom_objects or {})
    if config["class_name"] == "function":  # a function of the user's, by its registered name
        function = custom.get(config.get("config")) or user_objects.function_of_entry(config, argument)
        return FunctionConstraint(function)
    cls = custom.get(config["class_name"]) or user_objects.resolve(config, argument, _BY_NAME, Constraint)
    return cls.from_config(dict(config.get("config") or {}))


def resolve(argument: str, identifier) -> Constraint | None:
    """``get`` for a layer's argument: errors name ``argument`` (e.g. "kernel_constraint")."""
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if keras_objects.is_keras_object(identifier):  # (Keras's own: tf.keras.constraints.MaxNorm(3))
        return keras_objects.as_gpunn(identifier, "constraint")
    if inspect.isclass(identifier) and issubclass(identifier, Constraint):
        return identifier()
    if isinstance(identifier, dict):
        return deserialize(identifier, argument=argument)
    if isinstance(identifier, str) and identifier.lower() not in _BY_NAME:
        custom = user_objects.lookup(identifier)  # a function of the user's, by its registered name (a file's)
        if callable(custom) and not isinstance(custom, type):
            return FunctionConstraint(custom)
    if isinstance(identifier, str):
        return lookup(argument, identifier, _BY_NAME)()
    if callable(identifier):  # a function of the weight giving the projected weight (the Keras docstring's)
        return FunctionConstraint(identifier)
    raise ValueError(f"{argument}: could not interpret constraint identifier {identifier!r}")


def get(identifier) -> Constraint | None:
    """A constraint from None, a name ("max_norm", "MaxNorm"...), a config dict, a class or an instance."""
    return resolve("constraint", identifier)


__all__ = ["Constraint", "FunctionConstraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "max_norm",
           "min_max_norm", "non_neg", "unit_norm", "maxnorm", "nonneg", "unitnorm", "get", "serialize",
           "deserialize"]


def __dir__():
    from ..api_listing import public_names  # (Keras's listing: api_listing.py)

    return public_names(globals())
