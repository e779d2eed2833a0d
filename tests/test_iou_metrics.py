"""IoU, BinaryIoU, MeanIoU, OneHotIoU and OneHotMeanIoU (keras/src/metrics/iou_metrics.py): standalone and compiled
into a model, against Keras 3 itself (its integer confusion matrix, truncated ids and weights, ignored and
out-of-range classes), and against a confusion matrix counted by hand."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import gpunn
from gpunn import metrics
from helpers import assert_close_to_keras, run_case_both_ways, run_keras

STANDALONE = r'''
import json, sys, warnings
import numpy as np
import keras
out = []
for case in json.loads(sys.stdin.read()):
    metric = getattr(keras.metrics, case["class"])(**case["arguments"])
    values = []
    for batch in case["batches"]:
        metric.update_state(*[None if v is None else np.asarray(v) for v in batch])
        values.append(float(metric.result()))
    out.append(values)
print(json.dumps(out))
'''


def _standalone_cases():
    rng = np.random.default_rng(7)
    cases = []

    def ids(n, low, high):
        return rng.integers(low, high, n).tolist()

    cases.append({"class": "IoU", "arguments": {"num_classes": 3, "target_class_ids": [0, 2]},
                  "batches": [[ids(9, 0, 3), ids(9, 0, 3), None], [ids(5, 0, 3), ids(5, 0, 3), ids(5, 0, 3)]]})
    cases.append({"class": "IoU", "arguments": {"num_classes": 4, "target_class_ids": [1], "ignore_class": 2},
                  "batches": [[ids(12, -1, 5), ids(12, -1, 5), None]]})
    cases.append({"class": "MeanIoU", "arguments": {"num_classes": 3},  # float ids and weights, truncated
                  "batches": [[(rng.random(10) * 3).tolist(), (rng.random(10) * 3.5 - 0.4).tolist(),
                               (rng.random(10) * 3).tolist()]]})
    cases.append({"class": "MeanIoU", "arguments": {"num_classes": 3, "dtype": "float32"},
                  "batches": [[ids(10, 0, 3), ids(10, 0, 3), rng.random(10).tolist()]]})
    cases.append({"class": "MeanIoU", "arguments": {"num_classes": 4, "sparse_y_pred": False, "ignore_class": 0},
                  "batches": [[ids(8, 0, 4), rng.random((8, 4)).tolist(), None],
                              [ids(6, 0, 4), rng.random((6, 4)).tolist(), None]]})
    cases.append({"class": "BinaryIoU", "arguments": {"threshold": 0.3},
                  "batches": [[ids(11, 0, 2), rng.random(11).tolist(), ids(11, 0, 3)]]})
    cases.append({"class": "BinaryIoU", "arguments": {"target_class_ids": [1]},
                  "batches": [[[[0], [1], [1], [0]], [[0.7], [0.2], [0.5], [0.5]], None]]})
    cases.append({"class": "OneHotIoU", "arguments": {"num_classes": 3, "target_class_ids": [0, 1]},
                  "batches": [[np.eye(3)[ids(7, 0, 3)].tolist(), rng.random((7, 3)).tolist(), None]]})
    cases.append({"class": "OneHotMeanIoU", "arguments": {"num_classes": 3, "dtype": "float32"},
                  "batches": [[np.eye(3)[ids(7, 0, 3)].tolist(), rng.random((7, 3)).tolist(), rng.random(7).tolist()]]})
    return cases


def test_standalone_updates_give_keras_values():
    cases = _standalone_cases()
    theirs = run_keras(STANDALONE, cases)
    for case, keras_values in zip(cases, theirs):
        metric = getattr(metrics, case["class"])(**case["arguments"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # float weights under an integer dtype: Keras warns too
            ours = []
            for batch in case["batches"]:
                metric.update_state(*[None if v is None else np.asarray(v) for v in batch])
                ours.append(float(metric.result()))
        np.testing.assert_allclose(ours, keras_values, rtol=1e-6, err_msg=json.dumps(case))


def test_the_value_is_the_mean_iou_of_a_confusion_matrix_counted_by_hand():
    rng = np.random.default_rng(3)
    true, predicted = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    matrix = np.zeros((4, 4))
    np.add.at(matrix, (true, predicted), 1)
    tp = np.diag(matrix)
    iou = tp / (matrix.sum(0) + matrix.sum(1) - tp)
    metric = metrics.MeanIoU(num_classes=4)
    metric.update_state(true, predicted)
    np.testing.assert_array_equal(metric.variables[0], matrix)
    assert float(metric.result()) == pytest.approx(iou.mean(), rel=1e-6)
    single = metrics.IoU(num_classes=4, target_class_ids=[2])
    single.update_state(true, predicted)
    assert float(single.result()) == pytest.approx(iou[2], rel=1e-6)


def test_float_weights_under_the_integer_dtype_warn_as_in_keras():
    metric = metrics.IoU(num_classes=2, target_class_ids=[0])
    with pytest.warns(UserWarning, match="You are passing weight as `float`, but dtype is `int`"):
        metric.update_state([0, 0, 1, 1], [0, 1, 0, 1], sample_weight=[0.3, 0.3, 0.3, 0.1])
    assert float(metric.result()) == 0.0  # every weight truncated to 0, as in Keras
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metric.update_state([0, 0, 1, 1], [0, 1, 0, 1], sample_weight=[2, 1, 1, 1])  # integers: no warning
    assert metric.dtype == "int32"


COMPILED = r'''
import numpy as np


def run(module, case, extra_compile=None):
    rng = np.random.default_rng(case["seed"])
    x = rng.normal(size=(46, 5)).astype("float32")
    labels = (x[:, 0] + x[:, 1] > 0).astype("int64") + (x[:, 2] > 0.7)
    units = 1 if case["binary"] else 3
    inputs = module.Input(shape=(5,))
    hidden = module.layers.Dense(6, activation="tanh")(inputs)
    outputs = module.layers.Dense(units, activation="sigmoid" if case["binary"] else "softmax")(hidden)
    model = module.Model(inputs, outputs)
    model.set_weights([np.sin(np.arange(w.size) * 0.37 + i).reshape(w.shape).astype("float32") * 0.5
                       for i, w in enumerate(model.get_weights())])
    made = [getattr(module.metrics, name)(**arguments) for name, arguments in case["metrics"]]
    weighted = [getattr(module.metrics, name)(**arguments) for name, arguments in case["weighted"]]
    if case["binary"]:
        y, loss = (labels > 0).astype("float32"), "binary_crossentropy"
    elif case["one_hot"]:
        y, loss = np.eye(3, dtype="float32")[labels], "categorical_crossentropy"
    else:
        y, loss = labels, "sparse_categorical_crossentropy"
    model.compile(optimizer=module.optimizers.Adam(0.05), loss=loss, metrics=made, weighted_metrics=weighted,
                  **(extra_compile or {}))
    weights = (np.arange(46) % 3 + 0.5).astype("float32") if case["sample_weight"] else None
    history = model.fit(x, y, sample_weight=weights, epochs=3, batch_size=8, shuffle=False, verbose=0,
                        validation_data=(x[:20], y[:20]))
    evaluated = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    return {"history": {k: [float(v) for v in values] for k, values in history.history.items()},
            "evaluate": {k: float(v) for k, v in evaluated.items()}}
'''

COMPILED_CASES = [  # every metric named: generated names count the metrics a process made before
    {"seed": 0, "binary": False, "one_hot": False, "sample_weight": False,
     "metrics": [["MeanIoU", {"num_classes": 3, "sparse_y_pred": False, "name": "mean_iou"}],
                 ["IoU", {"num_classes": 3, "target_class_ids": [1], "sparse_y_pred": False, "name": "iou_1"}]],
     "weighted": []},
    {"seed": 1, "binary": False, "one_hot": True, "sample_weight": True,
     "metrics": [["OneHotMeanIoU", {"num_classes": 3, "name": "one_hot"}]],
     "weighted": [["OneHotIoU", {"num_classes": 3, "target_class_ids": [0, 2], "dtype": "float32", "name": "real"}],
                  ["OneHotMeanIoU", {"num_classes": 3, "name": "whole_weights"}]]},
    {"seed": 2, "binary": True, "one_hot": False, "sample_weight": False,
     "metrics": [["BinaryIoU", {"threshold": 0.4, "name": "binary"}],
                 ["BinaryIoU", {"target_class_ids": [1], "name": "ones"}]],
     "weighted": []},
]


def test_compiled_into_a_model_the_logs_are_keras_own():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # float sample weights under an integer dtype, as in Keras
        ours, theirs = run_case_both_ways(COMPILED, COMPILED_CASES)
    for case, mine, keras_result in zip(COMPILED_CASES, ours, theirs):
        where = json.dumps(case)
        assert sorted(mine["history"]) == sorted(keras_result["history"]), where
        for key, values in keras_result["history"].items():
            assert_close_to_keras(mine["history"][key], values, f"{key}; {where}", rtol=1e-5, atol=1e-6)
        assert sorted(mine["evaluate"]) == sorted(keras_result["evaluate"]), where
        for key, value in keras_result["evaluate"].items():
            assert_close_to_keras(mine["evaluate"][key], value, f"evaluate {key}; {where}", rtol=1e-5, atol=1e-6)


def test_configs_are_keras_own():
    script = r'''
import json, keras
made = [keras.metrics.IoU(3, [0, 2], ignore_class=1, sparse_y_pred=False, name="a"),
        keras.metrics.BinaryIoU([1], 0.3, name="b"), keras.metrics.MeanIoU(4, name="c", dtype="float32"),
        keras.metrics.OneHotIoU(3, [1], name="d"), keras.metrics.OneHotMeanIoU(2, name="e")]
print(json.dumps([m.get_config() for m in made]))
'''
    ours = [metrics.IoU(3, [0, 2], ignore_class=1, sparse_y_pred=False, name="a"),
            metrics.BinaryIoU([1], 0.3, name="b"), metrics.MeanIoU(4, name="c", dtype="float32"), metrics.OneHotIoU(3, [1], name="d"),
            metrics.OneHotMeanIoU(2, name="e")]
    theirs = run_keras(script, None)
    for metric, keras_config in zip(ours, theirs):
        assert metric.get_config() == keras_config
        again = type(metric).from_config(metric.get_config())
        assert again.get_config() == keras_config
        assert type(metrics.get({"class_name": type(metric).__name__, "config": keras_config})) is type(metric)


def test_bad_arguments_are_refused_by_name():
    with pytest.raises(ValueError, match=r"Target class id 3 is out of range, which is \[0, 3\)."):
        metrics.IoU(num_classes=3, target_class_ids=[0, 3])
    with pytest.raises(ValueError, match="num_classes: expected an integer >= 1, got 0"):
        metrics.MeanIoU(num_classes=0)
    with pytest.raises(ValueError, match="target_class_ids: expected at least one class id"):
        metrics.IoU(num_classes=3, target_class_ids=[])
    with pytest.raises(ValueError, match="ignore_class: expected an integer class id or None, got 0.5"):
        metrics.MeanIoU(num_classes=3, ignore_class=0.5)
    model = gpunn.Sequential([gpunn.Input(shape=(4,)), gpunn.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=[metrics.MeanIoU(num_classes=3)])
    with pytest.raises(ValueError, match="sparse_y_pred=True takes one predicted class id per sample, but the model's "
                                         "output is 3 values wide; pass sparse_y_pred=False"):
        model.fit(np.zeros((8, 4), "float32"), np.zeros(8, "int64"), verbose=0)


@pytest.mark.gpu
def test_the_confusion_matrix_adds_up_the_same_on_the_gpu():
    (x, y), _ = gpunn.datasets.digits.load_data()
    x, y = x.reshape(len(x), -1)[:512], y[:512]
    weights = (np.arange(len(y)) % 4 + 0.5).astype("float32")
    histories = []
    for backend in ("numpy", "cupy"):
        with gpunn.use_backend(backend):
            gpunn.utils.set_random_seed(7)
            model = gpunn.Sequential([gpunn.Input(shape=(64,)), gpunn.layers.Dense(32, activation="relu"),
                                      gpunn.layers.Dense(10, activation="softmax")])
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                          metrics=[metrics.MeanIoU(10, sparse_y_pred=False, name="iou"),
                                   metrics.IoU(10, [3], sparse_y_pred=False, name="three")],
                          weighted_metrics=[metrics.MeanIoU(10, sparse_y_pred=False, dtype="float32", name="real")])
            histories.append(model.fit(x, y, sample_weight=weights, batch_size=64, epochs=2, verbose=0).history)
    assert sorted(histories[0]) == sorted(histories[1])
    for key, values in histories[0].items():
        np.testing.assert_allclose(histories[1][key], values, rtol=1e-3, err_msg=key)
