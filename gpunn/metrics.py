"""Metrics with tf.keras names. Each batch adds a device-side sum; the host reads it once per log interval.

``'accuracy'`` is resolved as Keras does: by the loss (sparse / categorical / binary cross-entropy), otherwise by
the shapes of the labels and the output.
"""
from __future__ import annotations

from ._registry import lookup


class Metric:
    """A per-sample mean: ``batch_sum`` returns the sum over the batch (a device scalar)."""

    def __init__(self, name=None):
        self.name = name or self.default_name

    default_name = "metric"

    def batch_sum(self, ops, y_true, predictions):
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name}


class BinaryAccuracy(Metric):
    default_name = "binary_accuracy"

    def __init__(self, name=None, threshold=0.5):
        super().__init__(name)
        self.threshold = threshold

    def batch_sum(self, ops, y_true, predictions):
        hit = (predictions > self.threshold) == (y_true > 0.5)
        return hit.mean(axis=-1).sum()

    def get_config(self):
        return {"name": self.name, "threshold": self.threshold}


class CategoricalAccuracy(Metric):
    default_name = "categorical_accuracy"

    def batch_sum(self, ops, y_true, predictions):
        return (predictions.argmax(axis=-1) == y_true.argmax(axis=-1)).sum()


class SparseCategoricalAccuracy(Metric):
    default_name = "sparse_categorical_accuracy"

    def batch_sum(self, ops, y_true, predictions):
        return (predictions.argmax(axis=-1) == y_true.reshape(-1)).sum()


class MeanAbsoluteError(Metric):
    default_name = "mean_absolute_error"

    def batch_sum(self, ops, y_true, predictions):
        return ops.xp.abs(predictions - y_true).mean(axis=-1).sum()


class MeanSquaredError(Metric):
    default_name = "mean_squared_error"

    def batch_sum(self, ops, y_true, predictions):
        d = predictions - y_true
        return (d * d).mean(axis=-1).sum()


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
