"""A functional model given the same value as several outputs (``keras.Model(i, [d, d, d])``, Keras's
test_partial_loss_partial_label): each repeat is an output of its own, through an Identity layer, and predicts,
trains and evaluates as Keras's model does; a file of Keras's such model loads."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import run_keras, run_script_both_ways

import gpunn

SCRIPT = r'''
import json, os, sys
import numpy as np

def run(keras, folder):
    i = keras.Input((2,))
    d = keras.layers.Dense(3, kernel_initializer="ones")(i)
    x, y = np.arange(8.0).reshape(4, 2), np.ones((4, 3))
    found = {}
    model = keras.Model(i, [d, d, d])
    found["predicted"] = [p.tolist() for p in model.predict(x, verbose=0)]
    model.compile(optimizer="sgd", loss=["mse", None, None])
    found["partial"] = [model.fit(x, [y, y, y], epochs=2, batch_size=2, verbose=0, shuffle=False).history["loss"],
                        model.evaluate(x, [y, y, y], verbose=0)]
    two = keras.Model(i, [d, d])
    two.compile(optimizer="sgd", loss=["mse", "mae"])
    found["two losses"] = [two.fit(x, [y, y], epochs=2, batch_size=2, verbose=0, shuffle=False).history["loss"],
                           [w.tolist() for w in two.get_weights()]]
    two.save(os.path.join(folder, "two.keras"))
    return found
'''


def test_a_value_given_as_several_outputs_trains_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    np.testing.assert_allclose(ours["predicted"], theirs["predicted"], rtol=1e-6)
    assert ours["partial"][0] == pytest.approx(theirs["partial"][0], rel=1e-5)
    assert ours["partial"][1] == pytest.approx(theirs["partial"][1], rel=1e-5)
    assert ours["two losses"][0] == pytest.approx(theirs["two losses"][0], rel=1e-5)
    for mine, kerass in zip(ours["two losses"][1], theirs["two losses"][1]):
        np.testing.assert_allclose(mine, kerass, rtol=1e-5)


def test_keras_s_file_of_such_a_model_loads(tmp_path):
    from helpers import FOLDER_MAIN

    run_keras(SCRIPT + FOLDER_MAIN, {"folder": str(tmp_path)})
    model = gpunn.saving.load_model(tmp_path / "two.keras")
    predicted = model.predict(np.ones((2, 2)), verbose=0)
    assert len(predicted) == 2
    np.testing.assert_array_equal(predicted[0], predicted[1])
    assert [w.shape for w in model.get_weights()] == [(2, 3), (3,)]
