"""``keras.utils.PyDataset`` (also exported as ``Sequence``), with Keras 3's API.

Followed: keras/src/trainers/data_adapters/py_dataset_adapter.py (class ``PyDataset``). How ``fit``,
``evaluate`` and ``predict`` read one is in ``gpunn/trainer/streamed_data.py``.
"""
from __future__ import annotations

import itertools
import warnings

__all__ = ["PyDataset", "Sequence"]


class PyDataset:
    """Base class for a dataset read one batch at a time: implement ``__getitem__(index)`` (a whole batch:
    ``(x, y)``, ``(x, y, sample_weight)``, ``(x,)`` or ``x``) and ``__len__()`` (the number of batches; leave it
    out for an infinite dataset, then ``fit`` needs ``steps_per_epoch``). ``on_epoch_begin()`` /
    ``on_epoch_end()`` run around every epoch (e.g. to reshuffle the files).

    Args:
        workers: batches prepared ahead by this many threads when > 1 (``__getitem__`` calls run concurrently,
            results still come in order). 1 (the default): read in the training loop, as Keras does.
        use_multiprocessing: accepted for Keras compatibility; gpunn prepares batches in threads, never in
            processes (with ``workers`` > 0 it uses ``max(workers, 1)`` threads).
        max_queue_size: at most this many batches prepared ahead (default 10).

    Example (Keras's)::

        class Batches(gpunn.utils.PyDataset):
            def __init__(self, x, y, batch_size, **kwargs):
                super().__init__(**kwargs)
                self.x, self.y, self.batch_size = x, y, batch_size

            def __len__(self):
                return math.ceil(len(self.x) / self.batch_size)

            def __getitem__(self, index):
                low = index * self.batch_size
                return self.x[low:low + self.batch_size], self.y[low:low + self.batch_size]
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _warn_if_super_not_called(self):
        warn = False
        if not hasattr(self, "_workers"):
            self._workers = 1
            warn = True
        if not hasattr(self, "_use_multiprocessing"):
            self._use_multiprocessing = False
            warn = True
        if not hasattr(self, "_max_queue_size"):
            self._max_queue_size = 10
            warn = True
        if warn:  # Keras's message
            warnings.warn(
                "Your `PyDataset` class should call `super().__init__(**kwargs)` in its constructor. `**kwargs` "
                "can include `workers`, `use_multiprocessing`, `max_queue_size`. Do not pass these arguments to "
                "`fit()`, as they will be ignored.",
                stacklevel=3,
            )

    @property
    def workers(self):
        self._warn_if_super_not_called()
        return self._workers

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        self._warn_if_super_not_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        self._warn_if_super_not_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        """The batch at position ``index``."""
        del index
        raise NotImplementedError

    def __iter__(self):
        index_range = None
        try:
            num_batches = self.num_batches
            if num_batches is not None:
                index_range = range(num_batches)
        except NotImplementedError:
            pass
        if index_range is None:
            index_range = itertools.count()
        for index in index_range:
            yield self[index]

    @property
    def num_batches(self):
        """The number of batches, or None for an infinite dataset (``len(self)`` when defined)."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(
            "You need to implement the `num_batches` property:\n\n@property\ndef num_batches(self):\n  return ..."
        )

    def on_epoch_begin(self):
        """Called at the beginning of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch."""


Sequence = PyDataset  # Keras exports the class under both names


# tf.data.Dataset's methods, which a script goes on with where Keras gave it a tf.data dataset (``ds.map``)
_TF_DATA_METHODS = frozenset({"map", "batch", "unbatch", "prefetch", "cache", "shuffle", "take", "skip", "filter",
                              "repeat", "concatenate", "zip", "as_numpy_iterator", "cardinality", "element_spec",
                              "padded_batch", "rebatch", "flat_map", "interleave", "apply", "enumerate",
                              "reduce", "with_options", "options", "take_while", "window", "unique"})


class NoTfDataMethods:
    """For the datasets that stand for Keras's tf.data ones (``stands_for_tf_data``): a tf.data method asked of one
    says why it is not there, instead of a bare AttributeError."""

    stands_for_tf_data = True

    def __getattr__(self, name):
        if name in _TF_DATA_METHODS:
            raise AttributeError(
                f"'{type(self).__name__}' object has no attribute {name!r}: it is gpunn's dataset of NumPy batches, "
                "made because the script had not imported TensorFlow; `import tensorflow` before making it to get "
                f"Keras's tf.data.Dataset, whose .{name}() this is")
        raise AttributeError(f"'{type(self).__name__}' object has no attribute {name!r}")
