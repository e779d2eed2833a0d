"""Keras's metric classes: the numbers of Keras's docstrings and of hand computations, streaming over batches,
the same values inside fit / evaluate as on their own, names and History keys as Keras's, state on the device
(allocation-free after the first batch of a size, a recorded step replaying the eager numbers bit for bit)."""
from __future__ import annotations

import collections
import math

import numpy as np
import pytest
from allocations import count_step_allocations, describe
from helpers import assert_same_training, numpy_backend, sigmoid, softmax  # noqa: F401

import gpunn
from gpunn import layers, losses, metrics
from gpunn import naming
from gpunn.ops.recording import Recording
from gpunn.ops.workspace import Workspace
from gpunn.trainer.running_metrics import RunningMetrics

# ---- Keras's documented examples (keras/src/metrics/*.py docstrings) ----------------------------------------------

KERAS_EXAMPLES = [
    # (metric factory, y_true, y_pred, sample_weight, Keras's printed result)
    (lambda: metrics.Precision(), [0, 1, 1, 1], [1, 0, 1, 1], None, 0.6666667),
    (lambda: metrics.Precision(), [0, 1, 1, 1], [1, 0, 1, 1], [0, 0, 1, 0], 1.0),
    (lambda: metrics.Precision(top_k=2), [0, 0, 1, 1], [1, 1, 1, 1], None, 0.0),
    (lambda: metrics.Precision(top_k=4), [0, 0, 1, 1], [1, 1, 1, 1], None, 0.5),
    (lambda: metrics.Recall(), [0, 1, 1, 1], [1, 0, 1, 1], None, 0.6666667),
    (lambda: metrics.Recall(), [0, 1, 1, 1], [1, 0, 1, 1], [0, 0, 1, 0], 1.0),
    (lambda: metrics.AUC(num_thresholds=3), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9], None, 0.75),
    (lambda: metrics.AUC(num_thresholds=3), [0, 0, 1, 1], [0, 0.5, 0.3, 0.9], [1, 0, 0, 1], 1.0),
    (lambda: metrics.TruePositives(), [0, 1, 1, 1], [1, 0, 1, 1], None, 2.0),
    (lambda: metrics.TruePositives(), [0, 1, 1, 1], [1, 0, 1, 1], [0, 0, 1, 0], 1.0),
    (lambda: metrics.FalsePositives(), [0, 1, 0, 0], [0, 0, 1, 1], None, 2.0),
    (lambda: metrics.FalsePositives(), [0, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 0], 1.0),
    (lambda: metrics.TrueNegatives(), [0, 1, 0, 0], [1, 1, 0, 0], None, 2.0),
    (lambda: metrics.TrueNegatives(), [0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], 1.0),
    (lambda: metrics.FalseNegatives(), [0, 1, 1, 1], [0, 1, 0, 0], None, 2.0),
    (lambda: metrics.FalseNegatives(), [0, 1, 1, 1], [0, 1, 0, 0], [0, 0, 1, 0], 1.0),
    (lambda: metrics.MeanSquaredError(), [[0, 1], [0, 0]], [[1, 1], [0, 0]], None, 0.25),
    (lambda: metrics.MeanAbsoluteError(), [[0, 1], [0, 0]], [[1, 1], [0, 0]], None, 0.25),
    (lambda: metrics.MeanAbsoluteError(), [[0, 1], [0, 0]], [[1, 1], [0, 0]], [1, 0], 0.5),
    (lambda: metrics.MeanAbsolutePercentageError(), [[0, 1], [0, 0]], [[1, 1], [0, 0]], None, 250000000.0),
    (lambda: metrics.MeanAbsolutePercentageError(), [[0, 1], [0, 0]], [[1, 1], [0, 0]], [1, 0], 500000000.0),
    (lambda: metrics.RootMeanSquaredError(), [[0, 1], [0, 0]], [[1, 1], [0, 0]], None, 0.5),
    (lambda: metrics.RootMeanSquaredError(), [[0, 1], [0, 0]], [[1, 1], [0, 0]], [1, 0], 0.70710677),
    (lambda: metrics.R2Score(), [[1], [4], [3]], [[2], [4], [4]], None, 0.57142854),
    (lambda: metrics.BinaryCrossentropy(), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], None, 0.81492424),
    (lambda: metrics.BinaryCrossentropy(), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], [1, 0], 0.9162905),
    (lambda: metrics.CategoricalCrossentropy(), [[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]], None,
     1.1769392),
    (lambda: metrics.CategoricalCrossentropy(), [[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
     [0.3, 0.7], 1.6271976),
    (lambda: metrics.SparseCategoricalCrossentropy(), [1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]], None, 1.1769392),
    (lambda: metrics.SparseCategoricalCrossentropy(), [1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]], [0.3, 0.7],
     1.6271976),
    (lambda: metrics.TopKCategoricalAccuracy(k=1), [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], None,
     0.5),
    (lambda: metrics.TopKCategoricalAccuracy(k=1), [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
     [0.7, 0.3], 0.3),
    (lambda: metrics.SparseTopKCategoricalAccuracy(k=1), [2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], None, 0.5),
    (lambda: metrics.SparseTopKCategoricalAccuracy(k=1), [2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], [0.7, 0.3], 0.3),
    (lambda: metrics.Mean(), [1, 3, 5, 7], None, None, 4.0),
    (lambda: metrics.Mean(), [1, 3, 5, 7], None, [1, 1, 0, 0], 2.0),
    (lambda: metrics.Sum(), [1, 3, 5, 7], None, None, 16.0),
    (lambda: metrics.Sum(), [1, 3, 5, 7], None, [1, 1, 0, 0], 4.0),
]

F_SCORE_TRUE = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]], np.int32)
F_SCORE_PRED = np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]], np.float32)


