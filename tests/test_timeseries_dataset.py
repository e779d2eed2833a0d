"""``utils.timeseries_dataset_from_array`` (``keras.utils``'s): Keras's own test cases (keras/src/utils/
timeseries_dataset_utils_test.py) on gpunn's PyDataset, Keras's checks and messages, and a model trained on
the windows equal to one trained on the same windows as arrays."""
from __future__ import annotations

import re

import numpy as np
import pytest

import gpunn
from gpunn.utils import timeseries_dataset_from_array


def test_basics():
    data = np.arange(100)
    dataset = timeseries_dataset_from_array(data, data * 2, sequence_length=9, batch_size=5)
    batches = list(dataset)
    assert len(batches) == len(dataset) == 19
    for i, (inputs, targets) in enumerate(batches):
        assert inputs.shape == ((5, 9) if i < 18 else (2, 9))
        np.testing.assert_array_equal(inputs[:, 0] * 2, targets)
        for j in range(len(inputs)):
            np.testing.assert_array_equal(inputs[j], np.arange(i * 5 + j, i * 5 + j + 9))


def test_timeseries_regression():
    data = np.arange(10)
    dataset = timeseries_dataset_from_array(data, data[3:], sequence_length=3, batch_size=1)
    batches = list(dataset)
    assert len(batches) == 7
    for i, (inputs, targets) in enumerate(batches):
        assert inputs.shape == (1, 3)
        assert targets[0] == data[3 + i]
        np.testing.assert_array_equal(inputs[0], data[i:i + 3])


def test_no_targets():
    dataset = timeseries_dataset_from_array(np.arange(50), None, sequence_length=10, batch_size=5)
    batches = list(dataset)
    assert len(batches) == 9 and batches[-1].shape == (1, 10)
    for i, batch in enumerate(batches):
        for j in range(len(batch)):
            np.testing.assert_array_equal(batch[j], np.arange(i * 5 + j, i * 5 + j + 10))


def test_shuffle_reorders_at_each_iteration_and_the_seed_repeats_it():
    data = np.arange(10)
    dataset = timeseries_dataset_from_array(data, data * 2, sequence_length=5, batch_size=1, shuffle=True, seed=123)
    first = [x for x, _ in dataset]
    assert not np.array_equal(first[0], np.arange(0, 5))
    assert all(np.array_equal(x[:, 0] * 2, y) for x, y in dataset)  # targets follow their windows
    second = [x for x, _ in dataset]
    assert not all(np.array_equal(a, b) for a, b in zip(first, second))
    assert sorted(tuple(x[0]) for x in second) == sorted(tuple(x[0]) for x in first)  # the same windows
    again = timeseries_dataset_from_array(data, data * 2, sequence_length=5, batch_size=1, shuffle=True, seed=123)
    for a, (b, _) in zip(first, again):
        np.testing.assert_array_equal(a, b)
    # Keras's start positions: np.random.RandomState(seed) shuffles arange(0, count, stride)
    starts = np.arange(0, 6)
    np.random.RandomState(123).shuffle(starts)
    np.testing.assert_array_equal([x[0, 0] for x in first], starts)


def test_sampling_rate_stride_and_bounds():
    data = np.arange(100)
    dataset = timeseries_dataset_from_array(data, data * 2, sequence_length=9, batch_size=5, sampling_rate=2)
    assert len(dataset) == 17
    for i, (inputs, targets) in enumerate(dataset):
        np.testing.assert_array_equal(inputs[:, 0] * 2, targets)
        for j in range(len(inputs)):
            start = i * 5 + j
            np.testing.assert_array_equal(inputs[j], np.arange(start, start + 9 * 2, 2))
    dataset = timeseries_dataset_from_array(data, data * 2, sequence_length=9, batch_size=5, sequence_stride=3)
    assert len(dataset) == 7
    for i, (inputs, targets) in enumerate(dataset):
        np.testing.assert_array_equal(inputs[:, 0] * 2, targets)
        for j in range(len(inputs)):
            start = (i * 5 + j) * 3
            np.testing.assert_array_equal(inputs[j], np.arange(start, start + 9))
    # start_index and end_index: Keras's test_start_and_end_index
    dataset = timeseries_dataset_from_array(data, data * 2, sequence_length=9, sampling_rate=2, sequence_stride=3,
                                            start_index=10, end_index=90)
    for inputs, targets in dataset:
        np.testing.assert_array_equal(inputs[:, 0] * 2, targets)
        assert inputs.min() >= 10 and inputs.max() < 90


