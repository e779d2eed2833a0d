"""Regenerates the Keras-written reference files that tests/test_keras_files.py loads (no Keras needed there):

- keras3_mlp.keras: a small Sequential trained a few steps, saved by Keras 3 (``model.save(...keras)``);
- keras3_mlp.h5: the same model saved by Keras 3 as an HDF5 file (``model.save(...h5)``, which is
  keras/src/legacy/saving/legacy_h5_format.py ``save_model_to_hdf5``, Keras 3's writer of tf.keras's legacy
  layout). It is not a file written by tf.keras 2 itself (TensorFlow is not installed here);
- keras3_mlp.json: what Keras computed for them: the inputs, its predictions, its optimizer's step count and
  learning rate, and its weights after one more training step on the first batch (to check that gpunn resumes
  the optimizer where Keras left it).

Run with Keras 3 on the jax backend (no TensorFlow):  python tests/data/make_keras_files.py
"""
from __future__ import annotations

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"

import keras  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def build():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(shape=(4,)),
        keras.layers.Dense(5, activation="relu", kernel_regularizer=keras.regularizers.L2(1e-3)),
        keras.layers.BatchNormalization(),
        keras.layers.Dropout(0.0),  # rate 0: its class and config are read, and resuming stays comparable
        keras.layers.Dense(3),
        keras.layers.LayerNormalization(),
        keras.layers.Activation("softmax"),
    ], name="keras_mlp")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def main() -> int:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 4)).astype(np.float32)
    y = rng.integers(0, 3, 12)
    model = build()
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    model.save(os.path.join(HERE, "keras3_mlp.keras"))
    model.save(os.path.join(HERE, "keras3_mlp.h5"))
    expected = {
        "keras_version": keras.__version__,
        "x": x.tolist(),
        "y": y.tolist(),
        "predictions": np.asarray(model.predict(x, verbose=0)).tolist(),
        "iterations": int(model.optimizer.iterations),
        "learning_rate": float(model.optimizer.learning_rate),
    }
    model.train_on_batch(x[:4], y[:4])
    expected["weights_after_one_more_step"] = [np.asarray(w).tolist() for w in model.get_weights()]
    with open(os.path.join(HERE, "keras3_mlp.json"), "w") as handle:
        json.dump(expected, handle, indent=1)
        handle.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