@pytest.mark.parametrize("case", range(len(KERAS_EXAMPLES)))
def test_keras_docstring_examples(case):
    make, y_true, y_pred, weights, expected = KERAS_EXAMPLES[case]
    metric = make()
    if isinstance(metric, (metrics.Mean, metrics.Sum)):
        metric.update_state(y_true, sample_weight=weights)
    else:
        metric.update_state(y_true, y_pred, sample_weight=weights)
    result = metric.result()
    assert float(result) == pytest.approx(expected, rel=1e-6)  # Keras computes and prints float32
    assert isinstance(result, float) and result.numpy() == float(result)


def test_keras_f_score_examples():
    f1 = metrics.F1Score(threshold=0.5)
    f1.update_state(F_SCORE_TRUE, F_SCORE_PRED)
    np.testing.assert_allclose(f1.result(), [0.5, 0.8, 0.6666667], rtol=1e-6)
    fbeta = metrics.FBetaScore(beta=2.0, threshold=0.5)
    fbeta.update_state(F_SCORE_TRUE, F_SCORE_PRED)
    np.testing.assert_allclose(fbeta.result(), [0.3846154, 0.90909094, 0.8333334], rtol=1e-6)
    np.testing.assert_array_equal(fbeta.result().numpy(), np.asarray(fbeta.result()))


# ---- hand computations --------------------------------------------------------------------------------------------

def test_auc_curves_and_summation_methods_by_hand():
    """y = [0, 0, 1, 1], p = [0, 0.5, 0.3, 0.9], thresholds [-eps, 0.5, 1 + eps]: tp = [2, 1, 0], fp = [2, 0, 0],
    fn = [0, 1, 2], tn = [0, 2, 2]; ROC points (fpr, tpr) = (1, 1), (0, 0.5), (0, 0)."""
    def auc(**kwargs):
        m = metrics.AUC(num_thresholds=3, **kwargs)
        m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
        return float(m.result())

    assert auc(summation_method="minoring") == pytest.approx(0.5)  # min(1, 0.5) * 1
    assert auc(summation_method="majoring") == pytest.approx(1.0)  # max(1, 0.5) * 1
    # PR, interpolation (Davis & Goadrich): slopes dtp/dp = [1/3, 1], intercepts [2/3, 0], P = tp + fp = [4, 1, 0]
    assert auc(curve="PR") == pytest.approx((1 + 2 / 3 * math.log(4)) / 6 + 0.5, rel=1e-12)
    # PR, majoring: recall x = [1, 0.5, 0], precision y = [0.5, 1, 0]
    assert auc(curve="PR", summation_method="majoring") == pytest.approx(0.5 * 1 + 0.5 * 1)
    m = metrics.AUC(num_thresholds=3)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    tp, fp, tn, fn = m.variables
    np.testing.assert_array_equal(tp, [2, 1, 0])
    np.testing.assert_array_equal(fp, [2, 0, 0])
    np.testing.assert_array_equal(tn, [0, 2, 2])
    np.testing.assert_array_equal(fn, [0, 1, 2])


def _exact_roc_auc(y, p):
    """The probability that a positive scores above a negative (ties count half)."""
    pos, neg = p[y == 1], p[y == 0]
    return (np.sum(pos[:, None] > neg[None, :]) + 0.5 * np.sum(pos[:, None] == neg[None, :])) / (len(pos) * len(neg))


def test_auc_approaches_the_exact_roc_auc(rng):
    y = rng.integers(0, 2, 400)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 400), 0, 1)
    m = metrics.AUC(num_thresholds=2000)
    m.update_state(y, p)
    assert float(m.result()) == pytest.approx(_exact_roc_auc(y, p), abs=2e-3)


def _reference_counts(y, p, thresholds):
    """Plain NumPy: (tp, fp, tn, fn) of y_pred > t for each threshold, every (sample, output) one case."""
    y, p = np.asarray(y).reshape(-1) != 0, np.asarray(p, dtype=np.float64).reshape(-1)
    above = p[None, :] > np.asarray(thresholds)[:, None]
    return ((above & y).sum(1), (above & ~y).sum(1), (~above & ~y).sum(1), (~above & y).sum(1))


def test_counts_match_plain_numpy_at_arbitrary_thresholds(rng):
    y, p = rng.integers(0, 2, (50, 3)), rng.uniform(0, 1, (50, 3))
    thresholds = [0.05, 0.3, 0.31, 0.9]  # uneven: the comparison itself
    tp, fp, tn, fn = _reference_counts(y, p, thresholds)
    for cls, want in [(metrics.TruePositives, tp), (metrics.FalsePositives, fp), (metrics.TrueNegatives, tn),
                      (metrics.FalseNegatives, fn)]:
        m = cls(thresholds=thresholds)
        m.update_state(y, p)
        np.testing.assert_array_equal(m.result(), want)
    precision, recall = metrics.Precision(thresholds=thresholds), metrics.Recall(thresholds=thresholds)
    precision.update_state(y, p)
    recall.update_state(y, p)
    np.testing.assert_allclose(precision.result(), tp / (tp + fp), rtol=1e-15)
    np.testing.assert_allclose(recall.result(), tp / (tp + fn), rtol=1e-15)


def test_evenly_spread_thresholds_take_keras_bucket_rule():
    """Keras's bucket path for thresholds [0, 0.5, 1]: predictions clipped to [0, 1], p counts at k when
    p * 2 > k; so 1.5 does not count at threshold 1, and -0.5 not at threshold 0."""
    m = metrics.TruePositives(thresholds=[0.0, 0.5, 1.0])
    m.update_state([1, 1, 1, 1], [-0.5, 0.5, 0.75, 1.5])
    np.testing.assert_array_equal(m.result(), [3, 2, 0])


