"""The order of the logs and the ``verbose=2`` lines, checked against Keras 3 itself: the same script, the same
weights and batches, run under Keras (jax backend) and under gpunn. Keras sorts the logs by name wherever it
hands them out (``keras/src/utils/python_utils.py`` ``pythonify_logs``) and writes ``verbose=2`` through its
Progbar (``keras/src/utils/progbar.py``)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from helpers import run_keras

import gpunn

# A function of the keras module, so that the same text runs under both: what a script sees of the logs.
SCRIPT = r'''
import contextlib, io, json, sys
import numpy as np


def run(keras, task):
    x, y = np.asarray(task["x"], "float32"), np.asarray(task["y"], "int32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="relu", name="hidden"),
                              keras.layers.Dense(1, activation="sigmoid", name="out")])
    model.set_weights([np.asarray(w, "float32") for w in task["weights"]])
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy",
                  metrics=["mse", keras.metrics.AUC(name="auc"), "accuracy"])
    seen = {}

    class Keys(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.setdefault("train_batch", list(logs))

        def on_test_end(self, logs=None):
            seen.setdefault("test_end", list(logs))

        def on_epoch_end(self, epoch, logs=None):
            seen.setdefault("epoch_end", list(logs))

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=2, validation_data=(x, y),
                            validation_freq=2, callbacks=[Keys()])
        evaluated = model.evaluate(x, y, batch_size=8, verbose=2, return_dict=True)
        listed = model.evaluate(x, y, batch_size=8, verbose=0)
        model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=2)
    return {"printed": printed.getvalue(), "history": history.history, "evaluated": evaluated,
            "evaluated_keys": list(evaluated), "listed": [float(v) for v in listed],
            "train_on_batch": list(model.train_on_batch(x, y, return_dict=True)),
            "test_on_batch": list(model.test_on_batch(x, y, return_dict=True)), **seen}
'''
KERAS_MAIN = SCRIPT + r'''
import keras
print(json.dumps(run(keras, json.loads(sys.stdin.read()))))
'''


def _without_figures(printed: str) -> str:
    """The lines with their times and values taken out: what must be the same, character for character."""
    printed = re.sub(r" - \d+s - \d+(us|ms|s)/step", " - <time>", printed)
    return re.sub(r"-?\d\.\d{4}(e[+-]\d\d)?", "<value>", printed)


def _values(printed: str) -> list[float]:
    return [float(v) for v in re.findall(r": (-?\d\.\d{4}(?:e[+-]\d\d)?)", printed)]


@pytest.fixture(scope="module")
def both():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int32)
    weights = [rng.standard_normal((4, 5)).astype(np.float32) * 0.5, np.zeros(5, np.float32),
               rng.standard_normal((5, 1)).astype(np.float32) * 0.5, np.zeros(1, np.float32)]
    task = {"x": x.tolist(), "y": y.tolist(), "weights": [w.tolist() for w in weights]}
    theirs = run_keras(KERAS_MAIN, task)
    namespace: dict = {}
    exec(compile(SCRIPT, "log_output_script.py", "exec"), namespace)
    with gpunn.use_backend("numpy"):
        ours = json.loads(json.dumps(namespace["run"](gpunn, task)))
    return ours, theirs


def test_callbacks_history_and_returned_dicts_name_the_logs_in_keras_s_order(both):
    ours, theirs = both
    for key in ("train_batch", "test_end", "epoch_end", "evaluated_keys", "train_on_batch", "test_on_batch"):
        assert ours[key] == theirs[key], key
    assert list(ours["history"]) == list(theirs["history"]) == sorted(theirs["history"])
    assert ours["train_batch"] == ["accuracy", "auc", "loss", "mse"]


def test_evaluate_s_list_keeps_the_loss_first(both):
    ours, theirs = both
    np.testing.assert_allclose(ours["listed"], theirs["listed"], rtol=1e-4)
    assert ours["listed"][0] == pytest.approx(ours["evaluated"]["loss"])


def test_verbose_2_writes_keras_s_lines(both):
    ours, theirs = both
    assert _without_figures(ours["printed"]) == _without_figures(theirs["printed"])
    assert _without_figures(ours["printed"]).splitlines()[:2] == [
        "Epoch 1/3", "5/5 - <time> - accuracy: <value> - auc: <value> - loss: <value> - mse: <value>"]
    # the values printed are the same training's (same weights, batches and updates)
    np.testing.assert_allclose(_values(ours["printed"]), _values(theirs["printed"]), rtol=2e-3, atol=2e-4)
    for name, values in theirs["history"].items():
        np.testing.assert_allclose(ours["history"][name], values, rtol=1e-4, atol=1e-6, err_msg=name)
