"""Embedding lookup and its gradient: rows of a table picked by token ids, and the scatter-add back.

For a table ``table`` (V, D), token ids ``ids`` (int64, any shape S, each in [0, V)) and ``out`` (S + (D,)):
    lookup:    out[s, :] = table[ids[s], :]
    gradient:  grad[v, :] = sum of dy[s, :] over every s with ids[s] == v      (grad (V, D) overwritten)
The gradient is dense (every row written, zero for ids absent from the batch): the optimizer updates the
flat parameter buffer in one pass, so a sparse gradient would buy nothing there.

Ids are checked where the data enters (``Embedding.check_input_values``), and ids a model computes are checked
at each step on the CPU (``Ops.check_ids_in_range``); a CUDA kernel given an id out of range reads zeros and adds
nothing rather than touching memory outside the table.

NumPy twins: ``embedding_lookup_numpy``, ``embedding_grad_numpy`` (``numpy.add.at``: sums each row's
contributions in the order of the ids). CUDA: a grid-stride kernel over (ids, columns) for each; the gradient
zeroes the table then adds with atomics, so on a GPU the summation order of repeated ids, and with it the last
bits of their sums, may differ from run to run. Launchers ``embedding_lookup_cuda``, ``embedding_grad_cuda``
run on CuPy's current stream through prepared launches.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from gpunn.kernels import _launch
from gpunn.kernels.bias_act import _zero_kernel  # the gradient is zeroed, then added to

cuda = None  # numba.cuda, bound by the kernel factories on first use


def check_lookup(table, ids, out) -> None:
    """Raise ValueError naming the argument unless the three agree (shapes, dtypes, layout)."""
    _launch.check_array("table", table, ndim=2, floating=True, contiguous=True)
    _launch.check_array("ids", ids, dtype=np.int64, contiguous=True)
    _launch.check_array("out", out, dtype=table.dtype, contiguous=True)
    expected = tuple(ids.shape) + (table.shape[1],)
    if tuple(out.shape) != expected:
        raise ValueError(f"out: expected shape {expected} (the ids' shape, then the table's row), got "
                         f"{tuple(out.shape)}")


def check_grad(dy, ids, grad_out) -> None:
    _launch.check_array("grad_out", grad_out, ndim=2, contiguous=True)
    _launch.check_array("ids", ids, dtype=np.int64, contiguous=True)
    _launch.check_array("dy", dy, dtype=grad_out.dtype, contiguous=True)
    expected = tuple(ids.shape) + (grad_out.shape[1],)
    if tuple(dy.shape) != expected:
        raise ValueError(f"dy: expected shape {expected} (the ids' shape, then the table's row), got "
                         f"{tuple(dy.shape)}")


# ---------------------------------------------------------------- NumPy twins


def embedding_lookup_numpy(table, ids, out):
    # mode="clip" lets NumPy write straight into out (the default mode buffers first); the step checked the ids
    # (where the data came in, or Ops.check_ids_in_range), so clipping changes none.
    np.take(table, ids, axis=0, out=out, mode="clip")
    return out


def embedding_grad_numpy(dy, ids, grad_out):
    grad_out.fill(0)
    np.add.at(grad_out, ids.reshape(-1), dy.reshape(-1, grad_out.shape[1]))
    return grad_out


# ---------------------------------------------------------------- CUDA


@functools.lru_cache(maxsize=None)
def _lookup_kernel():
    _launch.bind_numba_cuda(globals())

    @cuda.jit
    def kernel(table, ids, out):
        col, row = cuda.grid(2)
        cols, rows = cuda.gridsize(2)
        vocabulary = table.shape[0]
        for r in range(row, out.shape[0], rows):
            token = ids[r]
            if token >= 0 and token < vocabulary:
                for c in range(col, out.shape[1], cols):
                    out[r, c] = table[token, c]
            else:  # (a conditional expression would unify the row's dtype with 0's: float64 arithmetic)
                for c in range(col, out.shape[1], cols):
                    out[r, c] = 0

    return kernel


@functools.lru_cache(maxsize=None)
def _scatter_add_kernel():
    _launch.bind_numba_cuda(globals())

    @cuda.jit
    def kernel(dy, ids, grad):
        col, row = cuda.grid(2)
        cols, rows = cuda.gridsize(2)
        vocabulary = grad.shape[0]
        for r in range(row, dy.shape[0], rows):
            token = ids[r]
            if token >= 0 and token < vocabulary:
                for c in range(col, dy.shape[1], cols):
                    cuda.atomic.add(grad, (token, c), dy[r, c])

    return kernel


_LOOKUP_PLANS = _launch.plan_cache()
_GRAD_PLANS = _launch.plan_cache()


def embedding_lookup_cuda(table, ids, out):
    """CUDA twin of ``embedding_lookup_numpy``."""
    stream = _launch.current_stream()
    key = _launch.plan_key((stream,), table, ids, out)
    launch = _LOOKUP_PLANS.get(key)
    if launch is None:
        check_lookup(table, ids, out)
        count = math.prod(ids.shape)
        grid, block = _launch.grid_2d(count, table.shape[1])
        launch = _launch.keep(_LOOKUP_PLANS, key, _launch.bind(
            _launch.configured(_lookup_kernel(), grid, block, stream), _launch.device_view(table),
            _launch.device_view(ids.reshape(count)), _launch.device_view(out.reshape(count, table.shape[1]))))
    launch()
    return out


def embedding_grad_cuda(dy, ids, grad_out):
    """CUDA twin of ``embedding_grad_numpy``: the table's gradient zeroed, then every row of dy added at its id."""
    stream = _launch.current_stream()
    key = _launch.plan_key((stream,), dy, ids, grad_out)
    launch = _GRAD_PLANS.get(key)
    if launch is None:
        check_grad(dy, ids, grad_out)
        launch = _launch.keep(_GRAD_PLANS, key, _grad_plan(dy, ids, grad_out, stream))
    launch()
    return grad_out


def _grad_plan(dy, ids, grad_out, stream):
    count, width = math.prod(ids.shape), grad_out.shape[1]
    flat = grad_out.reshape(grad_out.size)
    zero_grid, zero_block = _launch.grid_1d(flat.size)
    zero = _launch.bind(_launch.configured(_zero_kernel(), zero_grid, zero_block, stream), _launch.device_view(flat))
    grid, block = _launch.grid_2d(count, width)
    scatter = _launch.bind(_launch.configured(_scatter_add_kernel(), grid, block, stream),
                           _launch.device_view(dy.reshape(count, width)), _launch.device_view(ids.reshape(count)),
                           _launch.device_view(grad_out))

    def launch():
        zero()
        scatter()

    return launch