def test_precision_recall_top_k_and_class_id_by_hand():
    y = np.array([[0, 1, 1, 0], [1, 0, 0, 0]])
    p = np.array([[0.9, 0.8, 0.1, 0.2], [0.3, 0.6, 0.4, 0.7]])
    precision = metrics.Precision(top_k=2)  # kept: (0, 1) and (3, 1): one of four is right
    precision.update_state(y, p)
    assert float(precision.result()) == pytest.approx(0.25)
    recall = metrics.Recall(top_k=2)  # three positive labels, one found
    recall.update_state(y, p)
    assert float(recall.result()) == pytest.approx(1 / 3)
    by_class = metrics.Precision(class_id=1)  # column 1 above 0.5 in both rows, right in the first
    by_class.update_state(y, p)
    assert float(by_class.result()) == pytest.approx(0.5)
    recall_class = metrics.Recall(class_id=0)  # the one positive of column 0 predicted 0.3
    recall_class.update_state(y, p)
    assert float(recall_class.result()) == 0.0


def test_f1_score_averages_by_hand():
    # threshold 0.5 on F_SCORE_PRED: predicted [[0,1,1],[0,1,1],[1,1,0]]; per class tp [1,2,1], fp [0,1,1],
    # fn [2,0,0]; support [3,2,1]
    precision, recall = np.array([1, 2 / 3, 1 / 2]), np.array([1 / 3, 1, 1])
    per_class = 2 * precision * recall / (precision + recall)
    expected = {"macro": per_class.mean(), "weighted": (per_class * [3, 2, 1]).sum() / 6,
                "micro": 2 * (4 / 6) * (4 / 6) / (4 / 6 + 4 / 6)}
    for average, want in expected.items():
        m = metrics.F1Score(average=average, threshold=0.5)
        m.update_state(F_SCORE_TRUE, F_SCORE_PRED)
        assert float(m.result()) == pytest.approx(want, rel=1e-6)
    argmax = metrics.F1Score()  # threshold None: each row's maximum is the positive
    argmax.update_state(F_SCORE_TRUE, F_SCORE_PRED)  # predicted [[0,0,1],[0,1,1],[0,1,0]]
    precision, recall = np.array([0, 1 / 2, 1 / 2]), np.array([0, 1 / 2, 1])
    with np.errstate(invalid="ignore"):
        want = np.nan_to_num(2 * precision * recall / (precision + recall))
    np.testing.assert_allclose(argmax.result(), want, rtol=1e-6, atol=1e-7)


def test_r2_score_aggregations_and_adjusted_by_hand(rng):
    y, p = rng.standard_normal((20, 2)), rng.standard_normal((20, 2))
    residual = ((y - p) ** 2).sum(0)
    total = ((y - y.mean(0)) ** 2).sum(0)
    raw = 1 - residual / total
    cases = {None: raw, "uniform_average": raw.mean(),
             "variance_weighted_average": (total * raw).sum() / total.sum()}
    for aggregation, want in cases.items():
        m = metrics.R2Score(class_aggregation=aggregation)
        m.update_state(y, p)
        np.testing.assert_allclose(m.result(), want, rtol=1e-10)
    adjusted = metrics.R2Score(num_regressors=3)
    adjusted.update_state(y, p)
    # Keras's n counts every value of y_true (ops.size), 40 here, not the 20 rows
    assert float(adjusted.result()) == pytest.approx(1 - (1 - raw.mean()) * 39 / 36, rel=1e-10)


def test_crossentropy_metric_options_by_hand(rng):
    y = rng.integers(0, 2, (6, 3)).astype(float)
    logits = rng.standard_normal((6, 3))
    m = metrics.BinaryCrossentropy(from_logits=True, label_smoothing=0.2)
    m.update_state(y, logits)
    t = y * 0.8 + 0.1
    s = sigmoid(logits)
    assert float(m.result()) == pytest.approx(-(t * np.log(s) + (1 - t) * np.log(1 - s)).mean(), rel=1e-10)
    onehot = np.eye(3)[rng.integers(0, 3, 6)]
    c = metrics.CategoricalCrossentropy(from_logits=True, label_smoothing=0.3)
    c.update_state(onehot, logits)
    target = onehot * 0.7 + 0.1
    assert float(c.result()) == pytest.approx(-(target * np.log(softmax(logits))).sum(-1).mean(), rel=1e-10)


def test_auc_from_logits_multi_label_and_label_weights(rng):
    y = rng.integers(0, 2, (30, 3))
    logits = rng.standard_normal((30, 3)) * 2
    probs = metrics.AUC()
    probs.update_state(y, sigmoid(logits))
    from_logits = metrics.AUC(from_logits=True)
    from_logits.update_state(y, logits)
    assert float(from_logits.result()) == pytest.approx(float(probs.result()), rel=1e-12)
    per_label = []
    for j in range(3):
        single = metrics.AUC()
        single.update_state(y[:, j], sigmoid(logits[:, j]))
        per_label.append(float(single.result()))
    multi = metrics.AUC(multi_label=True)
    multi.update_state(y, sigmoid(logits))
    assert float(multi.result()) == pytest.approx(np.mean(per_label), rel=1e-12)
    weighted = metrics.AUC(multi_label=True, label_weights=[1.0, 0.0, 3.0])
    weighted.update_state(y, sigmoid(logits))
    assert float(weighted.result()) == pytest.approx((per_label[0] + 3 * per_label[2]) / 4, rel=1e-12)
    # multi_label=False with label weights: column 1 weighted 0 leaves the AUC of columns 0 and 2 pooled
    pooled = metrics.AUC(label_weights=[1.0, 0.0, 1.0])
    pooled.update_state(y, sigmoid(logits))
    reference = metrics.AUC()
    reference.update_state(y[:, [0, 2]], sigmoid(logits[:, [0, 2]]))
    assert float(pooled.result()) == pytest.approx(float(reference.result()), rel=1e-12)


