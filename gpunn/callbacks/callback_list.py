"""CallbackList: forwards every hook to a list of callbacks, adding History and the progress bar."""
from __future__ import annotations

from ..logs_order import in_keras_order
from ._common import _auto_direction
from .base import Callback
from .history import History
from .progbar import ProgbarLogger


# What a callback of another library must have to be called as one of gpunn's: Keras's (keras.callbacks.Callback
# and tf.keras's) have them all, so callbacks written for Keras (keras_tuner's, third parties') run in gpunn's fit.
_HOOKS = ("set_params", "set_model", "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
          "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin",
          "on_test_batch_end", "on_predict_begin", "on_predict_end", "on_predict_batch_begin",
          "on_predict_batch_end")


def _is_kerass(cb, name: str) -> bool:
    """Whether ``cb`` is Keras's own callback ``name`` (Keras 3's, or tf.keras's)."""
    return type(cb).__name__ == name and type(cb).__module__.split(".")[0] in ("keras", "tf_keras", "tensorflow")


# Keras's callbacks that reach into a Keras model's or optimizer's own state, and gpunn's that do it for its own
_KERAS_STATE_CALLBACKS = {
    "BackupAndRestore": "saves and restores a Keras model's state",
    "SwapEMAWeights": "swaps a Keras optimizer's moving averages into the model",
}


def _checked(cb):
    """``cb`` if gpunn can call it as a callback, else a TypeError saying what it lacks."""
    if isinstance(cb, Callback):
        return cb
    if isinstance(cb, type):
        raise TypeError(f"callbacks: expected callback instances, got the class {cb.__name__}; "
                        f"make one: {cb.__name__}(...)")
    for name, what in _KERAS_STATE_CALLBACKS.items():
        if _is_kerass(cb, name):
            raise TypeError(f"callbacks: Keras's {name} {what}; use gpunn.callbacks.{name}, which does it for "
                            "gpunn's models")
    missing = [name for name in _HOOKS if not callable(getattr(cb, name, None))]
    if missing:
        raise TypeError(f"callbacks: expected gpunn.callbacks.Callback instances (or Keras callbacks, which have "
                        f"every hook), got {type(cb).__name__}, which lacks {', '.join(missing)}")
    return cb


def _flatten(callbacks) -> list:
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    if _is_kerass(callbacks, "CallbackList"):  # (Keras's list: the callbacks it holds, as Keras's fit uses it)
        return _flatten(list(callbacks.callbacks))
    if not isinstance(callbacks, (list, tuple)) and all(callable(getattr(callbacks, n, None)) for n in _HOOKS):
        return [callbacks]  # one callback of another library, not in a list (Keras's fit takes it so)
    out = []
    for cb in callbacks:
        if isinstance(cb, (list, tuple)):
            out.extend(_flatten(cb))
        else:
            out.append(_checked(cb))
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
        # (Keras's own History or ProgbarLogger given stands for the one gpunn adds, as in Keras's fit)
        self._history = next((cb for cb in self.callbacks if isinstance(cb, History) or _is_kerass(cb, "History")),
                             None)
        self._progbar = next((cb for cb in self.callbacks
                              if isinstance(cb, ProgbarLogger) or _is_kerass(cb, "ProgbarLogger")), None)
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

    def run_scripts_code(self) -> bool:
        """Whether a callback runs code of the script's (its own class, or a LambdaCallback's functions), which
        may wait for another thread: called between compute turns, not inside one (compute_turns.py)."""
        from .lambda_callback import LambdaCallback

        return any(not type(cb).__module__.startswith("gpunn.") or isinstance(cb, LambdaCallback)
                   for cb in self.callbacks)

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

    # Every hook hands its callbacks the logs with their names sorted, as Keras's CallbackList does; the
    # callbacks share that one dict, so a name one adds (ReduceLROnPlateau's learning_rate) reaches those after
    # it. A lazy Mapping (batch logs) sorts its own names and is passed through untouched (no ``logs or {}``:
    # that would ask it for its length on every batch).

    def on_train_begin(self, logs=None):
        logs = {} if logs is None else in_keras_order(logs)
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs=None):
        logs = {} if logs is None else in_keras_order(logs)
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch, logs=None):
        logs = {} if logs is None else in_keras_order(logs)
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else in_keras_order(logs)
        for cb in self.callbacks:
            _settle_keras_direction(cb, self.model)
            cb.on_epoch_end(epoch, logs)

    def on_batch_begin(self, batch, logs=None):
        logs = {} if logs is None else in_keras_order(logs)
        for cb in self.callbacks:
            cb.on_batch_begin(batch, logs=logs)

    def on_batch_end(self, batch, logs=None):
        logs = {} if logs is None else in_keras_order(logs)
        for cb in self.callbacks:
            cb.on_batch_end(batch, logs=logs)

    def on_train_batch_begin(self, batch, logs=None):
        logs = {} if logs is None else in_keras_order(logs)
        for cb in self.callbacks:
            cb.on_train_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        logs = {} if logs is None else in_keras_order(logs)
        for cb in self.callbacks:
            cb.on_train_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None):
        logs = {} if logs is None else in_keras_order(logs)
        for cb in self.callbacks:
            cb.on_test_begin(logs)

    def on_test_end(self, logs=None):
        logs = {} if logs is None else in_keras_order(logs)
        for cb in self.callbacks:
            cb.on_test_end(logs)

    def on_test_batch_begin(self, batch, logs=None):
        logs = {} if logs is None else in_keras_order(logs)
        for cb in self.callbacks:
            cb.on_test_batch_begin(batch, logs=logs)

    def on_test_batch_end(self, batch, logs=None):
        logs = {} if logs is None else in_keras_order(logs)
        for cb in self.callbacks:
            cb.on_test_batch_end(batch, logs=logs)

    def on_predict_begin(self, logs=None):
        logs = {} if logs is None else in_keras_order(logs)
        for cb in self.callbacks:
            cb.on_predict_begin(logs)

    def on_predict_end(self, logs=None):
        logs = {} if logs is None else in_keras_order(logs)
        for cb in self.callbacks:
            cb.on_predict_end(logs)

    def on_predict_batch_begin(self, batch, logs=None):
        logs = {} if logs is None else in_keras_order(logs)
        for cb in self.callbacks:
            cb.on_predict_batch_begin(batch, logs=logs)

    def on_predict_batch_end(self, batch, logs=None):
        logs = {} if logs is None else in_keras_order(logs)
        for cb in self.callbacks:
            cb.on_predict_batch_end(batch, logs=logs)


# --------------------------------------------------------------------------- History, progress


def _settle_keras_direction(callback, model) -> None:
    """Keras's own EarlyStopping, ModelCheckpoint or ReduceLROnPlateau with mode='auto' read the direction of a
    monitored metric from Keras's compiled-metrics objects at their first epoch's end, and a gpunn model has none
    (their ValueError for 'val_accuracy'): gpunn decides it as its own callbacks do and hands it over as ``mode``,
    just before they settle it."""
    if getattr(callback, "mode", None) != "auto" or not hasattr(callback, "_set_monitor_op") or \
            getattr(callback, "monitor_op", 0) is not None or type(callback).__module__.startswith("gpunn."):
        return
    callback.mode = _auto_direction(type(callback).__name__, callback.monitor, model)
    try:
        callback._set_monitor_op()  # (what it does itself with mode 'min' or 'max': min_delta's sign too)
    finally:
        callback.mode = "auto"  # (its own argument, as Keras leaves it)
