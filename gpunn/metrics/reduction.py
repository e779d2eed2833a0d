"""Keras's reduction metrics (keras/src/metrics/reduction_metrics.py): ``Mean`` and ``Sum`` of the values given
to them, and the per-sample means behind most metrics (Keras's ``MeanMetricWrapper``): state ``total`` (and
``count``), result ``total / count`` (0 before any sample), or ``total`` for ``Sum``."""
from __future__ import annotations


import numpy as np

from ..autodiff.functions import convert_to_numpy
from .base import Metric, add_into, divide_no_nan


class Mean(Metric):
    """The (weighted) mean of the values given to ``update_state(values, sample_weight=None)``, as Keras's
    ``keras.metrics.Mean``; also the model's loss tracker (``model.metrics[0]``, named "loss").

    >>> m = Mean(); m.update_state([1, 3, 5, 7]); float(m.result())
    4.0
    """

    default_name = "mean"

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def state_shapes(self, width):
        return {"total": (), "count": ()}

    def check_layout(self, width, sparse_labels):
        _needs_own_update_state(self, "averages")

    def update_state(self, values, sample_weight=None):
        """Keras's ``reduce_to_samplewise_values`` then sums: values of rank > 1 are averaged over their
        non-batch axes, weighted by ``sample_weight`` when given (count += sum of weights, else of samples)."""
        values, weights = samplewise_values(values, sample_weight, np.mean)
        # a subclass's update inside a model's step adds into the model's buffer, else into its own host state
        state, target = self._update_target(None)
        state["total"] += values.sum()
        if weights is not None:
            state["count"] += weights.sum()
        else:
            state["count"] += values.shape[0] if values.ndim >= 1 else 1
        self._add_into_step(state, target)

    def finalize(self, state):
        return float(divide_no_nan(state["total"], state["count"]))


class Sum(Metric):
    """The (weighted) sum of the values given to ``update_state(values, sample_weight=None)``, as Keras's
    ``keras.metrics.Sum``: values of rank > 1 are summed over their non-batch axes.

    >>> m = Sum(); m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0]); float(m.result())
    4.0
    """

    default_name = "sum"

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def state_shapes(self, width):
        return {"total": ()}

    def check_layout(self, width, sparse_labels):
        _needs_own_update_state(self, "adds up")

    def update_state(self, values, sample_weight=None):
        values, _ = samplewise_values(values, sample_weight, np.sum)
        state, target = self._update_target(None)
        state["total"] += values.sum()
        self._add_into_step(state, target)

    def finalize(self, state):
        return float(state["total"])


class PerSampleMean(Metric):
    """A mean over samples of a per-sample value (``per_sample``), as Keras's MeanMetricWrapper: weighted,
    total += sum(w * value) and count += sum(w); unweighted (always, in ``fit``), count += samples."""

    def per_sample(self, ops, ws, y_true, predictions):
        """The (B,) values of the batch (bool or float), in a buffer of ``ws``."""
        raise NotImplementedError

    def batch_sum(self, ops, ws, y_true, predictions, out) -> None:
        """out (0-d float64) = the sum over the batch of the per-sample values: a bool array counted straight
        into ``out``, a float one summed in its own dtype (as ``.sum()`` would) and then widened."""
        values = self.per_sample(ops, ws, y_true, predictions)
        if values.dtype == np.bool_ or values.dtype == out.dtype:
            ops.sum(values, None, out)
            return
        total = ops.sum(values, None, self._buffer(ws, "batch_total", (), values.dtype))
        ops.copy_into(total, out)

    def state_shapes(self, width):
        return {"total": (), "count": ()}

    def accumulate(self, ops, ws, y_true, predictions, state, sample_weight=None):
        rows = predictions.shape[0]
        if sample_weight is None:
            batch_total = self._buffer(ws, "batch_sum", (), np.float64)
            self.batch_sum(ops, ws, y_true, predictions, batch_total)
            ops.add(state["total"], batch_total, state["total"])
            ops.add(state["count"], self._constant(ws, "rows", float(rows), np.float64), state["count"])
            return
        values = self.per_sample(ops, ws, y_true, predictions)
        weighted = self._buffer(ws, "weighted", (rows,), sample_weight.dtype)
        ops.copy_into(values, weighted)
        ops.multiply(weighted, sample_weight, weighted)
        add_into(ops, ws, self, "weighted_total",
                 ops.sum(weighted, None, self._buffer(ws, "weighted_total", (), weighted.dtype)), state["total"])
        add_into(ops, ws, self, "weight_total",
                 ops.sum(sample_weight, None, self._buffer(ws, "weight_total", (), weighted.dtype)), state["count"])

    def finalize(self, state):
        return float(divide_no_nan(state["total"], state["count"]))


def row_mean(metric, ops, ws, elementwise):
    """(B,) mean of ``elementwise`` over its last axis, in its own dtype: the sum, then a division by the
    width (as NumPy's mean computes it; ``np.mean`` with ``out=`` allocates, this does not)."""
    dtype = elementwise.dtype
    per_sample = ops.sum(elementwise, -1, metric._buffer(ws, "per_sample", elementwise.shape[:1], dtype))
    return ops.divide(per_sample, metric._constant(ws, "width", elementwise.shape[-1], dtype), per_sample)


def samplewise_values(values, sample_weight, reduce):
    """Keras's ``reduce_to_samplewise_values`` on host data: (values, weights) as float64, the values weighted
    and reduced (``reduce``: np.mean or np.sum) to one per sample, or to the weights' rank; weights None when
    not given."""
    values = np.asarray(convert_to_numpy(values), dtype=np.float64)
    weights = None
    if sample_weight is not None:
        weights = np.asarray(convert_to_numpy(sample_weight), dtype=np.float64)
        if weights.ndim == values.ndim + 1 and weights.shape[-1] == 1:
            weights = weights[..., 0]
        elif values.ndim == weights.ndim + 1 and values.shape[-1] == 1:
            values = values[..., 0]
        if values.ndim > weights.ndim:
            values = reduce(values, axis=tuple(range(weights.ndim, values.ndim)))
        weights = np.broadcast_to(weights, values.shape)
        values = values * weights
        if weights.ndim > 1:
            weights = reduce(weights, axis=tuple(range(1, weights.ndim)))
    if values.ndim > 1:
        values = reduce(values, axis=tuple(range(1, values.ndim)))
    return values, weights


def _needs_own_update_state(metric, does: str) -> None:
    """A Mean or Sum reduces the values given to ``update_state(values)``: in a model, whose steps give it
    ``(y_true, y_pred)``, only a subclass's own update_state can say what to reduce."""
    if not metric._user_overrides("update_state"):
        raise ValueError(f"metrics: {type(metric).__name__} ({metric.name!r}) {does} the values given to "
                         "update_state(values); compiled into a model it needs update_state(y_true, y_pred) of a "
                         "subclass (as in Keras)")
