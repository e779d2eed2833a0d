"""One rate at the best threshold that keeps another rate at a given value (keras/src/metrics/confusion_metrics.py:
SensitivityAtSpecificity, SpecificityAtSensitivity, PrecisionAtRecall, RecallAtPrecision). Their state is the
four counts at ``num_thresholds`` thresholds spread evenly over [0, 1] (0.5 alone for one), added on the device
as Precision's and AUC's are; the value is the largest of the dependent rate over the thresholds where the
constrained rate is at least the given value (0 when none is)."""
from __future__ import annotations

import numpy as np

from .base import divide_no_nan
from .confusion import _check_optional_index, _ThresholdMetric
from .confusion_counts import FN, FP, TN, TP, ThresholdComparison


class _RateAtRate(_ThresholdMetric):
    direction = "up"
    conditions = {TP: "true_positives", FP: "false_positives", TN: "true_negatives", FN: "false_negatives"}
    value_argument = ""  # the constrained rate's argument name, as Keras spells it

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        argument = self.value_argument
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not 0 <= value <= 1:
            raise ValueError(f"Argument `{argument}` must be in the range [0, 1]. Received: {argument}={value!r}")
        if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, (int, np.integer)) or num_thresholds <= 0:
            raise ValueError(f"Argument `num_thresholds` must be an integer > 0. Received: "
                             f"num_thresholds={num_thresholds!r}")
        self.value, self.num_thresholds = value, int(num_thresholds)
        self.class_id = _check_optional_index("class_id", class_id, 0)
        if num_thresholds == 1:
            self.thresholds, evenly = [0.5], False
        else:
            self.thresholds = [0.0] + [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)] + [1.0]
            evenly = True
        self._comparison = ThresholdComparison(self.thresholds, evenly)

    @staticmethod
    def _rates(state) -> dict:
        tp, fp, tn, fn = (state[k] for k in ("true_positives", "false_positives", "true_negatives", "false_negatives"))
        return {"sensitivity": divide_no_nan(tp, tp + fn), "specificity": divide_no_nan(tn, tn + fp),
                "precision": divide_no_nan(tp, tp + fp)}

    def _best(self, constrained, dependent) -> float:
        """Keras's ``_find_max_under_constraint``: max(where(constrained >= value, dependent, 0), initial=0)."""
        return float(np.max(np.where(constrained >= self.value, dependent, 0.0), initial=0.0))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "class_id": self.class_id,
                "num_thresholds": self.num_thresholds, self.value_argument: self.value}


class SensitivityAtSpecificity(_RateAtRate):
    """The best sensitivity (recall) at thresholds where the specificity is at least ``specificity``."""

    value_argument = "specificity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)

    def finalize(self, state):
        rates = self._rates(state)
        return self._best(rates["specificity"], rates["sensitivity"])


class SpecificityAtSensitivity(_RateAtRate):
    """The best specificity at thresholds where the sensitivity (recall) is at least ``sensitivity``."""

    value_argument = "sensitivity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)

    def finalize(self, state):
        rates = self._rates(state)
        return self._best(rates["sensitivity"], rates["specificity"])


class PrecisionAtRecall(_RateAtRate):
    """The best precision at thresholds where the recall is at least ``recall``."""

    value_argument = "recall"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)

    def finalize(self, state):
        rates = self._rates(state)
        return self._best(rates["sensitivity"], rates["precision"])


class RecallAtPrecision(_RateAtRate):
    """The best recall at thresholds where the precision is at least ``precision``."""

    value_argument = "precision"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)

    def finalize(self, state):
        rates = self._rates(state)
        return self._best(rates["precision"], rates["sensitivity"])
