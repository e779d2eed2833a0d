"""Training resumed from a `.keras` file, by Keras 3 itself and by gpunn, compared: random set-ups drawn from a
fixed seed (every optimizer with its variants, the weights' moving average, gradient accumulation stopped between
two updates, schedules, global clipping) train for an epoch or two under one library, which saves the model; then
each library loads that file and trains two more epochs. Both must continue alike: the weights, the optimizer's
slots, its step count and the loss, whichever library wrote the file.

Left out: Lamb (Keras 3 cannot load its own Lamb from a file: 'Could not interpret optimizer identifier'), and
HDF5 files (Keras 3 on jax cannot resume from its own: its optimizer is built with no variables)."""
from __future__ import annotations

import json
import random

import pytest
from helpers import assert_close_to_keras, run_keras

import gpunn

CASE = r'''
import numpy as np


def built(keras, case):
    stack = [keras.Input((4,))] + [keras.layers.Dense(units, activation="tanh", name=f"d{i}")
                                   for i, units in enumerate(case["units"])]
    model = keras.Sequential(stack + [keras.layers.Dense(3, activation="softmax", name="out")])
    model.set_weights([(np.cos(np.arange(w.size) * 0.7 + k) * 0.4).astype("float32").reshape(w.shape)
                       if w.ndim > 1 else w + 0.01 * k for k, w in enumerate(model.get_weights())])
    name, arguments = case["optimizer"]
    arguments = dict(arguments)
    if "schedule" in arguments:
        schedule, schedule_arguments = arguments.pop("schedule")
        arguments["learning_rate"] = getattr(keras.optimizers.schedules, schedule)(**schedule_arguments)
    model.compile(getattr(keras.optimizers, name)(**arguments), "sparse_categorical_crossentropy")
    return model


def data(case):
    x = np.random.default_rng(case["seed"]).standard_normal((case["rows"], 4)).astype("float32")
    return x, (np.abs(x[:, 0] * 2 + x[:, 1]).astype(int) % 3).astype("int64")


def start(keras, case):
    model = built(keras, case)
    model.fit(*data(case), batch_size=case["batch"], epochs=case["first_epochs"], shuffle=False, verbose=0)
    model.save(case["path"])


def resume(keras, case):
    model = keras.models.load_model(case["path"])
    history = model.fit(*data(case), batch_size=case["batch"], epochs=2, shuffle=False, verbose=0)
    return {"weights": [w.tolist() for w in model.get_weights()], "loss": history.history["loss"],
            "iterations": int(np.asarray(model.optimizer.iterations)),
            "optimizer": [np.asarray(v).tolist() for v in model.optimizer.variables]}
'''
KERAS_MAIN = r'''
import json, sys
import keras
step, cases = json.loads(sys.stdin.read())
if step == "start":
    for case in cases:
        start(keras, case)
    print(json.dumps(None))
else:
    print(json.dumps([resume(keras, case) for case in cases]))
'''
CASES = 10
SEED = 20261206
OPTIMIZERS = ["SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "AdamW", "Adamax", "Nadam", "Lion", "Ftrl", "Adafactor",
              "Muon"]
# Set-ups drawn after the CASES above (their own draws), each with the optimizer named here: one written by each.
FORCED_OPTIMIZERS = ["ScheduleFreeAdamW"] * 2


def _case(draw: random.Random, index: int, folder, name=None) -> dict:
    name = name or draw.choice(OPTIMIZERS)
    arguments = {"learning_rate": 0.02}
    if name == "SGD":
        arguments.update(momentum=0.9, nesterov=draw.random() < 0.5)
    elif name == "RMSprop":
        arguments.update(centered=draw.random() < 0.5, momentum=draw.choice([0.0, 0.5]))
    elif name == "Adam":
        arguments.update(amsgrad=draw.random() < 0.5)
    elif name == "ScheduleFreeAdamW":
        arguments.update(warmup_steps=draw.choice([0, 5]), weight_decay=draw.choice([None, 0.01]))
    if draw.random() < 0.3:
        arguments.update(use_ema=True, ema_momentum=0.8, ema_overwrite_frequency=draw.choice([None, 3]))
    if draw.random() < 0.3:
        arguments["gradient_accumulation_steps"] = draw.choice([2, 3])
    if draw.random() < 0.3:
        arguments["schedule"] = ["ExponentialDecay", {"initial_learning_rate": arguments.pop("learning_rate"),
                                                      "decay_steps": 3, "decay_rate": 0.7}]
    if draw.random() < 0.2:
        arguments["global_clipnorm"] = 0.5
    return {"seed": index, "rows": draw.choice([20, 23]), "units": [draw.choice([4, 5])] * draw.randint(1, 2),
            "optimizer": [name, arguments], "batch": draw.choice([4, 6]), "first_epochs": draw.choice([1, 2]),
            "writer": "keras" if index % 2 else "gpunn", "path": str(folder / f"model{index}.keras")}


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resume")
    draw = random.Random(SEED)
    cases = [_case(draw, index, folder) for index in range(CASES)]
    cases += [_case(draw, CASES + k, folder, name) for k, name in enumerate(FORCED_OPTIMIZERS)]
    run_keras(CASE + KERAS_MAIN, ["start", [case for case in cases if case["writer"] == "keras"]])
    namespace: dict = {}
    exec(compile(CASE, "differential_case.py", "exec"), namespace)
    with gpunn.use_backend("numpy"):
        for case in cases:
            if case["writer"] == "gpunn":
                namespace["start"](gpunn, case)
        ours = [json.loads(json.dumps(namespace["resume"](gpunn, case))) for case in cases]
    theirs = run_keras(CASE + KERAS_MAIN, ["resume", cases])
    return cases, ours, theirs


@pytest.mark.parametrize("index", range(CASES + len(FORCED_OPTIMIZERS)))
def test_training_resumed_from_a_keras_file_goes_on_as_in_keras(both, index):
    cases, ours, theirs = both
    case, ours, theirs = cases[index], ours[index], theirs[index]
    where = json.dumps(case)
    assert ours["iterations"] == theirs["iterations"], where
    assert_close_to_keras(ours["loss"], theirs["loss"], f"loss; {where}")
    for k, (mine, keras_weight) in enumerate(zip(ours["weights"], theirs["weights"])):
        assert_close_to_keras(mine, keras_weight, f"weight {k}; {where}")
    assert len(ours["optimizer"]) == len(theirs["optimizer"]), where
    for k, (mine, keras_variable) in enumerate(zip(ours["optimizer"], theirs["optimizer"])):
        assert_close_to_keras(mine, keras_variable, f"optimizer variable {k}; {where}")