def test_windows_of_feature_rows_train_as_the_same_arrays_do():
    rng = np.random.default_rng(0)
    series = rng.standard_normal((60, 3)).astype("float32")
    target = series[:, 0].copy()
    dataset = timeseries_dataset_from_array(series[:-4], target[4:], sequence_length=4, batch_size=8)
    windows = np.stack([series[s:s + 4] for s in range(53)])
    assert dataset[0][0].shape == (8, 4, 3)

    def trained(x, y=None):
        gpunn.utils.set_random_seed(2)
        model = gpunn.Sequential([gpunn.Input(shape=(4, 3)), gpunn.layers.Flatten(),
                                  gpunn.layers.Dense(8, activation="relu"), gpunn.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
        return history.history["loss"], model.get_weights()

    from_dataset, from_arrays = trained(dataset), trained(windows, target[4:57])
    np.testing.assert_allclose(from_dataset[0], from_arrays[0], rtol=1e-6)
    for a, b in zip(from_dataset[1], from_arrays[1]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert gpunn.preprocessing.timeseries_dataset_from_array is timeseries_dataset_from_array


@pytest.mark.parametrize("arguments, message", [
    ({"start_index": -1}, "`start_index` must be 0 or greater. Received: start_index=-1"),
    ({"start_index": 20}, "`start_index` must be lower than the length of the data. Received: start_index=20, "
                          "for data of length 20"),
    ({"start_index": 5, "end_index": 4}, "`end_index` must be higher than `start_index`"),
    ({"end_index": 20}, "`end_index` must be lower than the length of the data"),
    ({"end_index": -2}, "`end_index` must be higher than 0. Received: end_index=-2"),
    ({"sampling_rate": 0}, "`sampling_rate` must be higher than 0"),
    ({"sampling_rate": 20}, "`sampling_rate` must be lower than the length of the data"),
    ({"sequence_stride": 0}, "`sequence_stride` must be higher than 0"),
    ({"sequence_stride": 21}, "`sequence_stride` must be lower than the length of the data"),
    ({"format": "torch"}, '`format` should be either "tf" or "grain". Received: format=torch'),
    ({"sequence_length": 0}, "sequence_length: expected an integer >= 1, got 0"),
    ({"batch_size": 2.5}, "batch_size: expected an integer >= 1, got 2.5"),
])
def test_keras_checks_and_messages(arguments, message):
    data = np.arange(20)
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        timeseries_dataset_from_array(data, data, **{"sequence_length": 3, **arguments})


def test_without_a_batch_size_one_window_at_a_time():
    data = np.arange(12).reshape(6, 2)
    dataset = timeseries_dataset_from_array(data, np.arange(6) * 10, sequence_length=3, batch_size=None)
    assert len(dataset) == 4
    window, target = dataset[1]
    np.testing.assert_array_equal(window, data[1:4])
    assert target == 10
    with pytest.raises(IndexError, match="index: 4 is out of range for 4 batches"):
        dataset[4]


WITH_TENSORFLOW = r'''
import json, sys
import numpy as np
import tensorflow as tf
task = json.loads(sys.stdin.read())
if task["lib"] == "keras":
    import keras
else:
    import gpunn as keras
series = np.arange(120, dtype="float32").reshape(40, 3)


def split_window(features):  # the TF time-series tutorial's WindowGenerator.split_window
    inputs, labels = features[:, :3, :], features[:, 3:, 1:2]
    inputs.set_shape([None, 3, None])
    labels.set_shape([None, 3, None])
    return inputs, labels


dataset = keras.utils.timeseries_dataset_from_array(data=series, targets=None, sequence_length=6, sequence_stride=1,
                                                    shuffle=True, seed=3, batch_size=8).map(split_window)
result = {"type": type(dataset).__module__.split(".")[0],
          "batches": [[x.numpy().tolist(), y.numpy().tolist()] for x, y in dataset]}
if task["lib"] == "gpunn":
    model = keras.Sequential([keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=[keras.metrics.MeanAbsoluteError()])
    model.fit(dataset, epochs=1, verbose=0)
    result["evaluated"] = sorted(model.evaluate(dataset, verbose=0, return_dict=True))
print(json.dumps(result))
'''


def test_with_tensorflow_imported_it_is_kerass_dataset():
    """The TF time-series tutorial's WindowGenerator maps the windows with TensorFlow: where TensorFlow is
    imported, the windows are Keras's own tf.data dataset (the same batches), which gpunn's fit reads."""
    from helpers import run_keras_with_tensorflow_script

    theirs = run_keras_with_tensorflow_script(WITH_TENSORFLOW, {"lib": "keras"}, backend="tensorflow")
    ours = run_keras_with_tensorflow_script(WITH_TENSORFLOW, {"lib": "gpunn"}, backend="tensorflow",
                                            gpunn_path=True)
    assert ours.pop("evaluated") == ["loss", "mean_absolute_error"]
    assert ours == theirs and theirs["type"] == "tensorflow"


def test_fit_keeps_the_order_of_its_windows_as_keras_keeps_a_tf_data_dataset_s():
    """Keras's timeseries_dataset_from_array gives a tf.data dataset, which fit(shuffle=True), its default, never
    reorders: gpunn's windows keep their order too (and get no PyDataset hooks of Keras's fit)."""
    data = np.arange(40, dtype="float32").reshape(20, 2)
    dataset = gpunn.utils.timeseries_dataset_from_array(data, np.arange(20, dtype="float32"), sequence_length=2,
                                                        batch_size=4, shuffle=False)
    kernels = []
    for shuffle in (True, False):
        model = gpunn.Sequential([gpunn.Input((2, 2)), gpunn.layers.Flatten(),
                                  gpunn.layers.Dense(1, kernel_initializer="ones")])
        model.compile(optimizer=gpunn.optimizers.SGD(1e-4), loss="mse")
        model.fit(dataset, epochs=2, verbose=0, shuffle=shuffle)
        kernels.append(model.get_weights()[0])
    np.testing.assert_array_equal(kernels[0], kernels[1])
