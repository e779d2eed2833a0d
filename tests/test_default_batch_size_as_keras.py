"""The batch size of arrays when none is given, against Keras 3's (ArrayDataAdapter): with ``steps_per_epoch``
(``fit``) or ``steps`` (``evaluate``, ``predict``) the samples spread over that many batches, ceil(samples /
steps), so that the steps cover the data once; otherwise 32. Validation data takes its own: over
``validation_steps``, else 32 (not the training's). Read-only inputs (np.asarray of a TensorFlow or JAX tensor)
are taken by layers and models called on them."""
from __future__ import annotations

import numpy as np
from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

import gpunn

SCRIPT = r'''
import json, sys
import numpy as np


def run(keras, folder):
    rng = np.random.RandomState(0)
    x, y = rng.randn(100, 4).astype("float32"), rng.randn(100, 1).astype("float32")
    vx, vy = rng.randn(70, 4).astype("float32"), rng.randn(70, 1).astype("float32")

    def model():
        m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        m.set_weights([np.linspace(-0.5, 0.5, 4, dtype="float32").reshape(4, 1), np.zeros(1, "float32")])
        m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        return m

    class Seen(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.train, self.test = 0, 0

        def on_train_batch_end(self, batch, logs=None):
            self.train += 1

        def on_test_batch_end(self, batch, logs=None):
            self.test += 1

    out = {}
    m, seen = model(), Seen()
    history = m.fit(x, y, steps_per_epoch=3, epochs=2, verbose=0, shuffle=False, callbacks=[seen])
    out["fit_steps"] = {"loss": history.history["loss"], "batches": seen.train, "weights": m.get_weights()[0].tolist()}
    m, seen = model(), Seen()
    history = m.fit(x, y, epochs=1, verbose=0, shuffle=False, validation_data=(vx, vy), validation_steps=2,
                    callbacks=[seen])
    out["validation_steps"] = {"val_loss": history.history["val_loss"], "validation_batches": seen.test}
    m, seen = model(), Seen()
    history = m.fit(x, y, steps_per_epoch=2, epochs=1, verbose=0, shuffle=False, validation_data=(vx, vy),
                    callbacks=[seen])
    out["validation_default"] = {"val_loss": history.history["val_loss"], "validation_batches": seen.test}
    m = model()
    out["evaluate_steps"] = [m.evaluate(x, y, steps=2, verbose=0), m.evaluate(x, y, verbose=0)]
    out["predict_steps"] = [list(m.predict(x, steps=1, verbose=0).shape), list(m.predict(x, steps=3, verbose=0).shape)]
    out["given_batch_size"] = list(m.predict(x, steps=2, batch_size=10, verbose=0).shape)
    return out
'''


def test_steps_without_a_batch_size_spread_the_samples_as_keras_does(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours.keys() == theirs.keys()
    for key in ours:
        np.testing.assert_allclose(np.array(_flat(ours[key])), np.array(_flat(theirs[key])), rtol=2e-6,
                                   err_msg=key)
    assert ours["predict_steps"] == [[100, 1], [100, 1]]  # one batch of 100; three of 34, 34 and 32
    assert ours["given_batch_size"] == [20, 1]
    assert ours["fit_steps"]["batches"] == 6
    assert ours["validation_steps"]["validation_batches"] == 2  # two of 35: all 70 rows
    assert ours["validation_default"]["validation_batches"] == 3  # 32, 32 and 6


def _flat(value):
    if isinstance(value, dict):
        return [item for key in sorted(value) for item in _flat(value[key])]
    if isinstance(value, list):
        return [item for element in value for item in _flat(element)]
    return [float(value)]


def test_layers_and_models_take_read_only_arrays(numpy_backend):
    x = np.linspace(-3.0, 3.0, 8, dtype="float32").reshape(2, 4)
    x.flags.writeable = False  # what np.asarray of a TensorFlow or JAX tensor gives
    layers = gpunn.layers
    for layer in (layers.Activation("relu"), layers.ReLU(), layers.Softmax(), layers.ELU(), layers.LeakyReLU()):
        np.testing.assert_allclose(np.asarray(layer(x)), np.asarray(layer(x.copy())))
    model = gpunn.Sequential([gpunn.Input((4,)), layers.Activation("relu"), layers.Dense(1)])
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(model(x.copy())))
    inputs = gpunn.Input((4,))
    functional = gpunn.Model(inputs, layers.Dense(1)(layers.ReLU()(inputs)))
    np.testing.assert_array_equal(np.asarray(functional(x)), np.asarray(functional(x.copy())))
    assert not x.flags.writeable
