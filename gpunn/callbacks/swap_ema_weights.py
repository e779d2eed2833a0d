"""SwapEMAWeights: Keras's callback that evaluates (and, with ``swap_on_epoch``, ends each epoch) with the
optimizer's moving average of the weights in the model (``use_ema=True``; ``gpunn/optimizers/ema.py``)."""
from __future__ import annotations

from .base import Callback


class SwapEMAWeights(Callback):
    """Swaps the model's weights and the optimizer's moving average before evaluation (and prediction) and back
    after it, in place on the device. ``swap_on_epoch=True`` also swaps at each epoch's end and back at the next
    one's beginning, so that callbacks after it (ModelCheckpoint) see the averaged weights; after the last epoch
    the average stays in the model. (Keras's ``on_predict_end`` tests the wrong flag and leaves the average in;
    gpunn swaps back, as the class's documentation says.)"""

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        if not isinstance(swap_on_epoch, bool):
            raise ValueError(f"swap_on_epoch: expected True or False, got {swap_on_epoch!r}")
        self.swap_on_epoch = swap_on_epoch
        self._ema_weights_in_model = False

    def _optimizer(self):
        optimizer = self.model.optimizer
        if not getattr(optimizer, "use_ema", False) or "average" not in getattr(optimizer, "slots", {}):
            raise ValueError("SwapEMAWeights must be used when `use_ema=True` is set on the optimizer. Received: "
                             f"use_ema={getattr(optimizer, 'use_ema', False)}")
        return optimizer

    def _swap(self, into_model: bool) -> None:
        if self._ema_weights_in_model == into_model:
            return
        optimizer = self._optimizer()
        ops, weights, average = optimizer.ops, optimizer._params, optimizer.slots["average"]
        held = ops.copy(weights)  # a callback runs between steps: a temporary is fine here
        ops.copy_into(average, weights)
        ops.copy_into(held, average)
        self._ema_weights_in_model = into_model

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch:
            self._swap(into_model=False)

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._ema_weights_in_model:
            self._swap(into_model=True)
            if epoch == self.params["epochs"] - 1:
                # the average stays: fit's finalize_variable_values then writes these same values
                optimizer = self._optimizer()
                optimizer.ops.copy_into(optimizer._params, optimizer.slots["average"])

    def on_test_begin(self, logs=None):
        self._swap(into_model=True)

    def on_test_end(self, logs=None):
        self._swap(into_model=False)

    def on_predict_begin(self, logs=None):
        self._swap(into_model=True)

    def on_predict_end(self, logs=None):
        self._swap(into_model=False)
