"""Keras's overlap losses (keras/src/losses/losses.py ``dice``, ``tversky``, ``Dice``, ``Tversky``): one minus an
overlap ratio of the targets and the predictions, summed over ``axis`` (None: the whole batch, one value).

Written with ``gpunn.ops`` as Keras writes them, they run as a loss of one's own does (a host call of the step,
differentiated by ``gpunn/autodiff``). ``tversky`` weighs false positives (predicted where the target is 0) by
``alpha`` and false negatives by ``beta``, as Keras's current source does; Keras 3.15's had the two swapped (they
agree where ``alpha == beta``, Dice's case)."""
from __future__ import annotations

import functools

from . import ops
from .autodiff.legacy_backend import epsilon
from .losses import FunctionLoss, Loss


def dice(y_true, y_pred, axis=None):
    """1 - 2 sum(y_true y_pred) / (sum(y_true) + sum(y_pred) + epsilon), the sums over ``axis``."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    intersection = ops.sum(y_true * y_pred, axis=axis)
    return 1 - ops.divide(2.0 * intersection, ops.sum(y_true, axis=axis) + ops.sum(y_pred, axis=axis) + epsilon())


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """1 - TP / (TP + alpha FP + beta FN + epsilon), with soft counts over ``axis`` (alpha = beta = 0.5: Dice)."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    intersection = ops.sum(y_pred * y_true, axis=axis)
    false_positives = ops.sum((1 - y_true) * y_pred, axis=axis)
    false_negatives = ops.sum(y_true * (1 - y_pred), axis=axis)
    return 1 - ops.divide(intersection, intersection + false_positives * alpha + false_negatives * beta + epsilon())


class Dice(FunctionLoss):
    serialized_as_class = True

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None, dtype=None):
        super().__init__(functools.partial(dice, axis=axis), name=name, reduction=reduction, dtype=dtype)
        self.axis = axis

    def get_config(self) -> dict:
        return {**Loss.get_config(self), "axis": self.axis}


class Tversky(FunctionLoss):
    serialized_as_class = True

    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name="tversky", axis=None, dtype=None):
        super().__init__(functools.partial(tversky, alpha=alpha, beta=beta, axis=axis), name=name,
                         reduction=reduction, dtype=dtype)
        self.alpha, self.beta, self.axis = alpha, beta, axis

    def get_config(self) -> dict:
        return {**Loss.get_config(self), "alpha": self.alpha, "beta": self.beta, "axis": self.axis}
