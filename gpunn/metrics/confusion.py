"""Confusion-matrix metrics (keras/src/metrics/confusion_metrics.py): counts at thresholds, Precision, Recall
and AUC. Their state is per-threshold counts (``confusion_counts.py`` adds a batch's on the device); the
ratios and areas are made from the summed counts when the value is read."""
from __future__ import annotations

import numpy as np

from .. import fuzz_factor
from .base import Metric, divide_no_nan
from .confusion_counts import (FN, FP, NEG_INF, TN, TP, ThresholdComparison, accumulate_confusion,
                               is_evenly_distributed_thresholds, parse_init_thresholds)


def _check_optional_index(argument, value, minimum):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{argument}: expected an integer >= {minimum} or None, got {value!r}")
    return int(value)


class _ThresholdMetric(Metric):
    """A metric over per-threshold counts of some confusion conditions (``conditions``: {condition: state name})."""

    conditions: dict = {}
    top_k = None
    class_id = None

    @property
    def weighs_each_value(self) -> bool:
        return self.class_id is None and self.top_k is None  # (counts pooled over every output)

    def _set_thresholds(self, thresholds, default_threshold):
        self.init_thresholds = thresholds
        self.thresholds = parse_init_thresholds(thresholds, default_threshold)
        self._comparison = ThresholdComparison(self.thresholds, is_evenly_distributed_thresholds(self.thresholds))

    def state_shapes(self, width):
        return {state: (len(self.thresholds),) for state in self.conditions.values()}

    def check_layout(self, width, sparse_labels):
        super().check_layout(width, sparse_labels)
        if self.class_id is not None and self.class_id >= width:
            raise ValueError(f"class_id: expected a class of the model's {width} outputs, in [0, {width}), got "
                             f"{self.class_id}")
        if self.top_k is not None and self.top_k > width:
            raise ValueError(f"top_k: expected at most the model's {width} outputs, got {self.top_k}")

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.class_id is not None and np.ndim(y_pred) < 2:
            raise ValueError(f"class_id: y_pred must be 2-D (samples, classes) when class_id is given, got shape "
                             f"{np.shape(y_pred)}")
        if self.top_k is not None and np.ndim(y_pred) == 1 and sample_weight is None:
            # Keras takes the top k over the last axis: of a 1-D y_pred, over the whole vector.
            y_true, y_pred = np.reshape(y_true, (1, -1)), np.reshape(y_pred, (1, -1))
        width = int(np.prod(np.shape(y_pred)[1:], dtype=int)) if np.ndim(y_pred) > 1 else 1
        self.check_layout(width, False)
        super().update_state(y_true, y_pred, sample_weight)

    def accumulate(self, ops, ws, y_true, predictions, state, sample_weight=None):
        targets = {condition: state[name] for condition, name in self.conditions.items()}
        accumulate_confusion(self, ops, ws, y_true, predictions, targets, self._comparison, sample_weight,
                             top_k=self.top_k, class_id=self.class_id)

    def _single_or_all(self, values):
        return float(values[0]) if len(self.thresholds) == 1 else np.asarray(values)


class _ConfusionMatrixConditionCount(_ThresholdMetric):
    condition = TP

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.conditions = {self.condition: "accumulator"}
        self._set_thresholds(thresholds, 0.5)

    def finalize(self, state):
        return self._single_or_all(state["accumulator"])

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "thresholds": self.init_thresholds}


class TruePositives(_ConfusionMatrixConditionCount):
    """The number (weighted: the total weight) of true positives at each threshold (default 0.5).

    >>> m = TruePositives(); m.update_state([0, 1, 1, 1], [1, 0, 1, 1]); float(m.result())
    2.0
    """

    condition = TP


class FalsePositives(_ConfusionMatrixConditionCount):
    condition = FP


class TrueNegatives(_ConfusionMatrixConditionCount):
    condition = TN


class FalseNegatives(_ConfusionMatrixConditionCount):
    condition = FN


