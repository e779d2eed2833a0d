"""tf.keras 2's legacy optimizers (``gpunn.optimizers.legacy``) against what tf.keras 2 itself computed
(tests/data/tf_keras_legacy_optimizers.json and tf_keras_legacy_rmsprop.h5, written by
tests/data/make_legacy_optimizers_reference.py with the tf-keras package): the same training, configs, learning
rates with ``decay`` and a LearningRateScheduler, a tf.keras 2 file resumed; and the arguments refused."""
from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest

import gpunn
from gpunn.optimizers import legacy

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
with open(os.path.join(DATA, "tf_keras_legacy_optimizers.json")) as _f:
    REFERENCE = json.load(_f)


def _data():
    x, y = (np.array(REFERENCE[key], np.float32) for key in ("x", "y"))
    return x, y, [np.array(w, np.float32) for w in REFERENCE["weights"]]


def _optimizer(class_name, arguments):
    arguments = dict(arguments)
    if "schedule" in arguments:
        arguments["learning_rate"] = gpunn.optimizers.schedules.ExponentialDecay(**arguments.pop("schedule"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # lr's deprecation, tested below
        return getattr(legacy, class_name)(**arguments)


def _model(weights, optimizer):
    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(2)])
    model.set_weights(weights)
    model.compile(optimizer, "mse")
    return model


def _close_configs(ours, theirs):
    # tf.keras 2 keeps hyperparameters in float32
    assert list(ours) == list(theirs)
    for key, value in theirs.items():
        if isinstance(value, float):
            assert ours[key] == pytest.approx(value, rel=1e-6), key
        elif isinstance(value, dict):
            # a schedule: tf.keras 2 names it None by default, Keras 3 by its class
            _close_configs({k: v for k, v in ours[key]["config"].items() if k != "name"},
                           {k: v for k, v in value["config"].items() if k != "name"})
        else:
            assert ours[key] == value, key


@pytest.mark.parametrize("case", sorted(REFERENCE["cases"]))
def test_training_equals_tf_keras_2(case):
    expected = REFERENCE["cases"][case]
    x, y, weights = _data()
    optimizer = _optimizer(expected["class"], expected["arguments"])
    model = _model(weights, optimizer)
    history = model.fit(x, y, batch_size=REFERENCE["batch_size"], epochs=REFERENCE["epochs"], shuffle=False,
                        verbose=0)
    moved = max(np.abs(np.array(t) - w).max() for t, w in zip(expected["trained"], weights))
    for ours, theirs in zip(model.get_weights(), expected["trained"]):
        # float32 rounding of a dozen steps (Adam-family updates drift ~1e-6 relative per step)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=2e-5 * moved)
    np.testing.assert_allclose(history.history["loss"], expected["loss"], rtol=2e-4)
    assert int(optimizer.iterations) == expected["iterations"]
    _close_configs(optimizer.get_config(), expected["config"])


def test_epsilon_placement_matters_in_these_cases():
    """The reference's small gradients tell sqrt(v) + eps from sqrt(v + eps): Keras 3's RMSprop, trained the
    same way, ends far from tf.keras 2's legacy one (so the test above checks the legacy placement)."""
    expected = REFERENCE["cases"]["rmsprop_decay"]
    x, y, weights = _data()
    rate = gpunn.optimizers.schedules.InverseTimeDecay(0.01, 1, 0.1)  # the legacy decay, as a schedule
    model = _model(weights, gpunn.optimizers.RMSprop(rate))
    model.fit(x, y, batch_size=REFERENCE["batch_size"], epochs=REFERENCE["epochs"], shuffle=False, verbose=0)
    moved = np.abs(np.array(expected["trained"][0]) - weights[0]).max()
    assert np.abs(model.get_weights()[0] - np.array(expected["trained"][0])).max() > 0.1 * moved


