"""A layer of the user's whose call() reads a weight of a layer it holds directly (``self.dense.bias * h``, tied
embeddings ``ops.matmul(h, ops.transpose(self.embedding.embeddings))``), or a Variable on the left of an operator
(``temperature * x``): the gradient of that use reaches the weight, added to what the sublayer's own calls give,
as in Keras (it was read as a constant, or cut the gradient of everything before it), below a layer of the user's
too; and a model's own compute_loss whose loss depends on a weight is refused (gpunn differentiates it with respect
to y_pred only)."""
from __future__ import annotations

from helpers import numpy_backend, run_script_both_ways  # noqa: F401  (fixture)

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

    class Inner(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(2, use_bias=False, kernel_initializer="ones")

        def build(self, input_shape):
            self.dense.build(input_shape)
            self.w = self.add_weight(shape=(2, 2), initializer="ones")

        def call(self, x):
            return self.dense(x) + ops.matmul(x, self.w)

    class Outer(layers.Layer):  # reads the weights of layers below a layer of the user's, after calling it
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = Inner()

        def call(self, x):
            h = self.inner(x)
            return h + ops.matmul(x, self.inner.w) + self.inner.dense.kernel[0] * x + \
                ops.matmul(x, self.inner.dense.kernel.value)  # (.value: the traced value, as Keras's)

    x = np.linspace(-1, 1, 16, dtype="float32").reshape(8, 2)
    y = 3 * x
    found = {}
    for last in (Scaled, Gate, Tied, Outer):
        model = keras.Sequential([keras.Input((2,)), layers.Dense(2, kernel_initializer="ones"), last()])
        model.compile(optimizer=keras.optimizers.SGD(0.01 if last is Outer else 0.1), loss="mse")
        history = model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
        found[last.__name__] = [np.round(history.history["loss"], 5).tolist(),
                                [np.round(w, 4).tolist() for w in model.get_weights()]]
    return found
'''


def test_weights_read_in_a_call_train_as_in_keras(tmp_path_factory):
    ours, theirs = run_script_both_ways(SCRIPT, tmp_path_factory)
    assert ours == theirs


def test_a_compute_loss_depending_on_a_weight_is_refused(numpy_backend):
    import numpy as np
    import pytest

    import gpunn

    class PenalisingKernel(gpunn.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            loss = super().compute_loss(x, y, y_pred, sample_weight, training)
            return loss + gpunn.ops.sum(gpunn.ops.square(self.layers[1].kernel))

    class ReadingKernel(gpunn.Model):  # a weight read for a metric: the loss does not depend on it
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            self.kernel_size = float(gpunn.ops.sum(gpunn.ops.abs(self.layers[1].kernel)))
            return super().compute_loss(x, y, y_pred, sample_weight, training)

    for cls, refused in ((PenalisingKernel, True), (ReadingKernel, False)):
        inputs = gpunn.Input((1,))
        model = cls(inputs, gpunn.layers.Dense(1, use_bias=False, kernel_initializer="ones")(inputs))
        model.compile(optimizer=gpunn.optimizers.SGD(0.1), loss="mse")
        data = (np.ones((2, 1), np.float32), np.zeros((2, 1), np.float32))
        if refused:
            with pytest.raises(ValueError, match="compute_loss: the loss it returns depends on the weight 'kernel'"):
                model.fit(*data, epochs=1, verbose=0)
        else:
            model.fit(*data, epochs=1, verbose=0)
            assert model.kernel_size == 1.0
