"""Regenerates the tf.keras 2 files tests/test_tf_keras_2_files.py reads, written by tf-keras 2.21 (its HDF5 layout):

- tf_keras_held_model.h5: a functional model holding a Sequential made on an Input of its own (tf.keras 2's config
  leaves that model's first node out, and the call reading it counts it: ``['inner', 1, 0, {}]``);
- tf_keras_sgd_schedule.h5: a Dense(1) compiled with SGD without momentum on an ExponentialDecay schedule, trained
  one epoch (tf.keras 2's SGD keeps a momentum slot per weight, holding -learning_rate * gradient);
- tf_keras_two_outputs.h5: a model of two outputs compiled with metrics per output (named 'cls_accuracy',
  'reg_mae' in the file);
and tf_keras_held_files.json: the data, each model's predictions, its metrics names and, for the SGD file, the
weights after one more epoch in tf.keras 2.

Needs TensorFlow and tf-keras (not test dependencies), e.g. in a virtual environment of its own:
    pip install tensorflow-cpu tf-keras && python tests/data/make_tf_keras_held_files.py
"""
from __future__ import annotations

import json
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"

import numpy as np  # noqa: E402
import tf_keras as keras  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 1, (32, 8)).astype("float32")
    y = rng.uniform(-1, 1, (32, 1)).astype("float32")
    classes = rng.randint(0, 3, 32)
    out = {"x": x.tolist(), "y": y.tolist(), "classes": classes.tolist()}

    inner = keras.Sequential([keras.layers.Dense(6, activation="tanh", input_shape=(8,))], name="inner")
    inputs = keras.Input((8,))
    held = keras.Model(inputs, keras.layers.Dense(1)(inner(inputs)))
    held.compile("adam", "mse")
    held.fit(x, y, batch_size=16, shuffle=False, verbose=0)
    held.save(os.path.join(HERE, "tf_keras_held_model.h5"))
    out["held_predictions"] = held.predict(x, verbose=0).tolist()

    sgd = keras.Sequential([keras.layers.Dense(1, input_shape=(8,), kernel_initializer="ones")])
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    sgd.compile(keras.optimizers.SGD(schedule), "mse")
    sgd.fit(x, y, batch_size=16, shuffle=False, verbose=0)
    sgd.save(os.path.join(HERE, "tf_keras_sgd_schedule.h5"))
    sgd.fit(x, y, batch_size=16, shuffle=False, verbose=0)
    out["sgd_resumed_weights"] = [w.tolist() for w in sgd.get_weights()]
    out["sgd_iterations"] = int(sgd.optimizer.iterations.numpy())

    inputs = keras.Input((8,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    two = keras.Model(inputs, [keras.layers.Dense(3, activation="softmax", name="cls")(hidden),
                               keras.layers.Dense(1, name="reg")(hidden)])
    two.compile("adam", {"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                metrics={"cls": ["accuracy"], "reg": ["mae"]})
    two.fit(x, {"cls": classes, "reg": y}, batch_size=16, shuffle=False, verbose=0)
    two.save(os.path.join(HERE, "tf_keras_two_outputs.h5"))
    out["two_metrics_names"] = two.metrics_names
    out["two_history_keys"] = sorted(two.fit(x, {"cls": classes, "reg": y}, verbose=0).history)

    with open(os.path.join(HERE, "tf_keras_held_files.json"), "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
