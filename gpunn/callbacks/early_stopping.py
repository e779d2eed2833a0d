"""EarlyStopping: stop when a monitored quantity stops improving."""
from __future__ import annotations

from ..io_utils import print_msg
from ._common import _check_int, _check_threshold, _check_verbose, _is_chief
from .monitor import _MonitorCallback


class EarlyStopping(_MonitorCallback):
    """Stop training when a monitored metric has stopped improving.

    Args:
        monitor: metric to watch, e.g. ``'val_loss'`` or ``'val_accuracy'``.
        min_delta: smallest change that counts as an improvement.
        patience: epochs without improvement after which training stops.
        verbose: 1 prints a message when stopping and when restoring weights.
        mode: ``'min'``, ``'max'``, or ``'auto'`` (max for accuracy/AUC-like names, else min).
        baseline: training stops unless the metric beats this value within ``patience`` epochs.
        restore_best_weights: at the end of training, restore the weights of the best epoch
            (of the epochs monitored, even if training did not stop early).
        start_from_epoch: epochs to wait before monitoring starts (a warm-up).

    Attributes:
        stopped_epoch: 0-based epoch at which training was stopped, 0 if it was not.
        best, best_epoch, wait: the best value seen, its epoch, epochs since an improvement.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta)
        self.patience = _check_int("EarlyStopping", "patience", patience)
        self.start_from_epoch = _check_int("EarlyStopping", "start_from_epoch", start_from_epoch)
        self.verbose = _check_verbose("EarlyStopping", verbose)
        self.baseline = _check_threshold("EarlyStopping", "baseline", baseline)
        self.restore_best_weights = restore_best_weights
        self._reset()

    def _reset(self):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = self._worst()
        self.best_weights = None
        self.best_epoch = 0

    def on_train_begin(self, logs=None):
        # Reset, so one instance can serve several fit calls.
        self._reset()

    def get_monitor_value(self, logs):
        """Keras's: the monitored value in ``logs``, or None with a warning when it is not there."""
        return self._read_monitor(logs)

    def _missing_monitor_message(self, logs) -> str:
        return (f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs.keys())}")

    def on_epoch_end(self, epoch, logs=None):
        self._settle_direction()
        current = self.get_monitor_value(logs)  # (Keras's hook, which a subclass may override)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # Nothing better seen yet: the current weights are the best so far.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # The patience counter restarts only once the baseline is beaten too.
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        talk = self.verbose > 0 and _is_chief(self.model)
        if self.stopped_epoch > 0 and talk:
            print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if talk:
                print_msg(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)
