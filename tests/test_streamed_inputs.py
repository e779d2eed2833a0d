"""Streamed inputs (Keras 3's semantics): generators, iterators, iterables and ``gpunn.utils.PyDataset`` in
fit / evaluate / predict, validation_data, steps, callbacks, the checks every batch gets, and the step they feed
(the same as for arrays: bit for bit, static after the first batch of a size)."""
from __future__ import annotations

import math
import re
import threading
import warnings

import numpy as np
import pytest

import gpunn
from gpunn import callbacks as callbacks_module
from gpunn import layers, optimizers
from gpunn.trainer.streamed_data import BatchStream, is_streamed
from gpunn.trainer.streamed_loops import _run_in_slot, checked_batch

from allocations import count_step_allocations, describe
from helpers import run_script_both_ways
from helpers import numpy_backend  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("numpy_backend")

N, F, CLASSES = 95, 4, 3
RNG = np.random.default_rng(7)
X = RNG.standard_normal((N, F))
Y = RNG.integers(0, CLASSES, N)
W = RNG.uniform(0.0, 2.0, N)


def _model(jit=False, spe=1, dropout=True, built=True):
    gpunn.utils.set_random_seed(3)
    head = [gpunn.Input(shape=(F,), dtype="float64")] if built else []
    middle = [layers.Dropout(0.2), layers.BatchNormalization()] if dropout else []
    model = gpunn.Sequential(head + [layers.Dense(8, activation="relu", dtype=None if built else "float64")]
                             + middle + [layers.Dense(CLASSES, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=jit, steps_per_execution=spe)
    return model


def _batches(batch_size=10, weights=False, forever=False, x=X, y=Y):
    """Batches of the arrays in order (the last one partial), as a generator."""
    while True:
        for start in range(0, len(x), batch_size):
            stop = start + batch_size
            yield (x[start:stop], y[start:stop]) + ((W[start:stop],) if weights else ())
        if not forever:
            return


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


class Batches(gpunn.utils.PyDataset):
    """Keras's example PyDataset, recording what fit asks of it."""

    def __init__(self, batch_size=10, x=X, y=Y, weights=None, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.w, self.batch_size = x, y, weights, batch_size
        self.calls, self.threads, self.events = [], set(), []

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index):
        self.calls.append(index)
        self.threads.add(threading.current_thread().name)
        low, high = index * self.batch_size, (index + 1) * self.batch_size
        batch = (self.x[low:high], self.y[low:high])
        return batch + ((self.w[low:high],) if self.w is not None else ())

    def on_epoch_begin(self):
        self.events.append("begin")

    def on_epoch_end(self):
        self.events.append("end")


# ---- what is streamed ---------------------------------------------------------------------------------------


def test_what_counts_as_streamed():
    assert is_streamed(_batches()) and is_streamed(iter([(X, Y)])) and is_streamed(Batches())
    assert is_streamed(map(lambda i: (X, Y), range(2)))
    for array_like in (X, [[1.0, 2.0]], (X, Y), {"a": X}, None, "text"):
        assert not is_streamed(array_like)


# ---- fit: the same step as arrays ---------------------------------------------------------------------------


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replayed"])
@pytest.mark.parametrize("spe", [1, 3])
@pytest.mark.parametrize("weights", [False, True], ids=["unweighted", "weighted"])
def test_generator_trains_as_the_same_arrays_bit_for_bit(jit, spe, weights):
    """A generator of the arrays' batches in order (the last partial batch getting its own slot) trains exactly
    as fit on the arrays with shuffle=False: same weights and History, with jit_compile, steps_per_execution and
    sample weights."""
    arrays = _model(jit, spe)
    expected = arrays.fit(X, Y, sample_weight=W if weights else None, batch_size=10, epochs=3, shuffle=False,
                          verbose=0)
    streamed = _model(jit, spe)
    history = streamed.fit(_batches(weights=weights, forever=True), steps_per_epoch=10, epochs=3, shuffle=False,
                           verbose=0)
    assert _same(streamed.get_weights(), arrays.get_weights())
    assert history.history == expected.history
    assert streamed.optimizer.iterations == arrays.optimizer.iterations == 30


def test_batches_of_any_size_each_get_a_slot():
    """Batches of sizes 7, 3, 7, 12 train as train_on_batch on each of them."""
    sizes = [7, 3, 7, 12]
    bounds = np.cumsum([0] + sizes)
    chunks = [(X[a:b], Y[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    reference = _model(jit=True)
    for x, y in chunks:
        reference.train_on_batch(x, y)
    model = _model(jit=True)
    model.fit(iter(chunks), epochs=1, shuffle=False, verbose=0)
    assert _same(model.get_weights(), reference.get_weights())


def test_an_unbuilt_model_is_built_from_the_first_batch():
    model = _model(built=False)
    model.fit(_batches(), epochs=1, shuffle=False, verbose=0)
    assert model.built and model.input_shape == (None, F)


def test_a_streamed_step_allocates_nothing_after_the_first_batch_of_a_size():
    model = _model(jit=False)
    stream = BatchStream(_batches(weights=True), "x", None, "steps_per_epoch")
    arrays = [checked_batch(model, stream, raw, i, True) for i, raw in enumerate(_batches(weights=True))]
    step = model.make_train_function().prepare(model._sparse_labels(arrays[0][1]))
    _run_in_slot(step, arrays[0])
    _run_in_slot(step, arrays[-1])  # the partial batch's first step
    with count_step_allocations() as events:
        for batch in arrays[1:-1]:
            _run_in_slot(step, batch)
    assert events == [], describe(events)


# ---- steps and epochs (Keras's EpochIterator) ----------------------------------------------------------------


def test_with_steps_per_epoch_one_generator_runs_on_across_epochs():
    seen = []

    def numbered():
        for i in range(100):
            seen.append(i)
            yield X[:5], Y[:5]

    model = _model()
    history = model.fit(numbered(), steps_per_epoch=4, epochs=3, shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 3 and seen == list(range(12))


def test_a_finite_generator_without_steps_is_read_once_then_training_stops():
    model = _model()
    with pytest.warns(UserWarning, match="Your input ran out of data; interrupting training"):
        history = model.fit(_batches(), epochs=3, shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 1  # epoch 2 got no batch: training ends there
    assert model.optimizer.iterations == 10


def test_running_out_within_steps_per_epoch_warns_and_shortens_the_epoch():
    model = _model()
    with pytest.warns(UserWarning, match="Your input ran out of data"):
        history = model.fit(_batches(), steps_per_epoch=6, epochs=3, shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 2 and model.optimizer.iterations == 10


def test_an_iterable_starts_over_every_epoch():
    class Reiterable:
        def __init__(self):
            self.starts = 0

        def __iter__(self):
            self.starts += 1
            return _batches()

    data = Reiterable()
    model = _model()
    history = model.fit(data, epochs=3, shuffle=False, verbose=0)
    assert data.starts == 3 and len(history.history["loss"]) == 3 and model.optimizer.iterations == 30


def test_py_dataset_len_hooks_and_shuffled_batch_order():
    data = Batches()
    model = _model()
    model.fit(data, epochs=2, shuffle=False, verbose=0)
    # Keras's first fit since compile reads a batch and ends an epoch before its own (test below)
    assert data.calls == [0] + list(range(10)) * 2 and data.events == ["begin", "end"] * 3
    assert model.optimizer.iterations == 20
    shuffled = Batches()
    _model().fit(shuffled, epochs=2, verbose=0)  # shuffle=True: the batch order, by epoch, as Keras
    first, second = shuffled.calls[1:11], shuffled.calls[11:]
    assert sorted(first) == sorted(second) == list(range(10)) and first != second and first != list(range(10))
    import random
    order = list(range(10))
    random.Random(0).shuffle(order)
    assert first == order


def test_py_dataset_with_fewer_steps_than_batches_runs_on_then_starts_over():
    data = Batches()
    with pytest.warns(UserWarning, match="ran out of data"):
        _model().fit(data, steps_per_epoch=4, epochs=4, shuffle=False, verbose=0)
    # Keras: (a batch read before, the first fit since compile) 0-3, 4-7, 8-9 (the dataset's end: a short
    # epoch), then from the start again.
    assert data.calls == [0] + [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3]


def test_py_dataset_workers_prepare_batches_in_threads_in_order():
    plain, threaded = Batches(), Batches(workers=3, max_queue_size=4)
    a, b = _model(), _model()
    a.fit(plain, epochs=2, shuffle=False, verbose=0)
    b.fit(threaded, epochs=2, shuffle=False, verbose=0)
    assert _same(a.get_weights(), b.get_weights())
    assert any(name.startswith("gpunn-pydataset") for name in threaded.threads)
    assert plain.threads == {threading.current_thread().name}


def test_py_dataset_class_weight_equals_the_sample_weights():
    class_weight = {0: 0.5, 1: 2.0, 2: 1.5}
    a, b = _model(), _model()
    a.fit(Batches(weights=np.array([class_weight[int(c)] for c in Y])), epochs=1, shuffle=False, verbose=0)
    b.fit(Batches(), class_weight=class_weight, epochs=1, shuffle=False, verbose=0)
    assert _same(a.get_weights(), b.get_weights())


def test_infinite_py_dataset_needs_steps_per_epoch():
    class Endless(gpunn.utils.PyDataset):
        def __getitem__(self, index):
            return X[:5], Y[:5]

        @property
        def num_batches(self):
            return None

    model = _model()
    with pytest.raises(ValueError, match="steps_per_epoch: x is a PyDataset without len"):
        model.fit(Endless(), epochs=1, verbose=0)
    with pytest.warns(UserWarning, match="infinite PyDataset"):
        model.fit(Endless(), steps_per_epoch=3, epochs=2, verbose=0)
    assert model.optimizer.iterations == 6
    with pytest.raises(ValueError, match="steps: x is a PyDataset without len"):
        model.evaluate(Endless(), verbose=0)
    assert model.evaluate(Endless(), steps=2, verbose=0, return_dict=True)["loss"] > 0


def test_py_dataset_without_super_init_warns_as_keras():
    class NoSuper(gpunn.utils.PyDataset):
        def __init__(self):
            pass

        def __len__(self):
            return 2

        def __getitem__(self, index):
            return X[:5], Y[:5]

    with pytest.warns(UserWarning, match=r"should call `super\(\).__init__\(\*\*kwargs\)`"):
        _model().fit(NoSuper(), epochs=1, shuffle=False, verbose=0)
    assert gpunn.utils.Sequence is gpunn.utils.PyDataset


# ---- validation, evaluate, predict --------------------------------------------------------------------------


def test_validation_data_as_a_generator_or_py_dataset():
    reference = _model(dropout=False)
    expected = reference.fit(X, Y, batch_size=10, epochs=2, shuffle=False, verbose=0,
                             validation_data=(X[:40], Y[:40]), validation_batch_size=20)
    for validation in (lambda: _batches(20, x=X[:40], y=Y[:40], forever=True), lambda: Batches(20, X[:40], Y[:40])):
        streamed = _model(dropout=False)
        history = streamed.fit(_batches(forever=True), steps_per_epoch=10, epochs=2, shuffle=False, verbose=0,
                               validation_data=validation(), validation_steps=2)
        assert history.history == expected.history
        arrays_x = _model(dropout=False)  # arrays for x, a generator for validation_data
        history = arrays_x.fit(X, Y, batch_size=10, epochs=2, shuffle=False, verbose=0,
                               validation_data=validation(), validation_steps=2)
        assert history.history == expected.history


def test_validation_steps_reads_that_many_array_batches_as_keras():
    a, b = _model(dropout=False), _model(dropout=False)
    expected = a.fit(X, Y, epochs=1, shuffle=False, verbose=0, validation_data=(X[:30], Y[:30]))
    history = b.fit(X, Y, epochs=1, shuffle=False, verbose=0, validation_data=(X, Y), validation_batch_size=10,
                    validation_steps=3)
    assert history.history == expected.history


def test_validation_generator_that_runs_dry_warns_once():
    model = _model()
    with pytest.warns(UserWarning, match="validation_data: the generator has no batches left"):
        history = model.fit(X, Y, epochs=3, verbose=0, validation_data=_batches(40))
    assert len(history.history["val_loss"]) == 1 and len(history.history["loss"]) == 3


def test_evaluate_and_predict_over_streams_match_arrays():
    model = _model()
    model.fit(X, Y, epochs=1, verbose=0)
    expected = model.evaluate(X, Y, sample_weight=W, batch_size=10, verbose=0, return_dict=True)
    assert model.evaluate(_batches(weights=True), verbose=0, return_dict=True) == expected
    assert model.evaluate(Batches(weights=W), verbose=0, return_dict=True) == expected
    first_two = model.evaluate(X[:20], Y[:20], batch_size=10, verbose=0)
    assert model.evaluate(_batches(forever=True), steps=2, verbose=0) == first_two
    assert model.evaluate(X, Y, batch_size=10, steps=2, verbose=0) == first_two  # steps on arrays too
    outputs = model.predict(X, verbose=0)
    for source in (_batches(), (x for x, _ in _batches()), ((x,) for x, _ in _batches()), Batches()):
        np.testing.assert_array_equal(model.predict(source, verbose=0), outputs)
    np.testing.assert_array_equal(model.predict(_batches(forever=True), steps=3, verbose=0), outputs[:30])
    np.testing.assert_array_equal(model.predict(X, batch_size=10, steps=3, verbose=0), outputs[:30])


def test_evaluate_prints_as_for_arrays(capsys):
    """Keras's verbose=2 line, the same for the arrays and for their batches (the count learned as they end);
    verbose=1 draws the bar, its length learned too."""
    model = _model()
    model.evaluate(_batches(), verbose=2)
    from_batches = capsys.readouterr().out
    model.evaluate(X, Y, batch_size=10, verbose=2)
    from_arrays = capsys.readouterr().out

    def without_times(line):
        return re.sub(r" - \d+s - \d+(us|ms|s)/step", "", line)

    assert re.fullmatch(r"10/10 - accuracy: \d\.\d{4} - loss: \d\.\d{4}\n", without_times(from_batches))
    assert without_times(from_batches) == without_times(from_arrays)
    model.evaluate(_batches(), verbose=1)
    assert "10/10" in capsys.readouterr().out


# ---- callbacks and the progress bar -------------------------------------------------------------------------


class Recorder(callbacks_module.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append(("train_begin", self.params.get("steps")))

    def on_train_batch_begin(self, batch, logs=None):
        self.events.append(("begin", batch))

    def on_train_batch_end(self, batch, logs=None):
        self.events.append(("end", batch, float(logs["loss"])))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch", epoch, sorted(logs)))


def test_callbacks_see_executions_and_epochs_as_keras():
    recorder = Recorder()
    model = _model(spe=3)
    model.fit(Batches(), epochs=1, shuffle=False, verbose=0, callbacks=[recorder],
              validation_data=(X[:20], Y[:20]))
    assert recorder.events[0] == ("train_begin", 10)
    batches = [e[:2] for e in recorder.events if e[0] in ("begin", "end")]
    assert batches == [("begin", 0), ("end", 2), ("begin", 3), ("end", 5), ("begin", 6), ("end", 8),
                       ("begin", 9), ("end", 11)]
    assert recorder.events[-1] == ("epoch", 0, ["accuracy", "loss", "val_accuracy", "val_loss"])


def test_early_stopping_stops_a_generator_fit():
    model = _model()
    model.fit(_batches(forever=True), steps_per_epoch=10, epochs=50, verbose=0, shuffle=False,
              callbacks=[callbacks_module.LambdaCallback(on_epoch_end=lambda e, l: setattr(
                  model, "stop_training", e == 1))])
    assert model.optimizer.iterations == 20


def test_progress_bar_of_unknown_length(capsys):
    model = _model()

    def endless_epochs():
        yield from _batches()

    history = model.fit(endless_epochs(), epochs=1, verbose=2, shuffle=False)
    out = capsys.readouterr().out
    assert out.startswith("10/10 - ") and "loss: " in out and len(history.history["loss"]) == 1
    model.fit(_batches(), epochs=1, verbose=1, shuffle=False)  # tqdm without a total, then the count learned
    out = capsys.readouterr().out
    assert "10/10" in out


# ---- bad input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error, words", [
    ({"y": Y}, ValueError, ["y: when x is a generator", "part of each batch"]),
    ({"sample_weight": W}, ValueError, ["sample_weight: when x is a generator"]),
    ({"class_weight": {0: 1.0}}, ValueError, ["class_weight: is not supported when x is a generator"]),
    ({"validation_split": 0.2}, ValueError, ["validation_split: is only supported for arrays"]),
    ({"steps_per_epoch": -3}, ValueError, ["steps_per_epoch: expected a positive integer"]),
    ({"validation_data": _batches(), "validation_steps": -1}, ValueError, ["validation_steps"]),
])
def test_fit_arguments_a_generator_refuses(kwargs, error, words):
    with pytest.raises(error) as info:
        _model().fit(_batches(), verbose=0, shuffle=False, **kwargs)
    for word in words:
        assert word in str(info.value)


def _bad(batches):
    def generator():
        yield from batches
    return generator()


@pytest.mark.parametrize("batches, words", [
    ([(X[:5], Y[:5]), (X[:5, :3], Y[:5])], ["x: batch 1 of the generator, its x",
                                             "expected samples of shape (4,)", "(3,)"]),
    ([(X[:5], Y[:4])], ["x: batch 0 of the generator, its y", "expected 5 targets"]),
    ([(X[:5], Y[:5] + 10)], ["batch 0 of the generator, its y", "labels must be integers in [0, 3)"]),
    ([(np.where(X[:5] > 1, np.nan, X[:5]), Y[:5])], ["batch 0 of the generator, its x", "NaN"]),
    ([(X[:5], Y[:5], -W[:5] - 1)], ["batch 0 of the generator, its sample_weight", "non-negative"]),
    ([X[:5]], ["x: batch 0 of the generator", "without y"]),
    ([{"x": X[:5]}], ["batch 0 of the generator", "without y (dict)"]),
    ([(X[:5], Y[:5], W[:5], W[:5])], ["batch 0 of the generator", "a tuple of 4 elements"]),
    ([], ["x: the generator yielded no batch"]),
])
def test_each_batch_gets_the_checks_arrays_get(batches, words):
    with pytest.raises((ValueError, TypeError)) as info:
        _model().fit(_bad(batches), epochs=1, verbose=0, shuffle=False)
    for word in words:
        assert word in str(info.value)


def test_shuffle_with_a_generator_warns_as_keras():
    with pytest.warns(UserWarning, match="`shuffle=True` was passed, but will be ignored"):
        _model().fit(_batches(), epochs=1, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _model().fit(Batches(), epochs=1, verbose=0)  # a PyDataset shuffles its batch order


class DatasetV2:
    """Stands for a tf.data.Dataset (what Keras's ``is_tf_dataset`` recognises: the class's name and module):
    an iterable of batches that NumPy reads, iterated again each epoch."""

    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)


DatasetV2.__module__ = "tensorflow.python.data.ops.dataset_ops"


def test_a_tf_data_dataset_trains_as_an_iterable_with_kerass_warning():
    dataset = DatasetV2([(X[i:i + 8], Y[i:i + 8]) for i in range(0, 32, 8)])
    model = _model()
    with pytest.warns(UserWarning, match=r"provided as a tf.data.Dataset. The Dataset is expected to already be "
                                         r"shuffled \(via `.shuffle\(buffer_size\)`\)"):
        history = model.fit(dataset, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    reference = _model()
    reference.fit(X[:32], Y[:32], batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert _same(model.get_weights(), reference.get_weights())


def test_several_ranks_refuse_streamed_inputs(monkeypatch):
    class TwoRanks(gpunn.distributed.Communicator):
        size, rank = 2, 0

    monkeypatch.setattr(gpunn.distributed, "current", lambda: TwoRanks())
    model = _model()
    for call in (lambda: model.fit(_batches(), verbose=0, shuffle=False),
                 lambda: model.evaluate(_batches(), verbose=0), lambda: model.predict(_batches(), verbose=0)):
        with pytest.raises(ValueError, match="streamed inputs .* are not supported with several ranks"):
            call()


PY_DATASET_HOOKS = r'''
import json, sys
import numpy as np


def run(keras, folder):
    """The calls a PyDataset's epoch hooks and batches get, in order, from fit (with a PyDataset as validation
    data), evaluate, predict, a second fit, and a fit after compile again."""
    x = np.random.RandomState(0).randn(40, 4).astype("float32")
    y = x.sum(1, keepdims=True)

    class Logged(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.log = []

        def __len__(self):
            return 2

        def __getitem__(self, index):
            self.log.append(index)
            return x[index * 10:(index + 1) * 10], y[index * 10:(index + 1) * 10]

        def on_epoch_begin(self):
            self.log.append("begin")

        def on_epoch_end(self):
            self.log.append("end")

    out = {}
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    train, val = Logged(), Logged()
    model.fit(train, validation_data=val, epochs=2, verbose=0, shuffle=False)
    out["first_fit"], out["validation"] = train.log, val.log
    for name, call in (("second_fit", lambda d: model.fit(d, epochs=1, verbose=0, shuffle=False)),
                       ("evaluate", lambda d: model.evaluate(d, verbose=0)),
                       ("predict", lambda d: model.predict(d, verbose=0))):
        data = Logged()
        call(data)
        out[name] = data.log
    model.compile("sgd", "mse")
    data = Logged()
    model.evaluate(data, verbose=0)
    out["evaluate_after_compile"] = data.log
    model.compile("sgd", "mse")
    model.train_on_batch(x[:10], y[:10])
    data = Logged()
    model.fit(data, epochs=1, verbose=0, shuffle=False)
    out["fit_after_train_on_batch"] = data.log
    return out
'''


def test_a_py_dataset_s_epoch_hooks_are_called_as_keras_calls_them(tmp_path_factory):
    """Keras's fit and evaluate end an epoch of a PyDataset before their loop, and their first use since compile
    reads a batch first (to build the compiled losses and metrics): a dataset shuffling in on_epoch_end trains its
    first epoch on shuffled batches, in Keras and here."""
    ours, theirs = run_script_both_ways(PY_DATASET_HOOKS, tmp_path_factory)
    assert ours == theirs
    assert ours["first_fit"] == ["begin", 0, "end", "begin", 0, 1, "end", "begin", 0, 1, "end"]
    assert ours["validation"] == ["end", "begin", 0, 1, "end"] * 2


def test_an_empty_py_dataset_is_refused_by_name_before_its_first_batch_is_read():
    """Keras reads a PyDataset's first batch before fit's loop (to build its losses and metrics); of one of no
    batches that read would raise the dataset's own IndexError: it is refused as an empty source instead."""
    class Empty(gpunn.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.read = []

        def __len__(self):
            return 0

        def __getitem__(self, index):
            self.read.append(index)
            raise IndexError(f"index {index} out of range")

    model = gpunn.Sequential([gpunn.Input((4,)), gpunn.layers.Dense(3)])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    data = Empty()
    with pytest.raises(ValueError, match="x: the PyDataset yielded no batch"):
        model.fit(data, epochs=1, verbose=0)
    assert data.read == []


def test_a_two_input_model_told_how_to_yield_its_inputs_to_predict():
    """Keras reads a yielded pair as (x, y), in predict too: the refusal says to yield ((a, b),)."""
    a, b = gpunn.Input((3,)), gpunn.Input((2,))
    model = gpunn.Model([a, b], gpunn.layers.Dense(1)(gpunn.layers.Concatenate()([a, b])))

    def pairs():
        for _ in range(2):
            yield np.ones((4, 3), "float32"), np.ones((4, 2), "float32")

    def wrapped():
        for first, second in pairs():
            yield ((first, second),)

    with pytest.raises(ValueError, match=r"a batch of 2 arrays is read as \(x, y\): .* yield the inputs as one "
                                         r"tuple, \(\(a, b\),\)"):
        model.predict(pairs(), verbose=0)
    assert model.predict(wrapped(), verbose=0).shape == (8, 1)
