"""Streamed inputs: batches that a Python generator, an iterator, an iterable or a ``PyDataset`` yields, one at a
time, so that data larger than memory can be trained on. The loops that run them are in ``streamed_loops.py``.

Keras 3's semantics, followed from keras/src/trainers/epoch_iterator.py (``EpochIterator``) and
keras/src/trainers/data_adapters/ (``generator_data_adapter.py``, ``py_dataset_adapter.py``,
``data_adapter_utils.unpack_x_y_sample_weight``):

- A batch is ``(x, y)``, ``(x, y, sample_weight)``, ``(x,)`` or a bare ``x``; a list is read as a tuple.
- Steps per epoch: ``steps_per_epoch`` when given, else a PyDataset's ``len``, else until the source ends (the
  length is then known for the progress bar from the second epoch on).
- With ``steps_per_epoch``, one iterator runs on across epochs (a generator is never restarted; a PyDataset
  starts over once all its batches were read). Without it, each epoch starts a new iterator: an iterable's
  ``iter()`` again, a PyDataset from index 0 (its batch order shuffled by epoch with ``shuffle=True``).
- A source that runs out within ``steps_per_epoch`` ends the epoch with Keras's warning ("Your input ran out of
  data; interrupting training..."); an epoch that gets no batch at all (a generator read to its end) ends
  training there (as tf.keras did; Keras 3 would replay the two batches it had peeked at).
- ``PyDataset.on_epoch_begin`` / ``on_epoch_end`` run around every epoch; ``workers`` > 1 prepares batches in
  that many threads, ``max_queue_size`` ahead (gpunn uses threads where Keras would fork processes with
  ``use_multiprocessing=True``).

Each batch goes through the checks arrays go through (``gpunn/data.py``, via the model's ``_prepare``), with
the batch named in the error.
"""
from __future__ import annotations

import collections
import itertools
import random
import types
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..foreign_data import is_scipy_sparse
from ..layers.tf_pipeline import is_tf_dataset
from ..utils.py_dataset import PyDataset
from .epoch_iterator import RAN_OUT_WARNING
from ..user_stacklevel import user_stacklevel

def is_py_dataset(data) -> bool:
    """A gpunn (or Keras) ``PyDataset``, or a tf.keras ``Sequence``: batches by index, with epoch hooks."""
    return isinstance(data, PyDataset) or (hasattr(data, "__getitem__") and hasattr(data, "on_epoch_end")
                                           and (hasattr(data, "__len__") or hasattr(type(data), "num_batches")))


def stands_for_tf_data(data) -> bool:
    """A dataset gpunn's utilities make where Keras's make a tf.data dataset (``timeseries_dataset_from_array``,
    ``text_dataset_from_directory``... without TensorFlow): read as Keras reads that one, its order never changed
    by ``fit(shuffle=True)`` and no PyDataset hooks called besides its own epochs."""
    return bool(getattr(type(data), "stands_for_tf_data", False))


def is_streamed(data) -> bool:
    """Data read batch by batch: a PyDataset, a generator, an iterator or another iterable that is not an array
    (NumPy / CuPy arrays, lists, tuples, pandas and scipy.sparse objects are arrays to ``fit``)."""
    if data is None or isinstance(data, (np.ndarray, list, tuple, dict, str, bytes)):
        return False
    if is_py_dataset(data):
        return True
    if (hasattr(data, "__array__") or hasattr(data, "__array_interface__")
            or hasattr(data, "__cuda_array_interface__") or is_scipy_sparse(data)):
        return False
    return isinstance(data, types.GeneratorType) or hasattr(data, "__next__") or hasattr(data, "__iter__")


def source_kind(data) -> str:
    """How errors and warnings name the source."""
    if is_py_dataset(data):
        return "PyDataset"
    if is_tf_dataset(data):
        return "tf.data.Dataset"
    if _is_torch_data_loader(data):
        return "torch DataLoader"
    if isinstance(data, types.GeneratorType):
        return "generator"
    return "iterator" if hasattr(data, "__next__") else "iterable"


