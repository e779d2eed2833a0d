"""Sigmoid fused with binary cross-entropy on logits, and its gradient.

Elementwise for logits x and targets t of shape (B, C), with e = exp(-|x|) in (0, 1]:
    loss_elem = max(x, 0) - x t + log1p(e)          (= -t log p - (1-t) log(1-p), without overflow)
    probs     = sigmoid(x) = 1/(1+e) if x >= 0 else e/(1+e)
    dlogits   = (probs - t) * grad_scale
and loss_out (B,) = mean_j loss_elem (Keras's binary_crossentropy averages the last axis).

NumPy twin: ``sigmoid_bce_numpy``.
CUDA kernel: the row layout of _row_reduce.py (w threads per row), elementwise work in the row loop,
the loss row-mean by a shared-memory reduction; writing dlogits is a compile-time variant.
Launcher with the twin's argument list: ``sigmoid_bce_cuda``.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from gpunn.kernels import _launch
from gpunn.kernels._row_reduce import BLOCK_THREADS, row_reducers, row_width

cuda = None  # numba.cuda, bound by the kernel factory on first use


# ---------------------------------------------------------------- NumPy twin


def sigmoid_bce_numpy(logits, targets, probs_out, dlogits_out, loss_out, grad_scale):
    """probs_out = sigmoid(logits); loss_out (B,) = mean BCE over the last axis; dlogits_out =
    (probs - targets) * grad_scale (None: not computed). ``probs_out`` must not be ``logits``."""
    x, t = logits, targets
    e = probs_out
    np.abs(x, out=e)
    np.negative(e, out=e)
    np.exp(e, out=e)  # e = exp(-|x|)
    xt = np.multiply(x, t) if dlogits_out is None else np.multiply(x, t, out=dlogits_out)
    elem = np.log1p(e)
    np.add(elem, x, out=elem, where=x > 0)  # + max(x, 0)
    elem -= xt
    np.mean(elem, axis=1, out=loss_out)
    np.add(e, 1.0, out=elem)  # reuse the buffer for 1 + e
    np.copyto(e, 1.0, where=x >= 0)
    e /= elem  # probs
    if dlogits_out is not None:
        np.subtract(probs_out, t, out=dlogits_out)
        dlogits_out *= grad_scale
    return loss_out


# ---------------------------------------------------------------- CUDA kernel


@functools.lru_cache(maxsize=None)
def _bce_kernel(dtype: str, with_grad: bool):
    _launch.bind_numba_cuda(globals())
    row_sum, _ = row_reducers()
    T = np.dtype(dtype).type
    zero, one = T(0), T(1)
    shared_type = _launch.numba_dtype(dtype)

    if with_grad:
        @cuda.jit(device=True)
        def store_grad(dlogits, row, j, g):
            dlogits[row, j] = g
    else:
        @cuda.jit(device=True)
        def store_grad(dlogits, row, j, g):
            pass

    @cuda.jit
    def kernel(logits, targets, probs, dlogits, loss, scale):
        buf = cuda.shared.array(BLOCK_THREADS, dtype=shared_type)
        rows, cols = logits.shape
        tx = cuda.threadIdx.x
        width = cuda.blockDim.x
        base = cuda.threadIdx.y * width
        row = cuda.blockIdx.x * cuda.blockDim.y + cuda.threadIdx.y
        acc = zero
        if row < rows:
            for j in range(tx, cols, width):
                x = logits[row, j]
                t = targets[row, j]
                e = math.exp(-abs(x))
                acc += max(x, zero) - x * t + math.log1p(e)
                p = one / (one + e) if x >= zero else e / (one + e)
                probs[row, j] = p
                store_grad(dlogits, row, j, (p - t) * scale)
        acc = row_sum(buf, base, tx, width, acc)  # every thread, valid row or not
        if row < rows and tx == 0:
            loss[row] = acc / T(cols)  # T(): an int divisor would promote to float64

    return kernel


# ---------------------------------------------------------------- launcher
# The launcher keeps its prepared launches (see _launch: plan_key, keep): a repeated call with arrays
# described identically skips the checks, the kernel lookup, the grid and the views.

_PLANS = _launch.plan_cache()


def sigmoid_bce_cuda(logits, targets, probs_out, dlogits_out, loss_out, grad_scale):
    """CUDA twin of ``sigmoid_bce_numpy`` (same arguments, device arrays)."""
    stream = _launch.current_stream()
    key = _launch.plan_key((stream, probs_out is logits), logits, targets, probs_out, dlogits_out, loss_out)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _launch.keep(_PLANS, key, _bce_plan(logits, targets, probs_out, dlogits_out, loss_out, stream))
    run, T = plan
    run(T(grad_scale))
    return loss_out


def _bce_plan(logits, targets, probs_out, dlogits_out, loss_out, stream):
    """(run(grad_scale), scalar type) for ``sigmoid_bce_cuda``, after checking every argument."""
    _launch.check_array("logits", logits, ndim=2, floating=True)
    rows, cols = logits.shape
    _launch.check_array("targets", targets, shape=logits.shape, dtype=logits.dtype)
    _launch.check_array("probs_out", probs_out, shape=logits.shape, dtype=logits.dtype)
    if dlogits_out is not None:
        _launch.check_array("dlogits_out", dlogits_out, shape=logits.shape, dtype=logits.dtype)
    _launch.check_array("loss_out", loss_out, shape=(rows,), dtype=logits.dtype)
    if probs_out is logits:
        raise ValueError("probs_out: must not be logits (the NumPy twin uses it as scratch)")
    dtype = _launch.dtype_name(logits.dtype)
    width = row_width(cols)
    rows_per_block = BLOCK_THREADS // width
    pv = _launch.device_view(probs_out)
    dv = pv if dlogits_out is None else _launch.device_view(dlogits_out)  # placeholder when None
    kernel = _launch.configured(_bce_kernel(dtype, dlogits_out is not None),
                                max(1, math.ceil(rows / rows_per_block)), (width, rows_per_block), stream)
    run = _launch.bind(kernel, _launch.device_view(logits), _launch.device_view(targets), pv, dv,
                       _launch.device_view(loss_out))
    return run, np.dtype(dtype).type
