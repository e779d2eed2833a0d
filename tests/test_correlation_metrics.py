"""Keras's correlation metrics (``PearsonCorrelation``, ``ConcordanceCorrelation`` and their functions) against
Keras 3 itself: the functions along every kind of ``axis``, the classes streaming over batches (the mean of each
batch's coefficients, weighted as Keras's ``Mean`` weighs them), compiled into a model (fit, evaluate, weighted
metrics, model files both ways), names and configs; and their state kept on the device by static steps."""
from __future__ import annotations

import json

import numpy as np
import pytest
from allocations import count_step_allocations, describe
from helpers import numpy_backend, run_keras  # noqa: F401

import gpunn
from gpunn import layers, metrics
from gpunn.ops.recording import Recording
from gpunn.ops.workspace import Workspace

CLASSES = {"PearsonCorrelation": metrics.PearsonCorrelation, "ConcordanceCorrelation": metrics.ConcordanceCorrelation}
FUNCTIONS = ["pearson_correlation", "concordance_correlation"]


def _pair(rng, shape, noise=1.0):
    """Labels and predictions that correlate (predictions = labels + noise), float32."""
    y_true = rng.standard_normal(shape).astype(np.float32)
    return y_true, (y_true * 0.7 + 0.2 + noise * rng.standard_normal(shape)).astype(np.float32)


def _as_axis(value):
    return tuple(value) if isinstance(value, list) else value


# ---- the functions ----------------------------------------------------------------------------------------------

KERAS_FUNCTIONS = r'''
import json, sys
import numpy as np
import keras
out = []
for case in json.loads(sys.stdin.read()):
    fn = getattr(keras.metrics, case["name"])
    axis = tuple(case["axis"]) if isinstance(case["axis"], list) else case["axis"]
    value = fn(np.array(case["y_true"], dtype="float32"), np.array(case["y_pred"], dtype="float32"), axis=axis)
    out.append(np.asarray(value).tolist())
print(json.dumps(out))
'''


def _function_cases(rng):
    constant_rows = _pair(rng, (4, 5))
    constant_rows[0][1, :] = 0.5  # a constant slice of labels: Keras's 0 / 0
    constant_rows[1][3, :] = -1.0
    cases = []
    for name in FUNCTIONS:
        for y_true, y_pred, axis in [
            (*_pair(rng, (6, 4)), -1), (*_pair(rng, (6, 4)), 1), (*_pair(rng, (6, 4)), 0),
            (*_pair(rng, (6, 4)), None), (*_pair(rng, (6, 4)), [0, 1]), (*_pair(rng, (3, 4, 5)), [1, 2]),
            (*_pair(rng, (3, 4, 5)), -2), (*_pair(rng, (3, 4, 5)), [0, 2]), (*_pair(rng, (9,)), -1),
            (_pair(rng, (7,))[0], _pair(rng, (7, 1))[1], 0),  # labels one axis short of a (7, 1) output
            (*constant_rows, -1),
        ]:
            cases.append({"name": name, "y_true": y_true.tolist(), "y_pred": y_pred.tolist(), "axis": axis})
    return cases


