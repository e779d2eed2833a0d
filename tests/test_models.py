"""Sequential models: fit / evaluate / predict and the *_on_batch methods, weights in Keras's layout, summary,
seeds, validation, callbacks, regularizers; expectations from Keras's documented semantics and plain NumPy."""
from __future__ import annotations

import csv
import re

import numpy as np
import pytest
from helpers import digits, mlp, numpy_backend, run_keras, softmax  # noqa: F401

import gpunn
from gpunn import callbacks, layers, optimizers, regularizers
from gpunn.utils import set_random_seed, to_categorical


@pytest.fixture(scope="module")
def data():
    (x, y), (xt, yt) = digits()
    return x[:400], y[:400], xt[:200], yt[:200]


def sparse_ce(probs, y):
    return float(-np.log(probs[np.arange(len(y)), y]).mean())


def compiled_mlp(metrics=("accuracy",), optimizer="adam", dtype=None, **kwargs):
    model = mlp(hidden=(16,), dtype=dtype, **kwargs)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=list(metrics) if metrics is not None else None)
    return model


# ---- fit / History -------------------------------------------------------------------------------------------


def test_fit_returns_history_with_keras_keys_and_lengths(data):
    x, y, *_ = data
    model = compiled_mlp()
    history = model.fit(x, y, epochs=3, batch_size=32, validation_split=0.2, verbose=0)
    assert history is model.history
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in history.history.values())
    assert history.epoch == [0, 1, 2]
    assert all(isinstance(v, float) and np.isfinite(v) for vals in history.history.values() for v in vals)
    assert all(0.0 <= a <= 1.0 for a in history.history["accuracy"] + history.history["val_accuracy"])
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_fit_without_validation_has_no_val_keys(data):
    x, y, *_ = data
    model = compiled_mlp(metrics=None)
    history = model.fit(x, y, epochs=2, verbose=0)
    assert set(history.history) == {"loss"}


def test_fit_reports_the_mean_training_loss_of_the_epoch(data):
    """With SGD and shuffle=False the epoch's loss is the sample-weighted mean of the per-batch losses, each
    measured before that batch's update: replay the batches with train_on_batch to get them."""
    x, y, *_ = data
    x, y = x[:100], y[:100]
    set_random_seed(3)
    a = compiled_mlp(metrics=None, optimizer=optimizers.SGD(0.1), dtype="float64")
    set_random_seed(3)
    b = compiled_mlp(metrics=None, optimizer=optimizers.SGD(0.1), dtype="float64")
    np.testing.assert_array_equal(a.params, b.params)
    history = a.fit(x, y, epochs=1, batch_size=30, shuffle=False, verbose=0)
    batch_losses = [b.train_on_batch(x[i:i + 30], y[i:i + 30]) for i in range(0, 100, 30)]
    sizes = [30, 30, 30, 10]
    assert history.history["loss"][0] == pytest.approx(np.dot(batch_losses, sizes) / 100, rel=1e-12)
    np.testing.assert_array_equal(a.params, b.params)


def test_shuffle_false_trains_on_consecutive_batches_in_order(data):
    x, y, *_ = data
    x, y = x[:90], y[:90]
    weights = compiled_mlp().get_weights()
    results = []
    for seed in (1, 2):  # the seed changes shuffling only; without shuffling it must not matter
        set_random_seed(seed)
        model = compiled_mlp()
        model.set_weights(weights)
        model.fit(x, y, epochs=2, batch_size=25, shuffle=False, verbose=0)
        results.append(model.get_weights())
    replay = compiled_mlp()
    replay.set_weights(weights)
    for _ in range(2):
        for i in range(0, 90, 25):
            replay.train_on_batch(x[i:i + 25], y[i:i + 25])
    for a, b, c in zip(*results, replay.get_weights()):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_shuffle_true_changes_the_batch_order(data):
    x, y, *_ = data
    weights = compiled_mlp().get_weights()
    out = []
    for shuffle in (True, False):
        model = compiled_mlp()
        model.set_weights(weights)
        model.fit(x[:96], y[:96], epochs=1, batch_size=16, shuffle=shuffle, verbose=0)
        out.append(model.get_weights()[0])
    assert not np.array_equal(out[0], out[1])


