"""Optimizer arguments as Keras takes them: ``get(None)`` is None (metrics' too), AdamW refuses
``weight_decay=None`` (it would train as Adam), a variable given as the learning rate is refused (its value would
be copied, and assigning it later would change nothing), and ``scale_loss`` scales by ``loss_scale_factor``."""
from __future__ import annotations

import pytest
from helpers import run_script_both_ways

import gpunn

SCRIPT = r'''
import json, sys

def run(keras, folder):
    def outcome(make):
        try:
            return repr(make())
        except ValueError:
            return "ValueError"

    return {
        "get None": [keras.optimizers.get(None) is None, keras.metrics.get(None) is None],
        "AdamW None": outcome(lambda: keras.optimizers.AdamW(weight_decay=None)),
        "variable rate": outcome(lambda: keras.optimizers.SGD(learning_rate=keras.Variable(0.25))),
        "scale_loss": [float(keras.optimizers.SGD(loss_scale_factor=1024.0).scale_loss(1.5)),
                       float(keras.optimizers.SGD().scale_loss(2.0))],
    }
'''


def test_optimizer_arguments_as_keras_takes_them(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours == theirs
    assert ours["scale_loss"] == [1536.0, 2.0]


def test_compile_refuses_no_optimizer_by_name():
    model = gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(1)])
    with pytest.raises(TypeError, match="optimizer: expected an optimizer or its name"):
        model.compile(optimizer=None, loss="mse")
    with pytest.raises(ValueError, match="learning_rate: expected a float or a LearningRateSchedule, got a variable"):
        gpunn.optimizers.Adam(learning_rate=gpunn.Variable(0.1))


MUON = r'''
import json, sys
import numpy as np

def run(keras, folder):
    muon = keras.optimizers.Muon()
    square = np.array([[0.2499, 0.9105], [0.2655, 0.8824]], "float32")
    tall = np.arange(12.0).reshape(4, 3).astype("float32") / 10
    return {"square": np.asarray(muon.zeropower_via_newtonschulz5(square, 5)).tolist(),
            "tall": np.asarray(muon.zeropower_via_newtonschulz5(tall, 5)).tolist(),
            "adjusted": np.asarray(keras.optimizers.Muon(rms_rate=0.2).lr_adjust(keras.ops.ones((4, 2)))).tolist()}
'''


def test_muon_s_public_methods_compute_keras_s_values(tmp_path_factory):
    import numpy as np

    ours, theirs = run_script_both_ways(MUON, tmp_path_factory)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-4, atol=1e-5, err_msg=key)