# ---- streaming, reset, names -------------------------------------------------------------------------------------

def _stream_cases(rng):
    binary_y, binary_p = rng.integers(0, 2, (37, 2)), rng.uniform(0, 1, (37, 2))
    onehot = np.eye(4)[rng.integers(0, 4, 37)]
    probs = softmax(rng.standard_normal((37, 4)))
    ids = onehot.argmax(1)
    regression_y, regression_p = rng.standard_normal((37, 2)) + 3, rng.standard_normal((37, 2)) + 3
    return [
        (metrics.Precision, {}, binary_y, binary_p), (metrics.Recall, {"thresholds": [0.2, 0.7]}, binary_y, binary_p),
        (metrics.AUC, {}, binary_y, binary_p), (metrics.AUC, {"curve": "PR"}, binary_y, binary_p),
        (metrics.AUC, {"multi_label": True}, binary_y, binary_p),
        (metrics.TruePositives, {}, binary_y, binary_p), (metrics.TrueNegatives, {}, binary_y, binary_p),
        (metrics.Precision, {"top_k": 2}, onehot, probs), (metrics.Recall, {"class_id": 2}, onehot, probs),
        (metrics.F1Score, {}, onehot, probs), (metrics.F1Score, {"average": "micro", "threshold": 0.3}, onehot, probs),
        (metrics.TopKCategoricalAccuracy, {"k": 2}, onehot, probs),
        (metrics.SparseTopKCategoricalAccuracy, {"k": 2}, ids, probs),
        (metrics.CategoricalCrossentropy, {}, onehot, probs), (metrics.SparseCategoricalCrossentropy, {}, ids, probs),
        (metrics.BinaryCrossentropy, {}, binary_y, binary_p),
        (metrics.RootMeanSquaredError, {}, regression_y, regression_p),
        (metrics.MeanAbsolutePercentageError, {}, regression_y, regression_p),
        (metrics.R2Score, {}, regression_y, regression_p),
        (metrics.BinaryAccuracy, {}, binary_y, binary_p), (metrics.CategoricalAccuracy, {}, onehot, probs),
        (metrics.MeanIoU, {"num_classes": 4, "sparse_y_pred": False, "dtype": "float32"}, ids, probs),
        (metrics.OneHotIoU, {"num_classes": 4, "target_class_ids": [1, 3], "dtype": "float64"}, onehot, probs),
    ]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_streaming_over_batches_equals_one_batch(rng, weighted):
    weights = rng.uniform(0, 2, 37) if weighted else None
    for cls, kwargs, y, p in _stream_cases(rng):
        whole, streamed = cls(**kwargs), cls(**kwargs)
        whole.update_state(y, p, sample_weight=weights)
        for lo, hi in [(0, 10), (10, 11), (11, 30), (30, 37)]:
            streamed.update_state(y[lo:hi], p[lo:hi], sample_weight=None if weights is None else weights[lo:hi])
        np.testing.assert_allclose(streamed.result(), whole.result(), rtol=1e-12, atol=1e-15,
                                   err_msg=f"{cls.__name__}({kwargs})")


def test_reset_state_and_call(rng):
    m = metrics.AUC()
    y, p = rng.integers(0, 2, 20), rng.uniform(0, 1, 20)
    first = float(m(y, p))  # Keras's __call__: update, then the result
    assert first > 0
    m.reset_state()
    assert float(m.result()) == 0.0
    assert all(not v.any() for v in m.variables)
    assert float(m(y, p)) == first


def test_names_and_configs_as_keras(monkeypatch):
    monkeypatch.setattr(naming, "_object_name_uids", collections.defaultdict(int))
    assert [metrics.Precision().name, metrics.Precision().name, metrics.AUC().name] == ["precision", "precision_1",
                                                                                       "auc"]
    defaults = {metrics.Recall: "recall", metrics.TruePositives: "true_positives", metrics.AUC: "auc_1",
                metrics.RootMeanSquaredError: "root_mean_squared_error", metrics.F1Score: "f1_score",
                metrics.FBetaScore: "fbeta_score", metrics.R2Score: "r2_score", metrics.Mean: "mean",
                metrics.MeanAbsolutePercentageError: "mean_absolute_percentage_error",
                metrics.TopKCategoricalAccuracy: "top_k_categorical_accuracy",
                metrics.SparseTopKCategoricalAccuracy: "sparse_top_k_categorical_accuracy",
                metrics.BinaryCrossentropy: "binary_crossentropy"}
    for cls, name in defaults.items():
        assert cls().name == name
    # A name or class given to compile keeps its name (Keras: the string itself, a class's default name).
    identifiers = [
        ("precision", metrics.Precision, "precision"), ("AUC", metrics.AUC, "AUC"),
        ("binary_crossentropy", metrics.BinaryCrossentropy, "binary_crossentropy"),
        ("f1_score", metrics.F1Score, "f1_score"), ("mape", metrics.MeanAbsolutePercentageError, "mape"),
        (metrics.AUC, metrics.AUC, "auc"),
        (losses.binary_crossentropy, metrics.BinaryCrossentropy, "binary_crossentropy"),
        ({"class_name": "Recall", "config": {"thresholds": 0.3}}, metrics.Recall, "recall"),
    ]
    for identifier, cls, name in identifiers:
        metric = metrics.get(identifier)
        assert type(metric) is cls and metric.name == name
    auc = metrics.AUC(num_thresholds=50, curve="PR", from_logits=True, name="pr")
    again = metrics.AUC.from_config(auc.get_config())
    assert again.get_config() == auc.get_config()
    assert metrics.Precision(thresholds=[0.3, 0.6], top_k=2, name="p").get_config() == {
        "name": "p", "dtype": "float32", "thresholds": [0.3, 0.6], "top_k": 2, "class_id": None}
    assert "beta" not in metrics.F1Score().get_config()


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="thresholds: expected"):
        metrics.Precision(thresholds=1.5)
    with pytest.raises(ValueError, match="num_thresholds: expected an integer > 1"):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="curve: expected"):
        metrics.AUC(curve="ROCK")
    with pytest.raises(ValueError, match="average: expected"):
        metrics.F1Score(average="mean")
    with pytest.raises(ValueError, match="threshold: expected"):
        metrics.F1Score(threshold=0.0)
    with pytest.raises(ValueError, match="top_k: expected"):
        metrics.Recall(top_k=0)
    with pytest.raises(ValueError, match="Did you mean 'precision'"):
        metrics.get("precison")
    with pytest.raises(ValueError, match="class_id: expected a class"):
        metrics.Precision(class_id=3).update_state([[0, 1]], [[0.2, 0.8]])
    with pytest.raises(ValueError, match="sample_weight: expected one weight per sample"):
        metrics.Precision().update_state([0, 1], [0.2, 0.8], sample_weight=[1, 2, 3])
    with pytest.raises(ValueError, match="y_true: expected the shape of y_pred"):
        metrics.Recall().update_state([0, 1, 1], [0.2, 0.8])


