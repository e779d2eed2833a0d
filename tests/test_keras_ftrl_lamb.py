"""Ftrl and Lamb against Keras 3 itself (keras/src/optimizers/{ftrl,lamb}.py, run in a subprocess on its jax
backend): the same updates of the same float32 variables from the same gradients, step by step, slots included;
the same model fit from the same weights on the same batches; and the files gpunn saves mid-training, which
Keras loads with the slots in place (Ftrl's accumulator and linear, Lamb's momentum and velocity) and continues
as gpunn does. Lamb's trust ratio is per weight: the variables have a small MLP's shapes, several of them.
Skipped when keras or jax is not installed.

The float64 formulas, the twins, the compiled CPU loops and the CUDA kernels are compared in
test_keras_optimizers.py and tests/kernels/test_optimizer_updates_new.py.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import keras_unavailable_reason, numpy_backend, run_keras  # noqa: F401  (fixture)

import gpunn
from gpunn import layers, optimizers
from gpunn.models import load_model
from gpunn.models.keras_variables import optimizer_variables
from gpunn.optimizers import schedules

SHAPES = [(3, 4), (4,), (4, 2), (2,)]  # a small MLP's kernels and biases
STEPS = 6

# name -> (optimizer class name, keyword arguments both take, the schedule as (Keras class name, config) or None)
CASES = {
    "ftrl-defaults": ("Ftrl", {}, None),
    "ftrl-regularized": ("Ftrl", dict(learning_rate=0.2, learning_rate_power=-0.7, initial_accumulator_value=0.3,
                                      l1_regularization_strength=1.5, l2_regularization_strength=0.02,
                                      l2_shrinkage_regularization_strength=0.01, beta=0.5), None),
    "ftrl-fixed-rate-l2": ("Ftrl", dict(learning_rate=0.1, learning_rate_power=0.0, l2_regularization_strength=0.1),
                           None),
    "ftrl-schedule-decay-clipnorm": ("Ftrl", dict(l1_regularization_strength=0.01, beta=1.0, weight_decay=0.05,
                                                  clipnorm=0.8),
                                     ("ExponentialDecay", dict(initial_learning_rate=0.3, decay_steps=2,
                                                               decay_rate=0.6))),
    "ftrl-zero-accumulator-clipvalue": ("Ftrl", dict(learning_rate=0.05, initial_accumulator_value=0.0,
                                                     clipvalue=0.5), None),
    "ftrl-polynomial-global-clipnorm": ("Ftrl", dict(learning_rate_power=-0.4,
                                                     l2_shrinkage_regularization_strength=0.1, global_clipnorm=1.0),
                                        ("PolynomialDecay", dict(initial_learning_rate=0.2, decay_steps=4,
                                                                 end_learning_rate=0.01, power=2.0, cycle=True))),
    "lamb-defaults": ("Lamb", {}, None),
    "lamb-betas-decay": ("Lamb", dict(learning_rate=0.05, beta_1=0.8, beta_2=0.95, epsilon=1e-6, weight_decay=0.1),
                         None),
    "lamb-schedule-clipnorm": ("Lamb", dict(clipnorm=0.8),
                               ("CosineDecay", dict(initial_learning_rate=0.05, decay_steps=5, alpha=0.1))),
}
SLOTS = {"Ftrl": ("accumulator", "linear"), "Lamb": ("momentum", "velocity")}


def _optimizer(name):
    class_name, kwargs, schedule = CASES[name]
    if schedule is not None:
        schedule_name, config = schedule
        kwargs = {**kwargs, "learning_rate": getattr(schedules, schedule_name)(**config)}
    return getattr(optimizers, class_name)(**kwargs)


KERAS_SIDE = r'''
import json, sys
import numpy as np
import keras

task = json.loads(sys.stdin.read())


def optimizer_of(class_name, kwargs, schedule):
    kwargs = dict(kwargs)
    if schedule is not None:
        schedule_name, config = schedule
        kwargs["learning_rate"] = getattr(keras.optimizers.schedules, schedule_name)(**config)
    return getattr(keras.optimizers, class_name)(**kwargs)


out = {"updates": {}, "fits": {}, "resume": {}}
for name, case in task["updates"].items():
    optimizer = optimizer_of(case["class_name"], case["kwargs"], case["schedule"])
    variables = [keras.Variable(np.asarray(w, dtype="float32"), name=f"w{i}") for i, w in enumerate(case["weights"])]
    history = []
    for grads in case["grads"]:
        optimizer.apply([np.asarray(g, dtype="float32") for g in grads], variables)
        history.append([np.asarray(v).tolist() for v in variables])
    out["updates"][name] = {"history": history, "iterations": int(optimizer.iterations),
                            "variables": [np.asarray(v).tolist() for v in optimizer.variables]}
for name, case in task["fits"].items():
    model = keras.saving.load_model(case["before"])  # gpunn's model, compiled, before its fit
    data = np.load(case["data"])
    history = model.fit(data["x"], data["y"], batch_size=case["batch_size"], epochs=case["epochs"], shuffle=False,
                        verbose=0)
    out["fits"][name] = {"weights": [np.asarray(w).tolist() for w in model.get_weights()],
                         "loss": [float(v) for v in history.history["loss"]]}
for name, case in task["resume"].items():
    resumed = keras.saving.load_model(case["file"])  # gpunn's model after some training
    data = np.load(case["data"])
    out["resume"][name] = {"variables": [np.asarray(v).tolist() for v in resumed.optimizer.variables],
                           "iterations": int(resumed.optimizer.iterations)}
    resumed.fit(data["x"], data["y"], batch_size=8, epochs=1, shuffle=False, verbose=0)
    out["resume"][name]["weights"] = [np.asarray(w).tolist() for w in resumed.get_weights()]
print(json.dumps(out))
'''


def _update_case(name, rng):
    """gpunn's optimizer over one flat float32 buffer (the model's layout: one segment per weight), and the task
    for Keras: the same weights and gradients, shaped."""
    sizes = [int(np.prod(shape)) for shape in SHAPES]
    bounds = np.cumsum([0] + sizes)
    segments = list(zip(bounds[:-1], bounds[1:]))
    flat = rng.standard_normal(bounds[-1]).astype(np.float32)
    ops = gpunn.ops.NumpyOps()
    optimizer = _optimizer(name)
    params = flat.copy()
    optimizer.build(ops, params, segments)
    weights = [flat[a:b].reshape(shape) for (a, b), shape in zip(segments, SHAPES)]
    grads, history = [], []
    for _ in range(STEPS):
        g = (2.0 * rng.standard_normal(bounds[-1])).astype(np.float32)  # large enough for the clips to act
        grads.append([g[a:b].reshape(shape).tolist() for (a, b), shape in zip(segments, SHAPES)])
        optimizer.apply(params, g.copy())
        history.append([params[a:b].reshape(shape).copy() for (a, b), shape in zip(segments, SHAPES)])
    class_name, kwargs, schedule = CASES[name]
    task = {"class_name": class_name, "kwargs": kwargs, "schedule": schedule, "weights": [w.tolist() for w in weights],
            "grads": grads}
    return task, (optimizer, segments, weights, history)


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5)).astype("float32")
    return x, (x[:, :3] + 0.3 * rng.standard_normal((n, 3))).argmax(axis=1)


def _model(optimizer, seed=3):
    gpunn.utils.set_random_seed(seed)
    model = gpunn.Sequential([gpunn.Input(shape=(5,)), layers.Dense(6, activation="tanh"),
                              layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    model.build()
    return model


FITS = {
    "ftrl-defaults-lr": lambda: optimizers.Ftrl(learning_rate=0.5),
    "ftrl-regularized-schedule-decay": lambda: optimizers.Ftrl(
        schedules.ExponentialDecay(0.5, decay_steps=4, decay_rate=0.7), learning_rate_power=-0.6,
        l1_regularization_strength=0.002, l2_regularization_strength=0.01, l2_shrinkage_regularization_strength=0.02,
        beta=0.3, weight_decay=0.01),
    "lamb-defaults-lr": lambda: optimizers.Lamb(learning_rate=0.02),
    "lamb-schedule-decay": lambda: optimizers.Lamb(schedules.ExponentialDecay(0.05, decay_steps=4, decay_rate=0.7),
                                                   beta_1=0.85, weight_decay=0.02),
}
RESUMED = ("ftrl-regularized-schedule-decay", "lamb-schedule-decay")


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """gpunn's results and what Keras 3 made of the same work: one Keras run for the whole module."""
    reason = keras_unavailable_reason()
    if reason:
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("ftrl_lamb")
    rng = np.random.default_rng(7)
    ours = {"updates": {}, "fits": {}}
    task = {"updates": {}, "fits": {}}
    for name in CASES:
        task["updates"][name], ours["updates"][name] = _update_case(name, rng)
    x, y = _data()
    np.savez(work / "data.npz", x=x, y=y)
    with gpunn.use_backend("numpy"):
        for name, make in FITS.items():
            model = _model(make())
            model.save(work / f"{name}.keras")  # Keras starts from these weights
            history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
            ours["fits"][name] = (model.get_weights(), history.history["loss"])
            task["fits"][name] = {"before": str(work / f"{name}.keras"), "data": str(work / "data.npz"),
                                  "batch_size": 8, "epochs": 3}
        ours["resume"], task["resume"] = {}, {}
        for name in RESUMED:
            model = _model(FITS[name]())
            model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
            model.save(work / f"{name}-trained.keras")
            saved = [value for _, value in optimizer_variables(model)]
            model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
            ours["resume"][name] = (saved, model.get_weights(), work / f"{name}-trained.keras")
            task["resume"][name] = {"file": str(work / f"{name}-trained.keras"), "data": str(work / "data.npz")}
    return ours, run_keras(KERAS_SIDE, task)


