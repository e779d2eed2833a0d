"""A step's batch gathered by the step itself: rows of a dataset at a position read from a device cursor.

For a dataset ``source`` (n samples), the epoch's order ``order`` (int64: sample ids, a permutation of
range(n) when shuffling), a device cursor ``cursor`` (int64, one element: where this step's global batch
starts in the order) and this rank's ``offset`` inside the global batch:
    out[i] = source[order[cursor[0] + offset + i]]        for i < len(out)
and once every array of the batch is gathered:
    cursor[0] += amount                                    (advance_cursor; amount = the global batch size)
Nothing here is a host value that changes from step to step, so a recorded step (or a CUDA graph of several
steps) fetches a new batch each time it runs: the host only uploads the order and resets the cursor at the
start of an epoch.

NumPy twins: ``gather_rows_numpy``, ``advance_cursor_numpy``. CUDA: a grid-stride kernel over (rows, items of
a row) and a one-thread kernel; launchers ``gather_rows_cuda``, ``advance_cursor_cuda``, on CuPy's current
stream through prepared launches.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from gpunn.kernels import _launch

cuda = None  # numba.cuda, bound by the kernel factories on first use


def check_gather(source, order, cursor, offset, out) -> None:
    """Raise ValueError naming the argument unless the five agree (shapes, dtypes, layout)."""
    _launch.check_array("cursor", cursor, shape=(1,), dtype=np.int64, contiguous=True)
    _launch.check_array("order", order, ndim=1, dtype=np.int64, contiguous=True)
    _launch.check_array("source", source, dtype=out.dtype, contiguous=True)
    _launch.check_array("out", out, contiguous=True)
    if tuple(source.shape[1:]) != tuple(out.shape[1:]):
        raise ValueError(f"out: expected rows of shape {tuple(source.shape[1:])} (source's), got {tuple(out.shape[1:])}")
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)) or offset < 0:
        raise ValueError(f"offset: expected a non-negative integer, got {offset!r}")


# ---------------------------------------------------------------- NumPy twins


def gather_rows_numpy(source, order, cursor, offset, out):
    start = int(cursor[0]) + offset
    rows = order[start:start + len(out)]
    if len(rows) != len(out):
        raise IndexError(f"cursor: rows [{start}, {start + len(out)}) run past the order's {len(order)} samples")
    # mode="clip" lets NumPy write straight into out (the default mode buffers); the ids come from order,
    # a permutation made by the epoch iterator, so clipping never changes one.
    np.take(source, rows, axis=0, out=out, mode="clip")
    return out


def advance_cursor_numpy(cursor, amount) -> None:
    cursor[0] += amount


# ---------------------------------------------------------------- CUDA


@functools.lru_cache(maxsize=None)
def _gather_kernel():
    _launch.bind_numba_cuda(globals())

    @cuda.jit
    def kernel(source, order, cursor, offset, out):
        start = cursor[0] + offset
        col, row = cuda.grid(2)
        cols, rows = cuda.gridsize(2)
        for r in range(row, out.shape[0], rows):
            sample = order[start + r]
            for c in range(col, out.shape[1], cols):
                out[r, c] = source[sample, c]

    return kernel


@functools.lru_cache(maxsize=None)
def _advance_kernel():
    _launch.bind_numba_cuda(globals())

    @cuda.jit
    def kernel(cursor, amount):
        if cuda.grid(1) == 0:
            cursor[0] = cursor[0] + amount

    return kernel


_GATHER_PLANS = _launch.plan_cache()
_ADVANCE_PLANS = _launch.plan_cache()


def gather_rows_cuda(source, order, cursor, offset, out):
    """CUDA twin of ``gather_rows_numpy`` (the cursor is read on the device, never by the host)."""
    stream = _launch.current_stream()
    key = _launch.plan_key((stream, offset), source, order, cursor, out)
    launch = _GATHER_PLANS.get(key)
    if launch is None:
        launch = _launch.keep(_GATHER_PLANS, key, _gather_plan(source, order, cursor, offset, out, stream))
    launch()
    return out


def _gather_plan(source, order, cursor, offset, out, stream):
    check_gather(source, order, cursor, offset, out)
    items = math.prod(out.shape[1:])
    # Rows as (samples, items) 2-D views: one kernel for every sample shape.
    source_2d = source.reshape(source.shape[0], items)
    out_2d = out.reshape(out.shape[0], items)
    grid, block = _launch.grid_2d(out.shape[0], items)
    return _launch.bind(_launch.configured(_gather_kernel(), grid, block, stream),
                        _launch.device_view(source_2d), _launch.device_view(order), _launch.device_view(cursor),
                        np.int64(offset), _launch.device_view(out_2d))


def advance_cursor_cuda(cursor, amount) -> None:
    """CUDA twin of ``advance_cursor_numpy``: one thread."""
    stream = _launch.current_stream()
    key = _launch.plan_key((stream, amount), cursor)
    launch = _ADVANCE_PLANS.get(key)
    if launch is None:
        _launch.check_array("cursor", cursor, shape=(1,), dtype=np.int64, contiguous=True)
        launch = _launch.keep(_ADVANCE_PLANS, key, _launch.bind(
            _launch.configured(_advance_kernel(), 1, 1, stream), _launch.device_view(cursor), np.int64(amount)))
    launch()
