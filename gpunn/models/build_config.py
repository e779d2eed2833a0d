"""Keras's ``get_build_config()`` / ``build_from_config(config)`` of models: the input shape a model was built
for, and a model built from it. keras_tuner saves it beside each trial's weights and builds the trial's model
from it before loading them into it (Hyperband's later rounds, ``get_best_models``).

As in Keras 3 (keras/src/layers/layer.py, keras/src/models/model.py): ``{"input_shape": shape}`` with the batch
axis None (a list or dict of shapes for a subclassed model of several inputs); ``{"input_shape": None}`` for a
functional model, which its graph builds; None for a model not built yet.
"""
from __future__ import annotations

import warnings

from . import keras_file_config, subclassed_config
from .keras_attribute_paths import is_subclassed


def of_model(model) -> dict | None:
    """``model.get_build_config()``."""
    if is_subclassed(model):
        if model._awaits_trace:
            return None
        shape = subclassed_config.build_shape(model)
        return {"input_shape": tuple(shape) if _one_shape(shape) else shape}
    if getattr(model, "is_functional", False):
        return {"input_shape": None}
    shape = keras_file_config.built_input_shape(model)
    return None if shape is None else {"input_shape": (None, *shape)}


def build_model(model, config) -> None:
    """``model.build_from_config(config)``: builds an unbuilt model for ``config["input_shape"]``; a model built
    already is left as it is (with Keras's warning when it was built for another shape)."""
    if not config:
        return
    if not isinstance(config, dict) or "input_shape" not in config:
        raise ValueError(f"build_from_config: expected get_build_config()'s dict, {{'input_shape': shape}}, got "
                         f"{config!r}")
    shape = config["input_shape"]
    if shape is None:  # a functional model's: its graph built it
        return
    built = of_model(model)
    if built is None:
        model.build(tuple(shape) if _one_shape(shape) else shape)
    elif _normalized(built["input_shape"]) != _normalized(shape):
        warnings.warn(f"Model '{model.name}' had a build config, but the model cannot be built automatically in "
                      f"`build_from_config(config)`: it is built for input shape {built['input_shape']}, the "
                      f"config gives {shape}", stacklevel=3)


def _one_shape(shape) -> bool:
    return isinstance(shape, (list, tuple)) and all(s is None or isinstance(s, int) for s in shape)


def _normalized(shape):
    """``shape`` with lists as tuples and the batch axis dropped, to compare a built shape with a config's."""
    if isinstance(shape, dict):
        return {key: _normalized(value) for key, value in shape.items()}
    if _one_shape(shape):
        return tuple(shape)[1:]
    return tuple(_normalized(s) for s in shape)
