"""ModelCheckpoint and CSVLogger run by Keras 3 itself and by gpunn in the same fits, compared by what they leave
on disk: which checkpoint files exist (file name patterns with the epoch and logs, save_best_only with each
monitor and mode, weights only or whole models in `.keras` and `.h5`, every epoch or every N batches, from an
initial_epoch) and the CSV log's header, separator, epochs and rows (appended to a file or not). Values are not
compared: gpunn logs float64 where Keras logs float32 (a documented difference). Cases are drawn from a fixed seed,
with one fixed case first: save_best_only on a validation metric, saved every 3 batches, where that metric is
missing from the batch's logs (Keras 3 warns and saves; tf.keras 2 skipped)."""
from __future__ import annotations

import json
import os
import random

import pytest
from helpers import run_keras

import gpunn

CASE = r'''
import os
import numpy as np


def run(keras, case, folder):
    x = np.random.default_rng(case["seed"]).standard_normal((30, 4)).astype("float32")
    y = (np.abs(x[:, 0] * 2 + x[:, 1]).astype(int) % 3).astype("int64")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="tanh"),
                              keras.layers.Dense(3, activation="softmax")])
    model.set_weights([(np.cos(np.arange(w.size) * 0.7 + k) * 0.4).astype("float32").reshape(w.shape)
                       for k, w in enumerate(model.get_weights())])
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    log = os.path.join(folder, "log.csv")
    if case["append"]:
        with open(log, "w") as file:
            file.write("previous\n")
    callbacks = [keras.callbacks.CSVLogger(log, separator=case["separator"], append=case["append"]),
                 keras.callbacks.ModelCheckpoint(os.path.join(folder, case["checkpoint"]), monitor=case["monitor"],
                                                 mode=case["mode"], save_best_only=case["best_only"],
                                                 save_weights_only=case["weights_only"], save_freq=case["save_freq"])]
    model.fit(x, y, batch_size=7, epochs=4, verbose=0, shuffle=False, validation_split=0.2, callbacks=callbacks,
              initial_epoch=case["initial_epoch"])
    with open(log) as file:
        lines = file.read().splitlines()
    return {"files": sorted(os.listdir(folder)), "header": lines[:1],
            "epochs": [line.split(case["separator"])[0] for line in lines[1:]], "rows": len(lines)}
'''
KERAS_MAIN = r'''
import json, sys
import keras
print(json.dumps([run(keras, case, case["keras_folder"]) for case in json.loads(sys.stdin.read())]))
'''
CASES = 12
SEED = 20261207


def _case(draw: random.Random, index: int) -> dict:
    weights_only = draw.random() < 0.4
    extension = ".weights.h5" if weights_only else draw.choice([".keras", ".h5"])
    # {val_loss} is in the epoch's logs only: a name with it goes with epoch-level saving (else both libraries fail)
    save_freq = draw.choice(["epoch", "epoch", 3])
    names = ["m", "m-{epoch:02d}", "m-{epoch}-{accuracy:.3f}"] + (["m-{epoch:02d}-{val_loss:.2f}"]
                                                                 if save_freq == "epoch" else [])
    return {"seed": index, "checkpoint": draw.choice(names) + extension, "separator": draw.choice([",", ";"]),
            "append": draw.random() < 0.3, "monitor": draw.choice(["val_loss", "val_accuracy", "loss"]),
            "mode": draw.choice(["auto", "min", "max"]), "best_only": draw.random() < 0.5,
            "weights_only": weights_only, "save_freq": save_freq, "initial_epoch": draw.choice([0, 0, 1])}


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    draw = random.Random(SEED)
    cases = [{"seed": 100, "checkpoint": "m.weights.h5", "separator": ",", "append": False,
              "monitor": "val_accuracy", "mode": "auto", "best_only": True, "weights_only": True, "save_freq": 3,
              "initial_epoch": 0}] + [_case(draw, index) for index in range(CASES - 1)]
    root = tmp_path_factory.mktemp("checkpoints")
    for case in cases:
        for who in ("keras", "gpunn"):
            os.makedirs(root / who / str(case["seed"]))
        case["keras_folder"] = str(root / "keras" / str(case["seed"]))
    theirs = run_keras(CASE + KERAS_MAIN, cases)
    namespace: dict = {}
    exec(compile(CASE, "checkpoint_case.py", "exec"), namespace)
    with gpunn.use_backend("numpy"), pytest.warns(UserWarning, match="Can save best model only with val_accuracy"):
        ours = [namespace["run"](gpunn, case, str(root / "gpunn" / str(case["seed"]))) for case in cases]
    return cases, ours, theirs


@pytest.mark.parametrize("index", range(CASES))
def test_checkpoints_and_csv_log_are_the_files_keras_leaves(both, index):
    cases, ours, theirs = both
    case = {k: v for k, v in cases[index].items() if k != "keras_folder"}
    assert ours[index] == theirs[index], json.dumps(case)
