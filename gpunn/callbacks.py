"""Training callbacks, as ``keras.callbacks`` (Keras 3 semantics and signatures).

A callback sees the model through a small surface: ``model.stop_training``,
``model.optimizer.learning_rate`` (a settable float), ``model.get_weights()`` /
``model.set_weights()``, ``model.save()`` / ``model.save_weights()`` and ``model.is_chief``
(False on the non-zero ranks of a data-parallel run, where callbacks that write files or print
stay silent). ``fit`` passes ``params = {'epochs': ..., 'steps': ..., 'verbose': ...}``.

About ``logs``: epoch-end logs are plain dicts of floats. Batch-level logs are a read-only
Mapping whose values are computed when read; on a GPU each read waits for the device, so a
callback should read batch logs only when it needs them.
"""
from __future__ import annotations

import collections
import collections.abc
import csv
import inspect
import math
import numbers
import os
import sys
import time
import warnings

import numpy as np
from tqdm import tqdm

__all__ = [
    "Callback",
    "CallbackList",
    "History",
    "ProgbarLogger",
    "EarlyStopping",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "CSVLogger",
    "TerminateOnNaN",
    "LearningRateScheduler",
    "LambdaCallback",
]


# --------------------------------------------------------------------------- helpers


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


class Callback:
    """Base class of callbacks: every hook is a no-op to override.

    Attributes:
        model: the model being trained, set by ``set_model``.
        params: the training parameters (``epochs``, ``steps``, ``verbose``), set by ``set_params``.
    """

    # Class-level defaults keep subclasses that skip ``super().__init__()`` working.
    model = None
    params: dict = {}

    def __init__(self):
        self.model = None
        self.params = {}

    def set_params(self, params):
        """Receive the training parameters dict."""
        self.params = params

    def set_model(self, model):
        """Receive the model being trained."""
        self.model = model

    def on_train_begin(self, logs=None):
        """Called at the start of training."""

    def on_train_end(self, logs=None):
        """Called at the end of training, with the last epoch's logs."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of epoch ``epoch`` (0-based)."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of epoch ``epoch``; ``logs`` holds its metrics, with ``val_`` ones."""

    def on_batch_begin(self, batch, logs=None):
        """Alias of ``on_train_batch_begin`` kept for older code: that hook calls this one."""

    def on_batch_end(self, batch, logs=None):
        """Alias of ``on_train_batch_end`` kept for older code: that hook calls this one."""

    def on_train_batch_begin(self, batch, logs=None):
        """Called before training batch ``batch`` (0-based within the epoch)."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        """Called after training batch ``batch``; ``logs`` holds the running metrics."""
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None):
        """Called at the start of evaluation (also validation inside ``fit``)."""

    def on_test_end(self, logs=None):
        """Called at the end of evaluation, with its metrics."""

    def on_test_batch_begin(self, batch, logs=None):
        """Called before evaluation batch ``batch``."""

    def on_test_batch_end(self, batch, logs=None):
        """Called after evaluation batch ``batch``."""

    def on_predict_begin(self, logs=None):
        """Called at the start of prediction."""

    def on_predict_end(self, logs=None):
        """Called at the end of prediction."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Called before prediction batch ``batch``."""

    def on_predict_batch_end(self, batch, logs=None):
        """Called after prediction batch ``batch``."""


def _flatten(callbacks) -> list:
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    out = []
    for cb in callbacks:
        if isinstance(cb, (list, tuple)):
            out.extend(_flatten(cb))
        elif isinstance(cb, Callback):
            out.append(cb)
        else:
            raise TypeError(
                f"callbacks: expected gpunn.callbacks.Callback instances, got {type(cb).__name__}"
            )
    return out