def test_learning_rate_scheduler_sets_the_rate_decay_divides():
    expected = REFERENCE["scheduler"]
    x, y, weights = _data()
    model = _model(weights, legacy.SGD(0.05, momentum=0.9, decay=0.05))
    history = model.fit(x, y, batch_size=REFERENCE["batch_size"], epochs=3, shuffle=False, verbose=0,
                        callbacks=[gpunn.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)])
    # tf.keras 2 logs the rate before decay divides it ("lr" there; Keras 3's name here)
    np.testing.assert_allclose(history.history["learning_rate"], expected["lr"], rtol=1e-6)
    for ours, theirs in zip(model.get_weights(), expected["trained"]):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
    assert float(model.optimizer.learning_rate) == pytest.approx(expected["lr"][-1])
    assert float(model.optimizer.lr) == float(model.optimizer.learning_rate)


def _fit_with_rate_changes(weights, jit: bool, callbacks):
    x, y, _ = _data()
    model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(2)])
    model.set_weights(weights)
    model.compile(legacy.SGD(0.05, momentum=0.9, decay=0.05), "mse", jit_compile=jit)
    history = model.fit(x, y, batch_size=REFERENCE["batch_size"], epochs=4, shuffle=False, verbose=0,
                        callbacks=callbacks)
    return model, history


