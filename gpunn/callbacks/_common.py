"""Helpers shared by the callbacks: argument checks, monitor modes, formatting, rank-0 output."""
from __future__ import annotations

import numpy as np

import numbers
import sys
from tqdm import tqdm


def _is_chief(model) -> bool:
    return bool(getattr(model, "is_chief", True))


def _print(message: str) -> None:
    # tqdm.write clears and redraws a live progress bar around the message instead of
    # printing into the middle of it. sys.stdout is looked up now, so redirections apply.
    tqdm.write(message, file=sys.stdout)


def _bad_arg(owner: str, name: str, expected: str, value) -> ValueError:
    return ValueError(f"{owner}: {name} must be {expected}, got {name}={value!r}")


def _check_int(owner: str, name: str, value, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise _bad_arg(owner, name, f"an integer >= {minimum}", value)
    return int(value)


def _check_number(owner: str, name: str, value, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= minimum:
        raise _bad_arg(owner, name, f"a number >= {minimum}", value)
    return float(value)


# Substrings of metric names that are better when higher; every other metric (losses, errors)
# is better when lower.
_HIGHER_IS_BETTER = ("acc", "auc", "precision", "recall", "f1")


def _resolve_mode(owner: str, mode, monitor: str) -> str:
    """'min' or 'max' for ``mode`` ('auto' decides from the metric's name)."""
    if mode not in ("auto", "min", "max"):
        raise _bad_arg(owner, "mode", "one of 'auto', 'min', 'max'", mode)
    if mode != "auto":
        return mode
    name = str(monitor).lower()
    return "max" if any(hint in name for hint in _HIGHER_IS_BETTER) else "min"


def _format_value(value) -> str:
    """A metric value as Keras prints it: 4 decimals, or scientific when tiny."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def _format_elapsed(seconds: float) -> str:
    return f"{seconds:.0f}s"


def _format_per_step(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


# --------------------------------------------------------------------------- base classes
