"""Correlation metrics (keras/src/metrics/correlation_metrics.py): Pearson's and the concordance correlation
coefficient between labels and predictions, computed along ``axis``.

Keras makes both classes ``MeanMetricWrapper``s of their functions: each batch gives one coefficient per slice
along ``axis`` (per sample for the default ``axis=-1``), and ``Mean`` averages those values over everything seen,
weighted by ``sample_weight`` when given. So the result is a mean of per-batch coefficients, not the coefficient
of all the data at once; a value for the whole batch (``axis=None``) counts once per batch. That is what these
compute too, with the batch's coefficients made by Ops primitives (on the device inside a model's step) and
added into the usual ``total`` / ``count`` state.
"""
from __future__ import annotations

import math

import numpy as np

from ..autodiff import functions as F
from ..autodiff.functions import convert_to_numpy
from .base import Metric, add_into, dense_labels, divide_no_nan


# ---- the functions, as keras.metrics has them -------------------------------------------------------------------

def _as_tensors(y_true, y_pred):
    """Both as Tensors of y_pred's dtype, of one rank as Keras's squeeze_or_expand_to_same_rank makes them."""
    y_pred = F.convert_to_tensor(y_pred)
    y_true = F.convert_to_tensor(y_true, dtype=y_pred.dtype)
    true_shape, pred_shape = _same_rank_shapes(tuple(y_true.shape), tuple(y_pred.shape))
    return F.reshape(y_true, true_shape), F.reshape(y_pred, pred_shape)


def _host_or_tensor(function, y_true, y_pred, axis):
    """``function`` on Tensors (in a loss or metric function of the user's: a Tensor, with its gradient), or on
    host arrays (a NumPy array back). A constant slice divides 0 by 0, a NaN, as quietly as in Keras."""
    given_tensors = any(F._tensor(value) is not None for value in (y_true, y_pred))
    with np.errstate(divide="ignore", invalid="ignore"):
        result = function(*_as_tensors(y_true, y_pred), _checked_axis(axis))
    return result if given_tensors else convert_to_numpy(result)


def _pearson(y_true, y_pred, axis):
    y_true_norm = F.subtract(y_true, F.mean(y_true, axis=axis, keepdims=True))
    y_pred_norm = F.subtract(y_pred, F.mean(y_pred, axis=axis, keepdims=True))
    y_true_norm = F.divide(y_true_norm, F.std(y_true_norm, axis=axis, keepdims=True))
    y_pred_norm = F.divide(y_pred_norm, F.std(y_pred_norm, axis=axis, keepdims=True))
    return F.mean(F.multiply(y_true_norm, y_pred_norm), axis=axis)


def _concordance(y_true, y_pred, axis):
    y_true_mean = F.mean(y_true, axis=axis, keepdims=True)
    y_pred_mean = F.mean(y_pred, axis=axis, keepdims=True)
    y_true_var = F.var(F.subtract(y_true, y_true_mean), axis=axis, keepdims=True)
    y_pred_var = F.var(F.subtract(y_pred, y_pred_mean), axis=axis, keepdims=True)
    # Keras centres y_true on the mean of y_pred here; kept, so that the numbers are Keras's
    covar = F.multiply(F.subtract(y_true, y_pred_mean), F.subtract(y_pred, y_pred_mean))
    norm = F.add(F.add(y_true_var, y_pred_var), F.square(F.subtract(y_true_mean, y_pred_mean)))
    return F.mean(F.divide(F.multiply(covar, 2.0), F.add(norm, F.epsilon())), axis=axis)


def pearson_correlation(y_true, y_pred, axis=-1):
    """Pearson's correlation coefficient of each slice along ``axis``, as ``keras.metrics.pearson_correlation``."""
    return _host_or_tensor(_pearson, y_true, y_pred, axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """The concordance correlation coefficient of each slice along ``axis``, as
    ``keras.metrics.concordance_correlation``."""
    return _host_or_tensor(_concordance, y_true, y_pred, axis)


# ---- axes and shapes -----------------------------------------------------------------------------------------------

def _checked_axis(axis):
    """``axis`` as Keras's reductions take it: None (every axis), an integer, or a tuple of integers."""
    def integer(value):
        return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))

    if axis is None or integer(axis):
        return None if axis is None else int(axis)
    if isinstance(axis, (list, tuple)) and all(integer(a) for a in axis):
        return tuple(int(a) for a in axis)
    raise ValueError(f"axis: expected an integer, a tuple of integers or None, got {axis!r}")


