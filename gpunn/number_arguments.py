"""The check a numeric hyperparameter gets when its object is made (an optimizer, a schedule, an initializer, a
constraint, an activation): a NaN, an inf or a string given there would otherwise surface epochs later as NaN
weights, or not at all. One place, so that every object words the refusal alike: the argument's name, what was
expected, what came.

This module imports nothing from gpunn: everything may depend on it."""
from __future__ import annotations

import math
import numbers

import numpy as np


def _as_number(value):
    """``value`` unchanged, or a 0-d int/float array as its Python number (what arithmetic on NumPy values gives,
    e.g. ``np.float32(0.1) * 2`` or ``np.asarray(1.0)``)."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        return value.item()
    return value


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def finite_number(argument: str, value, minimum=None, maximum=None, *, allow_none: bool = False,
                  allow_inf: bool = False, keep_int: bool = False):
    """``value`` as a float (an int kept as an int with ``keep_int``, as Keras's configs keep it), or None when
    ``allow_none`` and it is None; else a ValueError naming ``argument`` unless it is a finite number in
    [``minimum``, ``maximum``] (+inf also taken with ``allow_inf``: "no cap")."""
    if value is None and allow_none:
        return None
    value = _as_number(value)
    ok = _is_real(value) and (math.isfinite(value) or (allow_inf and value == math.inf)) and (
        minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        expected = "a finite number" + ("" if minimum is None else f" >= {minimum}") + (
            "" if maximum is None else f" <= {maximum}") + (" or None" if allow_none else "")
        raise ValueError(f"{argument}: expected {expected}, got {value!r}")
    return int(value) if keep_int and isinstance(value, numbers.Integral) else float(value)


def positive_number(argument: str, value, *, allow_none: bool = False, allow_inf: bool = False):
    """``value`` as a float, or None when ``allow_none`` and it is None; else a ValueError naming ``argument``
    unless it is a finite number > 0 (+inf also taken with ``allow_inf``)."""
    if value is None and allow_none:
        return None
    value = _as_number(value)
    if not (_is_real(value) and value > 0 and (math.isfinite(value) or allow_inf)):  # (NaN fails value > 0)
        raise ValueError(f"{argument}: expected a positive number{' or None' if allow_none else ''}, got {value!r}")
    return float(value)
