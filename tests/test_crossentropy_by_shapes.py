"""compile(loss="crossentropy") and "ce": binary, sparse categorical or categorical cross-entropy, chosen from the
first batch's labels and the output's width as Keras's ``compile_utils.get_loss`` chooses (arrays, generators,
several outputs), kept by name in the compile config and files."""
from __future__ import annotations

import pytest
from helpers import run_script_both_ways

SCRIPT = r'''
import json, os, sys
import numpy as np

def run(keras, folder):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    ids = rng.integers(0, 3, 16)
    found = {}

    def dense(units, activation, name=None):
        return keras.layers.Dense(units, activation=activation, kernel_initializer="ones", name=name)

    cases = {"binary": (1, "sigmoid", (x[:, :1] > 0).astype("float32"), "ce"),
             "sparse": (3, "softmax", ids, "crossentropy"),
             "sparse column": (3, "softmax", ids[:, None], "CE"),
             "one-hot": (3, "softmax", np.eye(3)[ids], "crossentropy")}
    for case, (units, activation, y, name) in cases.items():
        model = keras.Sequential([keras.Input((3,)), dense(units, activation)])
        model.compile(optimizer="sgd", loss=name, metrics=["accuracy"])
        history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
        found[case] = [history.history, model.get_compile_config()["loss"], model.evaluate(x, y, verbose=0)]

    i = keras.Input((3,))
    model = keras.Model(i, [dense(1, "sigmoid", "a")(i), dense(3, "softmax", "b")(i)])
    model.compile(optimizer="sgd", loss=["ce", "crossentropy"], metrics=[["accuracy"], ["accuracy"]])
    found["several outputs"] = model.fit(x, [(x[:, :1] > 0).astype("float32"), ids], epochs=2, batch_size=8,
                                         verbose=0, shuffle=False).history

    def batches():
        while True:
            for start in range(0, 16, 8):
                yield x[start:start + 8], np.eye(3)[ids[start:start + 8]]

    model = keras.Sequential([keras.Input((3,)), dense(3, "softmax")])
    model.compile(optimizer="sgd", loss="crossentropy")
    found["generator"] = model.fit(batches(), steps_per_epoch=2, epochs=2, verbose=0).history
    path = os.path.join(folder, "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    found["loaded"] = [loaded.get_compile_config()["loss"], loaded.evaluate(x, ids, verbose=0)]
    return found
'''


def test_the_cross_entropy_is_chosen_from_the_shapes_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert set(ours) == set(theirs)
    for case in ("binary", "sparse", "sparse column", "one-hot"):
        (history, name, evaluated), (k_history, k_name, k_evaluated) = ours[case], theirs[case]
        assert name == k_name and set(history) == set(k_history), case
        for key in history:
            assert history[key] == pytest.approx(k_history[key], rel=1e-5), (case, key)
        assert evaluated == pytest.approx(k_evaluated, rel=1e-5), case
    for case in ("several outputs", "generator"):
        assert set(ours[case]) == set(theirs[case])
        for key in ours[case]:
            assert ours[case][key] == pytest.approx(theirs[case][key], rel=1e-5), (case, key)
    assert ours["loaded"][0] == theirs["loaded"][0] == "crossentropy"
    assert ours["loaded"][1] == pytest.approx(theirs["loaded"][1], rel=1e-5)
