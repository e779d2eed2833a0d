"""Regression metrics (keras/src/metrics/regression_metrics.py): mean errors, their root, and R2Score."""
from __future__ import annotations

import math
import warnings

import numpy as np

from .. import fuzz_factor
from .base import Metric, dense_labels
from .reduction import PerSampleMean, row_mean



class MeanAbsoluteError(PerSampleMean):
    direction = "down"
    flat_batch_is_one_value = True  # (Keras: a MeanMetricWrapper of a mean over the last axis)
    default_name = "mean_absolute_error"

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def per_sample(self, ops, ws, y_true, predictions):
        diff = ops.subtract(predictions, dense_labels(y_true, predictions),
                            self._buffer(ws, "diff", predictions.shape, predictions.dtype))
        return row_mean(self, ops, ws, ops.abs(diff, diff))


class MeanSquaredError(PerSampleMean):
    direction = "down"
    flat_batch_is_one_value = True  # (Keras: a MeanMetricWrapper of a mean over the last axis)
    default_name = "mean_squared_error"

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def per_sample(self, ops, ws, y_true, predictions):
        diff = ops.subtract(predictions, dense_labels(y_true, predictions),
                            self._buffer(ws, "diff", predictions.shape, predictions.dtype))
        return row_mean(self, ops, ws, ops.multiply(diff, diff, diff))


class RootMeanSquaredError(MeanSquaredError):
    """sqrt of the mean over samples of each sample's mean squared error (Keras: a Mean of squared errors,
    reduced per sample, with the root taken in ``result``)."""

    default_name = "root_mean_squared_error"
    flat_batch_is_one_value = False  # (Keras's is a Mean of the squared errors, element by element)

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def finalize(self, state):
        return float(np.sqrt(super().finalize(state)))


class MeanAbsolutePercentageError(PerSampleMean):
    """100 * mean(|(y_true - y_pred) / max(|y_true|, epsilon)|) over the last axis, averaged over samples."""

    direction = "down"
    flat_batch_is_one_value = True  # (Keras: a MeanMetricWrapper of a mean over the last axis)
    default_name = "mean_absolute_percentage_error"

    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def per_sample(self, ops, ws, y_true, predictions):
        y_true = dense_labels(y_true, predictions)
        dtype = predictions.dtype
        diff = ops.subtract(y_true, predictions, self._buffer(ws, "diff", predictions.shape, dtype))
        scale = ops.abs(y_true, self._buffer(ws, "scale", predictions.shape, dtype))
        ops.maximum(scale, self._constant(ws, "epsilon", fuzz_factor.epsilon(), dtype), scale)
        ops.divide(diff, scale, diff)
        per_sample = row_mean(self, ops, ws, ops.abs(diff, diff))
        return ops.multiply(per_sample, self._constant(ws, "hundred", 100.0, dtype), per_sample)


_R2_AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")


class R2Score(Metric):
    """The coefficient of determination, per output column, aggregated as Keras's ``R2Score``.

    State per column (float64): sum(w y), sum(w y^2), sum(w (y - p)^2), sum(w), and the number of samples with a
    non-zero weight (for the adjusted score). Computed from float64 copies of the batch, so the usual
    cancellation of ``sum(y^2) - sum(y) * mean(y)`` costs less than in Keras's float32.
    """

    direction = "up"
    default_name = "r2_score"

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if class_aggregation not in _R2_AGGREGATIONS:
            raise ValueError(f"class_aggregation: expected one of {_R2_AGGREGATIONS}, got {class_aggregation!r}")
        if isinstance(num_regressors, bool) or not isinstance(num_regressors, (int, np.integer)) or num_regressors < 0:
            raise ValueError(f"num_regressors: expected an integer >= 0, got {num_regressors!r}")
        self.class_aggregation = class_aggregation
        self.num_regressors = int(num_regressors)

    def state_shapes(self, width):
        if width is None:
            return None
        # (in the order of Keras's variables)
        return {"num_samples": (), "squared_sum": (width,), "sum": (width,), "residual": (width,), "count": (width,)}

    def accumulate(self, ops, ws, y_true, predictions, state, sample_weight=None):
        shape = predictions.shape
        y = ops.copy_into(dense_labels(y_true, predictions), self._buffer(ws, "y", shape, np.float64))
        residual = ops.copy_into(predictions, self._buffer(ws, "residual", shape, np.float64))
        ops.subtract(y, residual, residual)
        ops.multiply(residual, residual, residual)
        column = self._buffer(ws, "column", shape[-1:], np.float64)
        # Keras's n of the adjusted score: every value of y_true, whatever the weights (ops.size(y_true))
        elements = self._constant(ws, "elements", float(math.prod(shape)), np.float64)
        if sample_weight is None:
            rows = self._constant(ws, "rows", float(shape[0]), np.float64)
            ops.add(state["sum"], ops.sum(y, 0, column), state["sum"])
            squared = ops.multiply(y, y, self._buffer(ws, "squared", shape, np.float64))
            ops.add(state["squared_sum"], ops.sum(squared, 0, column), state["squared_sum"])
            ops.add(state["residual"], ops.sum(residual, 0, column), state["residual"])
            ops.add(state["count"], rows, state["count"])
            ops.add(state["num_samples"], elements, state["num_samples"])
            return
        w = ops.copy_into(sample_weight.reshape(-1, 1), self._buffer(ws, "weights", (shape[0], 1), np.float64))
        weighted = ops.multiply(y, w, self._buffer(ws, "weighted", shape, np.float64))
        ops.add(state["sum"], ops.sum(weighted, 0, column), state["sum"])
        ops.multiply(weighted, y, weighted)
        ops.add(state["squared_sum"], ops.sum(weighted, 0, column), state["squared_sum"])
        ops.multiply(residual, w, residual)
        ops.add(state["residual"], ops.sum(residual, 0, column), state["residual"])
        weight_total = ops.sum(w, None, self._buffer(ws, "weight_total", (), np.float64))
        ops.add(state["count"], weight_total, state["count"])
        ops.add(state["num_samples"], elements, state["num_samples"])

    def finalize(self, state):
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = state["sum"] / state["count"]
            total = state["squared_sum"] - state["sum"] * mean
            raw = 1 - state["residual"] / total
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            score = np.mean(raw)
        elif self.class_aggregation == "variance_weighted_average":
            with np.errstate(divide="ignore", invalid="ignore"):
                score = np.sum(total * raw) / np.sum(total)
        else:
            score = raw
        if self.num_regressors:
            n, p = float(state["num_samples"]), float(self.num_regressors)
            if p > n - 1:
                warnings.warn("More independent predictors than datapoints in adjusted R2 score. Falling back to "
                              "standard R2 score.", stacklevel=3)
            elif p == n - 1:
                warnings.warn("Division by zero in Adjusted R2 score. Falling back to standard R2 score.",
                              stacklevel=3)
            else:
                score = 1.0 - (1.0 - score) * (n - 1.0) / (n - p - 1.0)
        return float(score) if np.ndim(score) == 0 else np.asarray(score)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}