@pytest.mark.parametrize("name", list(CASES))
def test_each_update_equals_keras(compared, name):
    optimizer, segments, initial, history = compared[0]["updates"][name]
    theirs = compared[1]["updates"][name]
    assert theirs["iterations"] == optimizer.iterations == STEPS
    for step, (ours_step, theirs_step) in enumerate(zip(history, theirs["history"])):
        for index, (got, want) in enumerate(zip(ours_step, theirs_step)):
            np.testing.assert_allclose(got, np.asarray(want, dtype=np.float32), rtol=2e-5, atol=1e-6,
                                       err_msg=f"{name}: weight {index} after {step + 1} steps")
    moved = [np.abs(a - b).max() for a, b in zip(history[-1], initial)]
    assert max(moved) > 1e-4, f"{name}: the weights hardly moved ({moved})"
    # Keras's optimizer.variables: iteration, learning_rate (unless a schedule), then per weight its two slots
    # (Ftrl: accumulator and linear, Lamb: momentum and velocity), as gpunn saves them.
    class_name, _, schedule = CASES[name]
    slots = theirs["variables"][1 if schedule else 2:]
    assert len(slots) == 2 * len(segments)
    for index, (start, stop) in enumerate(segments):
        for k, slot in enumerate(SLOTS[class_name]):
            np.testing.assert_allclose(optimizer.slots[slot][start:stop],
                                       np.ravel(np.asarray(slots[2 * index + k], dtype=np.float32)), rtol=2e-5,
                                       atol=1e-6, err_msg=f"{name}: {slot} of weight {index}")


