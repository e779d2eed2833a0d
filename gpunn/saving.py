"""``keras.saving``: loading and saving models and weights, and the registry of the user's own objects (loss and
metric functions, Loss and Metric classes) that model files name (``custom_objects.py``)."""
from __future__ import annotations

from .custom_objects import (CustomObjectScope, custom_object_scope, get_custom_objects, get_registered_name,
                             get_registered_object, register_keras_serializable)
from .models import load_model, save_model
from .serialization import deserialize_keras_object, serialize_keras_object

__all__ = ["load_model", "save_model", "save_weights", "load_weights", "register_keras_serializable",
           "get_custom_objects", "custom_object_scope", "CustomObjectScope", "get_registered_name",
           "get_registered_object", "serialize_keras_object", "deserialize_keras_object"]


def save_weights(model, filepath, overwrite=True, max_shard_size=None):
    """``model.save_weights(filepath, overwrite, max_shard_size)`` (Keras 3's function form)."""
    model.save_weights(filepath, overwrite=overwrite, max_shard_size=max_shard_size)


def load_weights(model, filepath, skip_mismatch=False, **kwargs):
    """``model.load_weights(filepath, skip_mismatch, ...)`` (Keras 3's function form, with its ``objects_to_skip``
    and ``by_name``)."""
    model.load_weights(filepath, skip_mismatch=skip_mismatch, **kwargs)
