"""``keras.losses.CategoricalGeneralizedCrossEntropy`` and its function: values, config and training equal to Keras's
own (in a subprocess on jax), its gradient against finite differences in float64, a [batch, 1] label column
taken row by row (Keras 3.15 broadcasts it against every row), found by name, saved and loaded as its class."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from helpers import assert_gradients_close, numerical_gradient, run_keras

KERAS_SCRIPT = '''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
ids, y_pred = np.array(task["ids"]), np.array(task["y_pred"], "float32")
loss = keras.losses.CategoricalGeneralizedCrossEntropy(q=0.7)
out = {"function": np.asarray(keras.losses.categorical_generalized_cross_entropy(ids, y_pred, 0.3)).tolist(),
       "mean": float(loss(ids, y_pred)), "column": float(loss(ids[:, None], y_pred)), "config": loss.get_config()}
x, y = np.array(task["x"], "float32"), np.array(task["y"])
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation="tanh"),
                          keras.layers.Dense(3, activation="softmax")])
model.set_weights([np.linspace(-0.7, 0.7, w.size, dtype="float32").reshape(w.shape) for w in model.get_weights()])
model.compile(keras.optimizers.Adam(0.05), keras.losses.CategoricalGeneralizedCrossEntropy(), metrics=["accuracy"])
history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
out.update(history={k: [float(v) for v in values] for k, values in history.history.items()},
           weights=[w.tolist() for w in model.get_weights()])
print(json.dumps(out))
'''


def _data():
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 3, 6)
    y_pred = rng.random((6, 3)).astype("float32") + 0.05
    y_pred /= y_pred.sum(axis=1, keepdims=True)
    x = rng.standard_normal((30, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0.5)
    return ids, y_pred, x, y


def _model(dtype="float32"):
    model = gpunn.Sequential([gpunn.Input((4,), dtype=dtype), gpunn.layers.Dense(6, activation="tanh", dtype=dtype),
                              gpunn.layers.Dense(3, activation="softmax", dtype=dtype)])
    model.set_weights([np.linspace(-0.7, 0.7, w.size).astype(dtype).reshape(w.shape) for w in model.get_weights()])
    return model


def test_values_config_and_training_equal_keras():
    ids, y_pred, x, y = _data()
    keras = run_keras(KERAS_SCRIPT, {"ids": ids.tolist(), "y_pred": y_pred.tolist(), "x": x.tolist(),
                                     "y": y.tolist()})
    np.testing.assert_allclose(gpunn.losses.categorical_generalized_cross_entropy(ids, y_pred, 0.3),
                               keras["function"], rtol=1e-6)
    loss = gpunn.losses.CategoricalGeneralizedCrossEntropy(q=0.7)
    assert loss(ids, y_pred) == pytest.approx(keras["mean"], rel=1e-6)
    assert {k: v for k, v in keras["config"].items() if k != "dtype"} == loss.get_config()
    model = _model()
    model.compile(gpunn.optimizers.Adam(0.05), gpunn.losses.CategoricalGeneralizedCrossEntropy(), metrics=["accuracy"])
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    assert sorted(history.history) == sorted(keras["history"])
    for key, values in keras["history"].items():
        np.testing.assert_allclose(history.history[key], values, rtol=1e-5, err_msg=key)
    for ours, theirs in zip(model.get_weights(), keras["weights"]):
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=2e-4, atol=2e-5)  # 12 Adam steps of float32

    # A [batch, 1] column of ids: each row takes its own label here; Keras 3.15 averages over every pair of rows
    p = y_pred[np.arange(len(ids)), ids]
    assert loss(ids[:, None], y_pred) == pytest.approx(np.mean((1 - p ** 0.7) / 0.7), rel=1e-6)
    pairs = y_pred[:, ids]  # row i against the label of row j
    assert keras["column"] == pytest.approx(np.mean((1 - pairs ** 0.7) / 0.7), rel=1e-5)


def test_gradient_matches_finite_differences():
    _, _, x, y = _data()
    model = _model("float64")
    model.compile(optimizer=gpunn.optimizers.SGD(1.0), loss=gpunn.losses.CategoricalGeneralizedCrossEntropy(q=0.4))
    x = x[:7].astype(np.float64)
    params = np.asarray(model.params).copy()
    model.train_on_batch(x, y[:7])
    analytic = np.asarray(model.grads).copy()
    model.params[...] = params
    numeric = numerical_gradient(lambda _: model.evaluate(x, y[:7], batch_size=7, verbose=0), model.params)
    assert_gradients_close(analytic, numeric, what="d generalized cross-entropy / d params")


def test_found_by_name_saved_as_its_class_and_checked(tmp_path):
    assert isinstance(gpunn.losses.as_loss("categorical_generalized_cross_entropy"),
                      gpunn.losses.CategoricalGeneralizedCrossEntropy)
    assert isinstance(gpunn.losses.as_loss("CategoricalGeneralizedCrossEntropy"),
                      gpunn.losses.CategoricalGeneralizedCrossEntropy)
    loss = gpunn.losses.CategoricalGeneralizedCrossEntropy(q=0.25)
    assert gpunn.losses.serialize(loss) == {"class_name": "CategoricalGeneralizedCrossEntropy",
                                            "config": loss.get_config()}
    model = _model()
    model.compile("adam", loss)
    model.save(str(tmp_path / "gce.keras"))
    loaded = gpunn.models.load_model(str(tmp_path / "gce.keras"))
    assert loaded.loss.q == 0.25
    _, _, x, y = _data()
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
    for q in (0, 1, 1.5, "0.5", True):
        with pytest.raises(ValueError, match=r"q: must be in the interval \(0, 1\)"):
            gpunn.losses.CategoricalGeneralizedCrossEntropy(q=q)
