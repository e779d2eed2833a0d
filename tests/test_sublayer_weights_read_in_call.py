"""A layer of the user's whose call() reads a weight of a layer it holds directly (``self.dense.bias * h``, tied
embeddings ``ops.matmul(h, ops.transpose(self.embedding.embeddings))``), or a Variable on the left of an operator
(``temperature * x``): the gradient of that use reaches the weight, added to what the sublayer's own calls give,
as in Keras (it was read as a constant, or cut the gradient of everything before it)."""
from __future__ import annotations

from helpers import run_script_both_ways

SCRIPT = r'''
import json, sys
import numpy as np

def run(keras, folder):
    layers, ops = keras.layers, keras.ops
    temperature = keras.Variable(np.float32(0.5), trainable=False, name="temperature")

    class Scaled(layers.Layer):
        def call(self, x):
            return temperature * x

    class Gate(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(2, kernel_initializer="ones", bias_initializer=keras.initializers.Constant(0.5))

        def build(self, input_shape):
            self.dense.build(input_shape)

        def call(self, x):
            return self.dense(x) + ops.multiply(self.dense.bias, x) + self.dense.bias * self.dense(x)

    class Tied(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embedding = layers.Embedding(2, 3, embeddings_initializer=keras.initializers.Constant(0.1))

        def build(self, input_shape):
            self.embedding.build((None,))

        def call(self, x):
            hidden = ops.tanh(ops.matmul(x, self.embedding.embeddings))  # (batch, 3)
            return ops.matmul(hidden, ops.transpose(self.embedding.embeddings))

    x = np.linspace(-1, 1, 16, dtype="float32").reshape(8, 2)
    y = 3 * x
    found = {}
    for last in (Scaled, Gate, Tied):
        model = keras.Sequential([keras.Input((2,)), layers.Dense(2, kernel_initializer="ones"), last()])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        history = model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
        found[last.__name__] = [np.round(history.history["loss"], 5).tolist(),
                                [np.round(w, 4).tolist() for w in model.get_weights()]]
    return found
'''


def test_weights_read_in_a_call_train_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours == theirs
