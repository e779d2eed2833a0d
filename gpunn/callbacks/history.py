"""History: the per-epoch logs fit returns."""
from __future__ import annotations

from .base import Callback


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
