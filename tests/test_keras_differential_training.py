"""Random training set-ups run by Keras 3 itself and by gpunn, from the same weights and batches, compared: the
options a script combines around one model (every optimizer with its variants, clipping, weight decay, EMA,
gradient accumulation, learning-rate schedules, EarlyStopping, ReduceLROnPlateau, LearningRateScheduler,
TerminateOnNaN, regularizers, constraints, frozen layers, initial_epoch, validation_freq, steps_per_epoch,
steps_per_execution, eager or replayed steps). Each case is drawn from a fixed seed; a case that differs names its
drawn configuration.

Left out, being known and documented differences rather than errors: steps that steps_per_execution does not divide,
and gradients at a kink (an L1 penalty on weights a NonNeg constraint holds at exactly 0); also MinMaxNorm with a
minimum above 0, which scales a column that rounding left near 0 up to that minimum."""
from __future__ import annotations

import json
import random

import pytest
from helpers import assert_close_to_keras, run_case_both_ways

# Run under Keras and under gpunn: one case's results from its configuration.
CASE = r'''
import numpy as np


def made(namespace, spec):
    name, arguments = spec
    return getattr(namespace, name)(**arguments)


def epoch_schedule(kind):
    if kind == "halve_after_first":
        return lambda epoch, lr: lr * 0.5 if epoch >= 1 else lr
    return lambda epoch: 0.02 / (1 + epoch)


def run(keras, case, extra_compile=None):
    x = np.random.default_rng(case["seed"]).standard_normal((case["rows"], 4)).astype("float32")
    y = (np.abs(x[:, 0] * 2 + x[:, 1]).astype(int) % 3).astype("int64")
    layers = [keras.Input((4,))]
    for i, spec in enumerate(case["layers"]):
        arguments = dict(spec["arguments"])
        for key in ("kernel_regularizer", "bias_regularizer", "activity_regularizer"):
            if key in arguments:
                arguments[key] = made(keras.regularizers, arguments[key])
        for key in ("kernel_constraint", "bias_constraint"):
            if key in arguments:
                arguments[key] = made(keras.constraints, arguments[key])
        layer = keras.layers.Dense(name=f"d{i}", **arguments)
        layer.trainable = not spec["frozen"]
        layers.append(layer)
    model = keras.Sequential(layers + [keras.layers.Dense(3, activation="softmax", name="out")])
    model.set_weights([(np.cos(np.arange(w.size) * 0.7 + k) * 0.4).astype("float32").reshape(w.shape)
                       if w.ndim > 1 else w + 0.01 * k for k, w in enumerate(model.get_weights())])
    name, arguments = case["optimizer"]
    arguments = dict(arguments)
    if "schedule" in arguments:
        arguments["learning_rate"] = made(keras.optimizers.schedules, arguments.pop("schedule"))
    model.compile(getattr(keras.optimizers, name)(**arguments), "sparse_categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=case["steps_per_execution"], **(extra_compile or {}))
    callbacks = [keras.callbacks.LearningRateScheduler(epoch_schedule(arguments["kind"]))
                 if name == "LearningRateScheduler" else made(keras.callbacks, (name, arguments))
                 for name, arguments in case["callbacks"]]
    fit = dict(case["fit"])
    if fit.pop("validation"):
        fit["validation_data"] = (x[-9:], y[-9:])
    history = model.fit(x, y, verbose=0, shuffle=False, callbacks=callbacks, **fit)
    rate = float(np.asarray(model.optimizer.learning_rate))
    return {"history": {k: np.asarray(v, dtype=float).tolist() for k, v in history.history.items()},
            "epochs": list(history.epoch), "iterations": int(np.asarray(model.optimizer.iterations)),
            "learning_rate": rate, "weights": [w.tolist() for w in model.get_weights()]}
'''
CASES = 14
SEED = 20261205
REGULARIZERS = [["L1", {"l1": 0.01}], ["L2", {"l2": 0.02}], ["L1L2", {"l1": 0.005, "l2": 0.01}]]
CONSTRAINTS = [["MaxNorm", {"max_value": 0.8}], ["NonNeg", {}], ["UnitNorm", {}],
               ["MinMaxNorm", {"min_value": 0.0, "max_value": 0.9, "rate": 0.5}]]
