"""A subclassed keras.Model not yet called, given to a Sequential (Dive into Deep Learning's ``MyDense(keras.Model)``
and ``NestMLP`` examples): it learns its layers from its call() on what the chain before it makes, as Keras builds
it at the Sequential's first call; where the Sequential's input shape is unknown, the refusal says what to do."""
import numpy as np
import pytest

import gpunn
from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

SCRIPT = '''
import json, sys
import numpy as np


def run(keras, folder):
    ops = keras.ops
    tenth = keras.initializers.Constant(0.1)

    class MyDense(keras.Model):
        def __init__(self, units):
            super().__init__()
            self.units = units

        def build(self, shape):
            self.weight = self.add_weight(name="weight", shape=[shape[-1], self.units], initializer="ones")
            self.bias = self.add_weight(name="bias", shape=[self.units], initializer="zeros")

        def call(self, x):
            return ops.relu(ops.matmul(x, self.weight) + self.bias)

    class NestMLP(keras.Model):
        def __init__(self):
            super().__init__()
            self.net = keras.Sequential([keras.layers.Dense(6, activation="relu", kernel_initializer=tenth)])
            self.dense = keras.layers.Dense(3, kernel_initializer=tenth)

        def call(self, x):
            return self.dense(self.net(x))

    x = np.linspace(-1, 1, 2 * 5, dtype="float32").reshape(2, 5)
    mine = keras.Sequential([keras.Input((5,)), MyDense(4), MyDense(2)])
    chimera = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, kernel_initializer=tenth)])
    chimera.add(NestMLP())
    chimera.add(keras.layers.Dense(2, kernel_initializer=tenth))
    chimera.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    chimera.fit(x, np.ones((2, 2), "float32"), epochs=2, verbose=0, shuffle=False)
    assert np.isfinite(chimera.predict(x, verbose=0)).all()
    return {"mine": np.asarray(mine(x)).tolist(), "mine_paths": [w.path for w in mine.weights],
            "chimera": np.asarray(chimera.predict(x, verbose=0)).tolist(),
            "chimera_shapes": [list(w.shape) for w in chimera.weights]}
'''


def test_a_subclassed_model_learns_its_layers_where_it_is_added_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours["mine_paths"] == theirs["mine_paths"]
    assert ours["chimera_shapes"] == theirs["chimera_shapes"]
    np.testing.assert_allclose(ours["mine"], theirs["mine"], rtol=1e-6)
    np.testing.assert_allclose(ours["chimera"], theirs["chimera"], rtol=1e-5)


def test_a_subclassed_model_added_before_the_input_shape_is_known_is_told_what_to_do(numpy_backend):
    class Two(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.dense = gpunn.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(ValueError, match=r"layer: the model 'two\w*' \(Two, a subclass of keras.Model\).*"
                                         r"keras.Input\(shape=...\).*model\(x\[:1\]\).*keras.layers.Layer"):
        gpunn.Sequential([Two(), gpunn.layers.Dense(1)])
    called = Two()
    called(np.ones((1, 3), "float32"))
    model = gpunn.Sequential([called, gpunn.layers.Dense(1)])
    assert model.predict(np.ones((4, 3), "float32"), verbose=0).shape == (4, 1)
