"""A batch's true/false positive/negative counts at every threshold, written with Ops primitives.

Follows Keras's ``update_confusion_matrix_variables`` (keras/src/metrics/metrics_utils.py):

- labels are positive where ``y_true != 0``; predictions are positive at threshold t where ``y_pred > t``;
- unless ``multi_label``, labels and predictions are flattened: each (sample, output) pair is one case;
- thresholds evenly spread over [0, 1] (AUC's, or e.g. [0, 0.5, 1]) take Keras's bucket path, whose rule
  differs from ``y_pred > t`` at the edges: predictions are clipped to [0, 1] and prediction p counts at
  threshold k of T when ``p * (T - 1) > k``; with AUC's endpoints (-epsilon and 1 + epsilon) the first
  threshold counts every prediction and the last none. Here that is the comparison itself:
  ``clip(p, 0, 1) * (T - 1) > [-1 or 0, 1, 2, ..., T - 1]``;
- ``top_k`` keeps, in each row, the k highest predictions (ties broken by the lower index first, as
  ``top_k`` does) and counts every other one as negative; ``class_id`` keeps one column.

The comparison is a (thresholds x cases) bool array in a workspace buffer: T x N work per batch (200 x B
for AUC on one output), no host read, nothing allocated after the first batch of a size. Unweighted (always
in ``fit``) the counts are sums of bools into float64, exact; with weights (``update_state(...,
sample_weight=...)``, AUC's ``label_weights``) they are weighted sums in the predictions' dtype.
"""
from __future__ import annotations

import numpy as np

from .. import fuzz_factor
from .base import dense_labels

NEG_INF = -1e10  # Keras's metrics_utils.NEG_INF: the threshold used with top_k

TP, FP, TN, FN = "tp", "fp", "tn", "fn"


def parse_init_thresholds(thresholds, default_threshold=0.5) -> list:
    """Keras's parse_init_thresholds: a float or a list of floats in [0, 1], else the default."""
    if thresholds is None:
        return [default_threshold]
    values = list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) else [thresholds]
    invalid = [t for t in values if t is None or not isinstance(t, (int, float, np.number)) or not 0 <= t <= 1]
    if invalid or not values:
        raise ValueError(f"thresholds: expected a float or a list of floats in [0, 1], got {thresholds!r}")
    return [float(t) for t in values]


def is_evenly_distributed_thresholds(thresholds) -> bool:
    """Keras's check: at least 3 thresholds, within epsilon of [0, 1/(n-1), ..., 1]."""
    count = len(thresholds)
    if count < 3:
        return False
    even = np.arange(count, dtype=np.float32) / (count - 1)
    return bool(np.allclose(thresholds, even, atol=fuzz_factor.epsilon()))


class ThresholdComparison:
    """How predictions meet thresholds: ``values`` compared with ``scale``-d predictions (see the module)."""

    def __init__(self, thresholds, evenly: bool):
        thresholds = [float(t) for t in thresholds]
        self.count = len(thresholds)
        if evenly:
            last = self.count - 1
            values = [float(k) for k in range(self.count)]
            if thresholds[0] < 0.0 or thresholds[-1] > 1.0:
                values[0] = -1.0  # Keras's relu on the bucket index: every prediction counts at -epsilon
            self.scale: float | None = float(last)
        else:
            values, self.scale = thresholds, None
        self.values = tuple(values)


def _top_k_mask(metric, ops, ws, p, k):
    """(B, C) bool: the k highest predictions of each row, ties going to the lower index (B x C x C work)."""
    rows, width = p.shape
    dtype = p.dtype
    others, this = p.reshape(rows, 1, width), p.reshape(rows, width, 1)  # [b, j, i]: p[b, i] against p[b, j]
    above = ops.greater(others, this, metric._buffer(ws, "topk.above", (rows, width, width), np.bool_))
    tied = ops.equal(others, this, metric._buffer(ws, "topk.tied", (rows, width, width), np.bool_))
    index = metric._constant(ws, "topk.index", tuple(range(width)), dtype)
    earlier = ops.greater(index.reshape(width, 1), index.reshape(1, width),  # [j, i]: i < j
                          metric._buffer(ws, "topk.earlier", (width, width), np.bool_))
    ops.logical_and(tied, earlier, tied)
    rank = ops.sum(above, -1, metric._buffer(ws, "topk.rank", (rows, width), dtype))
    ops.add(rank, ops.sum(tied, -1, metric._buffer(ws, "topk.ties", (rows, width), dtype)), rank)
    return ops.greater(metric._constant(ws, "topk.k", k, dtype), rank,
                       metric._buffer(ws, "topk.keep", (rows, width), np.bool_))


