"""Keras's noise-robust classification loss (keras/src/losses/losses.py ``categorical_generalized_cross_entropy``,
``CategoricalGeneralizedCrossEntropy``; Zhang and Sabuncu, 2018): (1 - p^q) / q of the probability p the model
gives the true class, between cross-entropy (q -> 0) and the mean absolute error (q = 1).

Written with ``gpunn.ops`` as Keras writes it, it runs as a loss of one's own does (a host call of the step,
differentiated by ``gpunn/autodiff``). The labels are class ids, shaped [batch] or [batch, 1] as Keras documents;
Keras 3.15 one-hot encodes a [batch, 1] column into [batch, 1, classes] and broadcasts it against every row, so
that its loss is the mean over every pair of rows: here each row takes its own label, whichever the shape."""
from __future__ import annotations

import functools
import numbers

from . import ops
from .losses import FunctionLoss, Loss


def categorical_generalized_cross_entropy(y_true, y_pred, q):
    """Per-sample (1 - p^q) / q, p = y_pred at each row's class id in ``y_true``."""
    y_pred = ops.convert_to_tensor(y_pred)
    ids = ops.reshape(ops.cast(y_true, "int32"), (-1,))
    one_hot = ops.cast(ops.one_hot(ids, ops.shape(y_pred)[-1]), y_pred.dtype)
    p = ops.sum(y_pred * one_hot, axis=-1)
    return (1 - ops.power(p, q)) / q


class CategoricalGeneralizedCrossEntropy(FunctionLoss):
    serialized_as_class = True

    def __init__(self, q=0.5, reduction="sum_over_batch_size", name="categorical_generalized_cross_entropy",
                 dtype=None):
        if isinstance(q, bool) or not isinstance(q, numbers.Real) or not 0 < q < 1:
            raise ValueError(f"q: must be in the interval (0, 1) (Keras: 'q must be in the interval (0, 1)'); "
                             f"got {q!r}")
        super().__init__(functools.partial(categorical_generalized_cross_entropy, q=q), name=name,
                         reduction=reduction, dtype=dtype)
        self.q = q

    def get_config(self) -> dict:
        return {**Loss.get_config(self), "q": self.q}
