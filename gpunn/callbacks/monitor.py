"""The shared part of callbacks that watch one logged quantity (mode, best value, improvement)."""
from __future__ import annotations

import math
import warnings

from ._common import _check_number, _resolve_mode
from .base import Callback


class _MonitorCallback(Callback):
    """Shared logic of callbacks that watch one metric: its direction and 'improved' test."""

    def __init__(self, monitor, mode, min_delta):
        super().__init__()
        owner = type(self).__name__
        self.monitor = monitor
        self.mode = mode
        self._direction = _resolve_mode(owner, mode, monitor)
        self.min_delta = abs(_check_number(owner, "min_delta", min_delta, minimum=-math.inf))

    def _is_improvement(self, current, reference) -> bool:
        # NaN compares False both ways, so a NaN metric is never an improvement.
        if self._direction == "min":
            return current < reference - self.min_delta
        return current > reference + self.min_delta

    def _worst(self) -> float:
        return math.inf if self._direction == "min" else -math.inf

    def _get_monitor_value(self, logs):
        value = None if logs is None else logs.get(self.monitor)
        if value is None:
            available = ", ".join(logs.keys()) if logs else "none"
            warnings.warn(
                f"{type(self).__name__}: monitored metric {self.monitor!r} is not in the logs, "
                f"skipping. Available metrics are: {available}",
                stacklevel=3,
            )
            return None
        return float(value)
