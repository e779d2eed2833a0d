"""``keras.losses.Circle`` and ``circle``: per-sample values (a batch's own pairs, and reference rows), the mean over
the rows whose loss is above 0 (Keras's mask), config and training equal to Keras's own (in a subprocess on jax),
the gradient against finite differences in float64, found by name, saved and loaded as its class."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import gpunn
from helpers import assert_gradients_close, numerical_gradient, run_keras

KERAS_SCRIPT = '''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
labels, embeddings = np.array(task["labels"]), np.array(task["embeddings"], "float32")
ref_labels, ref_embeddings = np.array(task["ref_labels"]), np.array(task["ref_embeddings"], "float32")
out = {"own": np.asarray(keras.losses.circle(labels, embeddings)).tolist(),
       "reference": np.asarray(keras.losses.circle(labels, embeddings, ref_labels=ref_labels,
                                                   ref_embeddings=ref_embeddings, remove_diagonal=False,
                                                   gamma=20, margin=0.25)).tolist(),
       "mean": float(keras.losses.Circle()(labels, embeddings)),
       "config": keras.losses.Circle(gamma=30.0, margin=0.3, remove_diagonal=False).get_config()}
x, y = np.array(task["x"], "float32"), np.array(task["y"])
model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(6, activation="tanh"), keras.layers.Dense(4),
                          keras.layers.UnitNormalization()])
model.set_weights([np.sin(np.arange(w.size) * 0.7 + i).reshape(w.shape).astype("float32") * 0.6
                   for i, w in enumerate(model.get_weights())])
model.compile(keras.optimizers.SGD(0.01), keras.losses.Circle(gamma=32.0))
history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
out.update(loss=[float(v) for v in history.history["loss"]], weights=[w.tolist() for w in model.get_weights()],
           evaluate=float(model.evaluate(x, y, batch_size=12, verbose=0)))
print(json.dumps(out))
'''


def _unit_rows(rng, rows, width=4):
    values = rng.standard_normal((rows, width)).astype("float32")
    return values / np.linalg.norm(values, axis=1, keepdims=True)


def _data():
    rng = np.random.default_rng(4)
    labels = np.array([0, 1, 0, 2, 1, 3, 2, 0])  # class 3 alone: no positive pair, a loss of 0
    x = rng.standard_normal((36, 5)).astype("float32")
    y = rng.integers(0, 5, 36)  # some rows alone in their batch
    return labels, _unit_rows(rng, 8), rng.integers(0, 4, 5), _unit_rows(rng, 5), x, y


def _model(dtype="float32"):
    model = gpunn.Sequential([gpunn.Input((5,), dtype=dtype), gpunn.layers.Dense(6, activation="tanh", dtype=dtype),
                              gpunn.layers.Dense(4, dtype=dtype), gpunn.layers.UnitNormalization(dtype=dtype)])
    model.set_weights([(np.sin(np.arange(w.size) * 0.7 + i).reshape(w.shape) * 0.6).astype(dtype)
                       for i, w in enumerate(model.get_weights())])
    return model


def test_values_config_and_training_equal_keras():
    labels, embeddings, ref_labels, ref_embeddings, x, y = _data()
    keras = run_keras(KERAS_SCRIPT, {"labels": labels.tolist(), "embeddings": embeddings.tolist(),
                                     "ref_labels": ref_labels.tolist(), "ref_embeddings": ref_embeddings.tolist(),
                                     "x": x.tolist(), "y": y.tolist()})
    own = np.asarray(gpunn.losses.circle(labels, embeddings))
    np.testing.assert_allclose(own, keras["own"], rtol=2e-5, atol=1e-6)
    assert own[5] == 0.0 and (own > 0).sum() < len(own)
    np.testing.assert_allclose(gpunn.losses.circle(labels, embeddings, ref_labels=ref_labels,
                                                   ref_embeddings=ref_embeddings, remove_diagonal=False, gamma=20,
                                                   margin=0.25), keras["reference"], rtol=2e-5, atol=1e-6)
    assert gpunn.losses.Circle()(labels, embeddings) == pytest.approx(keras["mean"], rel=2e-5)
    assert keras["mean"] == pytest.approx(own[own > 0].mean(), rel=1e-5)  # Keras's mean over the rows above 0
    ours_config = gpunn.losses.Circle(gamma=30.0, margin=0.3, remove_diagonal=False).get_config()
    assert {k: v for k, v in keras["config"].items() if k != "dtype"} == ours_config

    model = _model()
    model.compile(gpunn.optimizers.SGD(0.01), gpunn.losses.Circle(gamma=32.0))
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], keras["loss"], rtol=1e-4)
    for ours, theirs in zip(model.get_weights(), keras["weights"]):
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-4, atol=1e-5)
    assert model.evaluate(x, y, batch_size=12, verbose=0) == pytest.approx(keras["evaluate"], rel=1e-4)


def test_gradient_matches_finite_differences():
    _, _, _, _, x, y = _data()
    model = _model("float64")
    model.compile(optimizer=gpunn.optimizers.SGD(1.0), loss=gpunn.losses.Circle(gamma=16.0, margin=0.3))
    x, y = x[:9].astype(np.float64), np.array([0, 1, 0, 2, 1, 3, 2, 0, 1])  # row 5 alone
    params = np.asarray(model.params).copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a row with no positive pair overflows nothing
        model.train_on_batch(x, y)
    analytic = np.asarray(model.grads).copy()
    model.params[...] = params
    numeric = numerical_gradient(lambda _: model.evaluate(x, y, batch_size=9, verbose=0), model.params)
    assert_gradients_close(analytic, numeric, what="d circle loss / d params")


def test_found_by_name_saved_as_its_class_and_checked(tmp_path):
    assert isinstance(gpunn.losses.as_loss("circle"), gpunn.losses.Circle)
    assert isinstance(gpunn.losses.as_loss("Circle"), gpunn.losses.Circle)
    loss = gpunn.losses.Circle(gamma=24.0, margin=0.35)
    assert gpunn.losses.serialize(loss) == {"class_name": "Circle", "config": loss.get_config()}
    model = _model()
    model.compile("adam", loss)
    model.save(str(tmp_path / "circle.keras"))
    loaded = gpunn.models.load_model(str(tmp_path / "circle.keras"))
    assert (loaded.loss.gamma, loaded.loss.margin, loaded.loss.remove_diagonal) == (24.0, 0.35, True)
    _, _, _, _, x, y = _data()
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
    with pytest.raises(ValueError, match="gamma: expected a finite number, got '80'"):
        gpunn.losses.Circle(gamma="80")


REDUCTIONS = r'''
import json, sys
import numpy as np

def run(keras, folder):
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(6, 4))
    embeddings = (embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)).astype("float32")
    labels = np.array([1, 1, 2, 2, 3, 4])
    found = {}
    for reduction in (None, "sum", "sum_over_batch_size", "mean", "mean_with_sample_weight"):
        for weights in (None, np.array([1, 2, 1, 1, 1, 1], "float32")):
            value = keras.losses.Circle(reduction=reduction)(labels, embeddings, sample_weight=weights)
            found[f"{reduction} {weights is not None}"] = np.asarray(value).tolist()
    return found
'''


def test_every_reduction_called_on_arrays_equals_keras(tmp_path_factory):
    """Keras masks the rows without a positive pair in its reduction: a mean over the batch takes the others
    alone, the other reductions their plain sum or values."""
    from helpers import run_script_both_ways

    ours, theirs = run_script_both_ways(REDUCTIONS, tmp_path_factory)
    assert set(ours) == set(theirs)
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, err_msg=key)
