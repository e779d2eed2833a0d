"""The orders ``fit`` shuffles samples in go on from one ``fit`` to the next, as Keras's (drawn from NumPy's
global stream): a fit in pieces trains as the fit in one go; ``set_random_seed`` starts them again."""
from __future__ import annotations

import numpy as np

import gpunn
from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

PIECES = r'''
import json
import sys

import numpy as np


def run(keras, folder):
    x = np.linspace(-1, 1, 96, dtype="float32").reshape(32, 3)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], "float32")).astype("float32")

    def trained(pieces):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, kernel_initializer="zeros")])
        model.compile(keras.optimizers.SGD(0.1), "mse")
        done = 0
        for epochs in pieces:  # (shuffle=True, fit's default)
            model.fit(x, y, batch_size=8, initial_epoch=done, epochs=done + epochs, verbose=0)
            done += epochs
        return model.get_weights()[0]

    whole = trained([4])
    return {"pieces equal the whole": bool(np.array_equal(trained([2, 2]), whole)),
            "three pieces": bool(np.array_equal(trained([1, 2, 1]), whole))}
'''


def test_a_fit_in_pieces_shuffles_as_the_fit_in_one_go_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(PIECES, tmp_path_factory)
    assert ours == theirs == {"pieces equal the whole": True, "three pieces": True}


def _fitted(model, x, y, seed=None, epochs=2):
    if seed is not None:
        gpunn.utils.set_random_seed(seed)
    model.fit(x, y, batch_size=4, epochs=epochs, verbose=0)
    return [w.copy() for w in model.get_weights()]


def test_set_random_seed_starts_the_orders_again(numpy_backend):
    x = np.linspace(-1, 1, 40, dtype="float32").reshape(20, 2)
    y = np.sin(3 * x).sum(axis=1, keepdims=True)

    def model():
        made = gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(1, kernel_initializer="ones")])
        made.compile(gpunn.optimizers.SGD(0.05), "mse")
        return made

    first, second = model(), model()
    _fitted(first, x, y, seed=3)
    _fitted(second, x, y, seed=3)
    # the next fits: reseeded alike, the two shuffle alike; going on without a reseed, the orders are others
    reseeded = [_fitted(m, x, y, seed=5) for m in (first, second)]
    for a, b in zip(*reseeded):
        np.testing.assert_array_equal(a, b)
    going_on = _fitted(first, x, y)
    _fitted(second, x, y, seed=5)
    assert not np.array_equal(going_on[0], second.get_weights()[0])


def test_numpy_s_global_seed_repeats_the_orders_as_in_keras(numpy_backend):
    """Keras draws its orders from NumPy's global stream, so a script seeding it alone (the tf.keras habit)
    shuffles alike each run; so does gpunn, whose models seed their orders from that stream."""
    x = np.linspace(-1, 1, 40, dtype="float32").reshape(20, 2)
    y = np.sin(3 * x).sum(axis=1, keepdims=True)
    weights = []
    for _ in range(2):
        np.random.seed(5)
        model = gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(1, kernel_initializer="ones")])
        model.compile(gpunn.optimizers.SGD(0.05), "mse")
        model.fit(x, y, batch_size=4, epochs=3, verbose=0)
        weights.append(model.get_weights()[0])
    np.testing.assert_array_equal(*weights)
    np.random.seed(6)
    other = gpunn.Sequential([gpunn.Input((2,)), gpunn.layers.Dense(1, kernel_initializer="ones")])
    other.compile(gpunn.optimizers.SGD(0.05), "mse")
    other.fit(x, y, batch_size=4, epochs=3, verbose=0)
    assert not np.array_equal(other.get_weights()[0], weights[0])