class CallbackList(Callback):
    """Calls a list of callbacks as one: each hook is forwarded to all of them, in order.

    Args:
        callbacks: a list of ``Callback`` instances (or one, or None).
        add_history: append a ``History`` if the list has none.
        add_progbar: append a ``ProgbarLogger`` if the list has none.
        model: the model, passed to every callback's ``set_model``.
        **params: training parameters, passed to every callback's ``set_params``.
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        super().__init__()
        self.callbacks = _flatten(callbacks)
        self._history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        self._progbar = next((cb for cb in self.callbacks if isinstance(cb, ProgbarLogger)), None)
        # Appended last, as Keras does, so they see what earlier callbacks add to the epoch logs
        # (e.g. ReduceLROnPlateau's learning_rate).
        if add_history and self._history is None:
            self._history = History()
            self.callbacks.append(self._history)
        if add_progbar and self._progbar is None:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self):
        return len(self.callbacks)

    def append(self, callback):
        """Add a callback at the end of the list."""
        self.callbacks.extend(_flatten(callback))

    def set_params(self, params):
        self.params = params
        for cb in self.callbacks:
            cb.set_params(params)

    def set_model(self, model):
        self.model = model
        if self._history is not None and model is not None:
            model.history = self._history
        for cb in self.callbacks:
            cb.set_model(model)

    # Batch hooks pass ``logs`` through untouched (no ``logs or {}``): that would ask a lazy
    # Mapping for its length on every batch.

    def on_train_begin(self, logs=None):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs=None):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch, logs=None):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_batch_begin(self, batch, logs=None):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_batch_begin(batch, logs=logs)

    def on_batch_end(self, batch, logs=None):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_batch_end(batch, logs=logs)

    def on_train_batch_begin(self, batch, logs=None):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_train_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_train_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_test_begin(logs)

    def on_test_end(self, logs=None):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_test_end(logs)

    def on_test_batch_begin(self, batch, logs=None):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_test_batch_begin(batch, logs=logs)

    def on_test_batch_end(self, batch, logs=None):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_test_batch_end(batch, logs=logs)

    def on_predict_begin(self, logs=None):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_predict_begin(logs)

    def on_predict_end(self, logs=None):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_predict_end(logs)

    def on_predict_batch_begin(self, batch, logs=None):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_predict_batch_begin(batch, logs=logs)

    def on_predict_batch_end(self, batch, logs=None):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_predict_batch_end(batch, logs=logs)


# --------------------------------------------------------------------------- History, progress


class History(Callback):
    """Records every epoch's logs; ``fit`` returns it.

    Attributes:
        history: ``{metric name: [value per epoch]}``.
        epoch: the 0-based indices of the recorded epochs.
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        if self.model is not None:
            self.model.history = self

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self


class ProgbarLogger(Callback):
    """Prints progress and metrics to stdout, following ``params['verbose']``.

    - ``verbose=1``: a tqdm progress bar per epoch (``Epoch 3/10``, steps as the unit) with the
      running metrics (``loss=0.1234 accuracy=0.9876``); at the end of the epoch the bar shows
      the total time, the time per step and all epoch metrics, ``val_`` ones included.
    - ``verbose=2``: one line per epoch,
      ``Epoch 3/10 - 1s - 2ms/step - loss: 0.1234 - accuracy: 0.9876 - val_loss: ...``.
    - ``verbose=0``: nothing.

    Batch metrics are read only when the bar is redrawn (at most every ``refresh_interval``
    seconds), never with ``verbose=2``, because on a GPU each read waits for the device.
    Validation inside ``fit`` shows no bar of its own; ``evaluate`` and ``predict`` do.
    Silent on non-chief ranks (``model.is_chief`` False).
    """

    #: Minimum seconds between two redraws of the bar (and so between two reads of batch logs).
    refresh_interval = 0.1
    # The clock, as an attribute so tests can drive time.
    _clock = staticmethod(time.monotonic)

    def __init__(self):
        super().__init__()
        self.verbose = 1
        self.epochs = 1
        self.target = None
        self.seen = 0
        self._bar = None
        self._active = False
        self._head = ""
        self._start = 0.0
        self._last_draw = 0.0
        self._in_fit = False

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else int(verbose)
        self.epochs = params.get("epochs") or 1
        self.target = params.get("steps")

    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_train_end(self, logs=None):
        self._close()
        self._in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._begin(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.target is None:
            # The first epoch taught us its length: later epochs get a real bar.
            self.target = self.seen or None
        self._finish(logs)

    def on_test_begin(self, logs=None):
        if not self._in_fit:
            self._begin("")

    def on_test_batch_end(self, batch, logs=None):
        if not self._in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs=None):
        if not self._in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs=None):
        self._begin("")

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, None)  # prediction batches carry outputs, not metrics

    def on_predict_end(self, logs=None):
        self._finish(None)

    # -- drawing

    def _begin(self, head):
        self._close()
        if not self.verbose or not _is_chief(self.model):
            return
        self._active = True
        self._head = head
        self.seen = 0
        self._start = self._last_draw = self._clock()
        if self.verbose == 1:
            self._bar = tqdm(
                total=self.target,
                desc=head or None,
                unit="step",
                file=sys.stdout,
                leave=True,
                dynamic_ncols=True,
            )

    def _update(self, batch, logs):
        if not self._active:
            return
        self.seen = batch + 1
        if self._bar is None:
            return
        now = self._clock()
        if now - self._last_draw < self.refresh_interval:
            return
        self._last_draw = now
        self._bar.n = self.seen
        self._bar.set_postfix_str(self._inline(logs), refresh=False)
        self._bar.refresh()

    def _finish(self, logs):
        if not self._active:
            return
        self._active = False
        elapsed = self._clock() - self._start
        timing = [_format_elapsed(elapsed), _format_per_step(elapsed / max(self.seen, 1))]
        bar, self._bar = self._bar, None
        if bar is not None:
            bar.n = self.seen
            if bar.total is None:
                bar.total = self.seen
            bar.set_postfix_str(self._inline(logs), refresh=False)
            # Literal text inside a tqdm format string: braces must be doubled.
            timing_text = " ".join(timing).replace("{", "{{").replace("}", "}}")
            bar.bar_format = "{l_bar}{bar}| {n_fmt}/{total_fmt} [" + timing_text + "{postfix}]"
            bar.close()
            return
        head = self._head or f"{self.seen}/{self.target or self.seen}"
        parts = [head, *timing]
        parts += [f"{key}: {_format_value(value)}" for key, value in (logs or {}).items()]
        _print(" - ".join(parts))

    def _close(self):
        """Drop a bar left open by an interrupted epoch."""
        self._active = False
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    @staticmethod
    def _inline(logs) -> str:
        if not logs:
            return ""
        return " ".join(f"{key}={_format_value(value)}" for key, value in logs.items())


