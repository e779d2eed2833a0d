"""``fit``'s ``validation_freq``: validate every N epochs, or at the epochs of a list (Keras's ``_should_eval``;
epochs counted from 1 there)."""
from __future__ import annotations

import numpy as np


def check_validation_freq(value):
    """A positive integer, or a list of epoch numbers (from 1); anything else is refused by name."""
    if isinstance(value, list):
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
            raise ValueError(f"validation_freq: expected a positive integer or a list of epoch numbers, got {value!r}")
        return [int(v) for v in value]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"validation_freq: expected a positive integer or a list of epoch numbers, got {value!r}")
    return int(value)


def validates_after(epoch: int, validation_freq) -> bool:
    """Whether fit validates at the end of ``epoch`` (0-based here, as fit counts them)."""
    if isinstance(validation_freq, list):
        return epoch + 1 in validation_freq
    return (epoch + 1) % validation_freq == 0
