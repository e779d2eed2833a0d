"""Keras's metric functions (``keras.metrics.binary_accuracy``, ``keras.metrics.mean_squared_error``,
``keras.losses.huber``, ...): their values on host arrays, and what ``compile(metrics=[fn])`` makes of them (Keras's
``MeanMetricWrapper(fn)``, named after the function), through model files both ways, against Keras 3 itself."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend, run_keras  # noqa: F401

import gpunn
from gpunn import losses, metrics

ACCURACY_FUNCTIONS = ["binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
                      "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy"]

KERAS_FUNCTIONS = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
out = []
for case in task:
    fn = getattr(keras.metrics, case["name"])
    out.append(np.asarray(fn(np.array(case["y_true"]), np.array(case["y_pred"], dtype="float32"),
                             **case["kwargs"])).tolist())
print(json.dumps(out))
'''


def _cases(rng):
    probs = rng.random((9, 4)).astype(np.float32)
    probs[0, :] = 0.5  # ties for the top class
    labels = rng.integers(0, 4, 9)
    one_hot = np.eye(4, dtype=np.float32)[labels]
    binary = (rng.random((9, 3)) < 0.5).astype(np.float32)
    return [
        ("binary_accuracy", binary, rng.random((9, 3)), {}),
        ("binary_accuracy", binary[:, :1], rng.random((9, 1)), {"threshold": 0.3}),
        ("binary_accuracy", binary[:, 0], rng.random((9, 1)), {}),
        ("categorical_accuracy", one_hot, probs, {}),
        ("sparse_categorical_accuracy", labels, probs, {}),
        ("sparse_categorical_accuracy", labels[:, None], probs, {}),
        ("top_k_categorical_accuracy", one_hot, probs, {"k": 2}),
        ("top_k_categorical_accuracy", one_hot, probs, {}),
        ("sparse_top_k_categorical_accuracy", labels, probs, {"k": 1}),
        ("sparse_top_k_categorical_accuracy", labels[:, None], probs, {"k": 3}),
    ]


def test_accuracy_functions_equal_keras(rng):
    cases = _cases(rng)
    theirs = run_keras(KERAS_FUNCTIONS, [{"name": n, "y_true": t.tolist(), "y_pred": p.tolist(), "kwargs": k}
                                         for n, t, p, k in cases])
    for (name, y_true, y_pred, kwargs), expected in zip(cases, theirs):
        ours = getattr(metrics, name)(y_true, y_pred.astype(np.float32), **kwargs)
        assert ours.dtype == np.float32
        np.testing.assert_array_equal(ours, np.array(expected, dtype=np.float32), err_msg=f"{name} {kwargs}")


def test_keras_metrics_exports_the_loss_functions():
    for name in ("mean_squared_error", "mean_absolute_error", "binary_crossentropy", "huber", "log_cosh",
                 "kl_divergence", "poisson", "hinge", "binary_focal_crossentropy"):
        assert getattr(metrics, name) is getattr(losses, name)


def _model(seed=0):
    gpunn.utils.set_random_seed(seed)
    return gpunn.Sequential([gpunn.Input(shape=(5,)), gpunn.layers.Dense(8, activation="relu"),
                             gpunn.layers.Dense(3, activation="sigmoid")])


FUNCTION_METRICS = [metrics.binary_accuracy, metrics.mean_squared_error, metrics.mean_absolute_error,
                    losses.cosine_similarity, metrics.huber, metrics.log_cosh, metrics.binary_crossentropy,
                    metrics.binary_focal_crossentropy, metrics.kl_divergence, metrics.poisson, metrics.squared_hinge]

KERAS_COMPILED = r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
fns = [getattr(keras.losses if name == "cosine_similarity" else keras.metrics, name) for name in task["names"]]
model = keras.Sequential([keras.Input(shape=(5,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(3, activation="sigmoid")])
model.set_weights([np.array(w, dtype="float32") for w in task["weights"]])
model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy", metrics=fns)
x, y = np.array(task["x"], dtype="float32"), np.array(task["y"], dtype="float32")
history = model.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0).history
evaluation = model.evaluate(x, y, batch_size=10, verbose=0, return_dict=True)
mine = keras.saving.load_model(task["gpunn_file"])
model.save(task["keras_file"])
print(json.dumps({"history": {k: [float(v) for v in vs] for k, vs in history.items()},
                  "evaluate": {k: float(v) for k, v in evaluation.items()},
                  "gpunn_file": {k: float(v) for k, v in mine.evaluate(x, y, batch_size=10, verbose=0,
                                                                     return_dict=True).items()},
                  "gpunn_file_metrics": mine.get_compile_config()["metrics"]}))
'''


def test_compiled_function_metrics_equal_keras_and_survive_model_files(tmp_path, rng):
    x = rng.standard_normal((30, 5)).astype(np.float32)
    y = (rng.random((30, 3)) < 0.4).astype(np.float32)
    model = _model()
    weights = model.get_weights()
    model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="binary_crossentropy", metrics=FUNCTION_METRICS)
    model.save(tmp_path / "mine.keras")
    history = model.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0).history
    evaluation = model.evaluate(x, y, batch_size=10, verbose=0, return_dict=True)
    names = [fn.__name__ for fn in FUNCTION_METRICS]
    theirs = run_keras(KERAS_COMPILED, {"names": names, "weights": [w.tolist() for w in weights], "x": x.tolist(),
                                        "y": y.tolist(), "gpunn_file": str(tmp_path / "mine.keras"),
                                        "keras_file": str(tmp_path / "theirs.keras")})
    assert sorted(history) == sorted(theirs["history"])
    assert evaluation["cosine_similarity"] < 0  # the loss function's sign, as Keras's wrapper of it keeps
    for key in history:
        np.testing.assert_allclose(history[key], theirs["history"][key], rtol=2e-5, atol=1e-6, err_msg=key)
        assert evaluation[key] == pytest.approx(theirs["evaluate"][key], rel=2e-5, abs=1e-6), key
    assert [m["config"] for m in theirs["gpunn_file_metrics"]] == names  # Keras reads gpunn's file's functions
    loaded = gpunn.models.load_model(tmp_path / "theirs.keras")  # and gpunn reads Keras's
    again = loaded.evaluate(x, y, batch_size=10, verbose=0, return_dict=True)
    for key, value in theirs["evaluate"].items():
        assert again[key] == pytest.approx(value, rel=2e-5, abs=1e-6), key


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".safetensors"])
def test_function_metrics_round_trip_in_every_format(suffix, tmp_path, rng):
    model = _model()
    model.compile(optimizer="adam", loss="mse", metrics=[losses.cosine_similarity, metrics.huber,
                                                          metrics.top_k_categorical_accuracy])
    x = rng.standard_normal((12, 5)).astype(np.float32)
    y = rng.random((12, 3)).astype(np.float32)
    before = model.evaluate(x, y, verbose=0, return_dict=True)
    model.save(tmp_path / f"m{suffix}")
    loaded = gpunn.models.load_model(tmp_path / f"m{suffix}")
    after = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert after["cosine_similarity"] == pytest.approx(before["cosine_similarity"]) and after["cosine_similarity"] < 0
    assert after["huber"] == pytest.approx(before["huber"])
    assert list(after) == list(before)


def test_a_function_of_the_user_s_is_the_mean_of_its_values():
    def my_metric(y_true, y_pred):
        return y_true - y_pred

    model = _model()
    model.compile(optimizer="sgd", loss="mse", metrics=[my_metric])
    x, y = np.random.default_rng(0).normal(size=(4, 5)), np.ones((4, 3))
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["my_metric"] == pytest.approx((y - model.predict(x, verbose=0)).mean(), rel=1e-6)
    # (where to give it first, then the long list of gpunn's names)
    with pytest.raises(ValueError, match=r"no metric function named 'nope'\. A function of the program that wrote "
                                         r"the model goes in load_model\(\.\.\., custom_objects=\{'nope': .* gpunn's "
                                         r"metric functions: \["):
        metrics.registry.function_by_name("nope")