# --------------------------------------------------------------------------- monitoring callbacks


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
        self.verbose = verbose
        self.baseline = baseline
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

    def on_epoch_end(self, epoch, logs=None):
        current = self._get_monitor_value(logs)
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
            _print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if talk:
                _print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(_MonitorCallback):
    """Save the model (or its weights) every epoch or every N batches, optionally only the best.

    Args:
        filepath: where to save; may hold format fields filled from the epoch (1-based), the batch
            (1-based, when ``save_freq`` is an integer) and the logs, e.g.
            ``'ckpt/{epoch:02d}-{val_loss:.2f}.safetensors'``. Missing directories are created.
        monitor: metric compared when ``save_best_only``.
        verbose: 1 prints a message on every save decision.
        save_best_only: save only when ``monitor`` improves on the best value so far; if the
            metric is missing from the logs, warn and do not save.
        save_weights_only: call ``model.save_weights(path)`` instead of ``model.save(path)``.
        mode: ``'min'``, ``'max'`` or ``'auto'`` (max for accuracy/AUC-like names, else min).
        save_freq: ``'epoch'``, or an integer number of batches between saves.
        initial_value_threshold: with ``save_best_only``, a value the metric must beat first.

    Does nothing on non-chief ranks (``model.is_chief`` False).
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__(monitor, mode, 0)
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, (int, np.integer)) or save_freq < 1
        ):
            raise _bad_arg("ModelCheckpoint", "save_freq", "'epoch' or a positive integer", save_freq)
        self.save_freq = save_freq
        self.initial_value_threshold = initial_value_threshold
        self.best = self._worst() if initial_value_threshold is None else float(initial_value_threshold)
        self._current_epoch = 0
        self._last_batch_seen = -1
        self._batches_since_save = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _should_save_on_batch(self, batch) -> bool:
        if self.save_freq == "epoch":
            return False
        # Batch indices restart every epoch, and may step by more than one when fit runs several
        # batches per call: count what was actually run.
        added = batch + 1 if batch <= self._last_batch_seen else batch - self._last_batch_seen
        self._last_batch_seen = batch
        self._batches_since_save += added
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            return True
        return False

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
        if self.save_best_only:
            current = self._get_monitor_value(logs)
            if current is None:
                return
            if not self._is_improvement(current, self.best):
                if talk:
                    _print(f"Epoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if talk:
                _print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to "
                       f"{current:.5f}, saving model to {path}")
            self.best = current
        elif talk:
            _print(f"Epoch {epoch + 1}: saving model to {path}")
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class ReduceLROnPlateau(_MonitorCallback):
    """Multiply the learning rate by ``factor`` when a metric has stopped improving.

    Every epoch it also records the learning rate used in ``logs['learning_rate']``.

    Args:
        monitor: metric to watch.
        factor: multiplier of the learning rate, in (0, 1).
        patience: epochs without improvement before reducing.
        verbose: 1 prints a message at each reduction.
        mode: ``'min'``, ``'max'`` or ``'auto'`` (max for accuracy/AUC-like names, else min).
        min_delta: smallest change that counts as an improvement.
        cooldown: epochs to wait after a reduction before counting patience again.
        min_lr: lower bound of the learning rate.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__(monitor, mode, min_delta)
        owner = "ReduceLROnPlateau"
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not 0 < factor < 1:
            raise _bad_arg(owner, "factor", "a number in (0, 1) (the learning rate is multiplied by it)", factor)
        self.factor = float(factor)
        self.patience = _check_int(owner, "patience", patience)
        self.cooldown = _check_int(owner, "cooldown", cooldown)
        self.min_lr = _check_number(owner, "min_lr", min_lr)
        self.verbose = verbose
        self._reset()

    def _reset(self):
        self.best = self._worst()
        self.wait = 0
        self.cooldown_counter = 0

    def on_train_begin(self, logs=None):
        self._reset()

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
                        _print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


