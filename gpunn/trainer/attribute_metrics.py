"""Metrics a model holds as attributes (``self.custom = keras.metrics.Mean(name="custom")`` in a subclass's
``__init__``), which its own ``compute_loss`` updates: Keras's ``Trainer.metrics`` lists them after the compiled
ones, its steps log their results, and each epoch and evaluation resets them, as the compiled ones.
"""
from __future__ import annotations

from ..metrics.base import Metric
from ..tree import found_in


def attribute_metrics(model, besides=()) -> list:
    """The Metric objects among ``model``'s public attributes (in lists, tuples and dicts too), in the order they
    were set, each once, but for those ``besides`` (the model's loss trackers and compiled metrics)."""
    left_out = {id(metric) for metric in besides}
    public = [value for name, value in vars(model).items() if not name.startswith("_")]
    return [metric for metric in found_in(public, lambda value: isinstance(value, Metric))
            if id(metric) not in left_out]
