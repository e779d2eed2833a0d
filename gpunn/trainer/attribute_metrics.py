"""Metrics a model holds as attributes (``self.custom = keras.metrics.Mean(name="custom")`` in a subclass's
``__init__``, or in a layer of its own), which its own ``compute_loss`` updates: Keras's ``Trainer.metrics`` lists
them after the compiled ones, its steps log their results, and each epoch and evaluation resets them, as the
compiled ones.
"""
from __future__ import annotations

from ..metrics.base import Metric
from ..tree import found_in


def attribute_metrics(model, besides=()) -> list:
    """The Metric objects ``model`` holds as attributes (in lists, tuples and dicts too; a subclass's private
    attributes included, as Keras tracks them), then those its layers of the user's hold, in the order they were
    set, each once, but for those ``besides`` (the model's loss trackers and compiled metrics)."""
    from ..layers import user_layer
    from ..models.subclassed import SET_LATER

    own = vars(model).get("_internal_attributes")  # (a subclass of the user's: gpunn's attributes are known)
    values = [value for name, value in vars(model).items()
              if (name not in own | SET_LATER if own is not None else not name.startswith("_"))]
    for layer in getattr(model, "_graph_layers", ()):
        if user_layer.is_user_layer_class(type(layer)):
            values += layer.metrics  # (its own, then those of the layers it holds, as Keras lists them)
    left_out = {id(metric) for metric in besides}
    return [metric for metric in found_in(values, lambda value: isinstance(value, Metric))
            if id(metric) not in left_out]
