"""steps_per_execution (Keras's meaning) and compiled replays: steps that fetch their own batch at a device
cursor, N steps per execution equal to one at a time bit for bit, callbacks every N steps numbered as in
Keras, recordings compiled once per number of steps (a CUDA graph on a GPU) and recompiled when the step
changes, and a step that cannot be captured falling back to plain replays with one warning."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import gpunn
from gpunn import callbacks, layers, optimizers
from gpunn.ops import NumpyOps
from gpunn.ops.cuda_graphs import CaptureRefused
from gpunn.optimizers import schedules
from gpunn.trainer.train_step import GraphFallbackWarning

from helpers import assert_same_training, numpy_backend  # noqa: F401  (fixture)


def _data(n=53, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)).astype("float32"), rng.integers(0, classes, n)


def _model(seed=5):
    gpunn.utils.set_random_seed(seed)
    return gpunn.Sequential([gpunn.Input(shape=(6,)), layers.Dense(8, activation="relu"), layers.Dropout(0.3),
                             layers.Dense(7), layers.BatchNormalization(), layers.Activation("tanh"),
                             layers.Dense(3, activation="softmax")])


def _train(jit, steps_per_execution, epochs=3, batch_size=10, weighted=True, callbacks_=None, shuffle=True):
    x, y = _data()
    model = _model()
    model.compile(optimizer=optimizers.Adam(schedules.ExponentialDecay(0.02, decay_steps=3, decay_rate=0.7),
                                            clipnorm=0.5, weight_decay=0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=jit,
                  steps_per_execution=steps_per_execution)
    weights = np.linspace(0.2, 2.0, len(x)) if weighted else None
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, sample_weight=weights,
                        callbacks=callbacks_, shuffle=shuffle)
    return model, history.history


@pytest.mark.parametrize("steps_per_execution", [2, 4, 8, 100])
def test_n_steps_per_execution_equal_one_at_a_time_bit_for_bit(numpy_backend, steps_per_execution):
    # 53 rows, batches of 10: 5 full batches and a partial one, so executions mix both shapes
    one = _train(True, 1)
    assert_same_training(one, _train(True, steps_per_execution))
    assert_same_training(one, _train(False, steps_per_execution))
    assert_same_training(one, _train(False, 1))


def test_steps_fetching_their_batch_equal_batches_copied_in(numpy_backend):
    """A step that gathers its own rows at the device cursor trains exactly as train_on_batch on the same
    rows in the same order (the batch copied in by the host)."""
    x, y = _data()
    fed, _ = _train(True, 4, epochs=1, weighted=False, shuffle=False)
    copied = _model()
    copied.compile(optimizer=optimizers.Adam(schedules.ExponentialDecay(0.02, decay_steps=3, decay_rate=0.7),
                                             clipnorm=0.5, weight_decay=0.01),
                   loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=True)
    for start in range(0, len(x), 10):
        copied.train_on_batch(x[start:start + 10], y[start:start + 10])
    for a, b in zip(fed.get_weights(), copied.get_weights()):
        np.testing.assert_array_equal(a, b)


class _BatchLog(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.begins, self.ends = [], []

    def on_train_batch_begin(self, batch, logs=None):
        self.begins.append(batch)

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(batch)


@pytest.mark.parametrize("steps_per_execution,begins,ends", [
    (1, [0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5]),
    (4, [0, 4], [3, 7]),   # Keras numbers the end of the last execution past the epoch's 6 steps
    (6, [0], [5]),
    (10, [0], [9]),
])
def test_callbacks_see_one_batch_per_execution_numbered_as_keras(numpy_backend, steps_per_execution, begins,
                                                                 ends):
    log = _BatchLog()
    _train(True, steps_per_execution, epochs=1, callbacks_=[log])
    assert log.begins == begins and log.ends == ends


def test_stop_training_takes_effect_at_the_end_of_an_execution(numpy_backend):
    class StopAfterFirst(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.model.stop_training = True

    model, _ = _train(True, 4, epochs=3, callbacks_=[StopAfterFirst()])
    assert model.optimizer.iterations == 4


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "auto", None])
def test_steps_per_execution_must_be_a_positive_integer(bad):
    model = _model()
    with pytest.raises(ValueError, match="steps_per_execution: expected a positive integer"):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", steps_per_execution=bad)


class _CapturingOps(NumpyOps):
    """A backend that 'captures' compiled replays (as CupyOps does with CUDA graphs), counting them; or
    refuses to, as a GPU does for a step it cannot capture."""

    def __init__(self, refuse: str | None = None):
        super().__init__()
        self.refuse = refuse
        self.captures: list[tuple[int, int]] = []

    def compile_replays(self, tape, repeats=1):
        if self.refuse:
            raise CaptureRefused(self.refuse)
        self.captures.append((len(tape), repeats))
        return super().compile_replays(tape, repeats)


def test_replays_are_compiled_once_per_shape_and_count_and_again_after_a_change():
    ops = _CapturingOps()
    with gpunn.use_backend(ops):
        x, y = _data()
        model = _model()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=True,
                      steps_per_execution=4)
        model.fit(x, y, batch_size=10, epochs=3, verbose=0)
        # Executions of 4 over 6 batches (5 full, 1 partial): [4 full], [1 full + the partial]. Epoch 1 records
        # the full step and replays it 3 times, replays it once in the second execution and records the
        # partial one; later epochs replay 4 full, 1 full and 1 partial. Compiled: full x3, x4, x1; partial x1.
        first = list(ops.captures)
        assert sorted(repeats for _, repeats in first) == [1, 1, 3, 4]
        # A new fit call brings new device buffers for its data (the feed), so it records and compiles again,
        # once per shape and number of steps as before; it never reuses a recording bound to the old buffers.
        model.fit(x, y, batch_size=10, epochs=3, verbose=0)
        assert ops.captures[len(first):] == first
        # A host value that a recording holds changes mid-fit (a callback sets it): record and compile again.
        before = len(ops.captures)

        class ChangeEpsilon(callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == 0:
                    self.model.optimizer.epsilon = 1e-4

        model.fit(x, y, batch_size=10, epochs=2, verbose=0, callbacks=[ChangeEpsilon()])
        # Unchanged, epoch 2 would replay 4 full steps at once ([3, 1, 4, 1]); changed, it records again.
        assert [repeats for _, repeats in ops.captures[before:]] == [3, 1, 3, 1]


@pytest.mark.parametrize("jit, setting", [(True, "jit_compile=True: "),
                                          ("auto", 'jit_compile="auto" (on a GPU: graphs): ')])
def test_a_step_that_cannot_be_captured_falls_back_with_one_warning_and_the_same_results(jit, setting):
    """The warning names the setting that asked for graphs: the script's jit_compile=True, or the default."""
    reference = _train(True, 4)
    with gpunn.use_backend(_CapturingOps(refuse="a library refused the capture")):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fallback = _train(jit, 4)
    messages = [str(w.message) for w in caught if issubclass(w.category, GraphFallbackWarning)]
    assert len(messages) == 1
    assert messages[0].startswith(setting), messages[0]
    assert "could not be captured as a CUDA graph (a library refused the capture)" in messages[0]
    assert_same_training(reference, fallback)