# ---- inside fit / evaluate ---------------------------------------------------------------------------------------

def _binary_model(seed=3, units=1):
    gpunn.utils.set_random_seed(seed)
    return gpunn.Sequential([gpunn.Input(shape=(5,), dtype="float64"), layers.Dense(8, activation="tanh"),
                             layers.Dense(units, activation="sigmoid")])


def _classifier(seed=3, classes=4, activation="softmax"):
    gpunn.utils.set_random_seed(seed)
    return gpunn.Sequential([gpunn.Input(shape=(5,), dtype="float64"), layers.Dense(8, activation="tanh"),
                             layers.Dense(classes, activation=activation)])


def _evaluate_against_standalone(model, x, y, fresh, batch_size=7, y_for_metrics=None):
    """evaluate's values against fresh metric objects updated with predict's output in one batch."""
    results = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    predictions = model.predict(x, verbose=0)
    for metric in fresh:
        metric.update_state(y if y_for_metrics is None else y_for_metrics, predictions)
        np.testing.assert_allclose(results[metric.name], metric.result(), rtol=1e-9, atol=1e-12,
                                   err_msg=metric.name)
    return results


def test_evaluate_equals_standalone_binary(rng):
    x = rng.standard_normal((61, 5))
    y = rng.integers(0, 2, 61).astype(float)
    model = _binary_model()
    fresh = [metrics.Precision(name="p"), metrics.Recall(name="r", thresholds=[0.3, 0.5, 0.7]),
             metrics.AUC(name="auc"), metrics.AUC(name="pr", curve="PR"), metrics.TruePositives(name="tp"),
             metrics.FalsePositives(name="fp"), metrics.TrueNegatives(name="tn"), metrics.FalseNegatives(name="fn"),
             metrics.BinaryCrossentropy(name="bce"), metrics.F1Score(name="f1", threshold=0.5),
             metrics.BinaryAccuracy(name="acc")]
    compiled = [type(m).from_config(m.get_config()) for m in fresh]
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=compiled)
    results = _evaluate_against_standalone(model, x, y, fresh, y_for_metrics=y.reshape(-1, 1))
    assert list(results) == sorted(["loss", "p", "r", "auc", "pr", "tp", "fp", "tn", "fn", "bce", "f1", "acc"])
    assert results["bce"] == pytest.approx(results["loss"], rel=1e-12)  # no regularizer: the loss itself
    assert results["tp"] + results["fp"] + results["tn"] + results["fn"] == 61


def test_evaluate_equals_standalone_multiclass_and_regression(rng):
    x = rng.standard_normal((50, 5))
    labels = rng.integers(0, 4, 50)
    onehot = np.eye(4)[labels]
    model = _classifier()
    fresh = [metrics.Precision(name="p2", top_k=2), metrics.Recall(name="r1", class_id=1),
             metrics.AUC(name="ml", multi_label=True), metrics.F1Score(name="f1m", average="macro"),
             metrics.F1Score(name="f1"), metrics.TopKCategoricalAccuracy(name="top2", k=2),
             metrics.CategoricalCrossentropy(name="cce", label_smoothing=0.1), metrics.AUC(name="flat")]
    model.compile(optimizer="sgd", loss="categorical_crossentropy",
                  metrics=[type(m).from_config(m.get_config()) for m in fresh])
    results = _evaluate_against_standalone(model, x, onehot, fresh)
    assert results["f1"].shape == (4,)
    sparse = _classifier()
    fresh = [metrics.SparseTopKCategoricalAccuracy(name="top2", k=2),
             metrics.SparseCategoricalCrossentropy(name="scce")]
    sparse.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                   metrics=[type(m).from_config(m.get_config()) for m in fresh])
    _evaluate_against_standalone(sparse, x, labels, fresh)
    regression = _classifier(classes=2, activation="linear")
    target = rng.standard_normal((50, 2)) + 2
    fresh = [metrics.RootMeanSquaredError(name="rmse"), metrics.MeanAbsolutePercentageError(name="mape"),
             metrics.R2Score(name="r2"), metrics.R2Score(name="r2s", class_aggregation=None)]
    regression.compile(optimizer="sgd", loss="mse", metrics=[type(m).from_config(m.get_config()) for m in fresh])
    _evaluate_against_standalone(regression, x, target, fresh)


