"""Accuracy metrics (keras/src/metrics/accuracy_metrics.py): per-sample hits averaged over the samples.

Every metric sees what the model outputs, as Keras's metrics see ``y_pred``: with a loss built with
``from_logits=True`` that is the raw logits, so ``'accuracy'`` with ``BinaryCrossentropy(from_logits=True)`` is
Keras's BinaryAccuracy, ``logit > 0.5``, not ``sigmoid(logit) > 0.5``.
"""
from __future__ import annotations

import numpy as np

from .base import class_ids, dense_labels, one_hot_rows
from .reduction import PerSampleMean


def _matches_per_sample(metric, ops, ws, y_true, compared):
    """(B,) float64: the fraction of each row where ``y_true == compared`` (Keras: the mean over the last axis)."""
    hits = ops.equal(y_true, compared, metric._buffer(ws, "hits", compared.shape, np.bool_))
    per_sample = ops.sum(hits, -1, metric._buffer(ws, "per_sample", compared.shape[:1], np.float64))
    return ops.divide(per_sample, metric._constant(ws, "width", compared.shape[-1], np.float64), per_sample)


class Accuracy(PerSampleMean):
    """How often predictions equal labels exactly (``keras.metrics.Accuracy``)."""

    direction = "up"
    default_name = "accuracy"
    weighs_each_value = means_each_row = True  # (Keras's function compares value by value, each weighed)

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def per_sample(self, ops, ws, y_true, predictions):
        return _matches_per_sample(self, ops, ws, dense_labels(y_true, predictions), predictions)


class BinaryAccuracy(PerSampleMean):
    direction = "up"
    default_name = "binary_accuracy"
    weighs_each_value = means_each_row = True  # (Keras's function compares value by value, each weighed)

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(name=name, dtype=dtype)
        self.threshold = threshold

    def per_sample(self, ops, ws, y_true, predictions):
        # Keras's binary_accuracy: hit = y_true == cast(y_pred > threshold, y_true.dtype), whatever y_pred holds
        # (probabilities, or logits under from_logits=True); the per-sample mean of a bool array is float64.
        y_true = dense_labels(y_true, predictions)
        above = self._buffer(ws, "above", predictions.shape, np.bool_)
        predicted = self._buffer(ws, "predicted", predictions.shape, y_true.dtype)
        ops.greater(predictions, self._constant(ws, "threshold", self.threshold, predictions.dtype), above)
        ops.copy_into(above, predicted)  # 0 or 1 in the labels' dtype: a soft label (0.9) matches neither
        return _matches_per_sample(self, ops, ws, y_true, predicted)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "threshold": self.threshold}


def _argmax_rows(metric, ops, ws, role, array):
    return ops.argmax(array, -1, metric._buffer(ws, role, array.shape[:1], np.intp))


def _same(metric, ops, ws, predicted, actual):
    return ops.equal(predicted, actual, metric._buffer(ws, "hits", predicted.shape, np.bool_))


class CategoricalAccuracy(PerSampleMean):
    direction = "up"
    default_name = "categorical_accuracy"

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def per_sample(self, ops, ws, y_true, predictions):
        predicted = _argmax_rows(self, ops, ws, "predicted", predictions)
        return _same(self, ops, ws, predicted, _argmax_rows(self, ops, ws, "actual", y_true))


class SparseCategoricalAccuracy(PerSampleMean):
    direction = "up"
    default_name = "sparse_categorical_accuracy"
    label_layout = "class_ids"

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def check_layout(self, width, sparse_labels):
        if not sparse_labels and width != 1:
            super().check_layout(width, sparse_labels)

    def per_sample(self, ops, ws, y_true, predictions):
        predicted = _argmax_rows(self, ops, ws, "predicted", predictions)
        return _same(self, ops, ws, predicted, y_true.reshape(-1))


def _in_top_k(metric, ops, ws, target_rows, predictions, k):
    """(B,) bool: fewer than k classes score strictly above the target's score (TensorFlow's ``in_top_k``,
    which Keras's top-k accuracies call: classes tied with the target at the boundary count as in the top k).
    ``target_rows``: one-hot (B, C) rows of the target classes."""
    scored = ops.multiply(predictions, target_rows, metric._buffer(ws, "scored", predictions.shape, predictions.dtype))
    target = ops.sum(scored, -1, metric._buffer(ws, "target", (len(predictions), 1), predictions.dtype), keepdims=True)
    above = ops.greater(predictions, target, metric._buffer(ws, "above", predictions.shape, np.bool_))
    ranks = ops.sum(above, -1, metric._buffer(ws, "rank", predictions.shape[:1], predictions.dtype))
    return ops.greater(metric._constant(ws, "k", k, predictions.dtype), ranks,
                       metric._buffer(ws, "hits", predictions.shape[:1], np.bool_))


def _check_k(k):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k: expected a positive integer, got {k!r}")
    return int(k)


class TopKCategoricalAccuracy(PerSampleMean):
    """How often the target (the argmax of a one-hot label row) is among the k highest predictions."""

    direction = "up"
    default_name = "top_k_categorical_accuracy"

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.k = _check_k(k)

    def per_sample(self, ops, ws, y_true, predictions):
        targets = _argmax_rows(self, ops, ws, "targets", y_true)
        rows = one_hot_rows(self, ops, ws, targets, predictions.shape[-1], predictions.dtype)
        return _in_top_k(self, ops, ws, rows, predictions, self.k)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "k": self.k}


class SparseTopKCategoricalAccuracy(PerSampleMean):
    """How often the integer target is among the k highest predictions (``from_sorted_ids=True`` not supported)."""

    direction = "up"
    default_name = "sparse_top_k_categorical_accuracy"
    label_layout = "class_ids"

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False):
        super().__init__(name=name, dtype=dtype)
        if from_sorted_ids:
            raise ValueError("from_sorted_ids: gpunn's SparseTopKCategoricalAccuracy takes scores for every class "
                             "(from_sorted_ids=False), got True")
        self.k = _check_k(k)
        self.from_sorted_ids = False

    def per_sample(self, ops, ws, y_true, predictions):
        rows = one_hot_rows(self, ops, ws, class_ids(self, ops, ws, y_true), predictions.shape[-1], predictions.dtype)
        return _in_top_k(self, ops, ws, rows, predictions, self.k)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "k": self.k}