def test_functions_equal_keras_along_every_axis(rng):
    cases = _function_cases(rng)
    theirs = run_keras(KERAS_FUNCTIONS, cases)
    for case, expected in zip(cases, theirs):
        fn = getattr(metrics, case["name"])
        ours = fn(np.array(case["y_true"], np.float32), np.array(case["y_pred"], np.float32),
                  axis=_as_axis(case["axis"]))
        assert isinstance(ours, np.ndarray) and ours.dtype == np.float32
        expected = np.array(expected, dtype=np.float32)
        assert ours.shape == expected.shape, case["axis"]
        np.testing.assert_allclose(ours, expected, rtol=2e-5, atol=2e-6, err_msg=f"{case['name']} axis={case['axis']}")
    # the constant slices (the last case of each function): Pearson's NaN where Keras's is, the concordance finite
    pearson, concordance = (np.array(theirs[i]) for i in (len(cases) // 2 - 1, len(cases) - 1))
    assert np.isnan(pearson[[1, 3]]).all() and np.isfinite(pearson[[0, 2]]).all() and np.isfinite(concordance).all()


def test_functions_differentiate_inside_a_function_of_the_user_s(rng):
    """On Tensors (a metric or loss function of the user's) they stay Tensors, with a gradient."""
    from gpunn.autodiff import Tensor, gradients

    y_true, y_pred = _pair(rng, (5, 4))
    y_true, y_pred = y_true.astype(np.float64), y_pred.astype(np.float64)
    for fn in (metrics.pearson_correlation, metrics.concordance_correlation):
        predictions = Tensor(y_pred, requires_grad=True)
        result = fn(y_true, predictions)
        assert isinstance(result, Tensor) and result.shape == (5,)
        np.testing.assert_allclose(np.asarray(result.value), fn(y_true, y_pred), rtol=1e-12)
        (analytic,) = gradients(result, [predictions], np.ones(result.shape))
        eps, numeric = 1e-6, np.zeros_like(y_pred)
        for index in np.ndindex(*y_pred.shape):
            up, down = y_pred.copy(), y_pred.copy()
            up[index] += eps
            down[index] -= eps
            numeric[index] = (fn(y_true, up).sum() - fn(y_true, down).sum()) / (2 * eps)
        np.testing.assert_allclose(np.asarray(analytic), numeric, rtol=1e-5, atol=1e-7, err_msg=fn.__name__)


# ---- the classes on their own -----------------------------------------------------------------------------------

KERAS_STANDALONE = r'''
import json, sys
import numpy as np
import keras
out = []
for case in json.loads(sys.stdin.read()):
    kwargs = dict(case["kwargs"])
    if isinstance(kwargs.get("axis"), list):
        kwargs["axis"] = tuple(kwargs["axis"])
    metric = getattr(keras.metrics, case["class"])(**kwargs)
    results = []
    for y_true, y_pred, weights in case["batches"]:
        metric.update_state(np.array(y_true, "float32"), np.array(y_pred, "float32"),
                            sample_weight=None if weights is None else np.array(weights, "float32"))
        results.append(float(metric.result()))
    metric.reset_state()
    after_reset = float(metric.result())
    y_true, y_pred, weights = case["batches"][0]
    metric.update_state(np.array(y_true, "float32"), np.array(y_pred, "float32"),
                        sample_weight=None if weights is None else np.array(weights, "float32"))
    out.append({"results": results, "after_reset": after_reset, "again": float(metric.result())})
print(json.dumps(out))
'''

# (kwargs, batch shapes, sample weights: None, "samples" (one per sample), "per_step" (samples, steps),
#  "column" (samples, 1), "scalar" (one for the batch))
STANDALONE_CASES = [
    ({}, [(5, 3), (4, 3), (7, 3)], None),
    ({}, [(5, 3), (4, 3), (7, 3)], "samples"),
    ({"axis": 1}, [(5, 3), (4, 3)], "column"),
    ({}, [(5, 3), (4, 3)], "scalar"),
    ({}, [(5, 2, 3), (4, 2, 3)], "samples"),
    ({}, [(5, 2, 3), (4, 2, 3)], "per_step"),
    ({"axis": 0}, [(5, 3), (4, 3), (7, 3)], None),
    ({"axis": 0}, [(3, 3), (3, 3)], "samples"),  # values per column, weighed by weights that happen to fit
    ({"axis": None}, [(5, 3), (4, 3), (7, 3)], None),
    ({"axis": [1, 2]}, [(5, 2, 3), (4, 2, 3)], "column"),
    ({"axis": -2}, [(5, 2, 3), (4, 2, 3)], None),
    ({}, [(6,), (4,)], None),  # rank 1: one coefficient per batch
    ({}, [(6, 1), (4, 1)], None),  # one value per row: Pearson NaN, the concordance 0, as in Keras
]


def _weights(rng, kind, shape):
    if kind is None:
        return None
    if kind == "scalar":
        return 2.0
    weight_shape = {"samples": shape[:1], "per_step": shape[:2], "column": (shape[0], 1)}[kind]
    return rng.uniform(0, 2, weight_shape).astype(np.float32).tolist()


def _standalone_cases(rng):
    cases = []
    for class_name in CLASSES:
        for kwargs, shapes, kind in STANDALONE_CASES:
            batches = [[a.tolist() for a in _pair(rng, shape)] + [_weights(rng, kind, shape)] for shape in shapes]
            cases.append({"class": class_name, "kwargs": kwargs, "batches": batches})
    return cases


def test_streaming_over_batches_equals_keras(rng):
    cases = _standalone_cases(rng)
    theirs = run_keras(KERAS_STANDALONE, cases)
    for case, expected in zip(cases, theirs):
        metric = CLASSES[case["class"]](**{k: _as_axis(v) for k, v in case["kwargs"].items()})
        what = f"{case['class']}({case['kwargs']}) weights {case['batches'][0][2] is not None}"
        results = []
        for y_true, y_pred, weights in case["batches"]:
            metric.update_state(np.array(y_true, np.float32), np.array(y_pred, np.float32),
                                sample_weight=None if weights is None else np.array(weights, np.float32))
            results.append(metric.result())
        np.testing.assert_allclose(results, expected["results"], rtol=2e-5, atol=2e-6, err_msg=what)
        metric.reset_state()
        assert metric.result() == expected["after_reset"] == 0.0
        y_true, y_pred, weights = case["batches"][0]
        again = metric(np.array(y_true, np.float32), np.array(y_pred, np.float32),
                       sample_weight=None if weights is None else np.array(weights, np.float32))
        np.testing.assert_allclose(again, expected["again"], rtol=2e-5, atol=2e-6, err_msg=what)
    # one value per row (the last case of each class): Keras's Pearson is NaN, its concordance 0, as are these
    pearson, concordance = theirs[len(STANDALONE_CASES) - 1], theirs[-1]
    assert np.isnan(pearson["again"]) and concordance["again"] == 0.0


def test_the_result_is_the_mean_of_each_batch_s_coefficients(rng):
    """Not the coefficient of all the data: per-sample values averaged over samples, and one value per batch
    (axis=None) averaged over batches."""
    (a_true, a_pred), (b_true, b_pred) = _pair(rng, (6, 4)), _pair(rng, (3, 4))
    per_sample = metrics.PearsonCorrelation()
    per_sample.update_state(a_true, a_pred)
    per_sample.update_state(b_true, b_pred)
    values = np.concatenate([metrics.pearson_correlation(a_true, a_pred), metrics.pearson_correlation(b_true, b_pred)])
    assert float(per_sample.result()) == pytest.approx(values.mean(), rel=1e-6)
    per_batch = metrics.ConcordanceCorrelation(axis=None)
    per_batch.update_state(a_true, a_pred)
    per_batch.update_state(b_true, b_pred)
    batch_values = [metrics.concordance_correlation(a_true, a_pred, axis=None),
                    metrics.concordance_correlation(b_true, b_pred, axis=None)]
    assert float(per_batch.result()) == pytest.approx(np.mean(batch_values), rel=1e-6)
    whole = metrics.concordance_correlation(np.concatenate([a_true, b_true]), np.concatenate([a_pred, b_pred]),
                                            axis=None)
    assert abs(float(per_batch.result()) - float(whole)) > 1e-4
    assert per_batch.variables[1] == 2.0  # count: one per batch


# ---- names, configs, identifiers ---------------------------------------------------------------------------------

KERAS_NAMES = r'''
import json
import keras
from keras.src.metrics import ALL_OBJECTS_DICT
configs = [keras.metrics.PearsonCorrelation().get_config(), keras.metrics.ConcordanceCorrelation().get_config(),
           keras.metrics.PearsonCorrelation(name="p", axis=(0, 1)).get_config(),
           keras.metrics.ConcordanceCorrelation(axis=0, dtype="float64").get_config()]
print(json.dumps({"aliases": {k: v.__name__ for k, v in ALL_OBJECTS_DICT.items() if "orrelation" in k},
                  "configs": configs, "names": [keras.metrics.PearsonCorrelation().name,
                                                keras.metrics.PearsonCorrelation().name],
                  "directions": [keras.metrics.PearsonCorrelation()._direction,
                                 keras.metrics.ConcordanceCorrelation()._direction]}))
'''


def test_names_configs_and_identifiers_as_keras():
    theirs = run_keras(KERAS_NAMES, None)
    assert len(theirs["aliases"]) == 4
    for alias, class_name in theirs["aliases"].items():
        metric = metrics.get(alias)
        assert type(metric).__name__ == class_name and metric.name == alias  # compile keeps the name given
    ours = [metrics.PearsonCorrelation(), metrics.ConcordanceCorrelation(),
            metrics.PearsonCorrelation(name="p", axis=(0, 1)), metrics.ConcordanceCorrelation(axis=0, dtype="float64")]
    assert [json.loads(json.dumps(m.get_config())) for m in ours] == theirs["configs"]
    assert [metrics.PearsonCorrelation().name, metrics.PearsonCorrelation().name] == theirs["names"]
    assert [metrics.PearsonCorrelation.direction, metrics.ConcordanceCorrelation.direction] == theirs["directions"]
    for metric in ours:
        again = type(metric).from_config(json.loads(json.dumps(metric.get_config())))
        assert again.get_config() == metric.get_config()
        assert metrics.deserialize(metrics.serialize(metric)).get_config() == metric.get_config()
    assert type(metrics.get(metrics.pearson_correlation)) is metrics.PearsonCorrelation
    assert metrics.get(metrics.concordance_correlation).name == "concordance_correlation"


def test_bad_arguments_name_the_argument():
    for bad in ("last", 1.5, True, [0, "1"]):
        with pytest.raises(ValueError, match="axis: expected an integer, a tuple of integers or None"):
            metrics.PearsonCorrelation(axis=bad)
    with pytest.raises(ValueError, match="axis: expected"):
        metrics.pearson_correlation([[1.0, 2.0]], [[1.0, 3.0]], axis="rows")
    with pytest.raises(TypeError, match="name: expected a string"):
        metrics.ConcordanceCorrelation(name=3)
    with pytest.raises(ValueError, match=r"axis: 2 is out of range for arrays of rank 2"):
        metrics.ConcordanceCorrelation(axis=2).update_state([[1.0, 2.0]], [[1.0, 3.0]])
    with pytest.raises(ValueError, match="axis: \\(0, -2\\) names an axis twice"):
        metrics.PearsonCorrelation(axis=(0, -2)).update_state([[1.0, 2.0]], [[1.0, 3.0]])
    with pytest.raises(ValueError, match="y_true: expected the shape of y_pred"):
        metrics.PearsonCorrelation().update_state([[1.0, 2.0, 3.0]], [[1.0, 3.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="y_pred: expected an array"):
        metrics.PearsonCorrelation().update_state(1.0, 2.0)
    # Keras's Mean cannot weigh one value per batch (or per column) by one weight per sample: nor can these
    with pytest.raises(ValueError, match=r"sample_weight: ConcordanceCorrelation \(axis=None\) gives values of "
                                         r"shape \(\)"):
        metrics.ConcordanceCorrelation(axis=None).update_state(np.ones((4, 3)), np.ones((4, 3)),
                                                               sample_weight=np.ones(4))
    with pytest.raises(ValueError, match="sample_weight: PearsonCorrelation \\(axis=0\\)"):
        metrics.PearsonCorrelation(axis=0).update_state(np.ones((4, 3)), np.ones((4, 3)), sample_weight=np.ones(4))
    model = _model(units=3)
    model.compile(optimizer="sgd", loss="mse", metrics=[metrics.PearsonCorrelation(axis=2)])
    with pytest.raises(ValueError, match="axis: 2 is out of range"):
        model.evaluate(np.ones((4, 5), np.float32), np.ones((4, 3), np.float32), verbose=0)
    classifier = _model(units=3)
    classifier.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                       metrics=[metrics.PearsonCorrelation()])
    with pytest.raises(ValueError, match="PearsonCorrelation .* labels shaped like the model's output"):
        classifier.evaluate(np.ones((4, 5), np.float32), np.array([0, 1, 2, 1]), verbose=0)


# ---- compiled into a model ----------------------------------------------------------------------------------------

def _model(units, seed=0):
    gpunn.utils.set_random_seed(seed)
    return gpunn.Sequential([gpunn.Input(shape=(5,)), layers.Dense(8, activation="tanh"),
                             layers.Dense(units)])


def _compiled_metrics(source):
    """The same metrics from gpunn.metrics or keras.metrics: instances, a name and a function."""
    return ([source.PearsonCorrelation(name="pcc"), source.ConcordanceCorrelation(name="ccc"),
             source.PearsonCorrelation(axis=0, name="pcc_columns"),
             source.ConcordanceCorrelation(axis=None, name="ccc_batch"), "pearson_correlation",
             source.concordance_correlation],
            [source.PearsonCorrelation(name="weighted_pcc"), source.ConcordanceCorrelation(name="weighted_ccc")])


KERAS_COMPILED = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
def arrays(*names):
    return [np.array(task[name], dtype="float32") for name in names]
x, y, w, x_val, y_val = arrays("x", "y", "w", "x_val", "y_val")
model = keras.Sequential([keras.Input(shape=(5,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(3)])
model.set_weights([np.array(v, dtype="float32") for v in task["weights"]])
plain = [keras.metrics.PearsonCorrelation(name="pcc"), keras.metrics.ConcordanceCorrelation(name="ccc"),
         keras.metrics.PearsonCorrelation(axis=0, name="pcc_columns"),
         keras.metrics.ConcordanceCorrelation(axis=None, name="ccc_batch"), "pearson_correlation",
         keras.metrics.concordance_correlation]
weighted = [keras.metrics.PearsonCorrelation(name="weighted_pcc"),
            keras.metrics.ConcordanceCorrelation(name="weighted_ccc")]
model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=plain, weighted_metrics=weighted)
history = model.fit(x, y, sample_weight=w, batch_size=10, epochs=2, shuffle=False, validation_data=(x_val, y_val),
                    verbose=0).history
evaluation = model.evaluate(x, y, sample_weight=w, batch_size=10, verbose=0, return_dict=True)
model.save(task["keras_file"])
mine = keras.saving.load_model(task["gpunn_file"])
mine_evaluation = mine.evaluate(x, y, sample_weight=w, batch_size=10, verbose=0, return_dict=True)
one = keras.Sequential([keras.Input(shape=(5,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)])
one.set_weights([np.array(v, dtype="float32") for v in task["one_weights"]])
one.compile(loss="mse", metrics=[keras.metrics.PearsonCorrelation(), keras.metrics.ConcordanceCorrelation(),
                                 keras.metrics.PearsonCorrelation(axis=0, name="pcc_batch")])
one_results = {shape: one.evaluate(x, y[:, 0].reshape(shape), batch_size=11, verbose=0, return_dict=True)
               for shape in [(-1,), (-1, 1)]}
print(json.dumps({"history": {k: [float(v) for v in vs] for k, vs in history.items()},
                  "evaluate": {k: float(v) for k, v in evaluation.items()},
                  "gpunn_file": {k: float(v) for k, v in mine_evaluation.items()},
                  "one": [{k: float(v) for k, v in r.items()} for r in one_results.values()]}))
'''


def _regression_data(rng, rows):
    x = rng.standard_normal((rows, 5)).astype(np.float32)
    y = (x[:, :3] * [1.0, -0.5, 0.3] + 0.3 * rng.standard_normal((rows, 3))).astype(np.float32)
    return x, y


def test_compiled_metrics_equal_keras_in_fit_evaluate_and_model_files(rng, tmp_path):
    (x, y), (x_val, y_val) = _regression_data(rng, 33), _regression_data(rng, 12)
    w = rng.uniform(0.2, 2, 33).astype(np.float32)
    model = _model(units=3)
    weights = model.get_weights()
    plain, weighted = _compiled_metrics(metrics)
    model.compile(optimizer=gpunn.optimizers.SGD(0.05), loss="mse", metrics=plain, weighted_metrics=weighted)
    history = model.fit(x, y, sample_weight=w, batch_size=10, epochs=2, shuffle=False,
                        validation_data=(x_val, y_val), verbose=0).history
    evaluation = model.evaluate(x, y, sample_weight=w, batch_size=10, verbose=0, return_dict=True)
    model.save(tmp_path / "mine.keras")
    gpunn.utils.set_random_seed(1)
    one = gpunn.Sequential([gpunn.Input(shape=(5,)), layers.Dense(4, activation="tanh"), layers.Dense(1)])
    one.compile(loss="mse", metrics=[metrics.PearsonCorrelation(), metrics.ConcordanceCorrelation(),
                                     metrics.PearsonCorrelation(axis=0, name="pcc_batch")])
    one_results = [one.evaluate(x, y[:, 0].reshape(shape), batch_size=11, verbose=0, return_dict=True)
                   for shape in [(-1,), (-1, 1)]]
    theirs = run_keras(KERAS_COMPILED, {
        "x": x.tolist(), "y": y.tolist(), "w": w.tolist(), "x_val": x_val.tolist(), "y_val": y_val.tolist(),
        "weights": [v.tolist() for v in weights], "one_weights": [v.tolist() for v in one.get_weights()],
        "keras_file": str(tmp_path / "theirs.keras"), "gpunn_file": str(tmp_path / "mine.keras")})

    assert sorted(history) == sorted(theirs["history"])
    assert {"pcc", "val_pcc", "weighted_pcc", "pcc_columns", "pearson_correlation", "concordance_correlation"} <= set(
        history)
    for key in history:
        np.testing.assert_allclose(history[key], theirs["history"][key], rtol=1e-4, atol=1e-5, err_msg=key)
    for key, value in theirs["evaluate"].items():
        assert evaluation[key] == pytest.approx(value, rel=1e-4, abs=1e-5), key
    # weighted and unweighted differ, and the per-column, per-batch and per-sample means differ from each other
    assert abs(evaluation["weighted_pcc"] - evaluation["pcc"]) > 1e-4
    assert len({round(evaluation[k], 4) for k in ("pcc", "pcc_columns", "ccc", "ccc_batch")}) == 4
    assert evaluation["pearson_correlation"] == pytest.approx(evaluation["pcc"], rel=1e-6)
    assert evaluation["concordance_correlation"] == pytest.approx(evaluation["ccc"], rel=1e-6)
    for key, value in theirs["gpunn_file"].items():  # Keras reads gpunn's file: its metrics, the same numbers
        assert evaluation[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    loaded = gpunn.models.load_model(tmp_path / "theirs.keras")  # and gpunn reads Keras's
    again = loaded.evaluate(x, y, sample_weight=w, batch_size=10, verbose=0, return_dict=True)
    for key, value in theirs["evaluate"].items():
        assert again[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    # a one-unit output: one value per row (Pearson NaN, the concordance 0), labels (n,) or (n, 1) alike
    for ours, expected in zip(one_results, theirs["one"]):
        assert np.isnan(ours["pearson_correlation"]) and np.isnan(expected["pearson_correlation"])
        assert ours["concordance_correlation"] == expected["concordance_correlation"] == 0.0
        assert np.isfinite(ours["pcc_batch"]) and ours["pcc_batch"] == pytest.approx(expected["pcc_batch"], rel=1e-5)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_saved_models_keep_their_correlation_metrics(rng, tmp_path, suffix):
    x, y = _regression_data(rng, 20)
    model = _model(units=3)
    model.compile(optimizer="adam", loss="mse", metrics=[metrics.PearsonCorrelation(axis=0, name="columns"),
                                                         metrics.ConcordanceCorrelation(), metrics.pearson_correlation])
    before = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    model.save(tmp_path / f"m{suffix}")
    loaded = gpunn.models.load_model(tmp_path / f"m{suffix}")
    after = loaded.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    assert list(after) == list(before)
    for key, value in before.items():
        assert after[key] == pytest.approx(value, rel=1e-6), key
    columns = [m for m in loaded.metrics if m.name == "columns"]
    assert columns and columns[0].get_config()["axis"] == 0


def test_evaluate_equals_the_metrics_on_their_own(rng):
    """The state a model's step adds on the device equals the host update of the same batches."""
    x, y = _regression_data(rng, 23)
    model = _model(units=3)
    compiled = [metrics.PearsonCorrelation(name="p"), metrics.ConcordanceCorrelation(axis=0, name="c0"),
                metrics.PearsonCorrelation(axis=None, name="pn")]
    model.compile(optimizer="sgd", loss="mse", metrics=compiled)
    results = model.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)
    predictions = model.predict(x, batch_size=7, verbose=0)
    for metric in compiled:
        fresh = type(metric).from_config(metric.get_config())
        for start in range(0, len(x), 7):
            fresh.update_state(y[start:start + 7], predictions[start:start + 7])
        assert results[metric.name] == pytest.approx(float(fresh.result()), rel=1e-6), metric.name
        assert float(metric.result()) == pytest.approx(results[metric.name], rel=1e-12)  # the model's objects read it


def test_replayed_steps_train_as_eager_ones(numpy_backend, rng):
    x, y = _regression_data(rng, 31)
    runs = []
    for jit in (False, True):
        model = _model(units=3)
        plain, weighted = _compiled_metrics(metrics)
        model.compile(optimizer="adam", loss="mse", metrics=plain, weighted_metrics=weighted, jit_compile=jit)
        runs.append(model.fit(x, y, sample_weight=np.linspace(0.5, 2, 31), batch_size=8, epochs=2, verbose=0,
                              validation_split=0.2).history)
    assert runs[0] == runs[1]
    assert np.isfinite(runs[0]["val_pcc"]).all()


ACCUMULATE_CASES = {  # one value per column or per batch takes no weight per sample (as in Keras)
    "pearson": (lambda: metrics.PearsonCorrelation(), True),
    "concordance": (lambda: metrics.ConcordanceCorrelation(), True),
    "pearson_columns": (lambda: metrics.PearsonCorrelation(axis=0), False),
    "concordance_batch": (lambda: metrics.ConcordanceCorrelation(axis=None), False),
}


@pytest.mark.parametrize("case, weighted", [(name, weighted) for name, (_, weighs) in ACCUMULATE_CASES.items()
                                            for weighted in ((False, True) if weighs else (False,))])
def test_accumulate_is_static_and_replays(numpy_backend, rng, case, weighted):
    ops, metric = numpy_backend, ACCUMULATE_CASES[case][0]()
    y, p = _pair(rng, (9, 4))
    y[2, :] = 1.0  # a constant row: Pearson's NaN comes from a copy, not a division by zero
    weights = rng.uniform(0, 2, 9).astype(np.float32) if weighted else None
    ws, state = Workspace(ops), {"total": np.zeros(()), "count": np.zeros(())}
    metric.accumulate(ops, ws, y, p, state, weights)  # makes the buffers
    with count_step_allocations() as events:
        metric.accumulate(ops, ws, y, p, state, weights)
    assert events == [], describe(events)
    with Recording(ops) as tape:
        metric.accumulate(ops, ws, y, p, state, weights)
    new_y, new_p = _pair(rng, (9, 4))
    y[...], p[...] = new_y, new_p
    before = {k: v.copy() for k, v in state.items()}
    tape.replay()
    eager = {k: v.copy() for k, v in before.items()}
    metric.accumulate(ops, Workspace(ops), y.copy(), p.copy(), eager, weights)
    for name in state:
        np.testing.assert_array_equal(state[name], eager[name], err_msg=name)
    assert state["count"] > before["count"]