def unpack_batch(where: str, batch) -> tuple:
    """``(x, y, sample_weight)`` from one yielded batch, with None for what it leaves out (Keras's
    ``unpack_x_y_sample_weight``)."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple):  # an array, or a dict of a model's inputs: x alone, as in Keras
        return batch, None, None
    if not 1 <= len(batch) <= 3:
        raise ValueError(f"{where}: expected a batch x, (x,), (x, y) or (x, y, sample_weight), got a tuple of "
                         f"{len(batch)} elements")
    return tuple(batch) + (None,) * (3 - len(batch))


def _prefetched(dataset, indices, workers: int, max_queue_size: int):
    """``dataset[i]`` for ``indices`` in order, computed ahead by ``workers`` threads, at most
    ``max_queue_size`` batches ahead (Keras's OrderedEnqueuer, with threads)."""
    ahead = max(int(max_queue_size or 0), workers)
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gpunn-pydataset")
    pending: collections.deque = collections.deque()
    indices = iter(indices)
    try:
        for index in itertools.islice(indices, ahead):
            pending.append(executor.submit(dataset.__getitem__, index))
        while pending:
            batch = pending.popleft().result()
            for index in itertools.islice(indices, 1):
                pending.append(executor.submit(dataset.__getitem__, index))
            yield batch
    finally:
        for future in pending:
            future.cancel()
        executor.shutdown(wait=True)


class _PyDatasetReader:
    """A PyDataset's batches by index (keras/src/trainers/data_adapters/py_dataset_adapter.py PyDatasetAdapter)."""

    one_shot = False

    def __init__(self, dataset, shuffle: bool):
        self.dataset = dataset
        self.shuffle = shuffle
        try:
            num_batches = dataset.num_batches if hasattr(type(dataset), "num_batches") else len(dataset)
        except NotImplementedError:
            num_batches = None
        if num_batches is not None and (isinstance(num_batches, bool) or not isinstance(
                num_batches, (int, np.integer)) or num_batches < 0):
            raise ValueError(f"x: a PyDataset's len() must be a number of batches >= 0, got {num_batches!r}")
        self.num_batches = None if num_batches is None else int(num_batches)
        self.epoch = 0
        self.workers = int(getattr(dataset, "workers", 1) or 0)
        self.use_multiprocessing = bool(getattr(dataset, "use_multiprocessing", False))
        self.max_queue_size = getattr(dataset, "max_queue_size", 10)

    def iterator(self):
        if self.num_batches is None:
            indices = itertools.count()
        else:
            indices = list(range(self.num_batches))
            if self.shuffle:
                random.Random(self.epoch).shuffle(indices)  # Keras's per-epoch order
        threads = self.workers if self.workers > 1 else (1 if self.use_multiprocessing and self.workers > 0 else 0)
        if threads:
            return _prefetched(self.dataset, indices, threads, self.max_queue_size)
        return (self.dataset[index] for index in indices)

    def on_epoch_begin(self) -> None:
        if hasattr(self.dataset, "on_epoch_begin"):
            self.dataset.on_epoch_begin()

    def on_epoch_end(self) -> None:
        self.dataset.on_epoch_end()
        self.epoch += 1


class _IterableReader:
    """A generator or iterator (read once: ``one_shot``) or another iterable (``iter()`` again each time)."""

    num_batches = None

    def __init__(self, data):
        self.data = data
        self.one_shot = isinstance(data, types.GeneratorType) or hasattr(data, "__next__")
        self.num_batches = _known_cardinality(data)

    def iterator(self):
        return self.data if self.one_shot else iter(self.data)

    def on_epoch_begin(self) -> None:
        pass

    def on_epoch_end(self) -> None:
        pass


def _known_cardinality(data) -> int | None:
    """A tf.data dataset's number of batches where TensorFlow knows it (Keras's TF data adapter: ``params["steps"]``
    and the progress bar's length), a torch DataLoader's over a dataset of known length (``len(loader)``, as Keras's
    torch adapter), else None (infinite, unknown, or another source)."""
    from ..layers.tf_pipeline import is_tf_dataset

    if _is_torch_data_loader(data):
        return len(data) if hasattr(data.dataset, "__len__") else None
    if not is_tf_dataset(data):
        return None
    try:
        count = int(data.cardinality())
    except Exception:  # (a dataset TensorFlow cannot count)
        return None
    return count if count >= 0 else None


def _is_torch_data_loader(data) -> bool:
    # by class name: importing torch to ask would cost seconds
    return any(klass.__name__ == "DataLoader" and klass.__module__.startswith("torch.utils.data")
               for klass in type(data).__mro__)


class BatchStream:
    """The raw batches of a streamed source, epoch by epoch, with Keras's ``EpochIterator`` rules (see the module
    docstring). ``begin_epoch()``, then ``next_batch()`` until it returns None, then ``end_epoch()``;
    ``peek()`` reads the first batch ahead (to build the model) and hands it out first."""

    def __init__(self, data, argument: str, steps: int | None, steps_argument: str, shuffle: bool = False):
        self.argument = argument
        self.kind = source_kind(data)
        self.reader = _PyDatasetReader(data, shuffle) if is_py_dataset(data) else _IterableReader(data)
        self.steps_per_epoch = steps
        self.num_batches = self.reader.num_batches
        if steps is None and self.num_batches is None and isinstance(self.reader, _PyDatasetReader):
            raise ValueError(f"{steps_argument}: {argument} is a PyDataset without len() (an infinite dataset); "
                             f"pass {steps_argument}=... to say how many batches to read")
        self._iterator = None
        self._fresh = False  # the iterator was started by peek() for the epoch to come
        self._pending: list = []
        self._began = False
        self._in_epoch = False
        self._seen = 0  # batches read from the current iterator
        self._epoch_batches = 0
        self.read = 0  # batches handed out, over all epochs (names a batch in errors)

    @property
    def steps(self) -> int | None:
        """The number of steps of an epoch when it is known (the progress bar's target)."""
        return self.steps_per_epoch or self.num_batches or None

    def describe(self, index: int | None = None) -> str:
        index = self.read - 1 if index is None else index
        return f"{self.argument}: batch {index} of the {self.kind}"

    # ---- epochs -------------------------------------------------------------------------------------
    def _start_iterator(self) -> None:
        self._close_iterator()
        self._iterator = self.reader.iterator()
        self._seen = 0

    def _close_iterator(self) -> None:
        iterator, self._iterator = self._iterator, None
        if iterator is not None and hasattr(iterator, "close") and not self.reader.one_shot:
            iterator.close()  # a prefetching generator stops its threads

    def _begin_hooks(self) -> None:
        if not self._began:
            self.reader.on_epoch_begin()
            self._began = True

    def begin_epoch(self) -> None:
        self._begin_hooks()
        self._in_epoch = True
        self._epoch_batches = 0
        if not self._fresh and (self._iterator is None or self.steps_per_epoch is None):
            self._start_iterator()
        self._fresh = False

    def _fill_pending(self) -> bool:
        """Read the next batch ahead unless one is pending (starting the next epoch's iterator, after the
        source's ``on_epoch_begin``, when outside an epoch); False when the source has none."""
        if not self._pending:
            if not self._in_epoch:
                self._begin_hooks()
                if self._iterator is None or self.steps_per_epoch is None:
                    self._start_iterator()
                self._fresh = True
            batch = self._read() if self._iterator is not None else _END
            if batch is _END:
                return False
            self._pending.append(batch)
        return True

    def has_batch(self) -> bool:
        """Whether the source has a batch left for the next ``next_batch()`` (read ahead, handed out then)."""
        return self._fill_pending()

    def peek(self):
        """The next batch, read now and handed out by the next ``next_batch()``; an empty source is an error,
        as in Keras."""
        if not self._fill_pending():
            raise self._no_batch()
        return self._pending[0]

    def _no_batch(self) -> ValueError:
        return ValueError(f"{self.argument}: the {self.kind} yielded no batch; it must yield at least one (x, y) "
                          "or (x, y, sample_weight) tuple")

    def _read(self):
        try:
            batch = next(self._iterator)
        except StopIteration:
            return _END
        self._seen += 1
        return batch

    def next_batch(self):
        """The epoch's next raw batch, or None when the epoch is over."""
        steps = self.steps_per_epoch or self.num_batches
        if steps is not None and self._epoch_batches >= steps:
            return None
        if self._pending:
            batch = self._pending.pop(0)
        else:
            if self.num_batches and self._seen >= self.num_batches:
                # A PyDataset read to its end: Keras stops the epoch (warning when steps asked for more).
                if self.steps_per_epoch:
                    warnings.warn(RAN_OUT_WARNING, UserWarning, stacklevel=user_stacklevel())
                self._close_iterator()
                return None
            batch = self._read() if self._iterator is not None else _END
            if batch is _END:
                if self.num_batches is None and self.steps_per_epoch is None and self._epoch_batches:
                    self.num_batches = self._epoch_batches  # the length, learned (Keras)
                if self.steps_per_epoch and self._epoch_batches:  # no batch at all: the loop reports it
                    warnings.warn(RAN_OUT_WARNING, UserWarning, stacklevel=user_stacklevel())
                if not self.reader.one_shot:
                    self._close_iterator()
                return None
        self._epoch_batches += 1
        self.read += 1
        return batch

    @property
    def epoch_batches(self) -> int:
        """Batches handed out in the current (or last) epoch."""
        return self._epoch_batches

    def end_epoch(self) -> None:
        self._in_epoch = False
        if self.num_batches and self._seen >= self.num_batches and not self.reader.one_shot:
            self._close_iterator()  # Keras starts a finite source over once all its batches were read
        self._began = False
        self.reader.on_epoch_end()

    def keras_reset(self, peek: bool) -> None:
        """The calls of a PyDataset's epoch hooks Keras 3's ``fit`` and ``evaluate`` make before their loop, which a
        dataset shuffling in ``on_epoch_end`` sees in its order of batches: with ``peek`` (the first fit or evaluate
        since ``compile``, where Keras builds its losses and metrics from a batch) ``on_epoch_begin()`` and the
        first batch; then always ``on_epoch_end()`` (its ``EpochIterator.reset()``). gpunn's own order of shuffled
        batches does not count these."""
        if not isinstance(self.reader, _PyDatasetReader) or stands_for_tf_data(self.reader.dataset):
            return
        dataset = self.reader.dataset
        if peek:
            self.reader.on_epoch_begin()
            if self.reader.num_batches == 0:  # (its own IndexError would come out of dataset[0])
                raise self._no_batch()
            dataset[0]
        dataset.on_epoch_end()

    def restart(self) -> None:
        """The next epoch starts from the source's first batch where the source can start over (a PyDataset, an
        iterable), as Keras's ``EpochIterator.reset`` at each ``evaluate``; a generator runs on."""
        if not self.reader.one_shot:
            self._pending.clear()
            self._close_iterator()
            self._fresh = False

    def close(self) -> None:
        self._close_iterator()


_END = object()
