"""Standalone metrics given a weight per value of y_pred, ``sample_weight`` of y_pred's shape: Keras's metrics that
count every value on its own (the confusion counts and the rates built on them, AUC, Accuracy, BinaryAccuracy)
weigh each value by its own weight. Compared with Keras itself; the rest still take one weight per sample."""
import numpy as np
import pytest

from tests.helpers import numpy_backend, run_script_both_ways  # noqa: F401

SCRIPT = r'''
import json, sys
import numpy as np

CASES = [("Precision", {}), ("Recall", {}), ("TruePositives", {}), ("FalsePositives", {}), ("TrueNegatives", {}),
         ("FalseNegatives", {}), ("AUC", {}), ("AUC", {"curve": "PR", "from_logits": True}),
         ("PrecisionAtRecall", {"recall": 0.5}), ("RecallAtPrecision", {"precision": 0.6}),
         ("SensitivityAtSpecificity", {"specificity": 0.5}), ("SpecificityAtSensitivity", {"sensitivity": 0.5}),
         ("Precision", {"thresholds": [0.3, 0.6]}), ("BinaryAccuracy", {}), ("BinaryAccuracy", {"threshold": 0.7}),
         ("Accuracy", {})]


def run(module, folder):
    rng = np.random.RandomState(0)
    y_true = (rng.rand(7, 3) > 0.5).astype("float32")
    y_pred = rng.rand(7, 3).astype("float32")
    weight = rng.rand(7, 3).astype("float32")
    out = {}
    for name, kwargs in CASES:
        metric = getattr(module.metrics, name)(**kwargs)
        metric.update_state(y_true, np.round(y_pred) if name == "Accuracy" else y_pred, sample_weight=weight)
        metric.update_state(y_true[:2], y_pred[:2], sample_weight=weight[:2, 0])  # a weight per sample after
        out[f"{name}{sorted(kwargs.items())}"] = np.asarray(metric.result(), dtype="float64").tolist()
    return out
'''


def test_a_weight_per_value_weighs_each_value_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours.keys() == theirs.keys()
    for case, value in theirs.items():
        np.testing.assert_allclose(ours[case], value, rtol=1e-5, atol=1e-6, err_msg=case)


@pytest.mark.parametrize("make", [lambda m: m.Precision(class_id=1), lambda m: m.Recall(top_k=2),
                                  lambda m: m.AUC(multi_label=True), lambda m: m.MeanSquaredError()])
def test_metrics_of_one_weight_per_sample_refuse_a_weight_per_value(numpy_backend, make):  # noqa: F811
    import gpunn

    metric = make(gpunn.metrics)
    with pytest.raises(ValueError, match=r"sample_weight: expected one weight per sample, shape \(4,\)"):
        metric.update_state(np.ones((4, 3)), np.full((4, 3), 0.7), sample_weight=np.ones((4, 3)))
