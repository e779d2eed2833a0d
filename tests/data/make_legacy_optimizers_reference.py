"""Regenerates what tests/test_legacy_optimizers.py compares gpunn.optimizers.legacy with, computed by tf.keras 2's
own legacy optimizers (the ``tf-keras`` package, ``tf.keras.optimizers.legacy``):

- tf_keras_legacy_optimizers.json: a Dense(2) trained full-batch-by-halves on fixed small data by each optimizer
  (arguments as given here, ``decay`` and ``lr`` among them, a schedule, clipping, a LearningRateScheduler): the
  weights and losses after training, the optimizer's config and learning rate;
- tf_keras_legacy_rmsprop.h5, tf_keras_legacy_adam.h5: that model compiled with legacy RMSprop(decay=...) or
  Adam(decay=..., amsgrad=True), trained one epoch and saved by tf.keras 2 (its HDF5 layout, the optimizer's
  config and slots), with the weights after one more epoch in the JSON file (gpunn loads the file and resumes).

Needs TensorFlow and tf-keras (not test dependencies), e.g. in a virtual environment of its own:
    pip install tensorflow-cpu tf-keras && python tests/data/make_legacy_optimizers_reference.py
"""
from __future__ import annotations

import json
import os
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# (class, keyword arguments) of each case; a "schedule" argument is ExponentialDecay(**its value).
CASES = {
    "sgd_lr_decay": ("SGD", {"lr": 0.1, "decay": 0.05}),
    "sgd_nesterov": ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True, "decay": 0.01}),
    "adam_decay": ("Adam", {"learning_rate": 0.01, "decay": 0.1}),
    "adam_amsgrad": ("Adam", {"learning_rate": 0.01, "amsgrad": True}),
    "adam_schedule_decay": ("Adam", {"schedule": {"initial_learning_rate": 0.01, "decay_steps": 4,
                                                  "decay_rate": 0.5}, "decay": 0.1}),
    "rmsprop_decay": ("RMSprop", {"learning_rate": 0.01, "decay": 0.1}),
    "rmsprop_momentum": ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5}),
    "rmsprop_centered": ("RMSprop", {"learning_rate": 0.01, "centered": True}),
    "rmsprop_centered_momentum": ("RMSprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.5}),
    "rmsprop_clipnorm": ("RMSprop", {"learning_rate": 0.01, "clipnorm": 0.001, "decay": 0.01}),
    "adagrad": ("Adagrad", {"learning_rate": 0.1}),
    "adagrad_from_zero": ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.0}),
    "adadelta": ("Adadelta", {"learning_rate": 1.0, "decay": 0.01}),
    "adamax_decay": ("Adamax", {"learning_rate": 0.01, "decay": 0.1}),
    "ftrl": ("Ftrl", {"learning_rate": 0.1, "l1_regularization_strength": 0.01,
                      "l2_regularization_strength": 0.01, "beta": 0.1, "decay": 0.01}),
}
EPOCHS, BATCH = 6, 8  # two steps an epoch


def data():
    rng = np.random.default_rng(0)
    # small values: small gradients, where the place of epsilon sits (sqrt(v) + eps or sqrt(v + eps)) matters
    x = (rng.standard_normal((16, 3)) * 0.05).astype(np.float32)
    y = (rng.standard_normal((16, 2)) * 0.05).astype(np.float32)
    weights = [rng.standard_normal((3, 2)).astype(np.float32), np.zeros(2, np.float32)]
    return x, y, weights


def optimizer(class_name, arguments):
    arguments = dict(arguments)
    if "schedule" in arguments:
        arguments["learning_rate"] = keras.optimizers.schedules.ExponentialDecay(**arguments.pop("schedule"))
    return getattr(keras.optimizers.legacy, class_name)(**arguments)


def model(weights, opt):
    net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    net.set_weights(weights)
    net.compile(opt, "mse")
    return net


def plain(value):
    """JSON's form of a config value (float32 hyperparameters as Python floats)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return float(value) if isinstance(value, (np.floating, float)) else value


def main() -> int:
    x, y, weights = data()
    out = {"x": x.tolist(), "y": y.tolist(), "weights": [w.tolist() for w in weights], "epochs": EPOCHS,
           "batch_size": BATCH, "cases": {}, "tensorflow": tf.__version__, "tf_keras": keras.__version__}
    for name, (class_name, arguments) in CASES.items():
        opt = optimizer(class_name, arguments)
        net = model(weights, opt)
        history = net.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0)
        out["cases"][name] = {"class": class_name, "arguments": arguments, "loss": history.history["loss"],
                              "trained": [w.tolist() for w in net.get_weights()],
                              "config": plain(opt.get_config()), "iterations": int(opt.iterations.numpy())}

    # A LearningRateScheduler setting the rate that decay then divides
    net = model(weights, optimizer("SGD", {"learning_rate": 0.05, "momentum": 0.9, "decay": 0.05}))
    history = net.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0,
                      callbacks=[keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)])
    out["scheduler"] = {"lr": [float(v) for v in history.history["lr"]], "loss": history.history["loss"],
                        "trained": [w.tolist() for w in net.get_weights()]}

    # Files tf.keras 2 wrote with a legacy optimizer in them (Adam's two kinds of slots made kind by kind), and
    # where one more epoch takes the model
    out["h5_files"] = {}
    for name, class_name, arguments in (("rmsprop", "RMSprop", {"learning_rate": 0.01, "decay": 0.05}),
                                        ("adam", "Adam", {"learning_rate": 0.01, "decay": 0.05, "amsgrad": True})):
        net = model(weights, optimizer(class_name, arguments))
        net.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        net.save(os.path.join(HERE, f"tf_keras_legacy_{name}.h5"))
        net.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        out["h5_files"][name] = {"class": class_name, "resumed": [w.tolist() for w in net.get_weights()],
                                 "config": plain(net.optimizer.get_config())}

    with open(os.path.join(HERE, "tf_keras_legacy_optimizers.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
