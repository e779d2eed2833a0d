"""Regenerates tf_keras_mlp.h5, a file written by tf.keras 2 itself, which tests/test_keras_files.py loads:

- tf_keras_mlp.h5: the small Sequential of make_keras_files.py, trained one epoch and saved by tf.keras 2
  (the ``tf-keras`` package, TensorFlow's Keras 2, ``model.save(...h5)``: its legacy HDF5 layout);
- tf_keras_mlp.json: what tf.keras computed for it: the inputs, its predictions, its weights, its optimizer's
  step count and learning rate, its weights after one more training step on the first batch (to check that
  gpunn resumes the optimizer where tf.keras left it), and the TensorFlow and tf.keras versions.

Needs TensorFlow and tf-keras (not test dependencies: about 250 MB), e.g. in a virtual environment of its own:
    pip install tensorflow-cpu tf-keras && python tests/data/make_tf_keras_file.py
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


def main() -> int:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 4)).astype(np.float32)
    y = rng.integers(0, 3, 12)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(shape=(4,)),
        keras.layers.Dense(5, activation="relu", kernel_regularizer=keras.regularizers.L2(1e-3)),
        keras.layers.BatchNormalization(),
        keras.layers.Dropout(0.0),
        keras.layers.Dense(3),
        keras.layers.LayerNormalization(),
        keras.layers.Activation("softmax"),
    ], name="tf_keras_mlp")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    model.save(os.path.join(HERE, "tf_keras_mlp.h5"))
    expected = {
        "tensorflow_version": tf.__version__,
        "tf_keras_version": keras.__version__,
        "x": x.tolist(),
        "y": y.tolist(),
        "predictions": np.asarray(model.predict(x, verbose=0)).tolist(),
        "iterations": int(model.optimizer.iterations.numpy()),
        "learning_rate": float(model.optimizer.learning_rate.numpy()),
        "weights": [np.asarray(w).tolist() for w in model.get_weights()],
    }
    model.train_on_batch(x[:4], y[:4])
    expected["weights_after_one_more_step"] = [np.asarray(w).tolist() for w in model.get_weights()]
    with open(os.path.join(HERE, "tf_keras_mlp.json"), "w") as handle:
        json.dump(expected, handle, indent=1)
        handle.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
