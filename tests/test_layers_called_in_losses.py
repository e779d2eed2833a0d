"""Layers and Sequential models called on y_pred inside a loss (a loss function, a model's own compute_loss):
differentiated through, as Keras differentiates the loss. Gradients are checked against finite differences in
float64, with a layer called twice in one loss (feat(y_pred) - feat(y_pred * 2 + 1)) and a plain call between
(feat(y_true)), whose later passes write the layer's workspace again."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers, step_calls
from gpunn.autodiff import Tensor, gradients
from helpers import numpy_backend  # noqa: F401  (fixture)


class _Trained:
    """The model whose step computes the loss (none of the critics' layers is its)."""

    name = "trained"
    _graph_layers: list = []


def _loss_and_gradient(loss, values):
    prediction = Tensor(values, requires_grad=True)
    with step_calls.computing_loss(_Trained(), "loss"):
        value = loss(prediction)
        (gradient,) = gradients(value, [prediction], np.ones(()))
    return float(value.value), gradient


def _finite_differences(loss, values, step=1e-6):
    found = np.zeros_like(values)
    for i in range(values.size):
        shift = np.zeros(values.size)
        shift[i] = step
        shift = shift.reshape(values.shape)
        with step_calls.computing_loss(_Trained(), "loss"):
            up = float(loss(Tensor(values + shift)).value)
            down = float(loss(Tensor(values - shift)).value)
        found.ravel()[i] = (up - down) / (2 * step)
    return found


def _critics():
    dense = layers.Dense(2, dtype="float64")
    dense.build((None, 3))
    chain = gpunn.Sequential([layers.Input((3,), dtype="float64"), layers.Dense(4, activation="tanh", dtype="float64"),
                              layers.LayerNormalization(dtype="float64"),
                              layers.Dense(2, activation="softplus", dtype="float64")])
    rng = np.random.default_rng(1)
    for critic in (dense, chain):
        critic.set_weights([rng.normal(size=np.shape(w)) for w in critic.get_weights()])
        critic.trainable = False
    return {"dense": dense, "sequential": chain}


@pytest.mark.parametrize("critic", ["dense", "sequential"])
def test_a_critic_called_twice_in_a_loss_gets_the_gradient_of_each_call(numpy_backend, critic):
    feat = _critics()[critic]
    fixed = np.linspace(-1, 1, 24).reshape(8, 3)

    def loss(y_pred):
        apart = feat(y_pred) - feat(y_pred * 2.0 + 1.0)
        return gpunn.ops.sum(gpunn.ops.square(apart)) + gpunn.ops.sum(feat(fixed) * feat(y_pred))

    values = np.arange(24, dtype="float64").reshape(8, 3) / 10
    _, gradient = _loss_and_gradient(loss, values)
    np.testing.assert_allclose(gradient, _finite_differences(loss, values), rtol=1e-6, atol=1e-7)


def test_a_layer_called_twice_in_training_mode_is_refused_at_the_gradient(numpy_backend):
    """A second forward pass in training would draw (Dropout) or update (BatchNormalization) anew."""
    noisy = layers.Dropout(0.5, dtype="float64")

    def loss(y_pred):
        return gpunn.ops.sum(noisy(y_pred, training=True) * noisy(y_pred + 1.0, training=True))

    with pytest.raises(ValueError, match="was called again in the loss, in training mode"):
        _loss_and_gradient(loss, np.ones((4, 3)))


def test_a_layer_of_ones_own_holding_a_layer_called_twice_is_refused_at_the_gradient(numpy_backend):
    class Block(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = layers.Dense(2, activation="tanh")

        def call(self, inputs):
            return self.inner(inputs) * 2.0

    block = Block(dtype="float64")
    block(np.ones((2, 3)))

    def loss(y_pred):
        return gpunn.ops.sum(block(y_pred) * block(y_pred + 1.0))

    with pytest.raises(ValueError, match=r"was called again in the loss before the gradient of its first call"):
        _loss_and_gradient(loss, np.ones((4, 3)))

    def once(y_pred):
        return gpunn.ops.sum(gpunn.ops.square(block(y_pred)))

    values = np.linspace(-1, 1, 12).reshape(4, 3)
    _, gradient = _loss_and_gradient(once, values)
    np.testing.assert_allclose(gradient, _finite_differences(once, values), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("merge", ["add", "concatenate", "lambda"])
def test_layers_merging_y_pred_with_other_values_in_a_loss_are_differentiated(numpy_backend, merge):
    """Keras differentiates them; gpunn refused them with a message blaming NumPy."""
    other = np.linspace(-1, 1, 24).reshape(8, 3)
    layer = {"add": layers.Add(dtype="float64"), "concatenate": layers.Concatenate(dtype="float64"),
             "lambda": layers.Lambda(lambda pair: pair[0] * gpunn.ops.tanh(pair[1]), dtype="float64")}[merge]

    def loss(y_pred):
        return gpunn.ops.sum(gpunn.ops.square(layer([y_pred, other]) + 0.5 * layer([y_pred * y_pred, y_pred])))

    values = np.arange(24, dtype="float64").reshape(8, 3) / 10
    _, gradient = _loss_and_gradient(loss, values)
    np.testing.assert_allclose(gradient, _finite_differences(loss, values), rtol=1e-6, atol=1e-7)
