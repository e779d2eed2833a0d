"""LearningRateScheduler: set the learning rate from a function of the epoch."""
from __future__ import annotations

import numpy as np

import inspect
import math
import numbers

from ..io_utils import print_msg
from ._common import _is_chief, _bad_arg
from .base import Callback


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of every epoch from ``schedule``.

    Args:
        schedule: ``schedule(epoch, lr) -> new lr`` with ``epoch`` 0-based and ``lr`` the current
            rate (a one-argument ``schedule(epoch)`` is accepted too).
        verbose: 1 prints the new rate every epoch.

    Also records the rate in ``logs['learning_rate']`` at the end of every epoch.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise _bad_arg("LearningRateScheduler", "schedule", "a callable schedule(epoch, lr)", schedule)
        self.schedule = schedule
        self.verbose = verbose
        self._takes_lr = self._accepts_two_args(schedule)

    @staticmethod
    def _accepts_two_args(fn) -> bool:
        # Decided from the signature rather than by catching TypeError around the call, which
        # would also swallow a TypeError raised inside the schedule.
        try:
            parameters = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            return True
        positional = 0
        for p in parameters:
            if p.kind is p.VAR_POSITIONAL:
                return True
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                positional += 1
        return positional >= 2

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        lr = float(optimizer.learning_rate)
        new_lr = self.schedule(epoch, lr) if self._takes_lr else self.schedule(epoch)
        if isinstance(new_lr, np.ndarray) and new_lr.ndim == 0:
            new_lr = new_lr.item()
        if isinstance(new_lr, bool) or not isinstance(new_lr, numbers.Real) or not math.isfinite(new_lr) or new_lr < 0:
            raise ValueError(
                f"LearningRateScheduler: schedule must return a finite float >= 0, "
                f"got {new_lr!r} for epoch {epoch}"
            )
        optimizer.learning_rate = float(new_lr)
        if self.verbose > 0 and _is_chief(self.model):
            print_msg(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(new_lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)
