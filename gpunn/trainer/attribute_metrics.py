"""Metrics a model holds as attributes (``self.custom = keras.metrics.Mean(name="custom")`` in a subclass's
``__init__``), which its own ``compute_loss`` updates: Keras's ``Trainer.metrics`` lists them after the compiled
ones, its steps log their results, and each epoch and evaluation resets them, as the compiled ones.
"""
from __future__ import annotations

from ..metrics.base import Metric


def attribute_metrics(model, besides=()) -> list:
    """The Metric objects among ``model``'s public attributes (in lists, tuples and dicts too), in the order they
    were set, each once, but for those ``besides`` (the model's loss trackers and compiled metrics)."""
    found, seen = [], {id(metric) for metric in besides}

    def take(value):
        if isinstance(value, Metric):
            if id(value) not in seen:
                seen.add(id(value))
                found.append(value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                take(item)
        elif isinstance(value, dict):
            for item in value.values():
                take(item)

    for name, value in vars(model).items():
        if not name.startswith("_"):
            take(value)
    return found
