"""A metric a layer of the user's updates in its call(): on the layer's own calls it counts what they saw (not
the calls on ones that learn shapes); in a model it is refused when the model first runs the layer, since gpunn
would neither log nor reset it (Keras 3 logs it on TensorFlow and torch, and refuses the update on jax). So is one
a subclassed model updates in its own call()."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import layers, metrics

from helpers import numpy_backend  # noqa: F401  (fixture)


class LogisticEndpoint(layers.Layer):
    """keras-io's endpoint layer pattern, with the metric tracker Keras's add_metric error message advises."""

    def __init__(self, name=None):
        super().__init__(name=name)
        self.loss_fn = gpunn.losses.BinaryCrossentropy(from_logits=True)
        self.accuracy_fn = metrics.BinaryAccuracy(name="accuracy")

    def call(self, logits, targets=None, sample_weight=None):
        if targets is not None:
            self.add_loss(self.loss_fn(targets, logits, sample_weight))
            self.accuracy_fn.update_state(targets, logits, sample_weight)
        return gpunn.ops.sigmoid(logits)


class MeanOfInputs(layers.Layer):
    def __init__(self):
        super().__init__()
        self.seen = metrics.Mean(name="seen")

    def call(self, x):
        self.seen.update_state(x)
        return x


def test_a_metric_updated_in_a_layer_s_call_is_refused_when_the_model_first_runs_it():
    inputs, targets = gpunn.Input((4,), name="inputs"), gpunn.Input((1,), name="targets")
    endpoint = LogisticEndpoint(name="logistic_endpoint")  # named: whatever layers the process made before
    model = gpunn.Model([inputs, targets], endpoint(layers.Dense(1)(inputs), targets))
    model.compile(optimizer="adam")
    assert endpoint.accuracy_fn.result() == 0.0  # building the model updated nothing
    before = model.get_weights()
    data = {"inputs": np.ones((8, 4), np.float32), "targets": np.ones((8, 1), np.float32)}
    with pytest.raises(NotImplementedError, match=r"^metric 'accuracy': updated in the call\(\) of layer "
                                                  r"'logistic_endpoint' while a model runs it; gpunn does not report"):
        model.fit(data, epochs=1, verbose=0)
    for now, then in zip(model.get_weights(), before):
        np.testing.assert_array_equal(now, then)  # refused before any update
    with pytest.raises(NotImplementedError, match="metric 'accuracy'"):
        model.predict(data, verbose=0)


def test_on_its_own_a_layer_s_metric_counts_what_its_calls_saw():
    layer = MeanOfInputs()
    x = np.arange(10, dtype=np.float32).reshape(5, 2)
    layer(x)  # built on this call: the call on ones that learns its shapes is not counted
    assert float(layer.seen.result()) == pytest.approx(4.5)
    assert float(np.asarray(layer.seen.variables[1])) == 5  # the count: this call's samples only
    layer(np.full((2, 2), 10.0, np.float32))
    assert float(layer.seen.result()) == pytest.approx((45 + 40) / 14)


def test_a_layer_inside_a_layer_called_on_its_own_counts_too():
    class Outer(layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = MeanOfInputs()

        def call(self, x):
            return self.inner(x)

    outer = Outer()
    outer(np.arange(10, dtype=np.float32).reshape(5, 2))
    assert float(outer.inner.seen.result()) == pytest.approx(4.5)


class ReconstructingRegressor(gpunn.Model):
    """"Hands-On Machine Learning"'s model (chapter 12): a reconstruction loss from its internals, and a metric
    of it updated in call()."""

    def __init__(self):
        super().__init__()
        self.hidden = layers.Dense(6, activation="relu")
        self.out = layers.Dense(1)
        self.reconstruct = layers.Dense(3)
        self.reconstruction_mean = metrics.Mean(name="reconstruction_error")

    def call(self, inputs):
        hidden = self.hidden(inputs)
        reconstruction_loss = gpunn.ops.mean(gpunn.ops.square(self.reconstruct(hidden) - inputs))
        self.add_loss(0.05 * reconstruction_loss)
        self.reconstruction_mean.update_state(reconstruction_loss)
        return self.out(hidden)


def test_a_metric_updated_in_a_subclassed_model_s_call_is_refused_by_name(numpy_backend):
    model = ReconstructingRegressor()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(NotImplementedError, match=r"^metric 'reconstruction_error': updated in the call\(\) of model "
                                                  r"ReconstructingRegressor .*compute_loss"):
        model.fit(np.ones((4, 3), np.float32), np.ones((4, 1), np.float32), epochs=1, verbose=0)
