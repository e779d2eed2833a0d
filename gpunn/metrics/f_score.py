"""F-scores (keras/src/metrics/f_score_metrics.py): per-class (or, with ``average='micro'``, global) true
positive, false positive and false negative totals, combined into F-beta when the value is read."""
from __future__ import annotations

import numbers

import numpy as np

from .. import fuzz_factor
from .base import Metric, add_into, dense_labels, one_hot_rows

_AVERAGES = (None, "micro", "macro", "weighted")


class FBetaScore(Metric):
    """(1 + beta^2) * precision * recall / (beta^2 * precision + recall), per class or averaged.

    A prediction is positive where it is above ``threshold``, or, with ``threshold=None``, where it is its row's
    maximum (and not 0). ``average``: None (one score per class), 'micro' (global counts), 'macro' (the mean of
    the class scores) or 'weighted' (their mean weighted by each class's number of true labels).
    """

    direction = "up"
    default_name = "fbeta_score"

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in _AVERAGES:
            raise ValueError(f"average: expected one of None, 'micro', 'macro', 'weighted', got {average!r}")
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not beta > 0:
            raise ValueError(f"beta: expected a number > 0, got {beta!r}")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, numbers.Real)
                                      or not 0.0 < threshold <= 1.0):
            raise ValueError(f"threshold: expected a number with 0 < threshold <= 1, or None, got {threshold!r}")
        self.average = average
        self.beta = float(beta)
        self.threshold = None if threshold is None else float(threshold)
        self.axis = None if average == "micro" else 0

    def state_shapes(self, width):
        if self.average == "micro":
            shape = ()
        elif width is None:
            return None
        else:
            shape = (width,)
        return {"true_positives": shape, "false_positives": shape, "false_negatives": shape,
                "intermediate_weights": shape}

    def _predicted_positive(self, ops, ws, predictions):
        """(B, C) of 0/1 in the predictions' dtype."""
        dtype = predictions.dtype
        positive = self._buffer(ws, "positive", predictions.shape, np.bool_)
        if self.threshold is not None:
            ops.greater(predictions, self._constant(ws, "threshold", self.threshold, dtype), positive)
        else:  # Keras: y_pred >= max(y_pred) over the row, and |y_pred| > 1e-9 so that a row of zeros stays zeros
            winners = ops.argmax(predictions, -1, self._buffer(ws, "winners", predictions.shape[:1], np.intp))
            scored = ops.multiply(predictions, one_hot_rows(self, ops, ws, winners, predictions.shape[-1], dtype),
                                  self._buffer(ws, "scored", predictions.shape, dtype))
            row_max = ops.sum(scored, -1, self._buffer(ws, "row_max", (len(predictions), 1), dtype), keepdims=True)
            ops.greater(row_max, predictions, positive)  # below the maximum ...
            ops.equal(positive, self._constant(ws, "false", False, np.bool_), positive)  # ... negated: at it
            magnitude = ops.abs(predictions, self._buffer(ws, "magnitude", predictions.shape, dtype))
            nonzero = ops.greater(magnitude, self._constant(ws, "tiny", 1e-9, dtype),
                                  self._buffer(ws, "nonzero", predictions.shape, np.bool_))
            ops.logical_and(positive, nonzero, positive)
        return ops.copy_into(positive, self._buffer(ws, "positive_f", predictions.shape, dtype))

    def accumulate(self, ops, ws, y_true, predictions, state, sample_weight=None):
        dtype = predictions.dtype
        y = dense_labels(y_true, predictions)
        if y.dtype != dtype:
            y = ops.copy_into(y, self._buffer(ws, "labels", predictions.shape, dtype))
        predicted = self._predicted_positive(ops, ws, predictions)
        tp = ops.multiply(predicted, y, self._buffer(ws, "tp", predictions.shape, dtype))
        fp = ops.subtract(predicted, tp, predicted)  # y_pred * (1 - y_true)
        fn = ops.subtract(y, tp, self._buffer(ws, "fn", predictions.shape, dtype))  # (1 - y_pred) * y_true
        support = y
        if sample_weight is not None:
            w = sample_weight.reshape(-1, 1)
            for part in (tp, fp, fn):
                ops.multiply(part, w, part)
            support = ops.multiply(y, w, self._buffer(ws, "support", predictions.shape, dtype))
        totals_shape = () if self.axis is None else predictions.shape[-1:]
        for part, name in ((tp, "true_positives"), (fp, "false_positives"), (fn, "false_negatives"),
                           (support, "intermediate_weights")):
            total = ops.sum(part, self.axis, self._buffer(ws, name, totals_shape, dtype))
            add_into(ops, ws, self, name, total, state[name])

    def finalize(self, state):
        tp = state["true_positives"]
        precision = tp / (tp + state["false_positives"] + fuzz_factor.epsilon())
        recall = tp / (tp + state["false_negatives"] + fuzz_factor.epsilon())
        beta2 = self.beta ** 2
        score = precision * recall / (beta2 * precision + recall + fuzz_factor.epsilon()) * (1 + beta2)
        if self.average == "weighted":
            weights = state["intermediate_weights"]
            return float(np.sum(score * weights / (np.sum(weights) + fuzz_factor.epsilon())))
        if self.average is not None:
            return float(np.mean(score))
        return np.asarray(score)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """FBetaScore with beta = 1: the harmonic mean of precision and recall."""

    default_name = "f1_score"

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config