def _axes(axis, ndim: int) -> tuple:
    """The axes ``axis`` names in an array of rank ``ndim``, non-negative and sorted."""
    if axis is None:
        return tuple(range(ndim))
    given = (axis,) if isinstance(axis, int) else axis
    if any(not -ndim <= a < ndim for a in given):
        raise ValueError(f"axis: {axis!r} is out of range for arrays of rank {ndim}")
    axes = sorted(a % ndim for a in given)
    if len(set(axes)) != len(axes):
        raise ValueError(f"axis: {axis!r} names an axis twice")
    return tuple(axes)


def _same_rank_shapes(first: tuple, second: tuple) -> tuple:
    """Keras's squeeze_or_expand_to_same_rank on two shapes: a rank-1 one gets the other's trailing axis of size
    1, else that axis is dropped."""
    if len(first) == len(second) + 1 and first[-1:] == (1,):
        return (first, second + (1,)) if len(second) == 1 else (first[:-1], second)
    if len(second) == len(first) + 1 and second[-1:] == (1,):
        return (first + (1,), second) if len(first) == 1 else (first, second[:-1])
    return first, second


# ---- the metrics ------------------------------------------------------------------------------------------------

class _Correlation(Metric):
    """The mean of a correlation coefficient over the slices and batches seen (Keras's MeanMetricWrapper of the
    function): state ``total`` and ``count``, as Keras's ``Mean``."""

    direction = "up"

    def __init__(self, name=None, dtype=None, axis=-1):
        super().__init__(name=name, dtype=dtype)
        self.axis = _checked_axis(axis)

    def batch_values(self, ops, ws, y_true, y_pred, axes: tuple, count: int):
        """The batch's coefficients: ``y_pred`` reduced along ``axes`` (``count`` elements each), in a buffer."""
        raise NotImplementedError

    def state_shapes(self, width):
        return {"total": (), "count": ()}

    def check_layout(self, width, sparse_labels):
        super().check_layout(width, sparse_labels)
        _axes(self.axis, 2)  # a model's metrics see (samples, units)

    def accumulate(self, ops, ws, y_true, predictions, state, sample_weight=None):
        y_pred = predictions
        y_true = ops.copy_into(dense_labels(y_true, y_pred), self._buffer(ws, "y_true", y_pred.shape, y_pred.dtype))
        axes = _axes(self.axis, y_pred.ndim)
        values = self.batch_values(ops, ws, y_true, y_pred, axes, math.prod(y_pred.shape[a] for a in axes))
        self._add_values(ops, ws, values, sample_weight, state)

    def _host_inputs(self, y_true, y_pred, sample_weight):
        """Host arrays as Keras's function takes them: y_true in y_pred's dtype, both of one rank (a trailing axis
        of 1 added or dropped) and broadcast to one shape; the weights as given, in that dtype."""
        y_pred = np.asarray(convert_to_numpy(y_pred))
        if y_pred.dtype not in (np.float32, np.float64):
            y_pred = y_pred.astype(np.float64)
        if y_pred.ndim == 0:
            raise ValueError(f"y_pred: expected an array of predictions, got a scalar {y_pred!r}")
        y_true = np.asarray(convert_to_numpy(y_true)).astype(y_pred.dtype)
        true_shape, pred_shape = _same_rank_shapes(y_true.shape, y_pred.shape)
        try:
            shape = np.broadcast_shapes(true_shape, pred_shape)
        except ValueError:
            raise ValueError(f"y_true: expected the shape of y_pred {y_pred.shape} (or one that broadcasts to it), "
                             f"got shape {y_true.shape}") from None
        _axes(self.axis, len(shape))
        y_true, y_pred = (np.ascontiguousarray(np.broadcast_to(array.reshape(own), shape))
                          for array, own in ((y_true, true_shape), (y_pred, pred_shape)))
        weights = None
        if sample_weight is not None:
            # order="C", not ascontiguousarray, which would make one scalar weight a weight per sample
            weights = np.asarray(convert_to_numpy(sample_weight), dtype=y_pred.dtype, order="C")
        return y_true, y_pred, weights

    def finalize(self, state):
        return float(divide_no_nan(state["total"], state["count"]))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "axis": self.axis}

    # ---- Keras's Mean.update_state(values, sample_weight) ------------------------------------------------------
    def _add_values(self, ops, ws, values, weights, state) -> None:
        """total += the values' sum, count += their number, each value first averaged over its axes after the
        first (Keras's reduce_to_samplewise_values); weighted: total += sum(w * value), count += sum(w), the
        weights broadcast to the values."""
        if weights is None:
            batch_total = self._mean(ops, ws, "values_total", values, tuple(range(values.ndim)), False,
                                     math.prod(values.shape[1:]))
            add_into(ops, ws, self, "values_total", batch_total, state["total"])
            count = float(values.shape[0]) if values.ndim else 1.0
            ops.add(state["count"], self._constant(ws, "count", count, np.float64), state["count"])
            return
        values_shape, weights_shape = _same_rank_shapes(values.shape, weights.shape)
        values, weights = values.reshape(values_shape), weights.reshape(weights_shape)
        if values.ndim > weights.ndim:
            kept = tuple(range(weights.ndim, values.ndim))
            values = self._mean(ops, ws, "values_per_weight", values, kept, False,
                                math.prod(values.shape[a] for a in kept))
        if weights.ndim > values.ndim or any(w not in (1, v) for w, v in zip(weights.shape[::-1], values.shape[::-1])):
            raise ValueError(
                f"sample_weight: {type(self).__name__} (axis={self.axis!r}) gives values of shape {values.shape} for "
                f"this batch, which weights of shape {tuple(weights_shape)} cannot weigh (they must broadcast to the "
                "values, as Keras's Mean requires); weigh per-sample values (axis=-1)")
        per_value = math.prod(values.shape[1:])  # Keras averages each row of weighted values and of weights
        spread = ops.copy_into(weights, self._buffer(ws, "weights", values.shape, values.dtype))
        every = tuple(range(values.ndim))
        add_into(ops, ws, self, "weight_total", self._mean(ops, ws, "weight_total", spread, every, False, per_value),
                 state["count"])
        ops.multiply(spread, values, spread)
        add_into(ops, ws, self, "weighted_total", self._mean(ops, ws, "weighted_total", spread, every, False,
                                                             per_value), state["total"])

    # ---- reductions along the axes, into the metric's buffers --------------------------------------------------
    def _mean(self, ops, ws, role, x, axes, keepdims, count):
        """sum(x along axes) / count (the mean over ``count`` elements), written into the buffer ``role``."""
        shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape)) if keepdims else tuple(
            d for i, d in enumerate(x.shape) if i not in axes)
        out = ops.sum(x, axes, self._buffer(ws, role, shape, x.dtype), keepdims=keepdims)
        if count != 1:
            ops.divide(out, self._constant(ws, role + ".count", float(count), x.dtype), out)
        return out

    def _centered(self, ops, ws, role, x, axes, count, center=None):
        """x - mean(x) along the axes (or x - ``center``), in the buffer ``role``."""
        if center is None:
            center = self._mean(ops, ws, role + ".mean", x, axes, True, count)
        return ops.subtract(x, center, self._buffer(ws, role, x.shape, x.dtype))

    def _variance(self, ops, ws, role, centered, axes, count):
        """mean((c - mean(c))^2) along the axes of ``centered`` (Keras's ops.var, which centres again)."""
        deviation = self._centered(ops, ws, role + ".deviation", centered, axes, count)
        ops.multiply(deviation, deviation, deviation)
        return self._mean(ops, ws, role + ".variance", deviation, axes, True, count)