OPTIMIZERS = ["SGD", "SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "AdamW", "Adamax", "Nadam", "Lion", "Ftrl",
              "Lamb", "Adafactor", "Muon"]
LEARNING_RATES = {"SGD": 0.05, "Adadelta": 1.0, "Adagrad": 0.1, "Ftrl": 0.1, "Lion": 0.003}
# Set-ups drawn after the CASES above (their own draws), each with the optimizer named here.
FORCED_OPTIMIZERS = ["ScheduleFreeAdamW"] * 3


def _layer(draw: random.Random) -> dict:
    arguments = {"units": draw.choice([5, 6]), "activation": draw.choice(["relu", "tanh", "elu"])}
    for key, chance in (("kernel_regularizer", 0.3), ("bias_regularizer", 0.2), ("activity_regularizer", 0.2)):
        if draw.random() < chance:
            arguments[key] = draw.choice(REGULARIZERS)
    if draw.random() < 0.25:
        arguments["kernel_constraint"] = draw.choice(CONSTRAINTS)
        if arguments["kernel_constraint"][0] == "NonNeg" and "kernel_regularizer" in arguments:
            arguments["kernel_regularizer"] = ["L2", {"l2": 0.02}]  # no L1 gradient at exactly 0 (a kink)
    if draw.random() < 0.1:
        arguments["bias_constraint"] = ["NonNeg", {}]
    return {"arguments": arguments, "frozen": draw.random() < 0.15}


def _schedule(draw: random.Random, rate: float) -> list:
    return draw.choice([
        ["ExponentialDecay", {"initial_learning_rate": rate, "decay_steps": 3, "decay_rate": 0.8,
                              "staircase": draw.random() < 0.5}],
        ["PiecewiseConstantDecay", {"boundaries": [4, 9], "values": [rate, rate / 2, rate / 5]}],
        ["CosineDecay", {"initial_learning_rate": rate, "decay_steps": 12, "alpha": 0.1, "warmup_steps": 3,
                         "warmup_target": rate * 2 if draw.random() < 0.4 else None}],
        ["CosineDecayRestarts", {"initial_learning_rate": rate, "first_decay_steps": 4}],
        ["PolynomialDecay", {"initial_learning_rate": rate, "decay_steps": 10, "power": 2.0,
                             "cycle": draw.random() < 0.5}],
        ["InverseTimeDecay", {"initial_learning_rate": rate, "decay_steps": 2, "decay_rate": 0.5}]])


def _optimizer(draw: random.Random, name=None) -> list:
    name = name or draw.choice(OPTIMIZERS)
    arguments = {"learning_rate": LEARNING_RATES.get(name, 0.01)}
    if name == "SGD":
        arguments.update(momentum=draw.choice([0.0, 0.9]), nesterov=draw.random() < 0.5)
    elif name == "RMSprop":
        arguments.update(centered=draw.random() < 0.5, momentum=draw.choice([0.0, 0.5]))
    elif name == "Adam":
        arguments.update(amsgrad=draw.random() < 0.5)
    elif name == "Ftrl":
        arguments.update(l1_regularization_strength=draw.choice([0.0, 0.01]), beta=draw.choice([0.0, 0.1]),
                         l2_regularization_strength=draw.choice([0.0, 0.01]))
    elif name == "ScheduleFreeAdamW":
        arguments.update(warmup_steps=draw.choice([0, 4]), beta_1=draw.choice([0.9, 0.8]))
    clipping = draw.random()
    if clipping < 0.15:
        arguments["clipnorm"] = 0.3
    elif clipping < 0.3:
        arguments["global_clipnorm"] = 0.5
    elif clipping < 0.4:
        arguments["clipvalue"] = 0.05
    if draw.random() < 0.2 and name not in ("AdamW", "Lamb"):
        arguments["weight_decay"] = 0.01
    if draw.random() < 0.2:
        arguments.update(use_ema=True, ema_momentum=0.9)
        if draw.random() < 0.5:
            arguments["ema_overwrite_frequency"] = 3
    if draw.random() < 0.15:
        arguments["gradient_accumulation_steps"] = draw.choice([2, 3])
    if draw.random() < 0.35:
        arguments["schedule"] = _schedule(draw, arguments.pop("learning_rate"))
    return [name, arguments]


