"""Threads computing with the same layers at once (a web server's pool of threads, a training thread beside one
that predicts) get the results each would get alone: computations take turns (``gpunn/compute_turns.py``).
Before the turns, four threads predicting with one model got another request's outputs in most of their calls."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from helpers import numpy_backend  # noqa: F401  (fixture)

import gpunn
from gpunn import compute_turns
from gpunn.layers import user_layer

# Wide enough that NumPy's matmuls let other threads run meanwhile (it releases the GIL for them), as in a
# real model; tiny ones would run one thread at a time anyway.
FEATURES, UNITS = 64, 256
RNG = np.random.default_rng(7)
X = RNG.normal(size=(96, FEATURES)).astype("float32")
Y = RNG.integers(0, 3, size=96)
REQUESTS = [RNG.normal(size=(rows, FEATURES)).astype("float32") for rows in (32, 32, 5, 32, 3, 32)]
BATCH = 8  # the training batch; predictions of as many rows compute in the same buffers as its steps


def _in_threads(work, count=4):
    """Run ``work(k)`` in ``count`` threads at once; re-raise the first exception one of them raised."""
    errors = []
    start = threading.Barrier(count)

    def run(k):
        try:
            start.wait()
            work(k)
        except BaseException as error:  # (handed to the test's thread)
            errors.append(error)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


class Doubled(gpunn.layers.Layer):
    """A layer of the script's: its call() runs as gpunn.ops on the layer's own buffers."""

    def call(self, inputs):
        return gpunn.ops.relu(inputs) * 2.0


def _classifier(seed=0, dropout=0.0, jit=False):
    gpunn.utils.set_random_seed(seed)
    inputs = gpunn.Input((FEATURES,))
    hidden = gpunn.layers.Dense(UNITS, activation="relu")(inputs)
    hidden = Doubled()(gpunn.layers.BatchNormalization()(hidden))
    hidden = gpunn.layers.Dropout(dropout)(hidden)
    model = gpunn.Model(inputs, gpunn.layers.Dense(3, activation="softmax")(hidden))
    model.compile(gpunn.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=jit)
    return model


def _fit(model, epochs=3):
    return model.fit(X, Y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0).history


def _assert_same_weights(model, other):
    for ours, theirs in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("how", ["predict", "call", "predict_on_batch"])
def test_predictions_of_threads_at_once_are_each_their_own(numpy_backend, how):
    model = _classifier()
    _fit(model, epochs=1)
    predict = {"predict": lambda x: model.predict(x, verbose=0), "call": lambda x: np.asarray(model(x)),
               "predict_on_batch": model.predict_on_batch}[how]
    expected = [predict(x) for x in REQUESTS]
    wrong = []

    def serve(k):
        for n in range(30):
            which = (k + n) % len(REQUESTS)
            if not np.array_equal(predict(REQUESTS[which]), expected[which]):
                wrong.append((k, n))

    _in_threads(serve)
    assert not wrong, f"{len(wrong)} of 120 predictions were another request's"


def test_layers_called_on_their_own_in_threads_at_once(numpy_backend):
    dense, doubled = gpunn.layers.Dense(UNITS), Doubled()
    expected = [np.asarray(doubled(dense(x))) for x in REQUESTS]
    wrong = []

    def serve(k):
        for n in range(30):
            which = (k + n) % len(REQUESTS)
            if not np.array_equal(np.asarray(doubled(dense(REQUESTS[which]))), expected[which]):
                wrong.append((k, n))

    _in_threads(serve)
    assert not wrong


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_a_fit_in_a_thread_beside_predictions_trains_as_alone(numpy_backend, jit):
    alone = _classifier(dropout=0.25, jit=jit)
    history = _fit(alone)
    model = _classifier(dropout=0.25, jit=jit)
    fitted = {}
    training = threading.Thread(target=lambda: fitted.update(_fit(model)))
    training.start()
    predictions = 0
    while training.is_alive() or predictions == 0:
        assert np.isfinite(model.predict(X[:BATCH], verbose=0)).all()
        predictions += 1
    training.join()
    assert fitted == history
    _assert_same_weights(model, alone)


def test_models_trained_in_threads_at_once_train_as_alone(numpy_backend):
    alone = _classifier(seed=3, dropout=0.25)
    history = _fit(alone)
    models = [_classifier(seed=3, dropout=0.25) for _ in range(3)]
    histories = {}
    _in_threads(lambda k: histories.update({k: _fit(models[k])}), count=3)
    assert all(histories[k] == history for k in range(3))
    for model in models:
        _assert_same_weights(model, alone)


def test_evaluations_of_one_model_in_threads_each_count_their_own_batches(numpy_backend):
    model = _classifier()
    _fit(model, epochs=1)
    expected = model.evaluate(X, Y, batch_size=8, verbose=0)
    results = []
    _in_threads(lambda k: results.extend(model.evaluate(X, Y, batch_size=8, verbose=0) for _ in range(5)))
    assert results == [expected] * 20


def test_a_layer_shared_with_a_model_training_in_a_thread(numpy_backend):
    """One model trains a layer it shares with another that predicts meanwhile: the training is the one it
    makes alone, and the predictions always see weights of whole steps."""
    def models():
        gpunn.utils.set_random_seed(5)
        shared = gpunn.layers.Dense(UNITS, activation="tanh")
        trained = gpunn.Sequential([gpunn.Input((FEATURES,)), shared, gpunn.layers.Dense(3, activation="softmax")])
        trained.compile("sgd", "sparse_categorical_crossentropy")
        return trained, gpunn.Sequential([gpunn.Input((FEATURES,)), shared])

    alone, _ = models()
    _fit(alone)
    trained, reading = models()
    training = threading.Thread(target=lambda: _fit(trained))
    training.start()
    while training.is_alive():
        assert np.isfinite(reading.predict(X[:BATCH], verbose=0)).all()
    training.join()
    _assert_same_weights(trained, alone)
    kernel, bias = alone.layers[0].get_weights()
    np.testing.assert_allclose(reading.predict(REQUESTS[0], verbose=0), np.tanh(REQUESTS[0] @ kernel + bias),
                               rtol=1e-5, atol=1e-6)


class _Snapshots(gpunn.callbacks.Callback):
    """The weights after each whole step, taken in the training thread (between its steps)."""

    def __init__(self, model):
        super().__init__()
        self.seen = [np.concatenate([w.ravel() for w in model.get_weights()])]

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append(np.concatenate([w.ravel() for w in self.model.get_weights()]))


def test_weights_read_and_saved_beside_a_training_thread_are_those_of_whole_steps(numpy_backend, tmp_path):
    model = _classifier(jit=True)
    snapshots = _Snapshots(model)
    training = threading.Thread(target=lambda: model.fit(X, Y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0,
                                                         callbacks=[snapshots]))
    read, saved = [], []
    training.start()
    while training.is_alive():
        read.append(np.concatenate([w.ravel() for w in model.get_weights()]))
        if len(saved) < 3:
            path = tmp_path / f"during_{len(saved)}.weights.h5"
            model.save_weights(path)
            saved.append(path)
    training.join()
    copy = _classifier(jit=True)
    for path in saved:
        copy.load_weights(path)
        read.append(np.concatenate([w.ravel() for w in copy.get_weights()]))
    torn = [k for k, weights in enumerate(read) if not any(np.array_equal(weights, seen) for seen in snapshots.seen)]
    assert not torn, f"{len(torn)} of {len(read)} reads mixed two steps' weights"


def test_a_call_of_the_scripts_running_in_one_thread_is_not_another_threads(numpy_backend):
    """While a layer's call() of the script's runs in one thread, another thread is outside any such call (it
    computes with gpunn.ops on its own, not as a sublayer of that call)."""
    seen = []

    class Looking(gpunn.layers.Layer):
        def call(self, inputs):
            if not isinstance(inputs, gpunn.autodiff.Tensor) or user_layer.running_call() is None:
                return inputs
            other = threading.Thread(target=lambda: seen.append(user_layer.tracing()))
            other.start()
            other.join()
            seen.append(("here", user_layer.tracing()))
            return inputs

    Looking()(REQUESTS[0])
    assert seen and seen[-1] == ("here", True) and not any(value is True for value in seen[:-1])


class _CountingOps:
    """Stands for a GPU backend: counts the device syncs the turns ask for."""

    def __init__(self):
        self.syncs = 0

    def finish_all_streams(self):
        self.syncs += 1


def test_a_turn_passing_to_another_thread_first_finishes_the_device_work_before():
    ops = _CountingOps()
    with compute_turns.turn(ops):
        pass
    before = ops.syncs
    for _ in range(3):  # the same thread again: nothing to wait for
        with compute_turns.turn(ops), compute_turns.turn(ops):  # (re-entered inside its own turn)
            pass
    assert ops.syncs == before
    other = threading.Thread(target=lambda: compute_turns.turn(ops).__enter__().__exit__(None, None, None))
    other.start()
    other.join()
    assert ops.syncs == before + 1
    with compute_turns.turn(ops):  # and back
        pass
    assert ops.syncs == before + 2


@pytest.mark.gpu
def test_gpu_fit_in_a_thread_beside_predictions_trains_as_alone():
    with gpunn.use_backend("cupy"):
        alone = _classifier(jit=True)
        history = _fit(alone)
        model = _classifier(jit=True)
        fitted = {}
        training = threading.Thread(target=lambda: fitted.update(_fit(model)))
        training.start()
        expected_rows = len(REQUESTS[0])
        while training.is_alive():
            assert model.predict(REQUESTS[0], verbose=0).shape == (expected_rows, 3)
        training.join()
        assert fitted == history
        _assert_same_weights(model, alone)
