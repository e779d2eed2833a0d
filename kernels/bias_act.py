"""Fused bias + activation of a dense layer, forward and backward.

Forward, for z of shape (B, N) and bias (N,):
    z[b, n] += bias[n]                (z then holds the pre-activation, kept for backward)
    out[b, n] = f(z[b, n])
Backward, given dy = dL/dy:
    dz[b, n] = dy[b, n] * f'(y[b, n] or z[b, n])     (see activations.py for f and f')
    dbias[n] = sum_b dz[b, n]

NumPy twins: ``bias_act_forward_numpy``, ``act_backward_bias_grad_numpy``.
CUDA kernels (one per activation, dtype and bias mode, compiled on first use):
    forward:  a 2-D grid, warps along columns (coalesced), blockIdx.y striding over rows;
    backward: the same layout, each thread also sums its column's dz over the rows it visits, the
              block reduces its 8 row-partials in shared memory, then writes dbias (one block row)
              or atomically adds it (several block rows, after zeroing dbias).
Launchers with the twins' argument lists: ``bias_act_forward_cuda``, ``act_backward_bias_grad_cuda``.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from gpunn.kernels import _launch
from gpunn.kernels.activations import (
    LEAKY_RELU_ALPHA,
    NEEDS_PREACTIVATION,
    activation_backward_numpy,
    activation_forward_numpy,
    check_activation,
    device_functions,
)

BLOCK = (32, 8)  # (columns, rows): a warp spans 32 adjacent columns of one row
# Backward splits the batch over several block rows (then adds dbias atomically) only when each
# block row still gets at least this many rows; small batches take the single-pass store.
ROWS_PER_BLOCK = 64
TARGET_BLOCKS = 512  # enough blocks to fill a large GPU several times over

cuda = None  # numba.cuda, bound by the kernel factories on first use (see _launch.bind_numba_cuda)


# ---------------------------------------------------------------- NumPy twins


def bias_act_forward_numpy(z, bias, activation, out, alpha=LEAKY_RELU_ALPHA):
    """z += bias (in place, None: no bias); out[...] = f(z). ``out`` may be ``z`` unless the
    activation needs the pre-activation in backward."""
    if bias is not None:
        np.add(z, bias, out=z)
    return activation_forward_numpy(z, out, activation, alpha)


def act_backward_bias_grad_numpy(dy, y, z, activation, dz_out, dbias_out, alpha=LEAKY_RELU_ALPHA,
                                 scratch=None):
    """dz_out = dy * f'(.) (``dz_out`` may be ``dy``); dbias_out = dz_out summed over the batch
    (None: no bias). ``z`` is only read for the activations in NEEDS_PREACTIVATION but elu."""
    activation_backward_numpy(dy, y, z, activation, dz_out, alpha, scratch)
    if dbias_out is not None:
        np.sum(dz_out, axis=0, out=dbias_out)
    return dz_out


# ---------------------------------------------------------------- CUDA kernels


@functools.lru_cache(maxsize=None)
def _forward_kernel(activation: str, dtype: str, has_bias: bool):
    _launch.bind_numba_cuda(globals())
    fwd, _ = device_functions(activation, dtype)

    if has_bias:
        @cuda.jit
        def kernel(z, bias, out, alpha):
            rows, cols = z.shape
            c = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
            if c >= cols:
                return
            b = bias[c]
            r = cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y
            step = cuda.blockDim.y * cuda.gridDim.y
            while r < rows:
                v = z[r, c] + b
                z[r, c] = v  # written before out, so out may be z
                out[r, c] = fwd(v, alpha)
                r += step
    else:
        @cuda.jit
        def kernel(z, bias, out, alpha):
            rows, cols = z.shape
            c = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
            if c >= cols:
                return
            r = cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y
            step = cuda.blockDim.y * cuda.gridDim.y
            while r < rows:
                out[r, c] = fwd(z[r, c], alpha)
                r += step
    return kernel


@functools.lru_cache(maxsize=None)
def _backward_kernel(activation: str, dtype: str, bias_mode: str):
    """bias_mode: 'none' (no dbias), 'store' (one block row: write dbias) or 'atomic'."""
    _launch.bind_numba_cuda(globals())
    _, bwd = device_functions(activation, dtype)
    T = np.dtype(dtype).type
    zero = T(0)
    BX, BY = BLOCK
    shared_type = _launch.numba_dtype(dtype)
    atomic = bias_mode == "atomic"

    if bias_mode == "none":
        @cuda.jit
        def kernel(dy, y, z, dz, dbias, alpha):
            rows, cols = dy.shape
            c = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
            if c >= cols:
                return
            r = cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y
            step = cuda.blockDim.y * cuda.gridDim.y
            while r < rows:
                dz[r, c] = bwd(dy[r, c], y[r, c], z[r, c], alpha)
                r += step
        return kernel

    @cuda.jit
    def kernel(dy, y, z, dz, dbias, alpha):
        partial = cuda.shared.array((BY, BX), dtype=shared_type)
        rows, cols = dy.shape
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        c = cuda.blockIdx.x * BX + tx
        acc = zero
        if c < cols:
            r = cuda.blockIdx.y * BY + ty
            step = BY * cuda.gridDim.y
            while r < rows:
                g = bwd(dy[r, c], y[r, c], z[r, c], alpha)
                dz[r, c] = g
                acc += g
                r += step
        partial[ty, tx] = acc
        cuda.syncthreads()
        if ty == 0 and c < cols:
            for k in range(1, BY):
                acc += partial[k, tx]
            if atomic:
                cuda.atomic.add(dbias, c, acc)
            else:
                dbias[c] = acc

    return kernel


@functools.lru_cache(maxsize=None)
def _zero_kernel():
    _launch.bind_numba_cuda(globals())

    @cuda.jit
    def kernel(a):
        i = cuda.grid(1)
        step = cuda.gridsize(1)
        while i < a.shape[0]:
            a[i] = 0
            i += step

    return kernel


# ---------------------------------------------------------------- launchers
# Each launcher keeps its prepared launches (see _launch: plan_key, keep): a repeated call with arrays
# described identically skips the checks, the kernel lookup, the grid and the views.

_FORWARD_PLANS = _launch.plan_cache()
_BACKWARD_PLANS = _launch.plan_cache()


def bias_act_forward_cuda(z, bias, activation, out, alpha=LEAKY_RELU_ALPHA):
    """CUDA twin of ``bias_act_forward_numpy`` (same arguments, device arrays)."""
    check_activation(activation)  # before it goes into a key: an unhashable one must fail by name too
    stream = _launch.current_stream()
    key = _launch.plan_key((stream, activation, out is z), z, bias, out)
    plan = _FORWARD_PLANS.get(key)
    if plan is None:
        plan = _launch.keep(_FORWARD_PLANS, key, _forward_plan(z, bias, activation, out, stream))
    run, T = plan
    run(T(alpha))
    return out


def _forward_plan(z, bias, activation, out, stream):
    """(run(alpha), scalar type) for ``bias_act_forward_cuda``, after checking the arrays."""
    _launch.check_array("z", z, ndim=2, floating=True)
    _launch.check_array("out", out, shape=z.shape, dtype=z.dtype)
    if bias is not None:
        _launch.check_array("bias", bias, shape=(z.shape[1],), dtype=z.dtype)
    if out is z and activation in NEEDS_PREACTIVATION:
        raise ValueError(f"out: must not be z for {activation!r}, whose backward needs z")
    dtype = _launch.dtype_name(z.dtype)
    kernel = _forward_kernel(activation, dtype, bias is not None)
    grid, block = _launch.grid_2d(z.shape[0], z.shape[1], BLOCK)
    zv = _launch.device_view(z)
    ov = zv if out is z else _launch.device_view(out)
    bv = zv if bias is None else _launch.device_view(bias)  # unused placeholder without bias
    return _launch.bind(_launch.configured(kernel, grid, block, stream), zv, bv, ov), np.dtype(dtype).type


def act_backward_bias_grad_cuda(dy, y, z, activation, dz_out, dbias_out, alpha=LEAKY_RELU_ALPHA,
                                scratch=None):
    """CUDA twin of ``act_backward_bias_grad_numpy``; ``scratch`` is accepted and not needed."""
    check_activation(activation)
    stream = _launch.current_stream()
    z_read = z if activation in NEEDS_PREACTIVATION else None  # z is neither checked nor read otherwise
    key = _launch.plan_key((stream, activation), dy, y, z_read, dz_out, dbias_out)
    plan = _BACKWARD_PLANS.get(key)
    if plan is None:
        plan = _launch.keep(_BACKWARD_PLANS, key, _backward_plan(dy, y, z, activation, dz_out, dbias_out, stream))
    run, T = plan
    run(T(alpha))
    return dz_out


def _backward_plan(dy, y, z, activation, dz_out, dbias_out, stream):
    """(run(alpha), scalar type) for ``act_backward_bias_grad_cuda``, after checking the arrays."""
    _launch.check_array("dy", dy, ndim=2, floating=True)
    _launch.check_array("y", y, shape=dy.shape, dtype=dy.dtype)
    if activation in NEEDS_PREACTIVATION:
        _launch.check_array("z", z, shape=dy.shape, dtype=dy.dtype)
    _launch.check_array("dz_out", dz_out, shape=dy.shape, dtype=dy.dtype)
    if dbias_out is not None:
        _launch.check_array("dbias_out", dbias_out, shape=(dy.shape[1],), dtype=dy.dtype)
    rows, cols = dy.shape
    dtype = _launch.dtype_name(dy.dtype)
    T = np.dtype(dtype).type
    dyv = _launch.device_view(dy)
    yv = _launch.device_view(y)
    zv = _launch.device_view(z) if activation in NEEDS_PREACTIVATION else yv  # placeholder
    dzv = dyv if dz_out is dy else _launch.device_view(dz_out)
    if dbias_out is None:
        grid, block = _launch.grid_2d(rows, cols, BLOCK)
        kernel = _launch.configured(_backward_kernel(activation, dtype, "none"), grid, block, stream)
        return _launch.bind(kernel, dyv, yv, zv, dzv, yv), T
    grid_x = math.ceil(cols / BLOCK[0])
    grid_y = max(1, min(math.ceil(rows / ROWS_PER_BLOCK), TARGET_BLOCKS // grid_x))
    dbv = _launch.device_view(dbias_out)
    if grid_y == 1:
        kernel = _launch.configured(_backward_kernel(activation, dtype, "store"), (grid_x, 1), BLOCK, stream)
        return _launch.bind(kernel, dyv, yv, zv, dzv, dbv), T
    zero = _launch.bind(_launch.configured(_zero_kernel(), _launch.grid_1d(cols)[0], 256, stream), dbv)
    kernel = _launch.configured(_backward_kernel(activation, dtype, "atomic"), (grid_x, grid_y), BLOCK, stream)
    return functools.partial(_zero_then_accumulate, zero, _launch.bind(kernel, dyv, yv, zv, dzv, dbv)), T


def _zero_then_accumulate(zero, accumulate, alpha):
    zero()  # dbias is summed atomically over the block rows
    accumulate(alpha)