# --------------------------------------------------------------------------- other callbacks


class CSVLogger(Callback):
    """Stream every epoch's logs to a CSV file: an ``epoch`` column (0-based), then the metrics.

    Args:
        filename: the CSV file.
        separator: the field separator.
        append: append to an existing file (no second header) instead of overwriting it.

    Writes nothing on non-chief ranks (``model.is_chief`` False).
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys = None
        self.writer = None
        self.csv_file = None
        self.append_header = True

    def on_train_begin(self, logs=None):
        self._close()
        if not _is_chief(self.model):
            return
        mode = "w"
        self.append_header = True
        if self.append:
            mode = "a"
            if os.path.exists(self.filename):
                with open(self.filename, encoding="utf-8") as f:
                    self.append_header = not f.readline()
        self.csv_file = open(self.filename, mode, newline="", encoding="utf-8")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        if self.csv_file is None:
            return
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            # With validation every few epochs, the first epoch may lack the val_ metrics: take
            # their names from the model when it lists them, so the columns exist from the start.
            for name in getattr(self.model, "metrics_names", None) or ():
                if name.startswith("val_") and name not in self.keys:
                    self.keys.append(name)
        if self.writer is None:
            dialect = type("_Dialect", (csv.excel,), {"delimiter": self.sep})
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch", *self.keys], dialect=dialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, self._cell(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        self._close()

    def _close(self):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = None
        self.writer = None

    @staticmethod
    def _cell(value):
        if isinstance(value, str):
            return value
        if isinstance(value, collections.abc.Iterable) and not (isinstance(value, np.ndarray) and value.ndim == 0):
            return f"[{', '.join(map(str, value))}]"
        return value


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite.

    Reads ``logs['loss']`` after every batch, which on a GPU waits for the device each batch;
    leave it out of speed-critical runs.
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = None if logs is None else logs.get("loss")
        if loss is None:
            return
        loss = float(loss)
        if math.isnan(loss) or math.isinf(loss):
            if _is_chief(self.model):
                _print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


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
            _print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(new_lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


_HOOK_NAMES = (
    "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
    "on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end",
    "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
    "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end",
)


class LambdaCallback(Callback):
    """A callback built from plain functions, one per hook.

    Epoch hooks are called as ``f(epoch, logs)``, batch hooks as ``f(batch, logs)``, and
    begin/end hooks as ``f(logs)``. Any other hook (``on_test_end=...``, ``on_batch_end=...``)
    can be passed by keyword.

    Example:
        >>> LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        unknown = sorted(set(kwargs) - set(_HOOK_NAMES))
        if unknown:
            raise ValueError(
                f"LambdaCallback: unknown hook {unknown[0]!r}; expected one of {', '.join(_HOOK_NAMES)}"
            )
        hooks = dict(
            on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
            on_train_begin=on_train_begin, on_train_end=on_train_end,
            on_train_batch_begin=on_train_batch_begin, on_train_batch_end=on_train_batch_end,
            **kwargs,
        )
        for name, fn in hooks.items():
            if fn is None:
                continue
            if not callable(fn):
                raise _bad_arg("LambdaCallback", name, "a callable or None", fn)
            setattr(self, name, fn)
