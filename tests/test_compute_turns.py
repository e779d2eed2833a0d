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


@pytest.fixture
def threads_switch_often():
    """Threads switch every 10 us instead of 5 ms, so that the races these tests guard against would show."""
    import sys

    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(before)


def _wide(jit=False, regularizer=None):
    """(Seeded initializers, not the global seed: models made in several threads at once draw the same.)"""
    inputs = gpunn.Input((FEATURES,))
    hidden = gpunn.layers.Dense(UNITS, activation="relu", name="hidden", kernel_regularizer=regularizer,
                                kernel_initializer=gpunn.initializers.GlorotUniform(seed=1))(inputs)
    model = gpunn.Model(inputs, gpunn.layers.Dense(3, activation="softmax",
                                                   kernel_initializer=gpunn.initializers.GlorotUniform(seed=2))(hidden))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=jit)
    return model


def _beside_a_fit(model, work):
    """``work()`` repeated in this thread while ``model`` fits in another; the fit's history."""
    fitted = {}
    training = threading.Thread(target=lambda: fitted.update(_fit(model, epochs=2)))
    training.start()
    while training.is_alive():
        work()
    training.join()
    return fitted


def test_a_model_made_from_a_training_model_s_layers_beside_its_fit(numpy_backend, threads_switch_often):
    """A feature extractor made meanwhile binds the shared layers to new buffers: not inside a step."""
    history = _fit(_wide(), epochs=2)
    model = _wide()
    assert _beside_a_fit(model, lambda: gpunn.Model(model.inputs, model.get_layer("hidden").output)) == history


def test_model_losses_read_beside_a_fit(numpy_backend, threads_switch_often):
    """The penalties are computed in the layer's regularization workspace, a step's too."""
    regularizer = gpunn.regularizers.L1L2(1e-4, 1e-3)
    history = _fit(_wide(regularizer=regularizer), epochs=2)
    model = _wide(regularizer=regularizer)
    assert _beside_a_fit(model, lambda: [float(np.asarray(loss)) for loss in model.losses]) == history


def test_a_prediction_s_batches_all_see_the_same_weights_beside_a_fit(numpy_backend):
    model = _wide()
    repeated = np.concatenate([X[:BATCH]] * 4)
    mixed = []

    def predict():
        rows = model.predict(repeated, batch_size=BATCH, verbose=0).reshape(4, BATCH, 3)
        mixed.extend(k for k in range(1, 4) if not np.array_equal(rows[0], rows[k]))

    _beside_a_fit(model, predict)
    assert not mixed


def test_recorded_fits_in_a_pool_of_threads_train_as_alone(numpy_backend, threads_switch_often):
    """A grid search's fits on joblib's threading backend: a step recorded in one thread records none of another
    thread's calls (ops/recording.py)."""
    from concurrent.futures import ThreadPoolExecutor

    def train(batch):
        model = _wide(jit=True)
        history = model.fit(X, Y, batch_size=batch, epochs=2, shuffle=False, verbose=0, validation_split=0.25)
        return history.history, [w.tolist() for w in model.get_weights()]

    batches = [8, 12, 16, 24]
    alone = [train(batch) for batch in batches]
    for _ in range(3):
        with ThreadPoolExecutor(2) as pool:
            assert list(pool.map(train, batches)) == alone


def test_paths_of_models_built_in_two_threads_at_once_are_their_own(numpy_backend, threads_switch_often):
    class Tower(gpunn.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden, self.out = gpunn.layers.Dense(8), gpunn.layers.Dense(3)

        def call(self, inputs):
            return self.out(self.hidden(inputs))

    wrong = []

    def build(k):
        for i in range(40):
            model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(8)], name=f"seq_{k}_{i}") if k == 0 \
                else Tower(name=f"tower_{k}_{i}")
            if k == 1:
                model.predict(np.zeros((2, 4), "float32"), verbose=0)  # (traced under its name)
            wrong.extend(w.path for w in model.weights if not w.path.startswith(model.name + "/"))

    _in_threads(build, count=2)
    assert not wrong


def test_first_predictions_of_a_subclassed_model_from_threads(numpy_backend, threads_switch_often):
    """A server's first requests arrive together: the model is traced once, in one of them."""
    class Tower(gpunn.Model):
        def __init__(self):
            super().__init__()
            self.hidden, self.out = gpunn.layers.Dense(UNITS, activation="relu"), gpunn.layers.Dense(3)

        def call(self, inputs):
            return self.out(self.hidden(inputs))

    for _ in range(5):
        model, results = Tower(), []
        _in_threads(lambda k: results.append(model.predict(REQUESTS[0], verbose=0)), count=6)
        assert all(np.array_equal(result, results[0]) for result in results)