def test_fit_history_keys_as_keras_and_validation_equals_evaluate(rng):
    x = rng.standard_normal((60, 5))
    y = rng.integers(0, 2, 60).astype(float)
    model = _binary_model()
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["precision", metrics.Recall, "auc", "f1_score", "root_mean_squared_error",
                           "binary_crossentropy", metrics.AUC(name="pr_auc", curve="PR")])
    history = model.fit(x[:45], y[:45], validation_data=(x[45:], y[45:]), batch_size=8, epochs=2, verbose=0)
    names = ["loss", "precision", "recall", "auc", "f1_score", "root_mean_squared_error", "binary_crossentropy",
             "pr_auc"]
    assert list(history.history) == sorted(names) + ["val_" + n for n in sorted(names)]  # Keras sorts its logs
    assert model.metrics_names == names
    final = model.evaluate(x[45:], y[45:], batch_size=8, verbose=0, return_dict=True)
    for name in names:
        np.testing.assert_allclose(history.history["val_" + name][-1], final[name], rtol=1e-12)


def test_model_metrics_objects_read_the_last_evaluation_and_reset(rng):
    x = rng.standard_normal((40, 5))
    y = rng.integers(0, 2, 40).astype(float)
    model = _binary_model()
    assert model.metrics == []
    model.compile(optimizer="sgd", loss="binary_crossentropy",
                  metrics=["accuracy", metrics.AUC(name="auc"), metrics.TruePositives(name="tp")])
    results = model.evaluate(x, y, batch_size=9, verbose=0, return_dict=True)
    assert [m.name for m in model.metrics] == ["loss", "accuracy", "auc", "tp"] == model.metrics_names
    assert isinstance(model.metrics[0], metrics.Mean)
    for metric in model.metrics:
        assert float(metric.result()) == pytest.approx(results[metric.name], rel=1e-12)
    model.reset_metrics()
    assert [float(m.result()) for m in model.metrics] == [0.0, 0.0, 0.0, 0.0]
    # A compiled metric carries on standalone from the model's state, as Keras's objects do.
    model.evaluate(x, y, batch_size=9, verbose=0)
    tp = model.metrics[3]
    tp.update_state(y, model.predict(x, verbose=0))
    assert float(tp.result()) == 2 * results["tp"]
    # ... and the next evaluation takes it back.
    assert model.evaluate(x, y, batch_size=9, verbose=0, return_dict=True)["tp"] == float(tp.result()) == results["tp"]


def test_metrics_stay_unweighted_in_fit_and_evaluate(rng):
    x = rng.standard_normal((30, 5))
    y = rng.integers(0, 2, 30).astype(float)
    model = _binary_model()
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=[metrics.AUC(name="auc"), "precision"])
    plain = model.evaluate(x, y, verbose=0, return_dict=True)
    weighted = model.evaluate(x, y, sample_weight=np.linspace(0, 3, 30), verbose=0, return_dict=True)
    assert weighted["loss"] != plain["loss"]
    assert weighted["auc"] == plain["auc"] and weighted["precision"] == plain["precision"]


def test_metrics_that_cannot_take_the_labels_fail_clearly(rng):
    x = rng.standard_normal((10, 5))
    model = _classifier()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=[metrics.Precision()])
    with pytest.raises(ValueError, match=r"metrics: Precision .* labels are class ids"):
        model.fit(x, rng.integers(0, 4, 10), verbose=0)
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["sparse_top_k_categorical_accuracy"])
    with pytest.raises(ValueError, match="expects integer class ids"):
        model.evaluate(x, np.eye(4)[rng.integers(0, 4, 10)], verbose=0)
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=[metrics.Mean()])
    with pytest.raises(ValueError, match=r"Mean .* compiled into a model it needs update_state\(y_true, y_pred\)"):
        model.evaluate(x, np.eye(4)[rng.integers(0, 4, 10)], verbose=0)
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=[metrics.Sum()])
    with pytest.raises(ValueError, match=r"Sum .* compiled into a model it needs update_state\(y_true, y_pred\)"):
        model.evaluate(x, np.eye(4)[rng.integers(0, 4, 10)], verbose=0)


def test_state_is_summed_across_ranks_when_read(rng, numpy_backend):
    """Every state variable is a sum: a (simulated) second rank with the same batch doubles the counts and
    leaves the ratios."""
    class TwoIdenticalRanks:
        size = 2

        @staticmethod
        def allreduce_host(values):
            return np.asarray(values) * 2

    tp, auc, precision = metrics.TruePositives(name="tp"), metrics.AUC(name="auc"), metrics.Precision(name="p")
    running = RunningMetrics(numpy_backend, [tp, auc, precision], TwoIdenticalRanks())
    y, p = rng.integers(0, 2, (9, 1)).astype(float), rng.uniform(0, 1, (9, 1))
    running.accumulate(rng.uniform(0, 1, 9), None, p, y)
    local, summed = running.result(across_ranks=False), running.result()
    assert summed["tp"] == 2 * local["tp"] and summed["auc"] == local["auc"] and summed["p"] == local["p"]
    assert summed["loss"] == local["loss"]


def test_saved_model_keeps_its_metric_objects(rng, tmp_path):
    model = _binary_model()
    model.compile(optimizer="sgd", loss="binary_crossentropy",
                  metrics=[metrics.AUC(curve="PR", num_thresholds=50, name="pr"), "precision",
                           metrics.F1Score(average="macro", threshold=0.4)])
    x, y = rng.standard_normal((20, 5)), rng.integers(0, 2, 20).astype(float)
    before = model.evaluate(x, y, verbose=0, return_dict=True)
    model.save(tmp_path / "model.gpunn")
    loaded = gpunn.load_model(tmp_path / "model.gpunn")
    after = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert after == pytest.approx(before, rel=1e-12)


