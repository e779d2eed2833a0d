"""A fit stopped inside a step (the stop button's KeyboardInterrupt, an exception of the script's loss, metric or
layer) leaves the model as its last whole step made it, as Keras's does: weights, BatchNormalization's moving
statistics, the optimizer's moments and both of its step counts, the metric sums; so later cells (evaluate, save,
fit again) start from a state some run of whole steps made. Compared bit for bit with runs of that many steps."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest
from helpers import numpy_backend  # noqa: F401  (fixture)

import gpunn

X = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")
Y = X.sum(axis=1, keepdims=True)
BATCH = 4
SIGNALS = {"stop": lambda: os.kill(os.getpid(), signal.SIGINT)}


class Trap:
    """Raises (or sends the process SIGINT) from the script's loss or metric at the given training step
    (1-based)."""

    def __init__(self):
        self.where, self.at, self.step, self.how = None, None, 0, None

    def arm(self, where, at, how="raise"):
        self.where, self.at, self.step, self.how = where, at, 0, how

    def __call__(self, where):
        if where != self.where:
            return
        self.step += 1  # (the loss and the metric each run once a step)
        if self.step == self.at:
            self.where = None
            if self.how == "signal":
                SIGNALS["stop"]()  # Python runs the handler at once: inside the step
            else:
                raise KeyboardInterrupt("stop button")


TRAP = Trap()


def my_loss(y_true, y_pred):
    TRAP("loss")
    return gpunn.ops.mean(gpunn.ops.square(y_true - y_pred), axis=-1)


def my_mae(y_true, y_pred):
    TRAP("metric")
    return gpunn.ops.mean(gpunn.ops.abs(y_true - y_pred), axis=-1)


def _model(jit=False, steps_per_execution=1, **optimizer):
    inputs = gpunn.Input((4,))
    hidden = gpunn.layers.BatchNormalization()(gpunn.layers.Dense(6, activation="tanh")(inputs))
    model = gpunn.Model(inputs, gpunn.layers.Dense(1)(hidden))
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(size=w.shape).astype("float32") if w.ndim == 2 else w for w in model.get_weights()])
    model.compile(gpunn.optimizers.Adam(0.01, **optimizer), my_loss, metrics=[my_mae], jit_compile=jit,
                  steps_per_execution=steps_per_execution)
    return model


def _state(model) -> list:
    return model.get_weights() + [v.numpy() for v in model.optimizer.variables] + [
        np.array(float(model.optimizer.iterations))]


def _after_whole_steps(steps, **kwargs):
    TRAP.arm(None, None)
    model = _model(**kwargs)
    model.fit(X, Y, batch_size=BATCH, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
    return model


def _assert_same_state(model, reference):
    got, expected = _state(model), _state(reference)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    assert model.get_metrics_result() == reference.get_metrics_result()


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("where", ["loss", "metric"])
def test_an_exception_inside_a_step_leaves_the_state_of_the_steps_before(numpy_backend, where, jit):
    """The loss raises after the forward pass moved BatchNormalization's statistics; the metric, after the
    gradients (before the update, as Keras's metrics are computed in its step)."""
    model = _model(jit=jit)
    TRAP.arm(where, 3)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    reference = _after_whole_steps(2, jit=jit)
    assert int(model.optimizer.iterations) == 2
    _assert_same_state(model, reference)
    # and training on from there is training on from two whole steps
    for each in (model, reference):
        each.fit(X, Y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    _assert_same_state(model, reference)


def test_inside_an_execution_of_several_steps_the_whole_steps_before_stay(numpy_backend):
    """steps_per_execution=4, the script's metric raising in step 7: the replay stopped there has made steps 5 and
    6 on the device, and the host's step count (optimizer.iterations, what files keep) says 6, as the device's
    count that Adam's bias correction reads does (Keras undoes the whole execution: 4 steps)."""
    model = _model(jit=True, steps_per_execution=4)
    TRAP.arm("metric", 7)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    assert int(model.optimizer.iterations) == 6
    _assert_same_state(model, _after_whole_steps(6, jit=True))


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_the_stop_button_arriving_inside_a_step_stops_fit_when_the_step_ends(numpy_backend, jit):
    """SIGINT sent while step 3 runs (from its metric, before the update): Python's KeyboardInterrupt comes once
    the step is whole."""
    model = _model(jit=jit)
    TRAP.arm("metric", 3, how="signal")  # (a replayed step runs the metric as a host call too)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    assert signal.getsignal(signal.SIGINT) is before  # fit put the handler back
    assert int(model.optimizer.iterations) == 3
    _assert_same_state(model, _after_whole_steps(3, jit=jit))


def test_an_interrupted_fit_with_use_ema_leaves_the_moving_average(numpy_backend):
    """As Keras's fit (its ``finally``): the weights become their moving average however the fit ends."""
    model = _model(use_ema=True, ema_momentum=0.8)
    TRAP.arm("metric", 5)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    reference = _after_whole_steps(4, use_ema=True, ema_momentum=0.8)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_callbacks_see_the_metrics_reset_where_keras_resets_them(numpy_backend):
    """Keras resets the metrics before on_epoch_begin (a callback reads zeros there) and, in a validation, after
    on_test_begin (a callback reads the epoch's training values there)."""
    seen = {}

    class Reader(gpunn.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.setdefault("epoch_begin", []).append(self.model.get_metrics_result()["loss"])

        def on_test_begin(self, logs=None):
            seen.setdefault("test_begin", []).append(self.model.get_metrics_result()["loss"])

        def on_epoch_end(self, epoch, logs=None):
            seen.setdefault("train_loss", []).append(logs["loss"])

    TRAP.arm(None, None)
    model = _model()
    model.fit(X, Y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0, validation_split=0.25,
              callbacks=[Reader()])
    assert seen["epoch_begin"] == [0.0, 0.0]
    assert seen["test_begin"] == pytest.approx(seen["train_loss"])


@pytest.mark.parametrize("suffix", [".keras", ".safetensors"])
def test_compiled_again_with_its_optimizer_the_model_keeps_and_saves_its_state(numpy_backend, tmp_path, suffix):
    """A cell compiling again with the same optimizer instance: Keras's optimizer stays built, so its moments are
    listed, saved with the model, and resumed from; they were absent until the next fit."""
    TRAP.arm(None, None)
    model = _model()
    model.fit(X, Y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    before = [v.numpy().copy() for v in model.optimizer.variables]
    model.compile(model.optimizer, my_loss, metrics=[my_mae])
    assert [v.numpy().tolist() for v in model.optimizer.variables] == [v.tolist() for v in before]
    model.save(tmp_path / f"m{suffix}")
    loaded = gpunn.models.load_model(tmp_path / f"m{suffix}", custom_objects={"my_loss": my_loss, "my_mae": my_mae})
    for each in (model, loaded):
        each.fit(X, Y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(_state(model), _state(loaded)):
        np.testing.assert_array_equal(a, b)


class _NormalizedBlock(gpunn.layers.Layer):
    """A layer of the script's holding a BatchNormalization: run as a host call of the step, which a replay runs
    again, so its moving statistics are updated inside that call, once a step."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense, self.norm = gpunn.layers.Dense(5), gpunn.layers.BatchNormalization()

    def call(self, inputs, training=None):
        return self.norm(self.dense(inputs), training=training)


@pytest.mark.parametrize("inside", [False, True], ids=["in-the-graph", "in-a-layer-of-the-script-s"])
def test_replayed_steps_update_the_moving_statistics_once_a_step(numpy_backend, inside):
    runs = []
    for jit in (False, True):
        gpunn.utils.set_random_seed(1)
        block = [_NormalizedBlock()] if inside else [gpunn.layers.Dense(5), gpunn.layers.BatchNormalization()]
        model = gpunn.Sequential([gpunn.Input((4,)), *block, gpunn.layers.Dense(1)])
        model.compile("sgd", "mse", jit_compile=jit)
        model.fit(X, Y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
        runs.append(model.get_weights())
    for eager, replayed in zip(*runs):
        np.testing.assert_array_equal(eager, replayed)


SUBCLASS_BN_SCRIPT = r'''
import json, sys
import numpy as np


def run(keras, folder):
    class TwoReads(keras.Model):
        """BatchNormalization in training mode, then with training=False in the same call: the second reads the
        statistics the first just updated."""

        def __init__(self):
            super().__init__()
            self.bn = keras.layers.BatchNormalization(momentum=0.5)
            self.cat = keras.layers.Concatenate()
            self.out = keras.layers.Dense(1, kernel_initializer="ones", bias_initializer="zeros")

        def call(self, x, training=None):
            return self.out(self.cat([self.bn(x, training=training), self.bn(x, training=False)]))

    x = np.arange(16, dtype="float32").reshape(8, 2) / 4.0
    results = {}
    for jit in (False, True):
        model = TwoReads()
        model.compile(keras.optimizers.SGD(0.0), "mse", **({"jit_compile": True} if jit else {}))
        history = model.fit(x, np.ones((8, 1), "float32"), batch_size=8, epochs=3, verbose=0).history
        results[str(jit)] = [round(float(v), 4) for v in history["loss"]]
    return results
'''


def test_a_second_call_in_inference_mode_reads_the_step_s_update_as_keras(tmp_path_factory):
    from helpers import run_script_both_ways

    ours, theirs = run_script_both_ways(SUBCLASS_BN_SCRIPT, tmp_path_factory)
    assert ours == theirs


def test_signals_are_held_for_the_main_thread_s_steps_only(numpy_backend):
    """A step in another thread does not hold the stop button the main thread should get at once."""
    import threading

    from gpunn.trainer import step_interrupts

    inside, release = threading.Event(), threading.Event()

    def worker():
        with step_interrupts.step():
            inside.set()
            release.wait(10)

    with step_interrupts.between_steps():
        thread = threading.Thread(target=worker)
        thread.start()
        inside.wait(10)
        try:
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(1000):  # (Python runs the handler at the next instruction of the main thread)
                    pass
        finally:
            release.set()
            thread.join()


def test_reset_metrics_zeroes_the_sums_a_hand_written_loop_goes_on_from(numpy_backend):
    """tf.keras 2's loop: train_on_batch(..., reset_metrics=False) over an epoch, evaluate, model.reset_metrics();
    each epoch's running loss is that epoch's alone. And a call after a resetting one starts from zero, as tf.keras
    2 reset after the batch."""
    model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(3, activation="tanh"), gpunn.layers.Dense(1)])
    model.compile(gpunn.optimizers.SGD(0.0), "mse", metrics=["mae"])
    epochs = []
    for epoch in range(3):
        for start in range(0, 8, BATCH):
            value = model.train_on_batch(X[start:start + BATCH], (epoch + 1) * Y[start:start + BATCH],
                                         reset_metrics=False)
        epochs.append(value)
        model.evaluate(X, Y, verbose=0)
        model.reset_metrics()
    for epoch, value in enumerate(epochs):
        assert value == pytest.approx(model.evaluate(X[:8], (epoch + 1) * Y[:8], batch_size=8, verbose=0), rel=1e-6)
    model.train_on_batch(X[:4], Y[:4])
    alone = model.train_on_batch(X[4:8], Y[4:8], reset_metrics=False)
    assert alone == pytest.approx(model.evaluate(X[4:8], Y[4:8], verbose=0), rel=1e-6)


def test_a_second_stop_inside_a_step_that_does_not_end_stops_at_once():
    """The escape hatch: a step that hangs (a collective waiting for a rank that is gone) still stops at the second
    Ctrl-C."""
    from gpunn.trainer import step_interrupts

    with step_interrupts.between_steps():
        with pytest.raises(KeyboardInterrupt):
            with step_interrupts.step():
                os.kill(os.getpid(), signal.SIGINT)  # held
                for _ in range(1000):
                    pass
                os.kill(os.getpid(), signal.SIGINT)  # again: at once
                for _ in range(1000):
                    pass
                raise AssertionError("the second SIGINT was held too")


def test_a_timer_s_every_tick_is_held_in_order_until_the_step_ends():
    """A repeating timer (SIGALRM: a watchdog, a progress tick) is not Ctrl-C: each tick waits for the step's end,
    none handled inside it and none lost."""
    from gpunn.trainer import step_interrupts

    ticks, inside = [], []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: ticks.append(len(inside)))
    try:
        with step_interrupts.between_steps():
            with step_interrupts.step():
                inside.append(True)
                for _ in range(3):
                    os.kill(os.getpid(), signal.SIGALRM)
                    for _ in range(1000):
                        pass
                assert ticks == []
                inside.clear()
            assert ticks == [0, 0, 0]
    finally:
        signal.signal(signal.SIGALRM, previous)
