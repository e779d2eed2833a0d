"""Block-level row reductions shared by the row-wise loss kernels (softmax_xent.py, sigmoid_bce.py).

Layout: a block of (width, rows_per_block) threads with width * rows_per_block == BLOCK_THREADS;
the threads with the same threadIdx.y share one row of the matrix. Each computes a partial value,
and ``row_sum`` / ``row_max`` return the row's total to every thread of that row:

    total = sum_{tx < width} v[tx]        (or max)

by a shared-memory tree (width is a power of two). Every thread of the block must call them, rows past
the end of the matrix included (with a neutral value), because they synchronise the whole block.
No warp shuffles: the CUDA simulator used in CI has none, and rows may be narrower than a warp.

There is no NumPy twin (NumPy reduces with ``sum``/``max`` directly) and no launcher:
``row_reducers()`` returns the device functions for the kernels to call.
"""
from __future__ import annotations

import functools
import math

from gpunn.kernels import _launch

BLOCK_THREADS = 128

cuda = None  # numba.cuda, bound on first use by row_reducers


def row_width(cols: int) -> int:
    """Threads per row: the power of two covering ``cols``, between 4 and BLOCK_THREADS."""
    return min(BLOCK_THREADS, max(4, 1 << max(0, math.ceil(math.log2(max(cols, 1))))))


@functools.lru_cache(maxsize=None)
def row_reducers():
    """(row_sum(buf, base, tx, width, v), row_max(...)) device functions; ``buf`` is a shared
    array of BLOCK_THREADS elements of the kernel's dtype, ``base`` = threadIdx.y * width."""
    _launch.bind_numba_cuda(globals())

    @cuda.jit(device=True)
    def row_sum(buf, base, tx, width, v):
        buf[base + tx] = v
        cuda.syncthreads()
        s = width // 2
        while s > 0:
            if tx < s:
                buf[base + tx] += buf[base + tx + s]
            cuda.syncthreads()
            s //= 2
        total = buf[base]
        cuda.syncthreads()  # the buffer is reused by the next reduction
        return total

    @cuda.jit(device=True)
    def row_max(buf, base, tx, width, v):
        buf[base + tx] = v
        cuda.syncthreads()
        s = width // 2
        while s > 0:
            if tx < s:
                buf[base + tx] = max(buf[base + tx], buf[base + tx + s])
            cuda.syncthreads()
            s //= 2
        total = buf[base]
        cuda.syncthreads()
        return total

    return row_sum, row_max
