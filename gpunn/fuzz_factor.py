"""Keras's fuzz factor, ``keras.config.epsilon()`` (1e-7): what the built-in losses clip probabilities with and
add to the denominators they divide by (MAPE, MSLE, KL divergence, Poisson), what metrics and norm constraints add
to theirs. ``keras.config.set_epsilon`` changes it for everything made or run after, as in Keras (a recorded
training step takes the value of when it was recorded, as Keras's compiled step takes it when traced)."""
from __future__ import annotations

import math

_EPSILON = [1e-7]


def epsilon() -> float:
    return _EPSILON[0]


def set_epsilon(value) -> None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or number < 0:
        raise ValueError(f"set_epsilon: expected a finite number >= 0, got {value!r}")
    _EPSILON[0] = number
