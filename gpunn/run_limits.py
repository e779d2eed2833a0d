"""Keras 3's debugging caps on training runs (keras/src/backend/config.py): ``keras.config.set_max_epochs`` caps
the epochs of every ``fit``, ``set_max_steps_per_epoch`` the batches of every epoch of ``fit``, of its
validation, and of ``evaluate`` and ``predict``; the environment variables ``KERAS_MAX_EPOCHS`` and
``KERAS_MAX_STEPS_PER_EPOCH`` set them for a whole script without editing it. A cap that applies is said with
Keras's warning ("Limiting epochs to 3")."""
from __future__ import annotations

import os
import warnings

import numpy as np

from .user_stacklevel import user_stacklevel


def _from_environment(variable: str):
    text = os.environ.get(variable)
    if text is None:
        return None
    try:
        return _checked(variable, int(text))
    except ValueError:
        raise ValueError(f"{variable}: expected a positive integer, got {text!r}") from None


def _checked(argument: str, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{argument}: expected a positive integer or None, got {value!r}")
    return int(value)


_limits = {"epochs": _from_environment("KERAS_MAX_EPOCHS"),
           "steps": _from_environment("KERAS_MAX_STEPS_PER_EPOCH")}


def set_max_epochs(max_epochs) -> None:
    """Cap the epochs of every ``fit`` at ``max_epochs`` (None: no cap). For debugging runs."""
    _limits["epochs"] = _checked("max_epochs", max_epochs)


def set_max_steps_per_epoch(max_steps_per_epoch) -> None:
    """Cap the batches of each epoch of ``fit`` (and of its validation), ``evaluate`` and ``predict`` at
    ``max_steps_per_epoch`` (None: no cap). For debugging runs."""
    _limits["steps"] = _checked("max_steps_per_epoch", max_steps_per_epoch)


def max_epochs():
    return _limits["epochs"]


def max_steps_per_epoch():
    return _limits["steps"]


def limited_epochs(epochs):
    """``epochs``, or the cap where it is lower (with Keras's warning)."""
    cap = _limits["epochs"]
    if cap and isinstance(epochs, (int, np.integer)) and not isinstance(epochs, bool) and cap < epochs:
        warnings.warn(f"Limiting epochs to {cap}", stacklevel=user_stacklevel())
        return cap
    return epochs


def limited_steps(steps):
    """A run's number of batches per epoch (None: all of them), or the cap where it is lower or none was given:
    as Keras's EpochIterator, which then reads at most the data there is."""
    cap = _limits["steps"]
    if cap and (steps is None or (isinstance(steps, (int, np.integer)) and not isinstance(steps, bool)
                                  and cap < steps)):
        warnings.warn(f"Limiting steps_per_epoch to {cap}", stacklevel=user_stacklevel())
        return cap
    return steps