class PearsonCorrelation(_Correlation):
    """Pearson's correlation coefficient between labels and predictions along ``axis``, averaged over the
    slices and batches seen (Keras's ``keras.metrics.PearsonCorrelation``); a constant slice gives NaN, as
    Keras's 0 / 0 does.

    >>> m = PearsonCorrelation(); m.update_state([[0, 1, 0.5], [1, 1, 0.2]], [[0.1, 0.9, 0.5], [1, 0.9, 0.2]])
    >>> round(float(m.result()), 6)
    0.9967
    """

    default_name = "pearson_correlation"

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(name=name, dtype=dtype, axis=axis)

    def batch_values(self, ops, ws, y_true, y_pred, axes, count):
        true_norm, true_constant = self._standardized(ops, ws, "true", y_true, axes, count)
        pred_norm, pred_constant = self._standardized(ops, ws, "pred", y_pred, axes, count)
        values = self._mean(ops, ws, "values", ops.multiply(true_norm, pred_norm, true_norm), axes, False, count)
        # Keras divides by a zero deviation: NaN for a constant slice. Divided by 1 here and set to NaN after, so
        # that no division by zero runs (NumPy would warn on every step).
        constant = ops.logical_or(true_constant, pred_constant, self._buffer(ws, "constant", true_constant.shape,
                                                                             np.bool_))
        return ops.copy_where(self._constant(ws, "nan", np.nan, values.dtype), constant.reshape(values.shape), values)

    def _standardized(self, ops, ws, role, x, axes, count):
        """((x - mean) / std along the axes, where std is 0): a constant slice is divided by 1 instead, and its
        coefficient set to NaN by the caller."""
        centered = self._centered(ops, ws, role + ".centered", x, axes, count)
        std = self._variance(ops, ws, role, centered, axes, count)
        ops.sqrt(std, std)
        constant = ops.equal(std, self._constant(ws, "zero", 0.0, x.dtype),
                             self._buffer(ws, role + ".constant", std.shape, np.bool_))
        ops.copy_where(self._constant(ws, "one", 1.0, x.dtype), constant, std)
        return ops.divide(centered, std, centered), constant