# ---- inside a step: allocation-free, replay == eager ------------------------------------------------------------

def _device_metrics():
    return [metrics.Precision(name="precision"), metrics.Recall(name="recall"), metrics.AUC(name="auc"),
            metrics.AUC(name="pr_auc", curve="PR", from_logits=False), metrics.F1Score(name="f1", average="macro"),
            metrics.TruePositives(name="tp", thresholds=[0.2, 0.8]), metrics.BinaryCrossentropy(name="bce"),
            metrics.RootMeanSquaredError(name="rmse"), metrics.R2Score(name="r2")]


def _multiclass_metrics():
    return [metrics.Precision(name="precision", top_k=2), metrics.Recall(name="recall", class_id=1),
            metrics.AUC(name="auc", multi_label=True), metrics.F1Score(name="f1"),
            metrics.TopKCategoricalAccuracy(name="top2", k=2), metrics.CategoricalCrossentropy(name="cce"),
            "accuracy"]


def _train(jit, metric_list, multiclass=False, weighted=False):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((53, 5)).astype("float32")
    if multiclass:
        y = np.eye(3, dtype="float32")[rng.integers(0, 3, 53)]
        gpunn.utils.set_random_seed(5)
        model = gpunn.Sequential([gpunn.Input(shape=(5,)), layers.Dense(8, activation="relu"),
                                  layers.Dense(3, activation="softmax")])
        loss = "categorical_crossentropy"
    else:
        y = rng.integers(0, 2, (53, 3)).astype("float32")
        gpunn.utils.set_random_seed(5)
        model = gpunn.Sequential([gpunn.Input(shape=(5,)), layers.Dense(8, activation="relu"),
                                  layers.Dense(3, activation="sigmoid")])
        loss = "binary_crossentropy"
    model.compile(optimizer="adam", loss=loss, metrics=metric_list, jit_compile=jit)
    history = model.fit(x, y, batch_size=10, epochs=2, verbose=0, validation_split=0.2,
                        sample_weight=np.linspace(0.5, 2, 53) if weighted else None)
    return model, {k: [np.asarray(v).tolist() for v in vals] for k, vals in history.history.items()}