def test_initial_epoch_resumes_counting(data):
    x, y, *_ = data
    model = compiled_mlp()
    seen = []
    cb = callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(epoch))
    history = model.fit(x, y, epochs=5, initial_epoch=3, verbose=0, callbacks=[cb])
    assert history.epoch == [3, 4]
    assert seen == [3, 4]
    assert len(history.history["loss"]) == 2


def test_steps_per_epoch_limits_the_batches(data):
    x, y, *_ = data
    model = compiled_mlp(optimizer=optimizers.SGD(0.01))
    model.fit(x, y, epochs=2, batch_size=10, steps_per_epoch=3, verbose=0)
    assert model.optimizer.iterations == 6


STEPS_ACROSS_EPOCHS = r'''
import json, warnings
import numpy as np
import keras
x = np.arange(12, dtype="float32")[:, None]
model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, kernel_initializer="zeros")])
model.compile(optimizer=keras.optimizers.SGD(0.001), loss="mse")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    history = model.fit(x, x, batch_size=4, steps_per_epoch=2, epochs=3, shuffle=False, verbose=0)
print(json.dumps({"loss": history.history["loss"], "iterations": int(model.optimizer.iterations),
                  "warnings": sum("ran out of data" in str(w.message) for w in caught)}))
'''


def test_steps_per_epoch_runs_on_through_the_data_across_epochs_as_in_keras():
    """Keras keeps one iterator across epochs when steps_per_epoch is given: with 3 batches a pass and 2 steps an
    epoch, the second epoch runs the third batch alone (and warns that the input ran out), the third starts a
    new pass: 5 steps, every row trained on."""
    keras_side = run_keras(STEPS_ACROSS_EPOCHS, {})
    x = np.arange(12, dtype=np.float32)[:, None]
    model = gpunn.Sequential([gpunn.Input((1,)), layers.Dense(1, kernel_initializer="zeros")])
    model.compile(optimizer=optimizers.SGD(0.001), loss="mse")
    with pytest.warns(UserWarning, match="ran out of data") as caught:
        history = model.fit(x, x, batch_size=4, steps_per_epoch=2, epochs=3, shuffle=False, verbose=0)
    assert sum("ran out of data" in str(w.message) for w in caught) == keras_side["warnings"] == 1
    assert model.optimizer.iterations == keras_side["iterations"] == 5
    np.testing.assert_allclose(history.history["loss"], keras_side["loss"], rtol=1e-5)


def test_epochs_skipped_on_resume_leave_a_pass_where_running_them_would():
    """A run resumed at a later epoch (initial_epoch, BackupAndRestore) sees the batches the uninterrupted run
    would have, mid-pass too."""
    x = np.arange(40, dtype=np.float32)[:, None]

    def rows_of_epochs(skip, run):
        iterator = gpunn.trainer.EpochIterator(gpunn.get_ops(), gpunn.distributed.current(), [x, x], 4,
                                               steps_per_epoch=3, shuffle=True, rng=np.random.default_rng(5))
        iterator.skip_epochs(skip)
        seen = []
        for _ in range(run):
            for batch in iterator.batches():
                slot = gpunn.trainer.BatchSlot(iterator.ops, batch.rows, batch.global_rows, (1,), x.dtype, (1,),
                                               x.dtype, None)
                iterator.fill(batch, slot)
                seen.append(np.asarray(slot.x)[:, 0].tolist())
        return seen

    with pytest.warns(UserWarning, match="ran out of data"):  # 10 batches a pass, 3 an epoch: the 4th runs 1
        whole = rows_of_epochs(0, 6)
    assert [len(whole)] == [3 + 3 + 3 + 1 + 3 + 3]
    assert sorted(row for batch in whole[:10] for row in batch) == list(range(40))
    np.testing.assert_array_equal(rows_of_epochs(4, 2), whole[10:])
    np.testing.assert_array_equal(rows_of_epochs(2, 1), whole[6:9])


def test_iterations_count_the_batches(data):
    x, y, *_ = data
    model = compiled_mlp()
    model.fit(x[:100], y[:100], epochs=3, batch_size=32, verbose=0)
    assert model.optimizer.iterations == 3 * 4  # ceil(100 / 32) batches a epoch, the last one partial


# ---- validation ----------------------------------------------------------------------------------------------