class ConcordanceCorrelation(_Correlation):
    """The concordance correlation coefficient between labels and predictions along ``axis``, averaged over the
    slices and batches seen (Keras's ``keras.metrics.ConcordanceCorrelation``, its formula as Keras computes it:
    the covariance term centres ``y_true`` on the mean of ``y_pred``).

    >>> m = ConcordanceCorrelation(); m.update_state([[0, 1, 0.5], [1, 1, 0.2]], [[0.1, 0.9, 0.5], [1, 0.9, 0.2]])
    >>> round(float(m.result()), 6)
    0.981632
    """

    default_name = "concordance_correlation"

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(name=name, dtype=dtype, axis=axis)

    def batch_values(self, ops, ws, y_true, y_pred, axes, count):
        true_mean = self._mean(ops, ws, "true.mean", y_true, axes, True, count)
        pred_mean = self._mean(ops, ws, "pred.mean", y_pred, axes, True, count)
        true_variance = self._variance(ops, ws, "true", self._centered(ops, ws, "true.centered", y_true, axes, count,
                                                                       true_mean), axes, count)
        pred_centered = self._centered(ops, ws, "pred.centered", y_pred, axes, count, pred_mean)
        pred_variance = self._variance(ops, ws, "pred", pred_centered, axes, count)
        covariance = self._centered(ops, ws, "covariance", y_true, axes, count, pred_mean)
        ops.multiply(covariance, pred_centered, covariance)
        norm = ops.add(true_variance, pred_variance, self._buffer(ws, "norm", true_mean.shape, y_pred.dtype))
        squared_gap = ops.subtract(true_mean, pred_mean, true_mean)
        ops.add(norm, ops.multiply(squared_gap, squared_gap, squared_gap), norm)
        ops.add(norm, self._constant(ws, "epsilon", F.epsilon(), y_pred.dtype), norm)
        ops.multiply(covariance, self._constant(ws, "two", 2.0, y_pred.dtype), covariance)
        return self._mean(ops, ws, "values", ops.divide(covariance, norm, covariance), axes, False, count)
