"""ReduceLROnPlateau: lower the learning rate when a monitored quantity stalls."""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from ..io_utils import print_msg
from ._common import _bad_arg, _check_int, _check_number, _check_verbose, _is_chief
from .monitor import _MonitorCallback


class ReduceLROnPlateau(_MonitorCallback):
    """Multiply the learning rate by ``factor`` when a metric has stopped improving.

    Every epoch it also records the learning rate used in ``logs['learning_rate']``.

    Args:
        monitor: metric to watch.
        factor: multiplier of the learning rate, below 1 (0 or less: down to ``min_lr``).
        patience: epochs without improvement before reducing.
        verbose: 1 prints a message at each reduction.
        mode: ``'min'``, ``'max'`` or ``'auto'`` (max for accuracy/AUC-like names, else min).
        min_delta: smallest change that counts as an improvement.
        cooldown: epochs to wait after a reduction before counting patience again.
        min_lr: lower bound of the learning rate.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):
        if "epsilon" in kwargs:  # tf.keras 2's old name of min_delta, taken with its warning
            min_delta = kwargs.pop("epsilon")
            warnings.warn("`epsilon` argument is deprecated and will be removed, use `min_delta` instead.",
                          stacklevel=2)
        if kwargs:  # Keras takes and ignores them: said, not refused, so that such a script runs
            warnings.warn(f"ReduceLROnPlateau: ignoring keyword argument(s) {sorted(kwargs)}, as Keras does (not "
                          "among monitor, factor, patience, verbose, mode, min_delta, cooldown, min_lr)",
                          stacklevel=2)
        super().__init__(monitor, mode, min_delta)
        owner = "ReduceLROnPlateau"
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not -math.inf < factor < 1:
            # (Keras refuses only >= 1; below 0 the rate drops to min_lr)
            raise _bad_arg(owner, "factor", "a number below 1 (the learning rate is multiplied by it)", factor)
        self.factor = float(factor)
        self.patience = _check_int(owner, "patience", patience)
        self.cooldown = _check_int(owner, "cooldown", cooldown)
        self.min_lr = _check_number(owner, "min_lr", min_lr)
        self.verbose = _check_verbose("ReduceLROnPlateau", verbose)
        self._reset()

    def _reset(self):
        self.best = self._worst()
        self.wait = 0
        self.cooldown_counter = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def _missing_monitor_message(self, logs) -> str:
        return (f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs.keys())}.")

    def in_cooldown(self) -> bool:
        """Whether the callback is waiting out the cooldown after a reduction."""
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            logs = {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = self._get_monitor_value(logs)
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(optimizer.learning_rate)
                # Compared in float32, the precision the optimizer keeps the rate in.
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    optimizer.learning_rate = new_lr
                    if self.verbose > 0 and _is_chief(self.model):
                        print_msg(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


# --------------------------------------------------------------------------- other callbacks
