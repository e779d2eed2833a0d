"""Optimizers with tf.keras names; each updates the whole model in one call over flat buffers."""
from __future__ import annotations

from .. import custom_objects as custom_objects_lookup  # ``deserialize`` has an argument of that name
from .. import keras_objects
from ..mixed_precision import LossScaleOptimizer  # refused by name where it is made (Keras exports it here too)
from .._registry import lookup
from . import legacy, schedules
from .algorithms import (SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, Ftrl, Lamb, Lion, Nadam, RMSprop,
                         ScheduleFreeAdamW)
from .adafactor import Adafactor
from .base import Optimizer
from .muon import Muon

_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adagrad": Adagrad, "adam": Adam, "adamw": AdamW, "nadam": Nadam,
            "adamax": Adamax, "adadelta": Adadelta, "lion": Lion, "ftrl": Ftrl, "lamb": Lamb, "muon": Muon,
            "adafactor": Adafactor, "schedulefreeadamw": ScheduleFreeAdamW}


def get(identifier) -> Optimizer | None:
    if identifier is None:  # (Keras's: None for None)
        return None
    if isinstance(identifier, Optimizer):
        return identifier
    if keras_objects.is_keras_object(identifier):  # (Keras's own: tf.optimizers.Adam(1e-3))
        return keras_objects.as_gpunn(identifier, "optimizer")
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, dict):
        # tf.keras 2's legacy optimizers (a config Keras 2 wrote, or gpunn's serialize of one of them)
        by_name = legacy.BY_NAME if legacy.is_legacy_config(identifier) else _BY_NAME
        cls = lookup("optimizer", identifier["class_name"], by_name)
        return cls.from_config(identifier.get("config", {}))
    return lookup("optimizer", identifier, _BY_NAME)()


def deserialize(config, custom_objects=None):
    """Keras's ``deserialize``: the object ``config`` describes (a config dict, or a name), the user's classes
    and functions taken from ``custom_objects`` too."""
    with custom_objects_lookup.custom_object_scope(custom_objects):
        return get(config)


def serialize(optimizer: Optimizer) -> dict:
    serialized = {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}
    if isinstance(optimizer, legacy.Keras2Arguments):
        serialized["module"] = legacy.MODULE
    return serialized


__all__ = ["deserialize", "Optimizer", "SGD", "RMSprop", "Adagrad", "Adam", "AdamW", "Nadam", "Adamax", "Adadelta",
           "Lion", "Ftrl", "Lamb", "Muon", "Adafactor", "ScheduleFreeAdamW", "legacy", "schedules", "get",
           "serialize", "LossScaleOptimizer"]


def __dir__():
    from ..api_listing import public_names  # (Keras's listing: api_listing.py)

    return public_names(globals(), ('legacy', 'schedules'))


def __getattr__(name: str):
    from ..beyond_mlps import stand_in  # Keras's names gpunn leaves out say so (beyond_mlps.py)

    return stand_in(__name__, name)
