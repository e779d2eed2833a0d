"""The check that a recorded step's device runs hold nothing a CUDA graph would freeze (``graph_segments.py``):
that it finds such work, and that a model made of the user's own objects of every kind keeps them all in host
calls, where a replay runs them again, and trains bit for bit as the eager step."""
from __future__ import annotations

import functools

import numpy as np
import pytest

import gpunn
from gpunn import layers
from gpunn.ops.numpy_ops import NumpyOps
from gpunn.ops.recording import Recording
from graph_segments import watch_device_segments
from helpers import assert_same_training


def train_with_users_own_objects(backend, jit=False):
    """A loss and a metric written with gpunn.ops / K, a Metric subclass, a built-in metric's subclass overriding
    update_state and result, two Layer subclasses (one holding built-in layers), a regularizer, a constraint's
    subclass and a learning-rate schedule of the user's: each runs on the batch's arrays as a host call between
    the step's graphs (the GPU suite trains it on CuPy, eager and captured)."""
    from gpunn import backend as K
    from gpunn import ops

    def smooth_l1(y_true, y_pred):
        error = ops.abs(y_true - y_pred)
        return ops.mean(ops.where(error < 1.0, 0.5 * ops.square(error), error - 0.5), axis=-1)

    def recall_m(y_true, y_pred):
        true_positives = K.sum(K.round(K.clip(y_true * y_pred, 0, 1)))
        return true_positives / (K.sum(K.round(K.clip(y_true, 0, 1))) + K.epsilon())

    class Hits(gpunn.metrics.Metric):
        def __init__(self, name="hits", **kwargs):
            super().__init__(name=name, **kwargs)
            self.hits = self.add_variable(shape=(), initializer="zeros", name="hits")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.hits.assign_add(ops.sum(ops.cast(ops.argmax(y_true, axis=1) == ops.argmax(y_pred, axis=1),
                                                  "float32")))

        def result(self):
            return ops.convert_to_tensor(self.hits)

    class Percent(gpunn.metrics.CategoricalAccuracy):  # Keras runs a subclass's update_state and result
        def update_state(self, y_true, y_pred, sample_weight=None):
            super().update_state(y_true, ops.square(y_pred), sample_weight=sample_weight)

        def result(self):
            return 100.0 * super().result()

    class SquaredPenalty(gpunn.regularizers.Regularizer):
        def __call__(self, x):
            return 1e-3 * ops.sum(ops.square(x))

    class ClippedMaxNorm(gpunn.constraints.MaxNorm):
        def __call__(self, w):
            return ops.clip(super().__call__(w), -0.5, 0.5)

    class InverseSqrt(gpunn.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            return 0.01 / ops.sqrt(ops.cast(step, "float32") + 1.0)

    class Gated(gpunn.layers.Layer):  # a layer of the user's: weights of its own, call() with gpunn.ops
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 32), initializer="glorot_uniform", name="w")
            self.gate = self.add_weight(shape=(32,), initializer="zeros", name="gate")

        def call(self, inputs):
            return ops.relu(ops.matmul(inputs, self.w)) * ops.sigmoid(self.gate)

    class Block(gpunn.layers.Layer):  # layers inside a layer of the user's: each runs its own (CuPy) step
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = layers.Dense(32, activation="gelu")
            self.norm = layers.LayerNormalization()

        def call(self, inputs):
            y = self.norm(inputs + gpunn.activations.tanh(self.dense(inputs)))
            self.add_loss(0.01 * ops.mean(ops.square(y)))  # added to the loss, differentiated on the device
            return y

    (x, y), _ = gpunn.datasets.digits.load_data()
    x = x.reshape(len(x), -1).astype("float32") / 16
    targets = gpunn.utils.to_categorical(y, 10)
    with gpunn.use_backend(backend):
        gpunn.utils.set_random_seed(13)
        model = gpunn.Sequential([gpunn.Input(shape=(64,)), Gated(), Block(),
                                  layers.Dense(10, activation="sigmoid", kernel_regularizer=SquaredPenalty(),
                                               kernel_constraint=ClippedMaxNorm(2.0))])
        model.compile(optimizer=gpunn.optimizers.Adam(InverseSqrt()), loss=smooth_l1,
                      metrics=[recall_m, Hits(), Percent()], jit_compile=jit)
        history = model.fit(x, targets, batch_size=64, epochs=2, verbose=0)
        return model, history.history


def test_a_model_of_the_users_own_objects_keeps_them_out_of_the_device_runs():
    # conftest.py's watch fails this test if any of the user's objects ran inside a device run of the replays
    eager = train_with_users_own_objects("numpy")
    replayed = train_with_users_own_objects("numpy", jit=True)
    assert_same_training(eager, replayed)
    assert replayed[0].make_train_function().jit  # the second run did replay its recorded steps
    # the constraint (a MaxNorm subclass clipping to 0.5 after it) took effect
    assert np.abs(replayed[0].layers[-1].get_weights()[0]).max() <= 0.5


def _users_projection(w):
    return np.clip(w, -0.1, 0.1)


def _recorded(record):
    """The tape of ``record(ops, buffer)`` on a NumPy backend, and the buffer."""
    ops = NumpyOps()
    buffer = np.ones(4, dtype="float32")
    with Recording(ops) as tape:
        record(ops, buffer)
    return ops, tape, buffer


@pytest.mark.parametrize("kind", ["user code", "allocation"])
def test_the_watch_finds_work_a_graph_would_freeze_inside_a_device_run(kind):
    def record(ops, buffer):
        ops.multiply(buffer, buffer, buffer)
        if kind == "user code":  # the user's function bound as if it were device work
            ops._tape.call(functools.partial(_users_projection, buffer), device=True)
        else:
            ops._tape.call(functools.partial(ops.zeros, (3,)), device=True)

    ops, tape, _ = _recorded(record)
    with watch_device_segments() as watch:
        ops.compile_replays(tape, repeats=2)()
    assert watch.found, "nothing found"
    expected = "_users_projection" if kind == "user code" else "Ops.zeros"
    assert all(what.startswith(expected) for what, _ in watch.found), watch.found
    assert len(watch.found) == 2  # once per replay


def test_the_users_code_in_a_host_call_is_not_reported():
    def record(ops, buffer):
        ops.add(buffer, buffer, buffer)
        ops.assign_result(_users_projection, buffer)  # a constraint of the user's: a host call
        ops.add(buffer, buffer, buffer)

    ops, tape, buffer = _recorded(record)
    assert [kind for kind, _ in tape.segments()] == ["device", "host", "device"]
    with watch_device_segments() as watch:
        ops.compile_replays(tape)()
    assert watch.found == []
    # recorded: 1 -> 2 -> 0.1 -> 0.2; replayed: 0.4 -> 0.1 (the projection ran again) -> 0.2
    np.testing.assert_array_equal(buffer, np.full(4, 0.2, dtype="float32"))