def test_validation_split_takes_the_last_fraction_before_shuffling(data):
    """Keras: the validation set is the last ``validation_split`` of the samples, taken before shuffling."""
    x, y, *_ = data
    x, y = x[:100], y[:100]
    weights = compiled_mlp().get_weights()
    set_random_seed(5)
    split = compiled_mlp()
    split.set_weights(weights)
    history = split.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=0)
    set_random_seed(5)
    explicit = compiled_mlp()
    explicit.set_weights(weights)
    history2 = explicit.fit(x[:75], y[:75], epochs=2, batch_size=16, validation_data=(x[75:], y[75:]), verbose=0)
    for a, b in zip(split.get_weights(), explicit.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert history.history == history2.history
    # The reported validation metrics are those of the last 25 samples under the final weights.
    loss, accuracy = split.evaluate(x[75:], y[75:], batch_size=16, verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(loss, rel=1e-12)
    assert history.history["val_accuracy"][-1] == pytest.approx(accuracy, rel=1e-12)


def test_validation_split_rounds_the_training_count_down(data):
    x, y, *_ = data
    model = compiled_mlp(optimizer=optimizers.SGD(0.01))
    model.fit(x[:50], y[:50], epochs=1, batch_size=1, validation_split=0.33, verbose=0)
    assert model.optimizer.iterations == 33  # Keras: floor(50 * (1 - 0.33)) = 33 training samples


def test_validation_data_is_evaluated_each_epoch(data):
    x, y, xt, yt = data
    model = compiled_mlp()
    history = model.fit(x, y, epochs=2, validation_data=(xt, yt), verbose=0)
    assert len(history.history["val_loss"]) == 2
    loss, acc = model.evaluate(xt, yt, verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(loss, rel=1e-12)
    assert history.history["val_accuracy"][-1] == pytest.approx(acc, rel=1e-12)


def test_validation_freq(data):
    x, y, xt, yt = data
    model = compiled_mlp(metrics=None)
    seen = []
    cb = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(sorted(logs)))
    model.fit(x, y, epochs=4, validation_data=(xt, yt), validation_freq=2, verbose=0, callbacks=[cb])
    assert seen == [["loss"], ["loss", "val_loss"], ["loss"], ["loss", "val_loss"]]


# ---- evaluate / predict --------------------------------------------------------------------------------------


def test_evaluate_return_forms(data):
    x, y, xt, yt = data
    plain = mlp(hidden=(8,), dtype="float64")
    plain.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    loss = plain.evaluate(xt, yt, verbose=0)
    assert isinstance(loss, float)
    probs = plain.predict(xt, verbose=0)
    assert loss == pytest.approx(sparse_ce(probs, yt), rel=1e-10)

    plain.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    result = plain.evaluate(xt, yt, verbose=0)
    assert isinstance(result, list) and len(result) == 2
    assert result[0] == pytest.approx(sparse_ce(probs, yt), rel=1e-10)
    assert result[1] == pytest.approx(np.mean(probs.argmax(axis=1) == yt), abs=1e-12)

    as_dict = plain.evaluate(xt, yt, verbose=0, return_dict=True)
    assert list(as_dict) == ["accuracy", "loss"]  # sorted, as Keras's
    assert as_dict["loss"] == pytest.approx(result[0], rel=1e-12)
    assert plain.metrics_names == ["loss", "accuracy"]


def test_evaluate_is_independent_of_the_batch_size(data):
    _, _, xt, yt = data
    model = compiled_mlp(dtype="float64")
    results = [model.evaluate(xt, yt, batch_size=b, verbose=0) for b in (7, 32, 200, 1000)]
    for r in results[1:]:
        np.testing.assert_allclose(r, results[0], rtol=1e-12)


def test_evaluate_prints_a_line_when_verbose(data, capsys):
    _, _, xt, yt = data
    model = compiled_mlp()
    model.evaluate(xt, yt, verbose=0)
    assert capsys.readouterr().out == ""
    loss, acc = model.evaluate(xt, yt, verbose=2)  # Keras's line: batches, times, then the logs sorted
    out = capsys.readouterr().out
    batches = -(-len(xt) // 32)
    assert re.fullmatch(rf"{batches}/{batches} - \d+s - \d+(us|ms|s)/step - accuracy: {acc:.4f} - loss: {loss:.4f}\n",
                        out), out
    model.evaluate(xt, yt, verbose=1)  # the progress bar
    out = capsys.readouterr().out
    assert f"{batches}/{batches}" in out and f"accuracy={acc:.4f} loss={loss:.4f}" in out


def test_predict_shapes_and_probabilities(data):
    _, _, xt, yt = data
    model = compiled_mlp()
    probs = model.predict(xt[:37], batch_size=8, verbose=0)
    assert isinstance(probs, np.ndarray) and probs.shape == (37, 10) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert (probs >= 0).all()
    np.testing.assert_allclose(model.predict(xt[:37], batch_size=100, verbose=0), probs, rtol=1e-6)
    assert model.predict(xt[:1], verbose=0).shape == (1, 10)
    np.testing.assert_array_equal(model(xt[:37]), model.predict_on_batch(xt[:37]))


def test_predict_matches_the_forward_formula(rng):
    model = gpunn.Sequential([gpunn.Input(shape=(4,), dtype="float64"), layers.Dense(5, activation="tanh"),
                              layers.Dense(3, activation="softmax")])
    k1, b1, k2, b2 = [rng.standard_normal(w.shape) for w in model.get_weights()]
    model.set_weights([k1, b1, k2, b2])
    x = rng.standard_normal((6, 4))
    np.testing.assert_allclose(model.predict(x, verbose=0), softmax(np.tanh(x @ k1 + b1) @ k2 + b2), rtol=1e-12)


def test_sigmoid_output_and_binary_targets(rng):
    model = gpunn.Sequential([gpunn.Input(shape=(4,), dtype="float64"), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    x = rng.standard_normal((20, 4))
    y = (x[:, 0] > 0).astype(float)
    p = model.predict(x, verbose=0)
    assert p.shape == (20, 1) and ((p > 0) & (p < 1)).all()
    loss, acc = model.evaluate(x, y, verbose=0)  # (n,) targets accepted for a (n, 1) output, as in Keras
    bce = -(y * np.log(p[:, 0]) + (1 - y) * np.log(1 - p[:, 0])).mean()
    assert loss == pytest.approx(bce, rel=1e-10)
    assert acc == pytest.approx(np.mean((p[:, 0] > 0.5) == (y > 0.5)))
    assert model.evaluate(x, y.reshape(-1, 1), verbose=0)[0] == pytest.approx(loss, rel=1e-12)


# ---- single batches ------------------------------------------------------------------------------------------


def test_train_on_batch_returns_the_loss_before_its_update(data):
    x, y, *_ = data
    model = compiled_mlp(optimizer=optimizers.SGD(0.5), dtype="float64")
    before = model.predict(x[:20], verbose=0)
    weights = model.get_weights()
    loss, acc = model.train_on_batch(x[:20], y[:20])
    assert loss == pytest.approx(sparse_ce(before, y[:20]), rel=1e-10)
    assert acc == pytest.approx(np.mean(before.argmax(1) == y[:20]))
    assert model.optimizer.iterations == 1
    assert any(not np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    after = model.train_on_batch(x[:20], y[:20], return_dict=True)
    assert set(after) == {"loss", "accuracy"} and after["loss"] < loss


def test_test_on_batch_and_predict_on_batch_leave_weights_alone(data):
    _, _, xt, yt = data
    model = compiled_mlp()
    weights = model.get_weights()
    result = model.test_on_batch(xt[:50], yt[:50])
    np.testing.assert_allclose(result, model.evaluate(xt[:50], yt[:50], batch_size=50, verbose=0), rtol=1e-12)
    assert model.test_on_batch(xt[:50], yt[:50], return_dict=True)["loss"] == pytest.approx(result[0])
    np.testing.assert_allclose(model.predict_on_batch(xt[:50]), model.predict(xt[:50], verbose=0), rtol=1e-6)
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0


# ---- weights -------------------------------------------------------------------------------------------------


def test_weights_in_keras_layout(rng):
    model = gpunn.Sequential([gpunn.Input(shape=(3,)), layers.Dense(5, name="hidden"),
                              layers.BatchNormalization(name="bn"), layers.Dense(2, use_bias=False)])
    shapes = [w.shape for w in model.get_weights()]
    # Dense: kernel (inputs, units) then bias; BatchNormalization: gamma, beta, moving_mean, moving_variance.
    assert shapes == [(3, 5), (5,), (5,), (5,), (5,), (5,), (5, 2)]
    w = model.get_weights()
    np.testing.assert_array_equal(w[1], 0)  # bias: zeros
    np.testing.assert_array_equal(w[2], 1)  # gamma: ones
    np.testing.assert_array_equal(w[3], 0)  # beta: zeros
    np.testing.assert_array_equal(w[4], 0)  # moving_mean: zeros
    np.testing.assert_array_equal(w[5], 1)  # moving_variance: ones
    assert model.count_params() == 3 * 5 + 5 + 4 * 5 + 5 * 2

    new = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    new[5] = rng.uniform(0.5, 2, 5).astype(np.float32)
    model.set_weights(new)
    for a, b in zip(model.get_weights(), new):
        np.testing.assert_array_equal(a, b)
    # The meaning of each array, seen through predict (inference: BN uses the moving statistics).
    x = rng.standard_normal((4, 3)).astype(np.float32)
    h = x @ new[0] + new[1]
    h = new[2] * (h - new[4]) / np.sqrt(new[5] + 1e-3) + new[3]
    np.testing.assert_allclose(model.predict(x, verbose=0), h @ new[6], rtol=1e-5, atol=1e-6)
    # get_weights returns copies.
    model.get_weights()[0][...] = 0
    np.testing.assert_array_equal(model.get_weights()[0], new[0])


def test_set_weights_checks_count_and_shapes():
    model = gpunn.Sequential([gpunn.Input(shape=(3,)), layers.Dense(5)])
    with pytest.raises(ValueError, match=r"weights: expected a list of 2 arrays \(as get_weights returns\), got 1"):
        model.set_weights([np.zeros((3, 5))])
    with pytest.raises(ValueError, match=r"weight 'kernel' expects shape \(3, 5\), got \(5, 3\)"):
        model.set_weights([np.zeros((5, 3)), np.zeros(5)])


def test_layer_get_set_weights_and_trainable_counts():
    model = gpunn.Sequential([gpunn.Input(shape=(3,)), layers.Dense(4), layers.BatchNormalization(),
                              layers.Dense(2, trainable=False)])
    dense = model.layers[0]
    assert [w.shape for w in dense.get_weights()] == [(3, 4), (4,)]
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 3 * 4 + 4 + 2 * 4  # kernel, bias, gamma, beta; the frozen Dense and BN state excluded
    assert model.count_params() == 16 + 16 + 10


def test_frozen_layer_is_not_updated(data):
    x, y, *_ = data
    model = gpunn.Sequential([gpunn.Input(shape=(64,)), layers.Dense(8, activation="relu", trainable=False),
                              layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    frozen = model.layers[0].get_weights()
    head = model.layers[1].get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(frozen, model.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(head[0], model.layers[1].get_weights()[0])


# ---- summary -------------------------------------------------------------------------------------------------


def test_summary(capsys):
    model = gpunn.Sequential([gpunn.Input(shape=(64,)), layers.Dense(32, activation="relu", name="hidden"),
                              layers.BatchNormalization(name="norm"), layers.Dropout(0.2, name="drop"),
                              layers.Dense(10, activation="softmax", name="out")], name="digits_mlp")
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert 'Model: "digits_mlp"' in text
    for name, cls, shape, params in [("hidden", "Dense", "(None, 32)", 64 * 32 + 32),
                                     ("norm", "BatchNormalization", "(None, 32)", 4 * 32),
                                     ("drop", "Dropout", "(None, 32)", 0),
                                     ("out", "Dense", "(None, 10)", 32 * 10 + 10)]:
        # Keras 3's table: "│ hidden (Dense)   │ (None, 32)   │   2,080 │"
        row = next([c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines()
                   if line.startswith(f"│ {name} ({cls})"))
        assert row == [f"{name} ({cls})", shape, f"{params:,}"]
    total = 64 * 32 + 32 + 4 * 32 + 32 * 10 + 10
    assert f"Total params: {total:,}" in text
    assert f"Trainable params: {total - 2 * 32:,}" in text
    assert f"Non-trainable params: {2 * 32:,}" in text
    model.summary()  # print by default
    assert 'Model: "digits_mlp"' in capsys.readouterr().out


def test_summary_of_a_model_not_built_yet_is_kerass():
    """Keras 3 prints a model before it knows its input (the TF regression tutorial's ``dnn_model.summary()``):
    each layer not built yet as "?" and "0 (unbuilt)", one built already (an adapted Normalization) as it is."""
    norm = layers.Normalization(axis=-1, name="norm")
    norm.adapt(np.arange(18.0).reshape(2, 9))
    model = gpunn.Sequential([norm, layers.Dense(64, activation="relu", name="hidden"), layers.Dense(1, name="out")])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines() if line.startswith("│ ")]
    assert rows == [["norm (Normalization)", "(None, 9)", "19"], ["hidden (Dense)", "?", "0 (unbuilt)"],
                    ["out (Dense)", "?", "0 (unbuilt)"]]
    assert "Total params: 19 (76.00 B)" in text and "Non-trainable params: 19 (76.00 B)" in text
    assert not model.built


# ---- seeds ---------------------------------------------------------------------------------------------------


def _seeded_run(seed, data):
    x, y, *_ = data
    set_random_seed(seed)
    model = gpunn.Sequential([gpunn.Input(shape=(64,)), layers.Dense(16, activation="relu"), layers.Dropout(0.3),
                              layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    initial = model.get_weights()
    history = model.fit(x, y, epochs=2, batch_size=32, validation_split=0.1, verbose=0)
    return initial, model.get_weights(), history.history


def test_set_random_seed_reproduces_a_run_bit_for_bit(data):
    init_a, final_a, hist_a = _seeded_run(42, data)
    init_b, final_b, hist_b = _seeded_run(42, data)
    for a, b in zip(init_a + final_a, init_b + final_b):
        np.testing.assert_array_equal(a, b)
    assert hist_a == hist_b
    init_c, final_c, hist_c = _seeded_run(43, data)
    assert not np.array_equal(init_a[0], init_c[0])
    assert not np.array_equal(final_a[0], final_c[0])
    assert hist_a != hist_c


def test_set_random_seed_rejects_bad_seeds():
    for bad in (-1, 1.5, "1", True):
        with pytest.raises(ValueError, match="seed: expected a non-negative integer"):
            set_random_seed(bad)


# ---- callbacks -----------------------------------------------------------------------------------------------


def test_early_stopping_stops_training(data):
    x, y, *_ = data
    model = compiled_mlp()
    # Every epoch after the first fails to improve by min_delta, so with patience 1 it stops after epoch 2.
    stopper = callbacks.EarlyStopping(monitor="loss", min_delta=100.0, patience=1)
    history = model.fit(x, y, epochs=20, callbacks=[stopper], verbose=0)
    assert history.epoch == [0, 1]
    assert stopper.stopped_epoch == 1
    assert model.stop_training


def test_early_stopping_restores_best_weights(data):
    x, y, xt, yt = data
    model = compiled_mlp()
    stopper = callbacks.EarlyStopping(monitor="val_loss", patience=50, restore_best_weights=True)
    history = model.fit(x, y, epochs=4, validation_data=(xt, yt), callbacks=[stopper], verbose=0)
    best = int(np.argmin(history.history["val_loss"]))
    assert stopper.best_epoch == best
    assert model.evaluate(xt, yt, verbose=0)[0] == pytest.approx(min(history.history["val_loss"]), rel=1e-9)


def test_model_checkpoint_writes_loadable_files(data, tmp_path):
    x, y, xt, yt = data
    model = compiled_mlp()
    pattern = str(tmp_path / "ckpt" / "model-{epoch:02d}.h5")
    model.fit(x, y, epochs=2, validation_split=0.2, verbose=0,
              callbacks=[callbacks.ModelCheckpoint(pattern, monitor="val_loss")])
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["model-01.h5", "model-02.h5"]
    restored = gpunn.models.load_model(tmp_path / "ckpt" / "model-02.h5")
    np.testing.assert_array_equal(restored.predict(xt, verbose=0), model.predict(xt, verbose=0))
    first = gpunn.models.load_model(tmp_path / "ckpt" / "model-01.h5")
    assert not np.array_equal(first.get_weights()[0], model.get_weights()[0])


def test_model_checkpoint_weights_only(data, tmp_path):
    x, y, xt, _ = data
    model = compiled_mlp()
    path = tmp_path / "best.weights.h5"
    model.fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.ModelCheckpoint(
        str(path), monitor="loss", save_best_only=True, save_weights_only=True)])
    fresh = compiled_mlp()
    fresh.load_weights(path)
    np.testing.assert_array_equal(fresh.predict(xt, verbose=0), model.predict(xt, verbose=0))


def test_csv_logger_writes_one_row_per_epoch(data, tmp_path):
    x, y, *_ = data
    model = compiled_mlp()
    path = tmp_path / "log.csv"
    history = model.fit(x, y, epochs=3, validation_split=0.2, verbose=0, callbacks=[callbacks.CSVLogger(str(path))])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert set(rows[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy"}
    for key, values in history.history.items():
        np.testing.assert_allclose([float(r[key]) for r in rows], values, rtol=1e-6)


def test_callback_hooks_see_the_model_and_batch_logs(data):
    x, y, *_ = data
    model = compiled_mlp()
    events = []
    cb = callbacks.LambdaCallback(
        on_train_begin=lambda logs: events.append("train_begin"),
        on_train_batch_end=lambda batch, logs: events.append(("batch", batch, float(logs["loss"]))),
        on_epoch_end=lambda epoch, logs: events.append(("epoch", epoch)),
        on_train_end=lambda logs: events.append("train_end"))
    model.fit(x[:64], y[:64], epochs=1, batch_size=32, verbose=0, callbacks=[cb])
    assert events[0] == "train_begin" and events[-1] == "train_end"
    assert [e[:2] for e in events[1:-1]] == [("batch", 0), ("batch", 1), ("epoch", 0)]
    assert all(np.isfinite(e[2]) for e in events[1:3])


# ---- regularizers, dropout, batch normalization, float64 ----------------------------------------------------


def test_regularizers_add_to_the_reported_loss(rng):
    model = gpunn.Sequential([
        gpunn.Input(shape=(6,), dtype="float64"),
        layers.Dense(5, activation="tanh", kernel_regularizer=regularizers.l2(0.03),
                     bias_regularizer=regularizers.l1(0.02), bias_initializer="ones"),
        layers.Dense(3, activation="softmax", kernel_regularizer="l1_l2"),
    ])
    model.compile(optimizer=optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    x = rng.standard_normal((30, 6))
    y = rng.integers(0, 3, 30)
    k1, b1, k2, _ = model.get_weights()
    penalty = 0.03 * (k1 ** 2).sum() + 0.02 * np.abs(b1).sum() + 0.01 * np.abs(k2).sum() + 0.01 * (k2 ** 2).sum()
    data_loss = sparse_ce(model.predict(x, verbose=0), y)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(data_loss + penalty, rel=1e-10)
    assert model.train_on_batch(x, y) == pytest.approx(data_loss + penalty, rel=1e-10)
    # fit reports the same: one full batch, so the epoch's loss is that batch's, before the update.
    model2 = gpunn.Sequential.from_config(model.get_config())
    model2.compile(optimizer=optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    model2.set_weights([k1, b1, k2, model.get_weights()[3] * 0])
    k1, b1, k2, _ = model2.get_weights()
    penalty = 0.03 * (k1 ** 2).sum() + 0.02 * np.abs(b1).sum() + 0.01 * np.abs(k2).sum() + 0.01 * (k2 ** 2).sum()
    expected = sparse_ce(model2.predict(x, verbose=0), y) + penalty
    history = model2.fit(x, y, batch_size=30, epochs=1, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-10)
    # The same loss without regularizers is lower by exactly the penalty.
    plain = gpunn.Sequential([gpunn.Input(shape=(6,), dtype="float64"), layers.Dense(5, activation="tanh"),
                              layers.Dense(3, activation="softmax")])
    plain.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    plain.set_weights(model.get_weights())
    k1, b1, k2, _ = model.get_weights()
    penalty = 0.03 * (k1 ** 2).sum() + 0.02 * np.abs(b1).sum() + 0.01 * np.abs(k2).sum() + 0.01 * (k2 ** 2).sum()
    assert model.evaluate(x, y, verbose=0) - plain.evaluate(x, y, verbose=0) == pytest.approx(penalty, rel=1e-9)


def test_regularization_shrinks_weights(data):
    x, y, *_ = data
    norms = []
    # SGD: the l2 gradient 2 * l2 * W shrinks the kernel by a factor (1 - 2 * lr * l2) every step.
    for reg in (None, regularizers.l2(0.1)):
        set_random_seed(0)
        model = gpunn.Sequential([gpunn.Input(shape=(64,)), layers.Dense(16, activation="relu",
                                                                         kernel_regularizer=reg),
                                  layers.Dense(10, activation="softmax")])
        model.compile(optimizer=optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=3, verbose=0)
        norms.append(np.linalg.norm(model.get_weights()[0]))
    assert norms[1] < 0.8 * norms[0]


def test_dropout_and_batch_normalization_models_train(data):
    x, y, xt, yt = data
    set_random_seed(1)
    model = gpunn.Sequential([gpunn.Input(shape=(64,)), layers.Dense(32), layers.BatchNormalization(),
                              layers.Activation("relu"), layers.Dropout(0.2), layers.Dense(10, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    moving_before = model.layers[1].get_weights()[2].copy()
    history = model.fit(x, y, epochs=6, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert not np.array_equal(model.layers[1].get_weights()[2], moving_before)  # moving mean was updated
    assert model.evaluate(xt, yt, verbose=0)[1] > 0.8
    # Inference is deterministic: Dropout off, BN on its moving statistics.
    np.testing.assert_array_equal(model.predict(xt, verbose=0), model.predict(xt, verbose=0))


def test_float64_models_train(data):
    x, y, xt, yt = data
    set_random_seed(4)
    model = compiled_mlp(dtype="float64", optimizer=optimizers.Adam(0.01))
    assert model.params.dtype == np.float64 and model.dtype == "float64"
    history = model.fit(x, y, epochs=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.predict(xt, verbose=0).dtype == np.float64
    assert all(w.dtype == np.float64 for w in model.get_weights())
    assert model.evaluate(xt, yt, verbose=0)[1] > 0.6


def test_regression_with_mse_and_mae_metrics(rng):
    x = rng.standard_normal((200, 3))
    w_true = np.array([[1.0], [-2.0], [0.5]])
    y = x @ w_true + 0.3
    model = gpunn.Sequential([gpunn.Input(shape=(3,), dtype="float64"), layers.Dense(1)])
    model.compile(optimizer=optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    model.fit(x, y, epochs=30, batch_size=20, verbose=0)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(kernel, w_true, atol=1e-3)
    np.testing.assert_allclose(bias, [0.3], atol=1e-3)
    loss, mae = model.evaluate(x, y, verbose=0)
    pred = model.predict(x, verbose=0)
    assert loss == pytest.approx(((pred - y) ** 2).mean(), rel=1e-9)
    assert mae == pytest.approx(np.abs(pred - y).mean(), rel=1e-9)


def test_categorical_targets_with_to_categorical(data):
    x, y, xt, yt = data
    model = mlp(hidden=(16,))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, to_categorical(y, 10), epochs=3, verbose=0)
    loss, acc = model.evaluate(xt, to_categorical(yt, 10), verbose=0)
    probs = model.predict(xt, verbose=0).astype(np.float64)
    assert acc == pytest.approx(np.mean(probs.argmax(1) == yt))
    assert loss == pytest.approx(sparse_ce(probs, yt), rel=1e-4)


def test_model_without_input_shape_builds_from_the_first_data(data):
    x, y, *_ = data
    model = gpunn.Sequential([layers.Dense(8, activation="relu"), layers.Dense(10, activation="softmax")])
    assert not model.built
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    assert model.built and model.input_shape == (None, 64) and model.output_shape == (None, 10)
    assert [w.shape for w in model.get_weights()] == [(64, 8), (8,), (8, 10), (10,)]


def test_add_and_pop_keep_existing_weights():
    model = gpunn.Sequential([gpunn.Input(shape=(4,)), layers.Dense(3)])
    kernel = model.get_weights()[0]
    model.add(layers.Dense(2))
    assert [w.shape for w in model.get_weights()] == [(4, 3), (3,), (3, 2), (2,)]
    np.testing.assert_array_equal(model.get_weights()[0], kernel)
    model.pop()
    model.build()
    assert [w.shape for w in model.get_weights()] == [(4, 3), (3,)]
    np.testing.assert_array_equal(model.get_weights()[0], kernel)


def test_adding_a_layer_after_training_rebuilds_the_optimizer_state(rng):
    x = rng.standard_normal((40, 5))
    model = gpunn.Sequential([gpunn.Input(shape=(5,)), layers.Dense(4, activation="relu"),
                              layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, rng.integers(0, 3, 40), epochs=1, verbose=0)
    kept = model.get_weights()
    model.add(layers.Dense(2, activation="softmax"))
    history = model.fit(x, rng.integers(0, 2, 40), epochs=1, verbose=0)  # no recompile, as tf.keras allows
    assert np.isfinite(history.history["loss"][0])
    assert all(np.shape(s) == np.shape(model.params) for s in model.optimizer.slots.values())
    assert [w.shape for w in model.get_weights()][:4] == [w.shape for w in kept]
