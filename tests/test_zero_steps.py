"""``steps_per_epoch=0``, ``validation_steps=0`` and ``steps=0`` (``len(x) // batch_size`` for data smaller than
one batch) are taken as not given, a whole pass over the data, as Keras 3 takes them (``steps_per_epoch or ...``),
with a warning saying so."""

import numpy as np
import pytest
from helpers import run_script_both_ways

import gpunn

SCRIPT = '''
import json, sys, warnings
import numpy as np

def run(keras, folder):
    warnings.simplefilter("ignore")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, kernel_initializer="ones")])
    model.compile("sgd", "mse")
    x, y = np.arange(30, dtype="float32").reshape(10, 3) / 30, np.ones((10, 1), "float32")
    history = model.fit(x, y, batch_size=4, steps_per_epoch=0, validation_data=(x, y), validation_steps=0,
                        epochs=2, verbose=0, shuffle=False).history
    return {"history": {k: np.round(v, 5).tolist() for k, v in history.items()},
            "evaluate": round(model.evaluate(x, y, steps=0, verbose=0), 5),
            "predict": list(model.predict(x, steps=0, verbose=0).shape),
            "iterations": int(np.asarray(model.optimizer.iterations))}
'''


def test_zero_steps_are_a_whole_pass_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours == theirs
    assert ours["iterations"] == 6  # two epochs of ceil(10 / 4) batches


def test_zero_steps_warn_and_negative_ones_are_refused():
    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.ones((10, 3), "float32"), np.ones((10, 1), "float32")
    with pytest.warns(UserWarning, match=r"^steps_per_epoch=0 is taken as not given \(a whole pass over the data\)"):
        model.fit(x, y, steps_per_epoch=0, verbose=0)
    with pytest.warns(UserWarning, match=r"^steps=0 is taken as not given"):
        model.predict(x, steps=0, verbose=0)
    with pytest.raises(ValueError, match=r"^steps: expected a positive integer, got -1"):
        model.evaluate(x, y, steps=-1, verbose=0)
