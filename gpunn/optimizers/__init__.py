"""Optimizers with tf.keras names; each updates the whole model in one call over flat buffers."""
from __future__ import annotations

from .._registry import lookup
from . import schedules
from .algorithms import SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, Ftrl, Lamb, Lion, Nadam, RMSprop
from .base import Optimizer

_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adagrad": Adagrad, "adam": Adam, "adamw": AdamW, "nadam": Nadam,
            "adamax": Adamax, "adadelta": Adadelta, "lion": Lion, "ftrl": Ftrl, "lamb": Lamb}


def get(identifier) -> Optimizer:
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, dict):
        cls = lookup("optimizer", identifier["class_name"], _BY_NAME)
        return cls.from_config(identifier.get("config", {}))
    return lookup("optimizer", identifier, _BY_NAME)()


def serialize(optimizer: Optimizer) -> dict:
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


__all__ = ["Optimizer", "SGD", "RMSprop", "Adagrad", "Adam", "AdamW", "Nadam", "Adamax", "Adadelta", "Lion",
           "Ftrl", "Lamb", "schedules", "get", "serialize"]