@pytest.mark.parametrize("multiclass", [False, True], ids=["binary", "multiclass"])
def test_replay_equals_eager_with_confusion_metrics(numpy_backend, multiclass):
    make = _multiclass_metrics if multiclass else _device_metrics
    eager = _train(False, make(), multiclass, weighted=True)
    replayed = _train(True, make(), multiclass, weighted=True)
    assert_same_training(eager, replayed)
    assert "val_auc" in eager[1]


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replay"])
@pytest.mark.parametrize("multiclass", [False, True], ids=["binary", "multiclass"])
def test_steps_with_metrics_allocate_nothing_after_the_first(numpy_backend, multiclass, jit):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 5)).astype("float32")
    if multiclass:
        y = np.eye(3, dtype="float32")[rng.integers(0, 3, 40)]
        model = gpunn.Sequential([gpunn.Input(shape=(5,)), layers.Dense(8, activation="relu"),
                                  layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=_multiclass_metrics(),
                      jit_compile=jit)
    else:
        y = rng.integers(0, 2, (40, 3)).astype("float32")
        model = gpunn.Sequential([gpunn.Input(shape=(5,)), layers.Dense(8, activation="relu"),
                                  layers.Dense(3, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=_device_metrics(), jit_compile=jit)
    x, y = model._prepare(x, y)
    step = model.make_train_function().prepare(model._sparse_labels(y))
    test = model.make_test_function().prepare(model._sparse_labels(y))
    iterator = gpunn.trainer.EpochIterator(model.ops, step.comm, [x, y], 8, shuffle=True,
                                           rng=np.random.default_rng(0))
    batches = list(iterator.batches())

    def one(batch):
        for runner in (step, test):
            slot = runner.slot(batch.rows, batch.global_rows, y.shape[1:], y.dtype, None)
            iterator.fill(batch, slot)
            runner(slot)

    one(batches[0])  # the first step of this size makes its buffers (and records, with jit)
    with count_step_allocations() as events:
        for batch in batches[1:]:
            one(batch)
    assert events == [], describe(events)


def _metric_inputs(metric, rng, dtype=np.float32):
    if isinstance(metric, (metrics.SparseTopKCategoricalAccuracy, metrics.SparseCategoricalCrossentropy)):
        return rng.integers(0, 4, 9), softmax(rng.standard_normal((9, 4))).astype(dtype)
    if isinstance(metric, (metrics.R2Score, metrics.RootMeanSquaredError, metrics.MeanAbsolutePercentageError)):
        return rng.standard_normal((9, 4)).astype(dtype) + 2, rng.standard_normal((9, 4)).astype(dtype) + 2
    return np.eye(4, dtype=dtype)[rng.integers(0, 4, 9)], softmax(rng.standard_normal((9, 4))).astype(dtype)


ACCUMULATE_CASES = [
    lambda: metrics.Precision(), lambda: metrics.Recall(top_k=2), lambda: metrics.Recall(class_id=3),
    lambda: metrics.AUC(), lambda: metrics.AUC(thresholds=[0.1, 0.35, 0.4]), lambda: metrics.AUC(multi_label=True),
    lambda: metrics.AUC(from_logits=True, label_weights=[1, 2, 0, 1]), lambda: metrics.FalseNegatives(),
    lambda: metrics.F1Score(), lambda: metrics.F1Score(average="micro", threshold=0.3),
    lambda: metrics.TopKCategoricalAccuracy(k=2), lambda: metrics.SparseTopKCategoricalAccuracy(k=2),
    lambda: metrics.BinaryCrossentropy(label_smoothing=0.1), lambda: metrics.CategoricalCrossentropy(from_logits=True),
    lambda: metrics.SparseCategoricalCrossentropy(), lambda: metrics.RootMeanSquaredError(),
    lambda: metrics.MeanAbsolutePercentageError(), lambda: metrics.R2Score(),
]


def _state(metric, width):
    shapes = metric.state_shapes(width)
    return {name: np.zeros(shape) for name, shape in shapes.items()}


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", range(len(ACCUMULATE_CASES)))
def test_accumulate_is_static_and_replays(numpy_backend, rng, case, weighted):
    ops = numpy_backend
    metric = ACCUMULATE_CASES[case]()
    y, p = _metric_inputs(metric, rng)
    weights = rng.uniform(0, 2, 9).astype(np.float32) if weighted else None
    ws, state = Workspace(ops), _state(metric, 4)
    metric.accumulate(ops, ws, y, p, state, weights)  # makes the buffers
    with count_step_allocations() as events:
        metric.accumulate(ops, ws, y, p, state, weights)
    events = [e for e in events if "/kernels/" not in e[1]]  # the fused kernels' NumPy twins (CUDA: none)
    assert events == [], describe(events)
    with Recording(ops) as tape:
        metric.accumulate(ops, ws, y, p, state, weights)
    new_y, new_p = _metric_inputs(metric, rng)
    y[...], p[...] = new_y, new_p
    before = {k: v.copy() for k, v in state.items()}
    tape.replay()
    eager = {k: v.copy() for k, v in before.items()}
    metric.accumulate(ops, Workspace(ops), y.copy(), p.copy(), eager, weights)
    for name in state:
        np.testing.assert_array_equal(state[name], eager[name], err_msg=name)


def test_a_subclass_of_sum_counts_over_an_evaluation_and_a_replayed_fit(rng, numpy_backend):
    """Keras's way of counting in a model: a Sum subclass whose update_state(y_true, y_pred) adds the batch's
    count; the model's value is the total over all batches, eager and replayed alike."""
    class Confident(metrics.Sum):
        def update_state(self, y_true, y_pred, sample_weight=None):
            super().update_state(gpunn.ops.cast(gpunn.ops.max(y_pred, axis=-1) > 0.3, "float32"))

    x, y = rng.standard_normal((23, 5)), rng.integers(0, 4, 23)
    runs = []
    for jit in (False, True):
        model = _classifier(classes=4)
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=[Confident(name="sure")],
                      jit_compile=jit)
        expected = float((model.predict(x, verbose=0).max(axis=-1) > 0.3).sum())
        assert model.evaluate(x, y, batch_size=5, verbose=0, return_dict=True)["sure"] == expected
        runs.append(model.fit(x, y, batch_size=5, epochs=3, verbose=0).history["sure"])
    assert runs[0] == runs[1] and all(0 <= v <= 23 for v in runs[0])


@pytest.mark.parametrize("jit_compile", [False, True])
def test_top_k_of_integer_labels_behind_a_loss_function_of_the_script_s(numpy_backend, jit_compile):
    """A loss function of the script's hands the metrics the labels in the model's float dtype: the top-k metric
    casts them to class ids (a copy refused the float-to-int conversion)."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(36, 4)).astype("float32"), rng.integers(0, 3, 36).astype("int32")
    base = gpunn.losses.get("sparse_categorical_crossentropy")
    model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(3, activation="softmax")])
    model.compile("adam", lambda y_true, y_pred: 1.0 * base(y_true, y_pred), jit_compile=jit_compile,
                  metrics=[gpunn.metrics.SparseTopKCategoricalAccuracy(k=1), "sparse_categorical_accuracy"])
    model.fit(x, y, batch_size=5, epochs=1, verbose=0)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["sparse_top_k_categorical_accuracy"] == logs["sparse_categorical_accuracy"] > 0


METRIC_VARIABLES = r'''
import json
import sys

import numpy as np


def run(keras, folder):
    out = {}
    pair = ([0, 1, 1, 1], [0.2, 0.7, 0.4, 0.9])
    for made, given in ((keras.metrics.Precision(), pair), (keras.metrics.Recall(thresholds=[0.3, 0.6]), pair),
                        (keras.metrics.Mean(), ([1.0, 2.0, 4.0],)), (keras.metrics.AUC(num_thresholds=5), pair),
                        (keras.metrics.MeanSquaredError(name="mse_metric"), pair),
                        (keras.metrics.R2Score(), (np.array([[1.0], [2.0], [4.0], [3.0]]),
                                                   np.array([[1.5], [2.0], [3.0], [3.5]])))):
        made.update_state(*given)
        out[made.name] = [[v.name, v.path, np.asarray(v.numpy(), "float64").tolist()] for v in made.variables]
    return out
'''


def test_variables_have_keras_s_names_paths_and_values(tmp_path_factory):
    from helpers import run_script_both_ways

    ours, theirs = run_script_both_ways(METRIC_VARIABLES, tmp_path_factory)
    assert ours == theirs
    with pytest.raises(NotImplementedError, match=r"precision(_\d+)?/true_positives: metric.variables holds copies"):
        metrics.Precision().variables[0].assign([1.0])
    import pickle

    variable = metrics.Mean(name="seen").variables[0]
    again = pickle.loads(pickle.dumps(variable))
    assert (again.name, again.path, again.tolist()) == ("total", "seen/total", 0.0)
    assert type(variable + 1) is np.float64 and type(metrics.AUC(num_thresholds=3).variables[0] * 2) is np.ndarray