class _RankedThresholdMetric(_ThresholdMetric):
    """Precision's and Recall's arguments: thresholds (default 0.5; -1e10 with ``top_k``), top_k, class_id."""

    direction = "up"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.top_k = _check_optional_index("top_k", top_k, 1)
        self.class_id = _check_optional_index("class_id", class_id, 0)
        self._set_thresholds(thresholds, 0.5 if top_k is None else NEG_INF)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_RankedThresholdMetric):
    """tp / (tp + fp) at each threshold (default 0.5; -1e10 with ``top_k``), 0 when nothing was predicted positive.

    ``top_k`` keeps the k highest predictions of each row (B x C x C comparisons per batch: meant for a moderate
    number of classes); ``class_id`` looks at one output column.

    >>> m = Precision(); m.update_state([0, 1, 1, 1], [1, 0, 1, 1]); round(float(m.result()), 6)
    0.666667
    """

    conditions = {TP: "true_positives", FP: "false_positives"}

    def finalize(self, state):
        tp = state["true_positives"]
        return self._single_or_all(divide_no_nan(tp, tp + state["false_positives"]))


class Recall(_RankedThresholdMetric):
    """tp / (tp + fn) at each threshold (default 0.5; -1e10 with ``top_k``), 0 when there was no positive label.

    >>> m = Recall(); m.update_state([0, 1, 1, 1], [1, 0, 1, 1]); round(float(m.result()), 6)
    0.666667
    """

    conditions = {TP: "true_positives", FN: "false_negatives"}

    def finalize(self, state):
        tp = state["true_positives"]
        return self._single_or_all(divide_no_nan(tp, tp + state["false_negatives"]))


_CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
_SUMMATIONS = ("interpolation", "majoring", "minoring")