def test_a_callback_may_wait_for_another_thread_s_evaluation_of_the_model(numpy_backend):
    """The validation holds no lock of the model while its callbacks run."""
    model = _wide()
    extra = []

    class ExtraEvaluation(gpunn.callbacks.Callback):
        def on_test_end(self, logs=None):
            worker = threading.Thread(target=lambda: extra.append(self.model.evaluate(X, Y, verbose=0)))
            worker.start()
            worker.join(timeout=60)
            assert not worker.is_alive(), "the evaluation in another thread waits for this one"

    model.fit(X, Y, epochs=2, validation_data=(X, Y), callbacks=[ExtraEvaluation()], verbose=0)
    assert len(extra) == 2


def test_a_recording_takes_no_call_of_another_thread(numpy_backend):
    """Another thread's array calls outside any turn (another model's metric resets) while a step is recorded: not
    in the recording, whose replays would run them again (ops/recording.py)."""
    import sys

    x = np.random.default_rng(8).random((64, 8)).astype("float32")
    y = np.random.default_rng(9).random((64, 2)).astype("float32")

    def small(jit):
        model = gpunn.Sequential([gpunn.Input((8,)), gpunn.layers.Dense(8, activation="relu"), gpunn.layers.Dense(2)])
        model.set_weights([np.random.default_rng(1).random(w.shape).astype("float32") - 0.5
                           for w in model.get_weights()])
        model.compile(gpunn.optimizers.SGD(0.1), "mse", metrics=["mae"], jit_compile=jit)
        return model

    def fit(model):
        history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
        return history, [w.tolist() for w in model.get_weights()]

    expected = fit(small(True))
    other = small(False)
    other.evaluate(x, y, verbose=0)
    stop, before = threading.Event(), sys.getswitchinterval()
    resetting = threading.Thread(target=lambda: [other.reset_metrics() for _ in iter(stop.is_set, True)])
    sys.setswitchinterval(1e-6)
    resetting.start()
    try:
        results = [fit(small(True)) for _ in range(20)]
    finally:
        stop.set()
        resetting.join()
        sys.setswitchinterval(before)
    assert all(result == expected for result in results)
    from gpunn.ops import get_ops

    assert get_ops()._tape is None


def test_an_evaluation_of_batches_read_in_turns_beside_an_evaluation_of_arrays(numpy_backend):
    """A PyDataset's evaluation takes a turn per batch; another thread's evaluation of arrays meanwhile waits for
    it to end rather than adding its batches to the same sums."""
    class Batches(gpunn.utils.PyDataset):
        def __len__(self):
            return len(X) // BATCH

        def __getitem__(self, i):
            return X[i * BATCH:(i + 1) * BATCH], Y[i * BATCH:(i + 1) * BATCH]

    model = _wide()
    expected = model.evaluate(Batches(), verbose=0)
    done = threading.Event()
    other = threading.Thread(target=lambda: [model.evaluate(X[:32], Y[:32], verbose=0)
                                             for _ in iter(done.is_set, True)])
    other.start()
    try:
        results = [model.evaluate(Batches(), verbose=0) for _ in range(5)]
    finally:
        done.set()
        other.join()
    assert results == [expected] * 5


def test_a_callback_of_a_prediction_may_hand_its_batches_to_another_thread_predicting(numpy_backend):
    """Two stages of a pipeline: a callback of the script's runs between the turns of its prediction's batches,
    so another thread computes meanwhile."""
    import queue

    encoder = gpunn.Sequential([gpunn.Input((FEATURES,)), gpunn.layers.Dense(32, activation="relu")])
    head = gpunn.Sequential([gpunn.Input((32,)), gpunn.layers.Dense(3)])
    handed, got = queue.Queue(maxsize=2), []

    class Feed(gpunn.callbacks.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            handed.put(np.asarray(logs["outputs"]))

    def first():
        encoder.predict(X, batch_size=8, verbose=0, callbacks=[Feed()])
        handed.put(None)

    def second():
        while (item := handed.get()) is not None:
            got.append(head.predict(item, verbose=0))

    stages = [threading.Thread(target=stage, daemon=True) for stage in (first, second)]
    for stage in stages:
        stage.start()
    for stage in stages:
        stage.join(timeout=60)
    assert not any(stage.is_alive() for stage in stages), "the stages wait for each other"
    np.testing.assert_allclose(np.concatenate(got), head.predict(encoder.predict(X, batch_size=8, verbose=0),
                                                                  verbose=0), rtol=1e-6, atol=1e-7)
