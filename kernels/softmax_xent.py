"""Row-wise softmax, fused with categorical cross-entropy and its gradient.

For logits x of shape (B, C), per row, with m = max_j x_j and s = sum_j exp(x_j - m):
    probs_j   = exp(x_j - m) / s
    lse       = m + log(s)                                  (never log(probs): stays finite at +-1000)
Sparse labels (int (B,) class indices k):
    loss      = lse - x_k
    dlogits_j = (probs_j - [j == k]) * grad_scale
Dense labels (float (B, C) one-hot or soft targets t):
    loss      = -sum_j t_j (x_j - lse) = log(s) sum_j t_j - sum_j t_j (x_j - m)
    dlogits_j = (probs_j sum_k t_k - t_j) * grad_scale
grad_scale is typically 1/B, folding the mean over the batch into the gradient.

NumPy twins: ``softmax_xent_numpy``, ``softmax_numpy``.
CUDA kernels: rows of width w (a power of two, w threads per row, 128 / w rows per block); each row
takes three passes over its logits (max, sums, write), reduced in shared memory (_row_reduce.py).
The choice of labels (sparse / dense) and whether dlogits is written are compile-time variants.
Launchers with the twins' argument lists: ``softmax_xent_cuda``, ``softmax_cuda``.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from gpunn.kernels import _launch
from gpunn.kernels._row_reduce import BLOCK_THREADS, row_reducers, row_width

cuda = None  # numba.cuda, bound by the kernel factories on first use


def _is_sparse(labels) -> bool:
    kind = np.dtype(labels.dtype).kind
    if kind in "iu" and len(labels.shape) == 1:
        return True
    if kind == "f" and len(labels.shape) == 2:
        return False
    raise ValueError(
        f"labels: expected int class indices (B,) or float targets (B, C), got "
        f"{np.dtype(labels.dtype)} of shape {tuple(labels.shape)}")


# ---------------------------------------------------------------- NumPy twins


def softmax_numpy(logits, out):
    """out = softmax(logits) row-wise; ``out`` may be ``logits``."""
    m = logits.max(axis=1, keepdims=True)
    np.subtract(logits, m, out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


def softmax_xent_numpy(logits, labels, probs_out, dlogits_out, loss_out, grad_scale):
    """probs_out = softmax(logits); loss_out (B,) = per-sample cross-entropy; dlogits_out =
    gradient times grad_scale (None: not computed). ``probs_out`` may be ``logits``."""
    sparse = _is_sparse(labels)
    shifted = probs_out
    np.subtract(logits, logits.max(axis=1, keepdims=True), out=shifted)
    if sparse:
        rows = np.arange(shifted.shape[0])
        picked = shifted[rows, labels]  # x_k - m
    else:
        sum_t = labels.sum(axis=1)
        picked = np.einsum("ij,ij->i", labels, shifted)  # sum_j t_j (x_j - m)
    np.exp(shifted, out=probs_out)
    s = probs_out.sum(axis=1)
    np.log(s, out=loss_out)
    if not sparse:
        loss_out *= sum_t
    loss_out -= picked
    probs_out /= s[:, None]
    if dlogits_out is not None:
        if sparse:
            np.multiply(probs_out, grad_scale, out=dlogits_out)
            dlogits_out[rows, labels] -= grad_scale
        else:
            np.multiply(probs_out, sum_t[:, None], out=dlogits_out)
            dlogits_out -= labels
            dlogits_out *= grad_scale
    return loss_out


# ---------------------------------------------------------------- CUDA kernels


@functools.lru_cache(maxsize=None)
def _xent_kernel(dtype: str, sparse: bool, with_grad: bool):
    _launch.bind_numba_cuda(globals())
    row_sum, row_max = row_reducers()
    T = np.dtype(dtype).type
    zero, one, neg_inf = T(0), T(1), T(-np.inf)
    shared_type = _launch.numba_dtype(dtype)

    if sparse:
        @cuda.jit(device=True)
        def target(labels, row, j):
            return one if labels[row] == j else zero
    else:
        @cuda.jit(device=True)
        def target(labels, row, j):
            return labels[row, j]

    if with_grad:
        @cuda.jit(device=True)
        def store_grad(dlogits, row, j, g):
            dlogits[row, j] = g
    else:
        @cuda.jit(device=True)
        def store_grad(dlogits, row, j, g):
            pass

    @cuda.jit
    def kernel(logits, labels, probs, dlogits, loss, scale):
        buf = cuda.shared.array(BLOCK_THREADS, dtype=shared_type)
        rows, cols = logits.shape
        tx = cuda.threadIdx.x
        width = cuda.blockDim.x
        base = cuda.threadIdx.y * width
        row = cuda.blockIdx.x * cuda.blockDim.y + cuda.threadIdx.y
        valid = row < rows  # rows past the end still take part in the block-wide reductions
        m = neg_inf
        if valid:
            for j in range(tx, cols, width):
                m = max(m, logits[row, j])
        m = row_max(buf, base, tx, width, m)
        s = zero
        st = zero
        stx = zero
        if valid:
            for j in range(tx, cols, width):
                x = logits[row, j] - m
                s += math.exp(x)
                t = target(labels, row, j)
                st += t
                stx += t * x
        s = row_sum(buf, base, tx, width, s)
        st = row_sum(buf, base, tx, width, st)
        stx = row_sum(buf, base, tx, width, stx)
        if valid:
            inv_s = one / s
            for j in range(tx, cols, width):
                p = math.exp(logits[row, j] - m) * inv_s
                probs[row, j] = p  # after reading logits[row, j], so probs may be logits
                store_grad(dlogits, row, j, (p * st - target(labels, row, j)) * scale)
            if tx == 0:
                loss[row] = math.log(s) * st - stx

    return kernel


@functools.lru_cache(maxsize=None)
def _softmax_kernel(dtype: str):
    _launch.bind_numba_cuda(globals())
    row_sum, row_max = row_reducers()
    T = np.dtype(dtype).type
    zero, one, neg_inf = T(0), T(1), T(-np.inf)
    shared_type = _launch.numba_dtype(dtype)

    @cuda.jit
    def kernel(logits, probs):
        buf = cuda.shared.array(BLOCK_THREADS, dtype=shared_type)
        rows, cols = logits.shape
        tx = cuda.threadIdx.x
        width = cuda.blockDim.x
        base = cuda.threadIdx.y * width
        row = cuda.blockIdx.x * cuda.blockDim.y + cuda.threadIdx.y
        valid = row < rows
        m = neg_inf
        if valid:
            for j in range(tx, cols, width):
                m = max(m, logits[row, j])
        m = row_max(buf, base, tx, width, m)
        s = zero
        if valid:
            for j in range(tx, cols, width):
                s += math.exp(logits[row, j] - m)
        s = row_sum(buf, base, tx, width, s)
        if valid:
            inv_s = one / s
            for j in range(tx, cols, width):
                probs[row, j] = math.exp(logits[row, j] - m) * inv_s

    return kernel


# ---------------------------------------------------------------- launchers
# Each launcher keeps its prepared launches (see _launch: plan_key, keep): a repeated call with arrays
# described identically skips the checks, the kernel lookup, the grid and the views.

_XENT_PLANS = _launch.plan_cache()
_SOFTMAX_PLANS = _launch.plan_cache()


def _row_launch(rows: int, cols: int):
    width = row_width(cols)
    rows_per_block = BLOCK_THREADS // width
    return max(1, math.ceil(rows / rows_per_block)), (width, rows_per_block)


def softmax_xent_cuda(logits, labels, probs_out, dlogits_out, loss_out, grad_scale):
    """CUDA twin of ``softmax_xent_numpy`` (same arguments, device arrays)."""
    stream = _launch.current_stream()
    key = _launch.plan_key((stream,), logits, labels, probs_out, dlogits_out, loss_out)
    plan = _XENT_PLANS.get(key)
    if plan is None:
        plan = _launch.keep(_XENT_PLANS, key, _xent_plan(logits, labels, probs_out, dlogits_out, loss_out, stream))
    run, T = plan
    run(T(grad_scale))
    return loss_out


def _xent_plan(logits, labels, probs_out, dlogits_out, loss_out, stream):
    """(run(grad_scale), scalar type) for ``softmax_xent_cuda``, after checking every argument."""
    _launch.check_array("logits", logits, ndim=2, floating=True)
    rows, cols = logits.shape
    _launch.check_array("labels", labels)
    sparse = _is_sparse(labels)
    if sparse:
        _launch.check_array("labels", labels, shape=(rows,))
    else:
        _launch.check_array("labels", labels, shape=logits.shape, dtype=logits.dtype)
    _launch.check_array("probs_out", probs_out, shape=logits.shape, dtype=logits.dtype)
    if dlogits_out is not None:
        _launch.check_array("dlogits_out", dlogits_out, shape=logits.shape, dtype=logits.dtype)
    _launch.check_array("loss_out", loss_out, shape=(rows,), dtype=logits.dtype)
    dtype = _launch.dtype_name(logits.dtype)
    lv = _launch.device_view(logits)
    pv = lv if probs_out is logits else _launch.device_view(probs_out)
    dv = pv if dlogits_out is None else _launch.device_view(dlogits_out)  # placeholder when None
    grid, block = _row_launch(rows, cols)
    kernel = _launch.configured(_xent_kernel(dtype, sparse, dlogits_out is not None), grid, block, stream)
    run = _launch.bind(kernel, lv, _launch.device_view(labels), pv, dv, _launch.device_view(loss_out))
    return run, np.dtype(dtype).type


def softmax_cuda(logits, out):
    """CUDA twin of ``softmax_numpy``."""
    stream = _launch.current_stream()
    key = _launch.plan_key((stream,), logits, out)
    run = _SOFTMAX_PLANS.get(key)
    if run is None:
        run = _launch.keep(_SOFTMAX_PLANS, key, _softmax_plan(logits, out, stream))
    run()
    return out


def _softmax_plan(logits, out, stream):
    """run() for ``softmax_cuda``, after checking both arguments."""
    _launch.check_array("logits", logits, ndim=2, floating=True)
    _launch.check_array("out", out, shape=logits.shape, dtype=logits.dtype)
    lv = _launch.device_view(logits)
    ov = lv if out is logits else _launch.device_view(out)
    grid, block = _row_launch(*logits.shape)
    kernel = _launch.configured(_softmax_kernel(_launch.dtype_name(logits.dtype)), grid, block, stream)
    return _launch.bind(kernel, lv, ov)