def _callbacks(draw: random.Random, validation: bool, scheduled: bool) -> list:
    monitor = draw.choice(["loss", "val_loss", "val_accuracy"] if validation else ["loss", "accuracy"])
    callbacks = []
    if draw.random() < 0.5:
        callbacks.append(["EarlyStopping", {
            "monitor": monitor, "patience": draw.choice([0, 1, 2]), "restore_best_weights": draw.random() < 0.6,
            "min_delta": draw.choice([0.0, 0.01]), "start_from_epoch": draw.choice([0, 2]),
            "baseline": draw.choice([None, None, 1.0]) if "loss" in monitor else None}])
    if not scheduled and draw.random() < 0.5:  # a callback setting the rate of a schedule fails in Keras too
        if draw.random() < 0.6:
            callbacks.append(["ReduceLROnPlateau", {
                "monitor": monitor, "factor": 0.5, "patience": draw.choice([0, 1]), "cooldown": draw.choice([0, 1]),
                "min_lr": 0.001, "min_delta": draw.choice([0.0001, 0.05])}])
        else:
            callbacks.append(["LearningRateScheduler", {"kind": draw.choice(["halve_after_first", "inverse"])}])
    if draw.random() < 0.2:
        callbacks.append(["TerminateOnNaN", {}])
    draw.shuffle(callbacks)
    return callbacks


def _case(draw: random.Random, index: int, optimizer_name=None) -> dict:
    layers = [_layer(draw) for _ in range(draw.randint(1, 2))]
    optimizer = _optimizer(draw, optimizer_name)
    validation = draw.random() < 0.6
    callbacks = _callbacks(draw, validation, "schedule" in optimizer[1])
    fit = {"epochs": draw.randint(3, 6), "batch_size": draw.choice([4, 7, 10]), "validation": validation}
    if draw.random() < 0.25:
        fit["initial_epoch"] = 1
    if validation and draw.random() < 0.3:
        fit["validation_freq"] = 2
    steps_per_execution = draw.choice([1, 1, 2, 3])
    if draw.random() < 0.2:
        fit["steps_per_epoch"] = 3
        if steps_per_execution == 2:  # 3 steps in executions of 2: Keras reads past them (a known difference)
            steps_per_execution = 3
    return {"seed": index, "rows": draw.choice([23, 30]), "layers": layers, "optimizer": optimizer,
            "callbacks": callbacks, "fit": fit, "steps_per_execution": steps_per_execution,
            "jit": draw.random() < 0.6}


@pytest.fixture(scope="module")
def both():
    draw = random.Random(SEED)
    cases = [_case(draw, index) for index in range(CASES)]
    cases += [_case(draw, CASES + k, name) for k, name in enumerate(FORCED_OPTIMIZERS)]
    ours, theirs = run_case_both_ways(CASE, cases, lambda case: {"jit_compile": case["jit"]})
    return cases, ours, theirs


@pytest.mark.parametrize("index", range(CASES + len(FORCED_OPTIMIZERS)))
def test_a_random_training_set_up_runs_as_in_keras(both, index):
    cases, ours, theirs = both
    case, ours, theirs = cases[index], ours[index], theirs[index]
    where = json.dumps(case)
    assert (ours["epochs"], ours["iterations"]) == (theirs["epochs"], theirs["iterations"]), where
    assert sorted(ours["history"]) == sorted(theirs["history"]), where
    for name, values in theirs["history"].items():
        assert_close_to_keras(ours["history"][name], values, f"{name}; {where}")
    assert_close_to_keras(ours["learning_rate"], theirs["learning_rate"], f"learning_rate; {where}", rtol=1e-5)
    for k, (mine, keras_weight) in enumerate(zip(ours["weights"], theirs["weights"])):
        assert_close_to_keras(mine, keras_weight, f"weight {k}; {where}")
