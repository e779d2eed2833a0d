"""``keras.utils.timeseries_dataset_from_array``: sliding windows over an array (a time series) and the target at
each window's start, as batches for ``fit``, ``evaluate`` and ``predict``.

Keras 3 returns a ``tf.data.Dataset`` (or a Grain dataset with ``format="grain"``), which needs TensorFlow (or
Grain). Where the script has imported TensorFlow (the TF time-series tutorial's ``WindowGenerator`` goes on with
``dataset.map``), gpunn lets Keras 3 make it (TensorFlow installs Keras 3), so it is Keras's dataset. Elsewhere
(and with ``format="grain"``) gpunn returns a ``PyDataset`` of NumPy batches, which ``fit`` reads and a ``for``
loop iterates, with
Keras's windows, targets, checks and start positions (shuffled by ``np.random.RandomState(seed)``, as Keras
shuffles them). Windows are gathered batch by batch, not held. With ``shuffle=True`` the order changes again at
each epoch's end and each new iteration (Keras's dataset reshuffles a buffer of 8 batches at each iteration; these
windows are drawn from the whole series instead, so the orders are not Keras's).
"""
from __future__ import annotations

import math
import numbers
import sys

import numpy as np

from .. import _compat
from .py_dataset import NoTfDataMethods, PyDataset


def _integer(argument, value, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{argument}: expected an integer >= {low}, got {value!r}")
    return int(value)


def _check_bounds(length, start_index, end_index, sampling_rate, sequence_stride):
    """Keras's checks, with its messages, in its order."""
    if start_index:
        if start_index < 0:
            raise ValueError(f"`start_index` must be 0 or greater. Received: start_index={start_index}")
        if start_index >= length:
            raise ValueError(f"`start_index` must be lower than the length of the data. Received: "
                             f"start_index={start_index}, for data of length {length}")
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError(f"`end_index` must be higher than `start_index`. Received: start_index={start_index}, "
                             f"and end_index={end_index} ")
        if end_index >= length:
            raise ValueError(f"`end_index` must be lower than the length of the data. Received: "
                             f"end_index={end_index}, for data of length {length}")
        if end_index <= 0:
            raise ValueError(f"`end_index` must be higher than 0. Received: end_index={end_index}")
    if sampling_rate <= 0:
        raise ValueError(f"`sampling_rate` must be higher than 0. Received: sampling_rate={sampling_rate}")
    if sampling_rate >= length:
        raise ValueError(f"`sampling_rate` must be lower than the length of the data. Received: "
                         f"sampling_rate={sampling_rate}, for data of length {length}")
    if sequence_stride <= 0:
        raise ValueError(f"`sequence_stride` must be higher than 0. Received: sequence_stride={sequence_stride}")
    if sequence_stride >= length:
        raise ValueError(f"`sequence_stride` must be lower than the length of the data. Received: "
                         f"sequence_stride={sequence_stride}, for data of length {length}")


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1, sampling_rate=1, batch_size=128,
                                  shuffle=False, seed=None, start_index=None, end_index=None, format="tf"):
    """Windows ``data[s], data[s + sampling_rate], ...`` (``sequence_length`` steps) starting every
    ``sequence_stride`` steps, between ``start_index`` and ``end_index``, each with ``targets[s]`` (None: the
    windows alone). ``batch_size`` windows per batch (None: one window at a time). ``format`` ("tf" or
    "grain", Keras's choice of dataset library) is checked and otherwise changes nothing here."""
    if format not in ("tf", "grain"):
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')
    kerass = _compat.keras_utility("timeseries_dataset_from_array") if format == "tf" and \
        "tensorflow" in sys.modules else None
    if kerass is not None:
        return kerass(data, targets, sequence_length, sequence_stride=sequence_stride, sampling_rate=sampling_rate,
                      batch_size=batch_size, shuffle=shuffle, seed=seed, start_index=start_index,
                      end_index=end_index)
    data = np.asarray(data)
    if data.ndim == 0:
        raise ValueError(f"data: expected an array of time steps (first axis: time), got a scalar {data!r}")
    sequence_length = _integer("sequence_length", sequence_length, 1)
    _check_bounds(len(data), start_index, end_index, sampling_rate, sequence_stride)
    if batch_size is not None:
        batch_size = _integer("batch_size", batch_size, 1)
    start = 0 if start_index is None else int(start_index)
    end = len(data) if end_index is None else int(end_index)
    count = end - start - (sequence_length - 1) * int(sampling_rate)
    if targets is not None:
        targets = np.asarray(targets)
        count = min(count, len(targets))
    starts = np.arange(0, max(count, 0), int(sequence_stride))
    shuffler = None
    if shuffle:
        shuffler = np.random.RandomState(np.random.randint(1e6) if seed is None else seed)  # Keras's
        shuffler.shuffle(starts)
    return TimeseriesWindows(data[start:end], None if targets is None else targets[start:], starts,
                             np.arange(0, sequence_length * int(sampling_rate), int(sampling_rate)), batch_size,
                             shuffler)


class TimeseriesWindows(NoTfDataMethods, PyDataset):
    """The batches of ``timeseries_dataset_from_array``: ``(windows, targets)``, or the windows alone."""

    # (NoTfDataMethods: Keras returns a tf.data dataset here, whose order fit keeps)

    def __init__(self, data, targets, starts, offsets, batch_size, shuffler):
        super().__init__()
        self._data, self._targets, self._starts, self._offsets = data, targets, starts, offsets
        self._batch_size, self._shuffler = batch_size, shuffler
        self._iterated = False

    def __len__(self):
        if self._batch_size is None:
            return len(self._starts)
        return math.ceil(len(self._starts) / self._batch_size)

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"index: {index} is out of range for {len(self)} batches")
        index %= len(self)
        if self._batch_size is None:
            starts = self._starts[index:index + 1]
        else:
            starts = self._starts[index * self._batch_size:(index + 1) * self._batch_size]
        windows = self._data[starts[:, None] + self._offsets[None, :]]
        if self._batch_size is None:
            windows, starts = windows[0], starts[0]
        if self._targets is None:
            return windows
        return windows, self._targets[starts]

    def __iter__(self):
        if self._iterated:
            self._reshuffle()
        self._iterated = True
        for index in range(len(self)):
            yield self[index]

    def on_epoch_end(self):
        self._reshuffle()

    def _reshuffle(self):
        if self._shuffler is not None:
            self._shuffler.shuffle(self._starts)
