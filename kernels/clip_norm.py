"""Clipping a gradient by its norm, the norm never leaving the device (Keras's ``clipnorm`` / ``global_clipnorm``):

    g *= min(1, clip / max(sqrt(sum(g * g)), 1e-12))        in place

NumPy twin: ``scale_to_norm_numpy``. Both take the clip as ``limits`` = (clip, 1e-12, 1) on the device
(``limits(clip)``; ufuncs given host scalars would make arrays of them at every call), and ``scratch``: at least
g.size + 1 elements of g's dtype (the twin's squares and norm; the kernels' partial sums). CUDA: two launches over ``blocks`` blocks (``partial_blocks``): the first writes each block's sum of
squares to ``scratch[:blocks]``; the second has every block add those partials up in the same fixed order (each
block gets the same total, so no third launch and no grid-wide sync), then scale its share of g. A reduction
over many blocks, where a full reduction in CuPy's own kernels runs in one block (a 33.6 M-element gradient
through one multiprocessor), and deterministic: an eager step and its CUDA graph give the same bits.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from gpunn.kernels import _launch
from gpunn.kernels._row_reduce import BLOCK_THREADS, row_reducers

cuda = None  # numba.cuda, bound by the kernel factory on first use

TINY = 1e-12        # the norm's floor: a zero gradient is scaled by 1, not divided by zero
MAX_BLOCKS = 1024   # partial sums per clip: enough blocks to keep an H200's memory busy
ITEMS_PER_THREAD = 8  # the fewest elements a thread of the first launch sums before more blocks are used


def partial_blocks(n: int) -> int:
    """Blocks of both launches for n elements: at least one, at most MAX_BLOCKS."""
    return max(1, min(MAX_BLOCKS, math.ceil(n / (BLOCK_THREADS * ITEMS_PER_THREAD))))


def limits(clip: float) -> tuple:
    """The values of ``limits`` for a clip: (clip, the norm's floor, the largest scale)."""
    if isinstance(clip, bool) or not isinstance(clip, (int, float, np.floating, np.integer)) or not clip >= 0:
        raise ValueError(f"clip: expected a non-negative number, got {clip!r}")
    return (float(clip), TINY, 1.0)


def check_clip(g, limits, scratch) -> None:
    """Raise ValueError naming the argument unless g, limits and scratch agree."""
    _launch.check_array("g", g, ndim=1, floating=True, contiguous=True)
    _launch.check_array("limits", limits, shape=(3,), dtype=g.dtype, contiguous=True)
    _launch.check_array("scratch", scratch, ndim=1, dtype=g.dtype, contiguous=True)
    if scratch.shape[0] < g.shape[0] + 1:
        raise ValueError(f"scratch: expected at least {g.shape[0] + 1} elements (g's and one), got {scratch.shape[0]}")


# ---------------------------------------------------------------- NumPy twin


def scale_to_norm_numpy(g, limits, scratch, xp=np):
    """g scaled in place so that its norm is at most ``limits[0]``; returns g. ``xp``: the array module of g (the
    Ops reference runs this with CuPy for the dtypes the kernels do not take)."""
    clip, tiny, one = (limits[i:i + 1].reshape(()) for i in range(3))
    squares = scratch[:g.size].reshape(g.shape)
    norm = scratch[g.size:g.size + 1].reshape(())
    xp.multiply(g, g, out=squares)
    xp.sum(squares, axis=None, out=norm)
    xp.sqrt(norm, out=norm)
    xp.maximum(norm, tiny, out=norm)
    xp.divide(clip, norm, out=norm)
    xp.minimum(norm, one, out=norm)
    xp.multiply(g, norm, out=g)
    return g


# ---------------------------------------------------------------- CUDA


@functools.lru_cache(maxsize=None)
def _kernels(dtype: str):
    """(partial_squares, apply_scale) for float32 or float64."""
    _launch.bind_numba_cuda(globals())
    row_sum, _ = row_reducers()
    T = np.dtype(dtype).type
    zero = T(0)
    shared_type = _launch.numba_dtype(dtype)

    @cuda.jit
    def partial_squares(g, partials):
        buf = cuda.shared.array(BLOCK_THREADS, dtype=shared_type)
        tx = cuda.threadIdx.x
        acc = zero
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < g.shape[0]:
            x = g[i]
            acc += x * x
            i += stride
        total = row_sum(buf, 0, tx, BLOCK_THREADS, acc)
        if tx == 0:
            partials[cuda.blockIdx.x] = total

    @cuda.jit
    def apply_scale(g, partials, limits):
        buf = cuda.shared.array(BLOCK_THREADS, dtype=shared_type)
        tx = cuda.threadIdx.x
        # Every block adds the partials up in the same order: the same total, and so the same scale, in each.
        acc = zero
        k = tx
        while k < partials.shape[0]:
            acc += partials[k]
            k += BLOCK_THREADS
        total = row_sum(buf, 0, tx, BLOCK_THREADS, acc)
        norm = max(math.sqrt(total), limits[1])
        scale = min(limits[2], limits[0] / norm)
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < g.shape[0]:
            g[i] = g[i] * scale
            i += stride

    return partial_squares, apply_scale


_PLANS = _launch.plan_cache()


def scale_to_norm_cuda(g, limits, scratch):
    """CUDA twin of ``scale_to_norm_numpy`` on CuPy's current stream; returns g."""
    stream = _launch.current_stream()
    key = _launch.plan_key((stream,), g, limits, scratch)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _launch.keep(_PLANS, key, _plan(g, limits, scratch, stream))
    partial_squares, apply_scale = plan
    partial_squares()
    apply_scale()
    return g


def _plan(g, limits, scratch, stream):
    check_clip(g, limits, scratch)
    blocks = partial_blocks(g.shape[0])
    partial_kernel, apply_kernel = _kernels(_launch.dtype_name(g.dtype))
    gv, partials = _launch.device_view(g), _launch.device_view(scratch[:blocks])
    return (_launch.bind(_launch.configured(partial_kernel, blocks, BLOCK_THREADS, stream), gv, partials),
            _launch.bind(_launch.configured(apply_kernel, blocks, BLOCK_THREADS, stream), gv, partials,
                         _launch.device_view(limits)))
