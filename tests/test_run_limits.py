"""``keras.config.set_max_epochs`` / ``set_max_steps_per_epoch`` and their environment variables: the epochs and
batches each of fit (with its validation), evaluate and predict runs under a cap, and the warnings, as Keras's own
(Keras itself, in a subprocess on jax)."""
from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

import gpunn
from helpers import run_keras

SCRIPT = '''
import json, sys, warnings
import numpy as np
import keras as gpunn
{body}
'''
BODY = '''
def counts(limit):
    x = np.arange(400, dtype="float32").reshape(100, 4) / 400
    y = x.sum(axis=1, keepdims=True)
    model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(1)])
    model.compile("sgd", "mse")

    class Count(gpunn.callbacks.Callback):
        seen = {"train": 0, "test": 0, "predict": 0}

        def on_train_batch_end(self, batch, logs=None):
            self.seen["train"] += 1

        def on_test_batch_end(self, batch, logs=None):
            self.seen["test"] += 1

        def on_predict_batch_end(self, batch, logs=None):
            self.seen["predict"] += 1

    gpunn.config.set_max_epochs(3)
    gpunn.config.set_max_steps_per_epoch(limit)
    count = Count()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=10, epochs=5, verbose=0, callbacks=[count], validation_split=0.2)
        model.evaluate(x, y, batch_size=10, verbose=0, callbacks=[count])
        model.predict(x, batch_size=10, verbose=0, callbacks=[count])
    read_back = [gpunn.config.max_epochs(), gpunn.config.max_steps_per_epoch()]
    gpunn.config.set_max_epochs(None)
    gpunn.config.set_max_steps_per_epoch(None)
    limits = sorted({str(w.message) for w in caught if str(w.message).startswith("Limiting")})
    ran_out = any("ran out of data" in str(w.message) for w in caught)
    return {"epochs": len(history.history["loss"]), **count.seen, "limits": limits, "ran_out": ran_out,
            "read_back": read_back, "after": [gpunn.config.max_epochs(), gpunn.config.max_steps_per_epoch()]}
'''


@pytest.mark.parametrize("limit", [2, 50])
def test_capped_runs_see_the_batches_keras_sees(limit):
    namespace = {"np": np, "gpunn": gpunn, "warnings": warnings}
    exec(BODY, namespace)
    ours = namespace["counts"](limit)
    keras = run_keras(SCRIPT.format(body=BODY) + "print(json.dumps(counts(json.loads(sys.stdin.read()))))", limit)
    assert ours == keras
    assert ours["epochs"] == 3 and ours["limits"] == ["Limiting epochs to 3", f"Limiting steps_per_epoch to {limit}"]
    assert ours["train"] == 3 * min(limit, 8)  # 80 training rows at batch 10


def test_the_environment_sets_the_caps_and_bad_values_are_refused_by_name():
    script = ("import gpunn; print(gpunn.config.max_epochs(), gpunn.config.max_steps_per_epoch())")
    env = {"KERAS_MAX_EPOCHS": "2", "KERAS_MAX_STEPS_PER_EPOCH": "7", "PATH": ""}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0 and run.stdout.split() == ["2", "7"], run.stderr
    env["KERAS_MAX_EPOCHS"] = "two"
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode != 0 and "KERAS_MAX_EPOCHS: expected a positive integer, got 'two'" in run.stderr
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(ValueError, match="max_epochs: expected a positive integer or None"):
            gpunn.config.set_max_epochs(bad)
    assert gpunn.config.max_epochs() is None


def test_no_cap_no_warning():
    x, y = np.ones((20, 3), "float32"), np.ones((20, 1), "float32")
    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(1)])
    model.compile("sgd", "mse")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = model.fit(x, y, batch_size=5, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
