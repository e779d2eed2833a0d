"""compile(weighted_metrics=...): metrics computed with the sample weights (or class weights), beside the plain
ones, named and ordered as Keras names them; checked against Keras 3 on the same weights and batches, in files
both ways, and replayed bit for bit."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers
from helpers import assert_same_training, numpy_backend, run_keras  # noqa: F401

SCRIPT = '''
def run(keras, x, y, w, tmp):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input(shape=(4,)),
                              keras.layers.Dense(1, activation="sigmoid", kernel_initializer="ones")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy", "mae"],
                  weighted_metrics=["accuracy", "AUC"])
    history = model.fit(x, y, sample_weight=w, epochs=2, batch_size=16, shuffle=False, verbose=0,
                        validation_data=(x, y, w))
    model.save(tmp + "/saved.keras")
    return {"history": {k: [float(v) for v in values] for k, values in history.history.items()},
            "weighted": model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True),
            "plain": model.evaluate(x, y, verbose=0, return_dict=True)}
'''

KERAS_SIDE = SCRIPT + r'''
import json, sys
import numpy as np
import keras
task = json.loads(sys.stdin.read())
x, y, w = np.array(task["x"], dtype="float32"), np.array(task["y"], dtype="float32"), np.array(task["w"])
out = run(keras, x, y, w, task["dir"] + "/keras")
mine = keras.saving.load_model(task["dir"] + "/gpunn/saved.keras")
out["mine"] = mine.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
print(json.dumps(out, default=float))
'''


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("float32").reshape(-1, 1), rng.uniform(0, 2, 40)


def test_weighted_metrics_are_keras_s_in_training_evaluation_and_files(tmp_path):
    x, y, w = _data()
    for side in ("gpunn", "keras"):
        (tmp_path / side).mkdir()
    namespace: dict = {}
    exec(SCRIPT, namespace)
    ours = namespace["run"](gpunn, x, y, w, str(tmp_path / "gpunn"))
    theirs = run_keras(KERAS_SIDE, {"x": x.tolist(), "y": y.tolist(), "w": w.tolist(), "dir": str(tmp_path)})
    assert set(ours["history"]) == set(theirs["history"])
    assert {"weighted_accuracy", "AUC", "val_weighted_accuracy"} <= set(ours["history"])
    for key, values in theirs["history"].items():
        np.testing.assert_allclose(ours["history"][key], values, rtol=1e-5, atol=1e-6, err_msg=key)
    for kind in ("weighted", "plain"):
        assert ours[kind] == pytest.approx(theirs[kind], rel=1e-5, abs=1e-6), kind
    assert theirs["mine"] == pytest.approx(ours["weighted"], rel=1e-5, abs=1e-6)  # Keras loads gpunn's compile
    loaded = gpunn.models.load_model(tmp_path / "keras" / "saved.keras")  # and gpunn loads Keras's
    assert loaded.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True) == pytest.approx(
        theirs["weighted"], rel=1e-5, abs=1e-6)
    # weighted by hand: the accuracy over the samples, each counted by its weight (on the model Keras trained)
    predicted = (loaded.predict(x, verbose=0) > 0.5).astype("float32")
    correct = (predicted == y).reshape(-1)
    assert loaded.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)["weighted_accuracy"] == \
        pytest.approx((w * correct).sum() / w.sum(), rel=1e-5)


def test_weighted_metrics_per_output_and_class_weights():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 3))
    y_value, y_class = x[:, :1] * 2, (x[:, 1] > 0).astype(np.int64)
    w = rng.uniform(0.1, 3.0, 30)
    inputs = gpunn.Input(shape=(3,))
    hidden = layers.Dense(4, activation="tanh")(inputs)
    model = gpunn.Model(inputs, [layers.Dense(1, name="value")(hidden),
                                 layers.Dense(2, activation="softmax", name="kind")(hidden)])
    model.compile(optimizer="sgd", loss=["mse", "sparse_categorical_crossentropy"], metrics={"value": ["mae"]},
                  weighted_metrics={"value": ["mae"], "kind": ["accuracy"]})
    logs = model.evaluate(x, [y_value, y_class], sample_weight=w, verbose=0, return_dict=True)
    assert list(logs) == ["kind_accuracy", "kind_loss", "loss", "value_loss", "value_mae", "value_weighted_mae"]
    value, kind = model.predict(x, verbose=0)
    error = np.abs(value - y_value).reshape(-1)
    assert logs["value_mae"] == pytest.approx(error.mean(), rel=1e-5)
    assert logs["value_weighted_mae"] == pytest.approx((w * error).sum() / w.sum(), rel=1e-5)
    correct = kind.argmax(axis=1) == y_class
    assert logs["kind_accuracy"] == pytest.approx((w * correct).sum() / w.sum(), rel=1e-5)
    unweighted = model.evaluate(x, [y_value, y_class], verbose=0, return_dict=True)
    assert unweighted["value_weighted_mae"] == pytest.approx(error.mean(), rel=1e-5)  # no weights: plain

    single = gpunn.Sequential([gpunn.Input(shape=(3,)), layers.Dense(2, activation="softmax")])
    single.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                   weighted_metrics=["accuracy"])
    history = single.fit(x, y_class, class_weight={0: 1.0, 1: 3.0}, batch_size=30, epochs=1, shuffle=False,
                         verbose=0)
    assert {"accuracy", "weighted_accuracy"} <= set(history.history)


def test_weighted_metrics_replay_bit_for_bit():
    x, y, w = _data()

    def run(jit):
        gpunn.utils.set_random_seed(4)
        model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(3, activation="relu"),
                                  layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["AUC"],
                      weighted_metrics=["AUC", "accuracy"], jit_compile=jit)
        return model, model.fit(x, y, sample_weight=w, batch_size=8, epochs=2, verbose=0,
                                validation_split=0.25).history

    assert_same_training(run(False), run(True))