def test_a_callback_setting_a_decayed_rate_keeps_the_recorded_step(monkeypatch):
    """decay's division reads the rate on the device: a LearningRateScheduler halving it each epoch leaves the
    recorded step (on a GPU, its CUDA graph) as it is, and the replayed training equals the eager one bit for
    bit."""
    from gpunn.trainer import train_step

    recordings = []

    class CountedRecording(train_step.Recording):
        def __enter__(self):
            recordings.append(1)
            return super().__enter__()

    monkeypatch.setattr(train_step, "Recording", CountedRecording)
    _, _, weights = _data()
    halve = [gpunn.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)]
    _fit_with_rate_changes(weights, True, [])
    unchanged = len(recordings)
    replayed, history = _fit_with_rate_changes(weights, True, halve)
    assert len(recordings) == 2 * unchanged  # as many recordings as without a change of rate
    assert history.history["learning_rate"] == pytest.approx([0.025, 0.0125, 0.00625, 0.003125])
    eager, eager_history = _fit_with_rate_changes(weights, False, halve)
    for ours, theirs in zip(replayed.get_weights(), eager.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    assert history.history["loss"] == eager_history.history["loss"]


@pytest.mark.parametrize("name", ["rmsprop", "adam"])
def test_a_tf_keras_2_file_with_a_legacy_optimizer_loads_and_resumes(name):
    expected = REFERENCE["h5_files"][name]
    x, y, _ = _data()
    model = gpunn.models.load_model(os.path.join(DATA, f"tf_keras_legacy_{name}.h5"))
    assert type(model.optimizer) is getattr(legacy, expected["class"])
    _close_configs(model.optimizer.get_config(), expected["config"])
    model.fit(x, y, batch_size=REFERENCE["batch_size"], epochs=1, shuffle=False, verbose=0)
    for ours, theirs in zip(model.get_weights(), expected["resumed"]):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


@pytest.mark.parametrize("suffix", ["keras", "h5"])
def test_saved_and_loaded_by_gpunn_a_legacy_optimizer_resumes_bit_for_bit(tmp_path, suffix):
    x, y, weights = _data()
    model = _model(weights, legacy.Adagrad(0.1, decay=0.1, clipnorm=0.01))
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    path = str(tmp_path / f"model.{suffix}")
    model.save(path)
    loaded = gpunn.models.load_model(path)
    assert type(loaded.optimizer) is legacy.Adagrad
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    for net in (model, loaded):
        net.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for ours, theirs in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


def test_serialized_with_keras_2_module_and_read_back():
    optimizer = legacy.RMSprop(0.01, momentum=0.5, decay=0.01, clipvalue=0.5)
    serialized = gpunn.optimizers.serialize(optimizer)
    assert serialized["module"] == "keras.optimizers.legacy"
    assert serialized["config"] == {"name": "RMSprop", "clipvalue": 0.5, "learning_rate": 0.01, "decay": 0.01,
                                    "rho": 0.9, "momentum": 0.5, "epsilon": 1e-7, "centered": False}
    again = gpunn.optimizers.get(serialized)
    assert type(again) is legacy.RMSprop and again.get_config() == serialized["config"]
    # the form tf_keras's serialize gives (no module, no is_legacy_optimizer: Keras 2 reads it as legacy)
    keras_2 = gpunn.optimizers.deserialize({"class_name": "Adam", "config": {
        "name": "Adam", "learning_rate": 0.001, "decay": 0.0, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
        "amsgrad": False}})
    assert type(keras_2) is legacy.Adam
    # a config Keras 3 or tf.keras 2.11+'s new optimizers wrote stays Keras 3's class
    assert type(gpunn.optimizers.get({"class_name": "Adam", "config": {"learning_rate": 0.01}})) is \
        gpunn.optimizers.Adam


def test_legacy_arguments_and_names():
    with pytest.warns(UserWarning, match="`lr` argument is deprecated"):
        optimizer = legacy.SGD(lr=0.3)
    assert float(optimizer.learning_rate) == pytest.approx(0.3)
    assert (optimizer.name, legacy.Adam().name, legacy.Adam().name) == ("SGD", "Adam", "Adam")
    assert isinstance(legacy.Adam(), gpunn.optimizers.Adam)
    assert legacy.Optimizer is gpunn.optimizers.Optimizer
    assert gpunn.optimizers.get("adam").__class__ is gpunn.optimizers.Adam  # names stay Keras 3's


@pytest.mark.parametrize("arguments, error, words", [
    ({"weight_decay": 0.1}, TypeError, "weight_decay"),
    ({"decay": -0.1}, ValueError, "decay"),
    ({"decay": "0.1"}, ValueError, "decay"),
    ({"lr": -1.0}, ValueError, "lr"),
    ({"clipnorm": -1.0}, ValueError, "clipnorm"),
])
def test_bad_arguments_are_refused_by_name(arguments, error, words):
    with pytest.raises(error, match=words):
        legacy.Adam(**arguments)


def test_legacy_nadam_is_refused_by_name():
    with pytest.raises(NotImplementedError, match="legacy Nadam"):
        legacy.Nadam(0.01)
    with pytest.raises(NotImplementedError, match="legacy Nadam"):
        gpunn.optimizers.deserialize({"class_name": "Nadam", "config": {"name": "Nadam", "decay": 0.004}})


def test_a_number_replaces_a_schedule_as_in_keras_2():
    for decay in (0.0, 0.1):
        optimizer = legacy.Adam(gpunn.optimizers.schedules.ExponentialDecay(0.01, 10, 0.5), decay=decay)
        optimizer.learning_rate = 0.003
        assert float(optimizer.learning_rate) == pytest.approx(0.003)
        assert optimizer.get_config()["learning_rate"] == 0.003


def test_a_number_replacing_a_decayed_schedule_is_the_rate_the_device_reads():
    """A LearningRateScheduler setting a number over a legacy optimizer made with a schedule and decay (Keras 2's
    _set_hyper): its training from then on is that of the optimizer made with the number, the rate the recorded
    step reads on the device included."""
    _, _, weights = _data()
    x, y, _ = _data()
    trained = []
    for rate in (gpunn.optimizers.schedules.ExponentialDecay(0.3, decay_steps=2, decay_rate=0.5), 0.1):
        model = gpunn.Sequential([gpunn.Input((3,)), gpunn.layers.Dense(2)])
        model.set_weights(weights)
        model.compile(legacy.SGD(rate, decay=0.05), "mse", jit_compile=True)
        model.fit(x, y, batch_size=REFERENCE["batch_size"], epochs=2, shuffle=False, verbose=0,
                  callbacks=[gpunn.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1)])
        trained.append(model.get_weights())
    for ours, theirs in zip(*trained):
        np.testing.assert_array_equal(ours, theirs)
    assert np.abs(trained[0][0] - weights[0]).max() > 1e-3  # it trained
