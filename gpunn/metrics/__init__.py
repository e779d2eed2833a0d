"""Metrics with Keras's names, arguments and numbers, streaming over batches with their state on the device.

Each metric declares its state (float64 sums: counts per threshold, totals, squares), adds a batch into it
with Ops primitives (``accumulate``: inside a training step, recorded and replayed, allocation-free after the
first batch of a size) and computes its value from the state on the host (``finalize``). Compiled into a
model, every metric's state lives in one device buffer that ``fit`` / ``evaluate`` read once per epoch (and
for batch logs only when a callback asks); used on its own, ``update_state`` / ``result`` / ``reset_state``
work on NumPy arrays as Keras's do. In ``fit`` and ``evaluate`` the compiled ``metrics`` are unweighted and the
``weighted_metrics`` take the sample weights; ``update_state(..., sample_weight=...)`` weights them as Keras does.

Modules: ``base`` (the Metric API), ``reduction`` (Mean, per-sample means), ``accuracy``, ``regression``,
``probabilistic`` (cross-entropies), ``loss_backed`` (a loss averaged over samples), ``confusion`` and
``confusion_counts`` (TP/FP/TN/FN, Precision, Recall, AUC), ``confusion_at`` (a rate at a given other rate),
``f_score``, ``iou`` (intersection over union, from a confusion matrix), ``correlation`` (Pearson's and the concordance coefficients), ``registry`` (names), ``state`` (where
the state lives), ``functions`` (Keras's metric functions on host arrays, and what ``compile`` makes of them).
"""
from __future__ import annotations

from .accuracy import (Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                       SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy)
from .base import Metric
from .confusion import AUC, FalseNegatives, FalsePositives, Precision, Recall, TrueNegatives, TruePositives
from .confusion_at import PrecisionAtRecall, RecallAtPrecision, SensitivityAtSpecificity, SpecificityAtSensitivity
from .correlation import ConcordanceCorrelation, PearsonCorrelation, concordance_correlation, pearson_correlation
from .f_score import F1Score, FBetaScore
from .function_metric import MeanMetricWrapper
from .iou import BinaryIoU, IoU, MeanIoU, OneHotIoU, OneHotMeanIoU
from .functions import (binary_accuracy, binary_crossentropy, binary_focal_crossentropy, categorical_accuracy,
                        categorical_crossentropy, categorical_focal_crossentropy, categorical_hinge, hinge, huber,
                        kl_divergence, log_cosh, mean_absolute_error, mean_absolute_percentage_error,
                        mean_squared_error, mean_squared_logarithmic_error, poisson, sparse_categorical_accuracy,
                        sparse_categorical_crossentropy, sparse_top_k_categorical_accuracy, squared_hinge,
                        top_k_categorical_accuracy)
from .loss_backed import (CategoricalHinge, CosineSimilarity, Hinge, KLDivergence, LogCoshError,
                          MeanSquaredLogarithmicError, Poisson, SquaredHinge)
from .probabilistic import BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy
from .reduction import Mean, PerSampleMean, Sum
from .registry import accuracy_for, deserialize, get, serialize
from .regression import (MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredError, R2Score,
                         RootMeanSquaredError)

# tf.keras 2's short names of the metric functions, which Keras 3 keeps in its tf.keras namespace
# (``tf.keras.metrics.mse``: the time-series notebooks' ``metrics.mean_absolute_error(x, y)`` written short)
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh

__all__ = [
    "MeanMetricWrapper",
    "Metric", "Mean", "Sum", "PerSampleMean",
    "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy", "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "MeanAbsoluteError", "MeanSquaredError", "RootMeanSquaredError", "MeanAbsolutePercentageError", "R2Score",
    "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
    "TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives", "Precision", "Recall", "AUC",
    "FBetaScore", "F1Score",
    "IoU", "BinaryIoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU",
    "Hinge", "SquaredHinge", "CategoricalHinge", "KLDivergence", "Poisson", "LogCoshError",
    "MeanSquaredLogarithmicError", "CosineSimilarity",
    "SensitivityAtSpecificity", "SpecificityAtSensitivity", "PrecisionAtRecall", "RecallAtPrecision",
    "PearsonCorrelation", "ConcordanceCorrelation",
    "get", "accuracy_for", "serialize", "deserialize",
    "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy", "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy", "binary_crossentropy", "binary_focal_crossentropy",
    "categorical_crossentropy", "categorical_focal_crossentropy", "categorical_hinge", "hinge", "huber",
    "kl_divergence", "log_cosh", "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_error",
    "mean_squared_logarithmic_error", "poisson", "sparse_categorical_crossentropy", "squared_hinge",
    "pearson_correlation", "concordance_correlation",
    "mse", "MSE", "mae", "MAE", "mape", "MAPE", "msle", "MSLE", "kld", "KLD", "kullback_leibler_divergence", "logcosh",
]


def __dir__():
    from ..api_listing import public_names  # (Keras's listing: api_listing.py)

    return public_names(globals())