class AUC(Metric):
    """The area under the ROC (default) or PR curve, approximated over ``num_thresholds`` thresholds as Keras's
    ``keras.metrics.AUC``: per-threshold TP/FP/TN/FN counts, summed with Keras's Riemann rules (the PR curve
    with 'interpolation' uses Davis & Goadrich's interpolation, as Keras does).

    ``from_logits=True`` applies a sigmoid to the predictions first. ``multi_label=True`` keeps counts per
    output column and averages the columns' AUCs (weighted by ``label_weights`` when given); with
    ``multi_label=False`` every (sample, output) pair is one case and ``label_weights`` weight the outputs.

    >>> m = AUC(num_thresholds=3); m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9]); float(m.result())
    0.75
    """

    direction = "up"
    conditions = {TP: "true_positives", FP: "false_positives", TN: "true_negatives", FN: "false_negatives"}

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        super().__init__(name=name, dtype=dtype)
        if str(curve).lower() not in _CURVES:
            raise ValueError(f"curve: expected one of 'ROC', 'PR', 'PRGAIN', got {curve!r}")
        if str(summation_method).lower() not in _SUMMATIONS:
            raise ValueError(f"summation_method: expected one of {list(_SUMMATIONS)}, got {summation_method!r}")
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(parse_init_thresholds(thresholds))
            self.num_thresholds = len(inner) + 2
            evenly = is_evenly_distributed_thresholds(np.array([0.0] + inner + [1.0]))
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, (int, np.integer)) \
                    or num_thresholds <= 1:
                raise ValueError(f"num_thresholds: expected an integer > 1, got {num_thresholds!r}")
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) * 1.0 / (self.num_thresholds - 1) for i in range(self.num_thresholds - 2)]
            evenly = True
        # Endpoints below 0 and above 1 catch predictions of exactly 0 and 1 (Keras's comment).
        self._thresholds = np.array([0.0 - fuzz_factor.epsilon()] + inner + [1.0 + fuzz_factor.epsilon()])
        self._comparison = ThresholdComparison(self._thresholds, evenly)
        self.curve = _CURVES[str(curve).lower()]
        self.summation_method = str(summation_method).lower()
        self.multi_label = bool(multi_label)
        self.num_labels = _check_optional_index("num_labels", num_labels, 1)
        if self.num_labels is not None and not self.multi_label:
            raise ValueError("num_labels: is needed only when multi_label is True")
        if label_weights is not None:
            label_weights = np.asarray(label_weights, dtype=np.float64).reshape(-1)
            if (label_weights < 0).any():
                raise ValueError(f"label_weights: expected non-negative weights, got {label_weights.tolist()}")
        self.label_weights = label_weights
        self.from_logits = bool(from_logits)

    @property
    def thresholds(self) -> list:
        return list(self._thresholds)

    @property
    def weighs_each_value(self) -> bool:
        return not self.multi_label and self.label_weights is None  # (counts pooled over every output)

    def state_shapes(self, width):
        if not self.multi_label:
            return {state: (self.num_thresholds,) for state in self.conditions.values()}
        labels = self.num_labels or width
        if labels is None:
            return None
        return {state: (self.num_thresholds, labels) for state in self.conditions.values()}

    def check_layout(self, width, sparse_labels):
        super().check_layout(width, sparse_labels)
        if self.multi_label and self.num_labels is not None and self.num_labels != width:
            raise ValueError(f"num_labels: the predictions have {width} labels (outputs), got num_labels="
                             f"{self.num_labels}")
        if self.label_weights is not None and len(self.label_weights) != width:
            raise ValueError(f"label_weights: expected one weight per output ({width}), got "
                             f"{len(self.label_weights)}")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.check_layout(int(np.prod(np.shape(y_pred)[1:], dtype=int)) if np.ndim(y_pred) > 1 else 1, False)
        super().update_state(y_true, y_pred, sample_weight)

    def accumulate(self, ops, ws, y_true, predictions, state, sample_weight=None):
        targets = {condition: state[name] for condition, name in self.conditions.items()}
        label_weights = None if self.multi_label or self.label_weights is None else tuple(self.label_weights)
        accumulate_confusion(self, ops, ws, y_true, predictions, targets, self._comparison, sample_weight,
                             multi_label=self.multi_label, label_weights=label_weights, from_logits=self.from_logits)

    # ---- the area, from the counts (keras/src/metrics/confusion_metrics.py, AUC.result) --------------------
    def finalize(self, state):
        tp, fp = state["true_positives"], state["false_positives"]
        tn, fn = state["true_negatives"], state["false_negatives"]
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._average_labels(self._interpolate_pr_auc(tp, fp, fn))
        recall = divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, divide_no_nan(tp, tp + fp)
        else:  # PRGAIN, with Keras's fixes for no true positives and recall below the label average
            scaling = divide_no_nan(tp + fn, tn + fp)
            recall_gain = 1.0 - scaling * divide_no_nan(fn, tp)
            precision_gain = 1.0 - scaling * divide_no_nan(fp, tp)
            recall_gain = np.maximum(np.where(tp == 0, 0.0, recall_gain), 0.0)
            x, y = recall_gain, np.where(tp == 0, 1.0, precision_gain)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._average_labels((x[:-1] - x[1:]) * heights)

    @staticmethod
    def _interpolate_pr_auc(tp, fp, fn):
        """Keras's ``interpolate_pr_auc`` (Davis & Goadrich 2006, section 4, in closed form): the increments."""
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both_positive = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both_positive, divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        with np.errstate(divide="ignore"):
            log_ratio = np.log(np.where(ratio > 0, ratio, 1.0))
        return divide_no_nan(slope * (dtp + intercept * log_ratio), np.maximum(tp[1:] + fn[1:], 0))

    def _average_labels(self, terms):
        if not self.multi_label:
            return float(np.sum(terms))
        by_label = np.sum(terms, axis=0)
        if self.label_weights is None:
            return float(np.mean(by_label))
        return float(divide_no_nan(np.sum(by_label * self.label_weights), np.sum(self.label_weights)))

    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype, "num_thresholds": self.num_thresholds,
                  "curve": self.curve, "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
                  "from_logits": self.from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config