def test_ftrl_l1_makes_weights_exactly_zero_in_both(compared):
    """With l1 = 1.5 some |linear| stay below it: Keras and gpunn both set those weights to exactly 0."""
    _, _, _, history = compared[0]["updates"]["ftrl-regularized"]
    theirs = compared[1]["updates"]["ftrl-regularized"]["history"][-1]
    ours_zero = np.concatenate([w.ravel() == 0.0 for w in history[-1]])
    theirs_zero = np.concatenate([np.ravel(w) == 0.0 for w in theirs])
    assert ours_zero.any() and not ours_zero.all()
    np.testing.assert_array_equal(ours_zero, theirs_zero)


@pytest.mark.parametrize("name", list(FITS))
def test_the_same_fit_ends_with_keras_weights_and_loss(compared, name):
    weights, loss = compared[0]["fits"][name]
    theirs = compared[1]["fits"][name]
    np.testing.assert_allclose(loss, theirs["loss"], rtol=1e-5, err_msg=name)
    for index, (got, want) in enumerate(zip(weights, theirs["weights"])):
        np.testing.assert_allclose(got, np.asarray(want, dtype=got.dtype), rtol=1e-5, atol=1e-6,
                                   err_msg=f"{name}: weight {index}")


@pytest.mark.parametrize("name", RESUMED)
def test_keras_loads_the_slots_gpunn_saved_and_continues_as_gpunn_does(compared, name):
    (saved, continued, path), theirs = compared[0]["resume"][name], compared[1]["resume"][name]
    assert theirs["iterations"] == 2 * 6
    assert len(theirs["variables"]) == len(saved)
    for index, (want, got) in enumerate(zip(saved, theirs["variables"])):
        np.testing.assert_array_equal(np.asarray(got, dtype=want.dtype), want, err_msg=f"variable {index}")
    for index, (ours, keras_weight) in enumerate(zip(continued, theirs["weights"])):
        np.testing.assert_allclose(ours, np.asarray(keras_weight, dtype=ours.dtype), rtol=1e-5, atol=1e-6,
                                   err_msg=f"weight {index}")
    restored = load_model(path)  # and gpunn reads its file back with the same slots
    assert type(restored.optimizer) is type(FITS[name]())
    for (_, value), want in zip(optimizer_variables(restored), saved):
        np.testing.assert_array_equal(value, want)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("name", RESUMED)
