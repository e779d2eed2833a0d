"""The data side of training: a dataset on the device, an epoch's shuffled order, batches sharded by rank,
and the static buffers a step reads its batch from.

Separation of concerns, as in Keras's trainers: data checks and conversion live in ``gpunn/data.py``; this
module turns checked host arrays into batches; the steps (``train_step.py``, ``test_step.py``) compute on them.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from ..distributed.sharding import shard_bounds
from ..user_stacklevel import user_stacklevel

# Keras's message (keras/src/trainers/epoch_iterator.py _interrupted_warning).
RAN_OUT_WARNING = ("Your input ran out of data; interrupting training. Make sure that your dataset or generator "
                   "can generate at least `steps_per_epoch * epochs` batches. You may need to use the `.repeat()` "
                   "function when building your dataset.")


class BatchSlot:
    """A step's input buffers for one batch shape: x, y and (optionally) the sample weights, one per sample
    (``weights_shape`` ``()``) or one per sample and output with a loss (``(outputs,)``); None: no weights.

    A batch is copied (gathered) into its slot before the step runs, so the step always reads the same
    memory: what a recorded step, and later a CUDA graph, needs.
    """

    def __init__(self, ops, rows: int, global_rows: int, x_shape, x_dtype, y_shape, y_dtype,
                 weights_shape: tuple | None):
        self.rows, self.global_rows = rows, global_rows
        self.x = ops.empty((rows,) + tuple(x_shape), dtype=x_dtype)
        self.y = ops.empty((rows,) + tuple(y_shape), dtype=y_dtype)
        self.w = ops.empty((rows,) + tuple(weights_shape), dtype=x_dtype) if weights_shape is not None else None
        self.arrays = [self.x, self.y] + ([self.w] if self.w is not None else [])


def weights_shape(arrays: list) -> tuple | None:
    """The sample shape of the weights in ``arrays`` = [x, y] or [x, y, sample_weight]; None without them."""
    return tuple(arrays[2].shape[1:]) if len(arrays) == 3 else None


class DeviceDataset:
    """Arrays on the device once when they fit (half the free memory), else gathered on the host and copied
    per batch."""

    def __init__(self, ops, arrays: list[np.ndarray]):
        self.ops = ops
        free = ops.free_bytes()
        self.on_device = free is None or sum(a.nbytes for a in arrays) < 0.5 * free
        self.arrays = [ops.asarray(a) for a in arrays] if self.on_device else list(arrays)
        self.n = len(arrays[0])

    def gather_into(self, outs, host_indices, device_indices) -> None:
        for source, out in zip(self.arrays, outs):
            if self.on_device:
                self.ops.take_rows(source, device_indices, out=out)
            else:
                self.ops.upload(np.take(source, host_indices, axis=0), out)

    def slice_into(self, outs, lo: int, hi: int) -> None:
        for source, out in zip(self.arrays, outs):
            if self.on_device:
                self.ops.copy_into(source[lo:hi], out)
            else:
                self.ops.upload(source[lo:hi], out)


class DeviceFeed:
    """The epoch's order and a cursor, on the device, from which each step gathers its own batch
    (``Ops.gather_rows``): so a recorded step, or a CUDA graph of several steps, fetches a new batch every
    time it runs. The host writes the order and resets the cursor once per epoch; the steps advance it."""

    def __init__(self, ops, data: DeviceDataset):
        self.ops, self.data = ops, data
        self.order = ops.empty((data.n,), dtype=np.int64)
        self.cursor = ops.zeros((1,), dtype=np.int64)
        self._zero = np.zeros(1, dtype=np.int64)

    def start_epoch(self, order_host: np.ndarray, rows_done: int = 0) -> None:
        """A pass over the data in ``order_host``, ``rows_done`` rows into it (a run resumed mid-pass)."""
        self.ops.upload(order_host, self.order)
        self.ops.upload(self._zero + rows_done, self.cursor)

    def gather_into(self, slot: BatchSlot, offset: int, global_rows: int) -> None:
        """This rank's rows of the global batch at the cursor (``offset`` rows into it), then the cursor moved
        past the whole global batch."""
        for source, out in zip(self.data.arrays, slot.arrays):
            self.ops.gather_rows(source, self.order, self.cursor, offset, out)
        self.ops.advance_cursor(self.cursor, global_rows)


@dataclass(frozen=True)
class Batch:
    """One step of an epoch: this rank's rows [lo, hi) of the global batch [start, stop) in the epoch's order."""

    step: int
    lo: int
    hi: int
    global_rows: int
    offset: int = 0  # lo - the global batch's first row: this rank's place in the batch

    @property
    def rows(self) -> int:
        return self.hi - self.lo


class EpochIterator:
    """Batches of ``batch_size`` (the global batch) over ``arrays`` = [x, y] or [x, y, sample_weight].

    An epoch is one pass over the data, or ``steps_per_epoch`` batches. As in Keras (its ``EpochIterator`` keeps
    one iterator across epochs when ``steps_per_epoch`` is given), a pass then runs on from where the last epoch
    left it; an epoch that reaches the end of a pass before its steps are done stops there, with Keras's warning,
    and the next epoch starts a new pass. Each pass is shuffled when asked (the generator is seeded identically
    on every rank, so all ranks agree on the order); each rank takes its contiguous share of each batch
    (``shard_bounds``).
    """

    def __init__(self, ops, comm, arrays: list[np.ndarray], batch_size: int, steps_per_epoch: int | None = None,
                 shuffle: bool | str = False, rng: np.random.Generator | None = None, data: DeviceDataset | None = None):
        self.ops, self.comm = ops, comm
        self.data = data if data is not None else DeviceDataset(ops, arrays)
        self.n = self.data.n
        self.batch_size = batch_size
        self.pass_batches = math.ceil(self.n / batch_size)
        self.steps_per_epoch = steps_per_epoch
        self.steps = self.pass_batches if steps_per_epoch is None else steps_per_epoch  # Keras's num_batches
        self.shuffle = shuffle
        self.rng = rng
        self._order_host = None
        self._done = 0  # batches of the current pass already run
        self._feed_done = None  # batches of the pass the feed's cursor stands at (None: not started on it)
        # With the data on the device and shuffled, or when asked (``enable_feed``), the pass's order is on
        # the device too: a step can fetch its own batch at the feed's cursor, and ``fill`` gathers the rows
        # the order names there.
        self.feed = None

    def _next_epoch(self) -> tuple[int, int, bool]:
        """(the pass's first batch this epoch runs, how many, whether the pass ends before steps_per_epoch are
        done); draws a new pass's order when one starts."""
        if self._done == 0 or self.steps_per_epoch is None:
            self._done = 0
            self._feed_done = None
            if self.shuffle == "batch":
                # Keras's "batch": the rows of each batch shuffled among themselves, the batches in their order
                self._order_host = np.concatenate([
                    start + self.rng.permutation(min(self.batch_size, self.n - start))
                    for start in range(0, self.n, self.batch_size)]).astype(np.int64)
            elif self.shuffle:
                self._order_host = self.rng.permutation(self.n)
        first = self._done
        count = min(self.steps, self.pass_batches - first)
        self._done = 0 if first + count >= self.pass_batches else first + count
        return first, count, count < self.steps

    def batches(self):
        """This epoch's batches (their steps numbered from 0 in the epoch)."""
        first, count, ran_out = self._next_epoch()
        if self.shuffle and self.data.on_device:
            self.enable_feed()
        if self.feed is not None and self._feed_done != first:
            order = self._order_host if self.shuffle else np.arange(self.n, dtype=np.int64)
            self.feed.start_epoch(order, first * self.batch_size)
        for step in range(count):
            start = (first + step) * self.batch_size
            stop = min(start + self.batch_size, self.n)
            lo, hi = shard_bounds(start, stop, self.comm.rank, self.comm.size)
            self._feed_done = first + step + 1
            yield Batch(step, lo, hi, stop - start, lo - start)
        if ran_out:
            # Keras's words, then what it means for arrays, which tf.keras 2 repeated across epochs instead
            warnings.warn(f"{RAN_OUT_WARNING} (Arrays: this epoch ran {count} of its {self.steps} steps, the end of "
                          "a pass over them, and the next epoch starts a new pass, as in Keras 3; tf.keras 2 repeated "
                          "the arrays instead. Without steps_per_epoch, or with ceil(samples / batch_size), every "
                          "epoch is one whole pass.)", UserWarning, stacklevel=user_stacklevel())

    def skip_epochs(self, count: int) -> None:
        """Go through ``count`` epochs without running them: the orders drawn and the place in the pass are then
        where they would be after running them."""
        for _ in range(count):
            self._next_epoch()

    def enable_feed(self) -> DeviceFeed | None:
        """The device feed (made on first use), or None when the data stays on the host."""
        if self.feed is None and self.data.on_device:
            self.feed = DeviceFeed(self.ops, self.data)
        return self.feed

    def fill(self, batch: Batch, slot: BatchSlot) -> None:
        """Copy ``batch``'s rows into the slot's buffers."""
        if self.shuffle:
            device = None if self.feed is None else self.feed.order[batch.lo:batch.hi]
            self.data.gather_into(slot.arrays, self._order_host[batch.lo:batch.hi], device)
        else:
            self.data.slice_into(slot.arrays, batch.lo, batch.hi)
