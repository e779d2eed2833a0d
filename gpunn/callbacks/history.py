"""History: the per-epoch logs fit returns."""
from __future__ import annotations

from .base import Callback


# tf.keras 2's (and Keras 2.2's) names of logs that Keras 3 names otherwise, each way round
_OTHER_NAMES = {"lr": "learning_rate", "acc": "accuracy", "val_acc": "val_accuracy", "accuracy": "acc",
                "val_accuracy": "val_acc"}


class _Logs(dict):
    """``history.history``: a dict whose missing key names the key it may have been meant as."""

    def __missing__(self, key):
        other = _OTHER_NAMES.get(key)
        if other == "learning_rate":
            raise KeyError(f"{key!r}: the learning rate is logged as 'learning_rate' (tf.keras 2 called it 'lr'), by "
                           "ReduceLROnPlateau and LearningRateScheduler; logged: " + repr(sorted(self)))
        if other in self:
            raise KeyError(f"{key!r}: this run logged {other!r} (the metric's name as compile was given it); "
                           "logged: " + repr(sorted(self)))
        raise KeyError(key)


class History(Callback):
    """Records every epoch's logs; ``fit`` returns it.

    Attributes:
        history: ``{metric name: [value per epoch]}``.
        epoch: the 0-based indices of the recorded epochs.
    """

    def __init__(self):
        super().__init__()
        self.history = _Logs()
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
