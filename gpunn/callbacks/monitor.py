"""The shared part of callbacks that watch one logged quantity (mode, best value, improvement)."""
from __future__ import annotations

import math
import warnings

import numpy as np

from ._common import _auto_direction, _check_mode, _check_number
from .base import Callback


class _MonitorCallback(Callback):
    """Shared logic of callbacks that watch one metric: its direction and 'improved' test."""

    def __init__(self, monitor, mode, min_delta):
        super().__init__()
        owner = type(self).__name__
        self.monitor = monitor
        self.mode = _check_mode(owner, mode)
        # 'min' or 'max'; with mode='auto' decided at the first value, from the model's metrics (as Keras does)
        self._direction = None if self.mode == "auto" else self.mode
        self.min_delta = abs(_check_number(owner, "min_delta", min_delta, minimum=-math.inf))

    @property
    def direction(self) -> str:
        if self._direction is None:
            self._direction = _auto_direction(type(self).__name__, self.monitor, self.model)
        return self._direction

    @property
    def monitor_op(self):
        """Keras's attribute: ``np.less`` or ``np.greater`` from the first epoch's end on (where Keras settles
        it, whatever the mode), None before."""
        if not self.__dict__.get("_monitor_settled") or self._direction is None:
            return None
        return np.less if self._direction == "min" else np.greater

    def _is_improvement(self, current, reference) -> bool:
        # NaN compares False both ways, so a NaN metric is never an improvement.
        if reference is None:  # the first value (no baseline): an improvement unless NaN. Keras takes a first NaN
            # too, as its best, which nothing improves on after it (README: "Differences from tf.keras")
            return not math.isnan(current)
        if self.direction == "min":
            return current < reference - self.min_delta
        return current > reference + self.min_delta

    def _worst(self):
        """The best value before any was seen: None (anything improves on it)."""
        return None

    def _get_monitor_value(self, logs):
        # As Keras, the direction is settled at the first epoch's end, whether the value is logged or not: a
        # monitor that is neither the loss nor a compiled metric ('val_auc' for a metric named 'AUC') is an
        # error with mode='auto', not a callback that never acts
        self._settle_direction()
        return self._read_monitor(logs)

    def _settle_direction(self) -> None:
        """Decide the direction (or raise, for mode='auto' on a quantity of no known direction), from here on
        shown as ``monitor_op``: at the first epoch's end, as Keras does."""
        self.direction  # noqa: B018
        self._monitor_settled = True

    def _read_monitor(self, logs):
        """The monitored value in ``logs`` as a float, or None with the warning."""
        value = None if logs is None else logs.get(self.monitor)
        if value is None:
            warnings.warn(self._missing_monitor_message(logs or {}), stacklevel=4)
            return None
        values = np.asarray(value, dtype=np.float64)
        if values.size != 1:  # (F1Score(average=None): one value per class)
            raise ValueError(f"{type(self).__name__}: monitor={self.monitor!r} holds {values.size} values (one per "
                             "class); a callback follows one number: give the metric average='macro' (or "
                             "'micro', 'weighted'), or monitor another")
        return float(values.reshape(()))  # (a metric of one class gives one value in an array, as tf.keras 2 took)

    def _missing_monitor_message(self, logs) -> str:
        """The warning when the monitored value is not in the logs (EarlyStopping and ReduceLROnPlateau give
        Keras's own words, so that a ``warnings.filterwarnings`` written for them silences these too)."""
        return (f"{type(self).__name__}: monitored metric {self.monitor!r} is not in the logs, skipping. "
                f"Available metrics are: {', '.join(logs.keys()) or 'none'}")
