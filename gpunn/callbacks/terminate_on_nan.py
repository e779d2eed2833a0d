"""TerminateOnNaN: stop as soon as the loss is NaN or infinite."""
from __future__ import annotations

import math

from ..io_utils import print_msg
from ._common import _is_chief
from .base import Callback


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite.

    Reads ``logs['loss']`` after every batch, which on a GPU waits for the device each batch;
    leave it out of speed-critical runs.

    Args:
        raise_error: False (default) stops training gracefully (``model.stop_training``, the other callbacks'
            ``on_train_end`` run); True raises a RuntimeError at once, as Keras's does, so that no callback's
            cleanup runs (a BackupAndRestore keeps its backup).
    """

    def __init__(self, raise_error: bool = False):
        super().__init__()
        self.raise_error = raise_error

    def on_train_batch_end(self, batch, logs=None):
        loss = None if logs is None else logs.get("loss")
        if loss is None:
            return
        loss = float(loss)
        if math.isnan(loss) or math.isinf(loss):
            if self.raise_error:  # Keras's message
                raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. Terminating "
                                   "training immediately.")
            if _is_chief(self.model):
                print_msg(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
