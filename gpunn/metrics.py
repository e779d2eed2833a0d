"""Metrics with tf.keras names. Each batch adds a device-side sum; the host reads it once per log interval.

``'accuracy'`` is resolved by the loss (sparse / categorical / binary cross-entropy), otherwise by the shapes of
the labels and the output. Every metric sees what the model outputs, as Keras's metrics see ``y_pred``: with a
loss built with ``from_logits=True`` that is the raw logits, so ``'accuracy'`` with
``BinaryCrossentropy(from_logits=True)`` is Keras's BinaryAccuracy, ``logit > 0.5``, not ``sigmoid(logit) > 0.5``.

``batch_sum`` writes through Ops primitives into buffers of the caller's workspace (one per batch size), with
its scalars held there as 0-d constants: after the first batch of a given size a metric allocates nothing.
"""
from __future__ import annotations

import numpy as np

from ._registry import lookup


class Metric:
    """A per-sample mean: ``batch_sum`` writes the sum over the batch into a 0-d float64 buffer."""

    def __init__(self, name=None):
        self.name = name or self.default_name

    default_name = "metric"

    def batch_sum(self, ops, ws, y_true, predictions, out) -> None:
        """out (0-d float64) = the sum over the batch of this metric's per-sample values; scratch buffers come
        from ``ws``, the caller's workspace for this batch size."""
        raise NotImplementedError

    def _buffer(self, ws, role, shape, dtype):
        # Named after the metric, so that metrics sharing a workspace keep their own buffers and constants.
        return ws.buffer(f"{self.name}.{role}", shape, dtype)

    def _constant(self, ws, role, value, dtype):
        return ws.constant(f"{self.name}.{role}", value, dtype)

    def get_config(self):
        return {"name": self.name}


class BinaryAccuracy(Metric):
    default_name = "binary_accuracy"

    def __init__(self, name=None, threshold=0.5):
        super().__init__(name)
        self.threshold = threshold

    def batch_sum(self, ops, ws, y_true, predictions, out):
        # Keras's binary_accuracy: hit = y_true == cast(y_pred > threshold, y_true.dtype), whatever y_pred holds
        # (probabilities, or logits under from_logits=True); the per-sample mean of a bool array is float64.
        hits = self._buffer(ws, "hits", predictions.shape, np.bool_)
        predicted = self._buffer(ws, "predicted", predictions.shape, y_true.dtype)
        ops.greater(predictions, self._constant(ws, "threshold", self.threshold, predictions.dtype), hits)
        ops.copy_into(hits, predicted)  # 0 or 1 in the labels' dtype: a soft label (0.9) matches neither
        ops.equal(y_true, predicted, hits)
        per_sample = ops.sum(hits, -1, self._buffer(ws, "per_sample", predictions.shape[:1], np.float64))
        ops.divide(per_sample, self._constant(ws, "width", predictions.shape[-1], np.float64), per_sample)
        ops.sum(per_sample, None, out)

    def get_config(self):
        return {"name": self.name, "threshold": self.threshold}


def _count_hits(metric, ops, ws, predicted, actual, out):
    """out = the number of rows where ``predicted == actual``, counted straight into the float64 buffer."""
    hits = ops.equal(predicted, actual, metric._buffer(ws, "hits", predicted.shape, np.bool_))
    ops.sum(hits, None, out)


def _argmax_rows(metric, ops, ws, role, array):
    return ops.argmax(array, -1, metric._buffer(ws, role, array.shape[:1], np.intp))


class CategoricalAccuracy(Metric):
    default_name = "categorical_accuracy"

    def batch_sum(self, ops, ws, y_true, predictions, out):
        predicted = _argmax_rows(self, ops, ws, "predicted", predictions)
        _count_hits(self, ops, ws, predicted, _argmax_rows(self, ops, ws, "actual", y_true), out)


class SparseCategoricalAccuracy(Metric):
    default_name = "sparse_categorical_accuracy"

    def batch_sum(self, ops, ws, y_true, predictions, out):
        predicted = _argmax_rows(self, ops, ws, "predicted", predictions)
        _count_hits(self, ops, ws, predicted, y_true.reshape(-1), out)


def _mean_error_sum(metric, ops, ws, elementwise, out):
    """out = sum over the batch of the per-sample mean of ``elementwise``, computed in its own dtype (as
    ``.mean(axis=-1).sum()`` is) and only then widened into the float64 ``out``."""
    dtype = elementwise.dtype
    per_sample = ops.sum(elementwise, -1, metric._buffer(ws, "per_sample", elementwise.shape[:1], dtype))
    ops.divide(per_sample, metric._constant(ws, "width", elementwise.shape[-1], dtype), per_sample)
    total = ops.sum(per_sample, None, metric._buffer(ws, "total", (), dtype))
    ops.copy_into(total, out)


class MeanAbsoluteError(Metric):
    default_name = "mean_absolute_error"

    def batch_sum(self, ops, ws, y_true, predictions, out):
        diff = ops.subtract(predictions, y_true, self._buffer(ws, "diff", predictions.shape, predictions.dtype))
        _mean_error_sum(self, ops, ws, ops.abs(diff, diff), out)


class MeanSquaredError(Metric):
    default_name = "mean_squared_error"

    def batch_sum(self, ops, ws, y_true, predictions, out):
        diff = ops.subtract(predictions, y_true, self._buffer(ws, "diff", predictions.shape, predictions.dtype))
        _mean_error_sum(self, ops, ws, ops.multiply(diff, diff, diff), out)


_BY_NAME = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
}
_ACCURACY_BY_LOSS = {
    "SparseCategoricalCrossentropy": SparseCategoricalAccuracy,
    "CategoricalCrossentropy": CategoricalAccuracy,
    "BinaryCrossentropy": BinaryAccuracy,
}


def accuracy_for(loss, output_units: int, sparse_labels: bool) -> type[Metric]:
    """The accuracy Keras would pick for this loss, or else for these shapes."""
    for cls in type(loss).__mro__:
        if cls.__name__ in _ACCURACY_BY_LOSS:
            return _ACCURACY_BY_LOSS[cls.__name__]
    if output_units == 1:
        return BinaryAccuracy
    return SparseCategoricalAccuracy if sparse_labels else CategoricalAccuracy


def get(identifier, loss=None, output_units: int = 0, sparse_labels: bool = False) -> Metric:
    """A Metric from a name, class or instance; 'accuracy'/'acc' keep their name as the log key, like Keras."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        return accuracy_for(loss, output_units, sparse_labels)(name=identifier.lower())
    if callable(identifier) and not isinstance(identifier, str):
        name = getattr(identifier, "__name__", None)
        if name in _BY_NAME:
            return _BY_NAME[name](name=name)
        raise ValueError(f"metrics: unsupported callable {name or identifier!r}; use one of {sorted(_BY_NAME)}")
    cls = lookup("metrics", identifier, {**_BY_NAME, "accuracy": None, "acc": None})
    return cls(name=identifier.lower())