def accumulate_confusion(metric, ops, ws, y_true, predictions, targets: dict, comparison: ThresholdComparison,
                         sample_weight=None, top_k=None, class_id=None, multi_label=False, label_weights=None,
                         from_logits=False) -> None:
    """Add the batch's counts into ``targets`` ({TP/FP/TN/FN: float64 state view}, shaped (T,), or (T, C) with
    ``multi_label``). ``label_weights``: a tuple of per-output weights (flattened case only)."""
    dtype = predictions.dtype
    p = predictions
    y = dense_labels(y_true, predictions)
    if from_logits:
        p = ops.bias_act_forward(p, None, "sigmoid", metric._buffer(ws, "sigmoid", p.shape, dtype))
    keep = _top_k_mask(metric, ops, ws, p, top_k) if top_k is not None else None
    if class_id is not None:
        p, y = p[:, class_id:class_id + 1], y[:, class_id:class_id + 1]
        keep = keep[:, class_id:class_id + 1] if keep is not None else None
    if comparison.scale is not None:
        scaled = metric._buffer(ws, "scaled", p.shape, dtype)
        ops.maximum(p, metric._constant(ws, "zero", 0.0, dtype), scaled)
        ops.minimum(scaled, metric._constant(ws, "one", 1.0, dtype), scaled)
        p = ops.multiply(scaled, metric._constant(ws, "scale", comparison.scale, dtype), scaled)

    t = comparison.count
    if multi_label:  # cases (1, B, C) against thresholds (T, 1, 1); counts reduced over the batch: (T, C)
        cases, axis, case_shape = (1,) + p.shape, 1, p.shape
        thresholds_shape, per_label = (t, 1, 1), p.shape[1:]
    else:  # cases (1, N) against thresholds (T, 1); counts reduced over the cases: (T,)
        cases, axis, case_shape = (1, p.size), -1, (p.size,)
        thresholds_shape, per_label = (t, 1), ()
    thresholds = metric._constant(ws, "thresholds", comparison.values, dtype).reshape(thresholds_shape)
    predicted = metric._buffer(ws, "predicted_positive", (t,) + case_shape, np.bool_)
    ops.greater(p.reshape(cases), thresholds, predicted)
    if keep is not None:
        ops.logical_and(predicted, keep.reshape(cases), predicted)
    is_zero = ops.equal(y, metric._constant(ws, "label_zero", 0, y.dtype),
                        metric._buffer(ws, "is_zero", y.shape, np.bool_))
    positive = ops.equal(is_zero, metric._constant(ws, "false", False, np.bool_),
                         metric._buffer(ws, "label_positive", y.shape, np.bool_))

    counts = (t,) + per_label
    weighted = sample_weight is not None or label_weights is not None
    if not weighted:
        hits = ops.logical_and(predicted, positive.reshape(cases),
                               metric._buffer(ws, "hits", predicted.shape, np.bool_))
        tp = ops.sum(hits, axis, metric._buffer(ws, "tp", counts, np.float64))
        fp = ops.sum(predicted, axis, metric._buffer(ws, "fp", counts, np.float64))
        ops.subtract(fp, tp, fp)
        positives = ops.sum(positive, 0 if multi_label else None,
                            metric._buffer(ws, "positives", per_label, np.float64))
        cases_per_label = float(p.shape[0] if multi_label else p.size)
        negatives = ops.subtract(metric._constant(ws, "cases", cases_per_label, np.float64), positives,
                                 metric._buffer(ws, "negatives", per_label, np.float64))
    else:
        tp, fp, positives, negatives = _weighted_counts(metric, ops, ws, p, predicted, positive, cases, axis, counts,
                                                        per_label, sample_weight, label_weights, multi_label)
    if TP in targets:
        ops.add(targets[TP], tp, targets[TP])
    if FP in targets:
        ops.add(targets[FP], fp, targets[FP])
    if FN in targets:  # fn = positives - tp
        fn = ops.subtract(positives, tp, metric._buffer(ws, "fn", counts, np.float64))
        ops.add(targets[FN], fn, targets[FN])
    if TN in targets:  # tn = negatives - fp
        tn = ops.subtract(negatives, fp, metric._buffer(ws, "tn", counts, np.float64))
        ops.add(targets[TN], tn, targets[TN])


def _weighted_counts(metric, ops, ws, p, predicted, positive, cases, axis, counts, per_label, sample_weight,
                     label_weights, multi_label):
    """(tp, fp, positives, negatives) as float64 buffers, each case weighted by its sample's weight times its
    output's label weight; summed in the predictions' dtype, then widened."""
    dtype = p.dtype
    weights = metric._buffer(ws, "case_weights", p.shape, dtype)
    if sample_weight is not None:
        ops.copy_into(sample_weight.reshape(-1, 1), weights)  # broadcast along each row
    else:
        ops.fill(1, weights)
    if label_weights is not None:
        ops.multiply(weights, metric._constant(ws, "label_weights", tuple(label_weights), dtype), weights)
    positive_weights = ops.copy_into(positive, metric._buffer(ws, "positive_weights", p.shape, dtype))
    ops.multiply(positive_weights, weights, positive_weights)
    negative_weights = ops.subtract(weights, positive_weights, weights)
    predicted_f = ops.copy_into(predicted, metric._buffer(ws, "predicted_f", predicted.shape, dtype))
    products = metric._buffer(ws, "weighted_hits", predicted.shape, dtype)
    results = []
    for role, case_weights in (("tp", positive_weights), ("fp", negative_weights)):
        ops.multiply(predicted_f, case_weights.reshape(cases), products)
        narrow = ops.sum(products, axis, metric._buffer(ws, role + ".narrow", counts, dtype))
        results.append(ops.copy_into(narrow, metric._buffer(ws, role, counts, np.float64)))
    for role, case_weights in (("positives", positive_weights), ("negatives", negative_weights)):
        narrow = ops.sum(case_weights, 0 if multi_label else None,
                         metric._buffer(ws, role + ".narrow", per_label, dtype))
        results.append(ops.copy_into(narrow, metric._buffer(ws, role, per_label, np.float64)))
    return tuple(results)
