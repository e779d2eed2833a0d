"""``fit`` / ``evaluate`` arguments and callbacks against Keras 3 itself, from one script run under both
libraries: ``validation_freq`` as a list, ``initial_epoch`` past ``epochs``, ``get_metrics_result``, a compile
without loss or metrics keeping the model's, CSVLogger's val_ columns, a monitor neither the loss nor a compiled
metric, the callbacks' ``params`` in evaluate and predict, and a PyDataset validated from its first batch each
time."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import run_script_both_ways

SCRIPT = r'''
import json, sys
import numpy as np

def data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x[:, :1] * 2.0 - x[:, 1:2]).astype("float32")

def mlp(keras):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(1)])
    rng = np.random.default_rng(5)
    model.set_weights([rng.normal(scale=0.5, size=w.shape).astype("float32") for w in model.get_weights()])
    return model

def attempt(function):
    try:
        return function()
    except Exception as exc:
        return [type(exc).__name__]

def run(keras, folder):
    out = {}
    x, y = data()
    model = mlp(keras)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0, validation_data=(x[:8], y[:8]),
                        validation_freq=[1, 3])
    out["validation_freq_list"] = history.history
    out["metrics_result"] = {k: float(v) for k, v in model.get_metrics_result().items()}
    past = model.fit(x, y, epochs=1, initial_epoch=2, verbose=0)
    out["initial_epoch_past_epochs"] = [past.history, past.epoch]
    model.compile(optimizer=keras.optimizers.SGD(0.01))  # the loss and metrics kept
    out["recompiled"] = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    for name, kwargs in [("none", {}), ("every_2", {"validation_data": (x[:8], y[:8]), "validation_freq": 2})]:
        logger = keras.callbacks.CSVLogger(f"{folder}/{name}.csv")
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[logger], **kwargs)
        with open(f"{folder}/{name}.csv") as handle:
            out[f"csv_{name}"] = [line.split(",")[0:1] + [cell[:5] for cell in line.strip().split(",")[1:]]
                                  for line in handle]
    for callback in (keras.callbacks.EarlyStopping, keras.callbacks.ReduceLROnPlateau):
        out[f"unknown_monitor_{callback.__name__}"] = attempt(lambda: model.fit(
            x, y, epochs=2, verbose=0, validation_data=(x, y), callbacks=[callback(monitor="val_auc")]))
    seen = {}

    class Params(keras.callbacks.Callback):
        def on_test_begin(self, logs=None):
            seen["evaluate"] = dict(self.params)

        def on_predict_begin(self, logs=None):
            seen["predict"] = dict(self.params)

    model.evaluate(x, y, batch_size=8, verbose=0, callbacks=[Params()])
    model.predict(x, batch_size=8, verbose=0, callbacks=[Params()])
    out["params"] = seen
    xv, yv = data(9, seed=7)

    class Validation(keras.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return xv[i * 3:(i + 1) * 3], yv[i * 3:(i + 1) * 3]

    frozen = mlp(keras)
    frozen.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    out["py_dataset_validation_steps"] = frozen.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False,
                                                    validation_data=Validation(), validation_steps=2).history
    return out
'''

@pytest.fixture(scope="module")
def both(tmp_path_factory):
    return run_script_both_ways(SCRIPT, tmp_path_factory)


def _close(ours, theirs, what):
    if isinstance(theirs, dict):
        assert sorted(ours) == sorted(theirs), what
        for key in theirs:
            _close(ours[key], theirs[key], f"{what}[{key!r}]")
    elif isinstance(theirs, list) and theirs and isinstance(theirs[0], (int, float)) and not isinstance(
            theirs[0], bool):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6, err_msg=what)
    elif isinstance(theirs, float):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6, err_msg=what)
    else:
        assert ours == theirs, what


KEYS = ["validation_freq_list", "metrics_result", "initial_epoch_past_epochs", "recompiled", "csv_none",
        "csv_every_2", "unknown_monitor_EarlyStopping", "unknown_monitor_ReduceLROnPlateau", "params",
        "py_dataset_validation_steps"]


@pytest.mark.parametrize("key", KEYS)
def test_as_in_keras(both, key):
    _close(both[0][key], both[1][key], key)
