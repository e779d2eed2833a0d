"""Cross-entropies as metrics (keras/src/metrics/probabilistic_metrics.py): the mean over samples of the
per-sample loss, computed by gpunn's losses (gpunn/losses.py) with the metric's own ``from_logits``."""
from __future__ import annotations

from .. import losses as losses_module
from .base import class_ids, dense_labels
from .loss_backed import LossMean


def _check_axis(axis):
    if axis != -1:
        raise ValueError(f"axis: gpunn's cross-entropy metrics reduce over the last axis (axis=-1), got {axis!r}")


def _check_smoothing(label_smoothing):
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"label_smoothing: expected a number in [0, 1], got {label_smoothing!r}")
    return float(label_smoothing)


class _CrossentropyMetric(LossMean):
    def _loss_arguments(self):
        return {"from_logits": self.from_logits}

    def _smoothed(self, ops, ws, y_true, predictions, off_value):
        """y * (1 - smoothing) + smoothing * off_value (Keras's label smoothing), in a buffer of ``ws``."""
        dtype = predictions.dtype
        smoothed = self._buffer(ws, "smoothed", predictions.shape, dtype)
        ops.multiply(y_true, self._constant(ws, "keep", 1.0 - self.label_smoothing, dtype), smoothed)
        return ops.add(smoothed, self._constant(ws, "spread", self.label_smoothing * off_value, dtype), smoothed)


class BinaryCrossentropy(_CrossentropyMetric):
    default_name = "binary_crossentropy"
    loss_class = losses_module.BinaryCrossentropy

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0):
        super().__init__(name=name, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.label_smoothing = _check_smoothing(label_smoothing)

    def _targets(self, ops, ws, y_true, predictions):
        y_true = dense_labels(y_true, predictions)
        return self._smoothed(ops, ws, y_true, predictions, 0.5) if self.label_smoothing else y_true

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class CategoricalCrossentropy(_CrossentropyMetric):
    default_name = "categorical_crossentropy"
    loss_class = losses_module.CategoricalCrossentropy

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0, axis=-1):
        super().__init__(name=name, dtype=dtype)
        _check_axis(axis)
        self.from_logits = bool(from_logits)
        self.label_smoothing = _check_smoothing(label_smoothing)
        self.axis = axis

    def _targets(self, ops, ws, y_true, predictions):
        if not self.label_smoothing:
            return y_true
        return self._smoothed(ops, ws, y_true, predictions, 1.0 / predictions.shape[-1])

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class SparseCategoricalCrossentropy(_CrossentropyMetric):
    default_name = "sparse_categorical_crossentropy"
    loss_class = losses_module.SparseCategoricalCrossentropy
    label_layout = "class_ids"
    label_smoothing = 0.0

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False, ignore_class=None,
                 axis=-1):
        super().__init__(name=name, dtype=dtype)
        _check_axis(axis)
        if ignore_class is not None:
            raise ValueError(f"ignore_class: gpunn's SparseCategoricalCrossentropy metric counts every class "
                             f"(ignore_class=None), got {ignore_class!r}")
        self.from_logits = bool(from_logits)
        self.ignore_class = None
        self.axis = axis

    def _targets(self, ops, ws, y_true, predictions):
        return class_ids(self, ops, ws, y_true)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "from_logits": self.from_logits,
                "ignore_class": self.ignore_class, "axis": self.axis}
