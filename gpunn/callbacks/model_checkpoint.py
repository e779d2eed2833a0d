"""ModelCheckpoint: save the model (or the best one) as training goes."""
from __future__ import annotations

import numpy as np

import collections
import os
import warnings

from ..io_utils import print_msg
from ._common import BatchCounter, _bad_arg, _check_path, _check_threshold, _check_verbose, _is_chief
from .monitor import _MonitorCallback


def _format_best(best) -> str:
    # Keras prints the running best with 5 decimals, and None before the first value (model_checkpoint.py)
    return "None" if best is None else f"{best:.5f}"


class ModelCheckpoint(_MonitorCallback):
    """Save the model (or its weights) every epoch or every N batches, optionally only the best.

    Args:
        filepath: where to save; may hold format fields filled from the epoch (1-based), the batch
            (1-based, when ``save_freq`` is an integer) and the logs, e.g.
            ``'ckpt/{epoch:02d}-{val_loss:.2f}.safetensors'``. Missing directories are created.
        monitor: metric compared when ``save_best_only``.
        verbose: 1 prints a message on every save decision.
        save_best_only: save only when ``monitor`` improves on the best value so far; if the
            metric is missing from the logs, warn and save (Keras 3's rule).
        save_weights_only: call ``model.save_weights(path)`` instead of ``model.save(path)``.
        mode: ``'min'``, ``'max'`` or ``'auto'`` (max for accuracy/AUC-like names, else min).
        save_freq: ``'epoch'``, or an integer number of batches between saves.
        initial_value_threshold: with ``save_best_only``, a value the metric must beat first.
        period: tf.keras 2's deprecated number of epochs between saves (with ``save_freq='epoch'``), taken as it
            took it, with its warning; Keras 3 has no such argument.

    Does nothing on non-chief ranks (``model.is_chief`` False).
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch", initial_value_threshold=None, period=None):
        super().__init__(monitor, mode, 0)
        self.filepath = _check_path("ModelCheckpoint", "filepath", filepath)
        self.verbose = _check_verbose("ModelCheckpoint", verbose)
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        if save_weights_only:  # a name save_weights refuses (a .keras file), refused now, before any training
            from ..models.file_kinds import weights_file_kind

            weights_file_kind(self.filepath)
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, (int, np.integer)) or save_freq < 1
        ):
            raise _bad_arg("ModelCheckpoint", "save_freq", "'epoch' or a positive integer", save_freq)
        self.save_freq = save_freq
        self.initial_value_threshold = _check_threshold("ModelCheckpoint", "initial_value_threshold",
                                                        initial_value_threshold)
        self.best = self._worst() if initial_value_threshold is None else self.initial_value_threshold
        self._current_epoch = 0
        self._batches = BatchCounter(save_freq) if save_freq != "epoch" else None
        if period is not None:
            if isinstance(period, bool) or not isinstance(period, (int, np.integer)) or period < 1:
                raise _bad_arg("ModelCheckpoint", "period", "a positive integer (epochs between saves)", period)
            warnings.warn("`period` argument is deprecated. Please use `save_freq` to specify the frequency in "
                          "number of batches seen.", stacklevel=2)  # tf.keras 2's words
        self.period = 1 if period is None else int(period)
        self._epochs_since_last_save = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch
        if self._batches is not None:
            self._batches.epoch_begins()

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._epochs_since_last_save += 1
        if self.save_freq == "epoch" and self._epochs_since_last_save >= self.period:
            self._epochs_since_last_save = 0
            self._save(epoch, None, logs)

    def _should_save_on_batch(self, batch) -> bool:
        return self._batches is not None and self._batches.due(batch)

    def _file_path(self, epoch, batch, logs) -> str:
        # format_map reads only the fields the pattern names, so lazy batch logs are not all
        # computed; values from the logs win over the computed batch number, as in Keras.
        fields = collections.ChainMap({"epoch": epoch + 1}, logs if logs is not None else {})
        if batch is not None:
            fields.maps.append({"batch": batch + 1})
        try:
            return self.filepath.format_map(fields)
        except KeyError as e:
            raise KeyError(
                f"ModelCheckpoint: filepath {self.filepath!r} names the field {e}, which is neither "
                f"'epoch', 'batch' nor in the logs (available: {', '.join(fields)})"
            ) from None

    def _save(self, epoch, batch, logs):
        if not _is_chief(self.model):
            return
        path = self._file_path(epoch, batch, logs)
        talk = self.verbose > 0
        current = logs.get(self.monitor) if self.save_best_only and logs else None
        if self.save_best_only:
            # settled at the first save, as Keras does: with mode='auto', a monitor that is neither the loss nor a
            # compiled metric (a misspelt 'val_los') is an error, not a "best" file that holds every epoch
            self.direction  # noqa: B018
        if self.save_best_only and current is None:
            # Keras 3 saves then, after this warning (tf.keras 2 skipped the save): a monitor that only the epoch's
            # logs hold (val_loss) is missing at a batch-level save, which keeps every save_freq-th batch's model.
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=3)
        elif self.save_best_only and np.ndim(current) > 0:
            # Keras 3's rule and words: a metric of several values (one per class), or one in an array, is saved
            # every time
            warnings.warn(f"Can save best model only when `monitor` is a scalar value. Received: {current}. Falling "
                          "back to `save_best_only=False`.", stacklevel=3)
        elif self.save_best_only:
            current = float(current)
            if not self._is_improvement(current, self.best):
                if talk:
                    print_msg(f"Epoch {epoch + 1}: {self.monitor} did not improve from {_format_best(self.best)}")
                return
            if talk:
                print_msg(f"Epoch {epoch + 1}: {self.monitor} improved from {_format_best(self.best)} to "
                          f"{current:.5f}, saving model to {path}")
            self.best = current
        elif talk:
            print_msg(f"Epoch {epoch + 1}: saving model to {path}")
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        if talk:
            print_msg(f"Epoch {epoch + 1}: finished saving model to {path}")