def test_resuming_from_a_file_equals_uninterrupted_training(name, suffix, tmp_path, numpy_backend):
    x, y = _data()
    uninterrupted = _model(FITS[name]())
    uninterrupted.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0)
    model = _model(FITS[name]())
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    model.save(tmp_path / f"m{suffix}")
    restored = load_model(tmp_path / f"m{suffix}")
    assert restored.optimizer.get_config() == model.optimizer.get_config()
    slots = SLOTS[type(model.optimizer).__name__]
    assert set(restored.optimizer.slots) == set(slots)
    for slot in slots:
        np.testing.assert_array_equal(restored.optimizer.slots[slot], model.optimizer.slots[slot])
    restored.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert restored.optimizer.iterations == uninterrupted.optimizer.iterations == 4 * 6
    for got, want in zip(restored.get_weights(), uninterrupted.get_weights()):
        np.testing.assert_array_equal(got, want)
    for slot in slots:
        np.testing.assert_array_equal(restored.optimizer.slots[slot], uninterrupted.optimizer.slots[slot])


def test_ftrl_config_round_trip_and_lookup_by_name():
    opt = optimizers.Ftrl(schedules.PolynomialDecay(0.2, 5, cycle=True), learning_rate_power=-0.3,
                          initial_accumulator_value=0.5, l1_regularization_strength=0.1,
                          l2_regularization_strength=0.2, l2_shrinkage_regularization_strength=0.3, beta=0.4,
                          weight_decay=0.01, global_clipnorm=2.0, name="my_ftrl")
    config = optimizers.serialize(opt)
    assert config["class_name"] == "Ftrl"
    assert {k: config["config"][k] for k in ("learning_rate_power", "initial_accumulator_value",
                                              "l1_regularization_strength", "l2_regularization_strength",
                                              "l2_shrinkage_regularization_strength", "beta")} == {
        "learning_rate_power": -0.3, "initial_accumulator_value": 0.5, "l1_regularization_strength": 0.1,
        "l2_regularization_strength": 0.2, "l2_shrinkage_regularization_strength": 0.3, "beta": 0.4}
    clone = optimizers.Ftrl.from_config(json.loads(json.dumps(config["config"])))
    assert clone.get_config() == opt.get_config() and clone.name == "my_ftrl"
    assert type(optimizers.get(config)) is optimizers.Ftrl
    for name in ("ftrl", "Ftrl", "FTRL"):
        assert type(optimizers.get(name)) is optimizers.Ftrl
    model = _model("ftrl")
    assert type(model.optimizer) is optimizers.Ftrl and model.optimizer.learning_rate == 0.001


def test_lamb_config_round_trip_and_lookup_by_name():
    opt = optimizers.Lamb(schedules.CosineDecay(0.1, 20), beta_1=0.7, beta_2=0.9, epsilon=1e-5, clipnorm=0.5)
    config = optimizers.serialize(opt)
    assert config["class_name"] == "Lamb"
    assert (config["config"]["beta_1"], config["config"]["beta_2"], config["config"]["epsilon"]) == (0.7, 0.9, 1e-5)
    assert optimizers.get(config).get_config() == opt.get_config()
    assert type(optimizers.get("lamb")) is optimizers.Lamb and type(_model("lamb").optimizer) is optimizers.Lamb


def test_ftrl_changing_a_regularization_strength_records_the_step_again(numpy_backend):
    """They reach the update as host values: a recorded step must not keep the old one."""
    opt = optimizers.Ftrl()
    version = opt.config_version
    opt.l1_regularization_strength = 0.1
    assert opt.config_version == version + 1
    opt.beta = 0.2
    assert opt.config_version == version + 2
