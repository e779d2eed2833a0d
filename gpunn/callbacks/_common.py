"""Helpers shared by the callbacks: argument checks, monitor modes, formatting, rank-0 output."""
from __future__ import annotations

import math
import numbers
import os
import warnings

import numpy as np


def _is_chief(model) -> bool:
    return bool(getattr(model, "is_chief", True))


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


def _check_path(owner: str, name: str, value) -> str:
    """A file path argument (a str or os.PathLike), named when it is something else."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{owner}: {name} must be a file path (str or os.PathLike), got {type(value).__name__} "
                        f"{value!r}")
    return os.fspath(value)


def _check_threshold(owner: str, name: str, value) -> float | None:
    """A value the monitored metric is compared with (a baseline, a first threshold): None, or a number, inf
    included (a NaN one would compare False with every value, and silently stop training or every save)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise _bad_arg(owner, name, "a number (not NaN) or None", value)
    return float(value)


def _check_verbose(owner: str, value) -> int:
    """A callback's ``verbose``: 0 (silent) or more (its messages), checked when it is made, not at its first
    message."""
    if not isinstance(value, numbers.Integral) or value < 0:
        raise _bad_arg(owner, "verbose", "0 or 1", value)
    return int(value)


def _check_mode(owner: str, mode) -> str:
    """``mode``: 'auto', 'min' or 'max'; anything else falls back to 'auto' with Keras's warning (a script that
    runs under Keras with ``mode="Min"`` runs here too, its monitor's direction then decided as for 'auto')."""
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{owner} mode '{mode}' is unknown, fallback to auto mode.", stacklevel=4)
        return "auto"
    return mode


def _auto_direction(owner: str, monitor: str, model) -> str:
    """'min' or 'max' for ``mode='auto'``, as Keras 3 decides it (callbacks/monitor_callback.py
    ``_set_monitor_op``): the loss is minimised; a compiled metric of that name goes the way it declares
    (``direction``: accuracies, AUC, precision, recall, F-scores, R2 up; errors and cross-entropies down);
    anything else is an error asking for ``mode``, rather than a guess from the name."""
    name = str(monitor).removeprefix("val_")
    if name == "loss":
        return "min"
    for metric in getattr(model, "metrics", None) or []:
        if getattr(metric, "name", None) == name and getattr(metric, "direction", None) in ("up", "down"):
            return "max" if metric.direction == "up" else "min"
    names = [metric.name for metric in getattr(model, "metrics", None) or [] if getattr(metric, "name", None)]
    numbered = [known for known in names if known.rsplit("_", 1)[0] == name and known.rsplit("_", 1)[-1].isdigit()]
    hint = (f"; the model's metrics are {names}" if names and not name.endswith("_loss") else "") + (
        " (a loss of one output, as Keras's auto mode reads only 'loss': mode='min' keeps its lowest)"
        if name.endswith("_loss") else "") + (
        f" ({numbered[0]!r}: a metric made again without a name is numbered; give it name={name!r}, or call "
        "keras.backend.clear_session() before each model)" if numbered else "")
    raise ValueError(f"{owner}: cannot tell whether monitor={monitor!r} should be maximized or minimized (it is "
                     "neither the loss nor a compiled metric that says so); pass mode='max' to keep the highest "
                     "value, or mode='min' to keep the lowest (tf.keras 2 guessed from the name: 'max' for a name "
                     f"with 'acc' in it, else 'min'){hint}")


def _format_value(value) -> str:
    """A metric value as Keras prints it: 4 decimals, or scientific when tiny."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


# --------------------------------------------------------------------------- base classes


class BatchCounter:
    """When a save every ``every`` training batches is due, from the batch indices the batch hooks see: they
    restart every epoch, and step by more than one when fit runs several batches per call
    (``steps_per_execution``), so what was run is counted, not the calls."""

    def __init__(self, every: int):
        self.every = every
        self.last = -1  # the last batch index seen
        self.since_save = 0
        self.epoch_began = True

    def epoch_begins(self) -> None:
        self.epoch_began = True

    def due(self, batch: int) -> bool:
        """Count the batches up to and including ``batch``; True (and the count restarted) when a save is due."""
        added = batch + 1 if self.epoch_began or batch <= self.last else batch - self.last
        self.epoch_began = False
        self.last = batch
        self.since_save += added
        if self.since_save >= self.every:
            self.since_save = 0
            return True
        return False
