"""Logs of a subclassed model returning its outputs as a tuple (Deep Learning with Python's CustomerTicketModel,
Hands-On ML's WideAndDeepModel), as Keras 3 names and orders them: each output's loss by the name it was given
("mse_loss"), each metric by its own name (numbered when repeated), and ``evaluate`` listing the loss, the metrics,
then the outputs' losses. Run by Keras 3 and by gpunn from one script, from the same weights."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

SCRIPT = r'''
import json, sys
import numpy as np


def run(keras, folder):
    layers = keras.layers

    class Ticket(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.mix = layers.Dense(6, activation="relu")
            self.priority = layers.Dense(1, activation="sigmoid")
            self.department = layers.Dense(3, activation="softmax")

        def call(self, inputs):
            hidden = self.mix(inputs)
            return self.priority(hidden), self.department(hidden)

    rng = np.random.default_rng(4)
    x = rng.normal(size=(24, 5)).astype("float32")
    priority, department = rng.uniform(size=(24, 1)).astype("float32"), rng.integers(0, 3, 24)
    out = {}
    for case, loss, metrics in (
            ("distinct", ["mean_squared_error", keras.losses.SparseCategoricalCrossentropy()],
             [["mean_absolute_error"], ["accuracy"]]),
            ("shared", "mse", [["mae"], ["mae"]])):
        model = Ticket()
        model(x[:1])
        model.set_weights([np.random.default_rng(k).normal(0, 0.5, w.shape).astype("float32")
                           for k, w in enumerate(model.get_weights())])
        targets = (priority, department) if case == "distinct" else (priority, np.eye(3, dtype="float32")[department])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss, metrics=metrics)
        history = model.fit(x, targets, epochs=2, batch_size=8, shuffle=False, verbose=0,
                            validation_data=(x[:8], tuple(target[:8] for target in targets)))
        out[case] = {"history": {key: value for key, value in history.history.items()},
                     "evaluate": model.evaluate(x, targets, verbose=0),
                     "return_dict": model.evaluate(x, targets, verbose=0, return_dict=True)}
    return out
'''


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    return run_script_both_ways(SCRIPT, tmp_path_factory)


def test_distinct_losses_are_named_and_listed_as_in_keras(both):
    ours, theirs = both
    ours, theirs = ours["distinct"], theirs["distinct"]
    assert list(ours["history"]) == list(theirs["history"])
    assert list(ours["return_dict"]) == list(theirs["return_dict"]) == [
        "accuracy", "loss", "mean_absolute_error", "mean_squared_error_loss", "sparse_categorical_crossentropy_loss"]
    for key in ours["history"]:
        np.testing.assert_allclose(ours["history"][key], theirs["history"][key], rtol=2e-5, err_msg=key)
    # evaluate's list: the loss, the metrics, then the outputs' losses, position for position
    np.testing.assert_allclose(ours["evaluate"], theirs["evaluate"], rtol=2e-5)


def test_a_loss_shared_by_the_outputs_is_logged_as_keras_logs_it(both):
    """Keras names both outputs' losses "mse_loss": its logs keep the second output's, and evaluate lists it
    twice; gpunn does the same. (Keras's evaluate list also repeats the first "mae" where the second output's
    "mae_1" belongs, and adds "mae_1" at the end; gpunn lists each metric once, in its place.)"""
    ours, theirs = both
    ours, theirs = ours["shared"], theirs["shared"]
    assert list(ours["history"]) == list(theirs["history"]) == [
        "loss", "mae", "mae_1", "mse_loss", "val_loss", "val_mae", "val_mae_1", "val_mse_loss"]
    for key in theirs["history"]:
        np.testing.assert_allclose(ours["history"][key], theirs["history"][key], rtol=2e-5, err_msg=key)
    np.testing.assert_allclose(ours["evaluate"][:2], theirs["evaluate"][:2], rtol=2e-5)
    np.testing.assert_allclose(ours["evaluate"][3:], theirs["evaluate"][3:5], rtol=2e-5)
    assert ours["evaluate"][2] == pytest.approx(ours["return_dict"]["mae_1"])


def test_a_loss_class_of_the_user_s_is_named_as_keras_names_it(numpy_backend):
    import gpunn

    class HuberLoss(gpunn.losses.Loss):
        def call(self, y_true, y_pred):
            return gpunn.ops.mean(gpunn.ops.abs(y_true - y_pred), axis=-1)

    gpunn.backend.clear_session()
    assert [HuberLoss().name, HuberLoss().name, HuberLoss(name="mine").name] == ["huber_loss", "huber_loss_1", "mine"]
