"""Inverted dropout with a counter-based hash, so CPU and GPU draw the SAME mask from the same seed.

For the C-order flat index i of an element, with all arithmetic on uint32 (wrapping):
    lowbias32(x): x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16
                  (Chris Wellons' "lowbias32" integer hash, a bijection on uint32)
    key_a = lowbias32(lowbias32(counter) ^ seed)          (seed, counter taken mod 2^32; on the host)
    key_b = lowbias32(key_a ^ 0x9e3779b9)
    h(i)  = lowbias32(lowbias32(i ^ key_a) + key_b)
    u(i)  = (h(i) >> 8) * 2^-24 in [0, 1)
    keep(i) = u(i) >= rate, tested exactly as (h(i) >> 8) >= ceil(rate * 2^24)
Forward: out = x * keep / (1 - rate) (computed as (x * keep) * scale, scale = 1 / (1 - rate));
backward: dx = (dy * keep) * scale. The caller advances ``counter`` every step for a fresh mask.

NumPy twins: ``keep_mask_numpy``, ``dropout_forward_numpy``, ``dropout_backward_numpy`` (uint32
arrays, wrapping multiplies). CUDA kernels: grid-stride loops over the flat arrays, the hash in uint64
registers masked to 32 bits after each multiply, which gives the same bits. Launchers:
``keep_mask_cuda``, ``dropout_forward_cuda``, ``dropout_backward_cuda``.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from gpunn.kernels import _launch

_M32 = 0xFFFFFFFF
_MUL1 = 0x7FEB352D
_MUL2 = 0x846CA68B
_GOLDEN = 0x9E3779B9

cuda = None  # numba.cuda, bound by the kernel factories on first use


def lowbias32(x: int) -> int:
    """The hash on one Python int (mod 2^32)."""
    x &= _M32
    x ^= x >> 16
    x = (x * _MUL1) & _M32
    x ^= x >> 15
    x = (x * _MUL2) & _M32
    x ^= x >> 16
    return x


def stream_keys(seed: int, counter: int) -> tuple[int, int]:
    """(key_a, key_b) of the mask for this (seed, counter)."""
    key_a = lowbias32(lowbias32(counter & _M32) ^ (seed & _M32))
    return key_a, lowbias32(key_a ^ _GOLDEN)


def keep_threshold(rate: float) -> int:
    """keep iff (h >> 8) >= this; exact since rate * 2^24 is exact in float64."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rate: expected 0 <= rate < 1, got {rate}")
    return math.ceil(rate * (1 << 24))


# ---------------------------------------------------------------- NumPy twins


def _lowbias32_inplace(x, tmp):
    np.right_shift(x, 16, out=tmp)
    x ^= tmp
    x *= _MUL1
    np.right_shift(x, 15, out=tmp)
    x ^= tmp
    x *= _MUL2
    np.right_shift(x, 16, out=tmp)
    x ^= tmp


def keep_mask_numpy(n, rate, seed, counter, out=None):
    """uint8 (n,) mask, 1 where element i is kept. ``out``: a uint8 buffer of n elements (any shape,
    C-contiguous) to write into."""
    threshold = keep_threshold(rate)
    key_a, key_b = stream_keys(seed, counter)
    h = np.arange(n, dtype=np.uint32)
    tmp = np.empty_like(h)
    h ^= np.uint32(key_a)
    _lowbias32_inplace(h, tmp)
    h += np.uint32(key_b)
    _lowbias32_inplace(h, tmp)
    h >>= 8
    if out is None:
        out = np.empty(n, dtype=np.uint8)
    np.greater_equal(h, threshold, out=out.reshape(n).view(np.bool_))
    return out


def counter_value(counter) -> int:
    """The mask counter as an int: given as one, or as the layer's 1-element device counter (on the CPU)."""
    return int(counter[0]) if hasattr(counter, "shape") else int(counter)


def dropout_forward_numpy(x, rate, seed, counter, out, mask_out):
    """mask_out (uint8, shape of x) = keep mask; out = x * mask / (1 - rate); ``out`` may be ``x``.
    ``counter``: an int, or the layer's 1-element int64 counter array."""
    keep_mask_numpy(x.size, rate, seed, counter_value(counter), out=mask_out)
    np.multiply(x, mask_out, out=out)
    out *= 1.0 / (1.0 - rate)
    return out


def dropout_backward_numpy(dy, mask, rate, dx_out):
    """dx_out = dy * mask / (1 - rate); ``dx_out`` may be ``dy``."""
    np.multiply(dy, mask, out=dx_out)
    dx_out *= 1.0 / (1.0 - rate)
    return dx_out


# ---------------------------------------------------------------- CUDA kernels


@functools.lru_cache(maxsize=None)
def _keep_function():
    """Device function keep(i, key_a, key_b, threshold) -> bool, all uint64 (values < 2^32)."""
    _launch.bind_numba_cuda(globals())
    u = np.uint64
    m32, mul1, mul2 = u(_M32), u(_MUL1), u(_MUL2)
    s8, s15, s16 = u(8), u(15), u(16)

    @cuda.jit(device=True)
    def mix(x):
        x ^= x >> s16
        x = (x * mul1) & m32  # the product is < 2^64: no overflow before masking
        x ^= x >> s15
        x = (x * mul2) & m32
        x ^= x >> s16
        return x

    @cuda.jit(device=True)
    def keep(i, key_a, key_b, threshold):
        h = mix((u(i) & m32) ^ key_a)
        h = mix((h + key_b) & m32)
        return (h >> s8) >= threshold

    return keep, mix


@functools.lru_cache(maxsize=None)
def _mask_kernel():
    keep, _ = _keep_function()

    @cuda.jit
    def kernel(mask, key_a, key_b, threshold):
        i = cuda.grid(1)
        step = cuda.gridsize(1)
        while i < mask.shape[0]:
            mask[i] = 1 if keep(i, key_a, key_b, threshold) else 0
            i += step

    return kernel


@functools.lru_cache(maxsize=None)
def _forward_kernel(dtype: str):
    keep, mix = _keep_function()
    T = np.dtype(dtype).type
    zero, one = T(0), T(1)
    u = np.uint64
    m32, golden = u(_M32), u(_GOLDEN)

    @cuda.jit
    def kernel(x, out, mask, counter, seed, threshold, scale):
        # The mask keys from (seed, counter) as the host's stream_keys computes them, here from the layer's
        # device counter: each thread derives them (three hashes), so no value is read back or frozen.
        key_a = mix(mix(u(counter[0]) & m32) ^ seed)
        key_b = mix(key_a ^ golden)
        i = cuda.grid(1)
        step = cuda.gridsize(1)
        while i < x.shape[0]:
            k = keep(i, key_a, key_b, threshold)
            mask[i] = 1 if k else 0
            # (x * keep) * scale, the twin's order, so non-finite x behave the same
            out[i] = (x[i] * (one if k else zero)) * scale
            i += step

    return kernel


@functools.lru_cache(maxsize=None)
def _backward_kernel(dtype: str):
    _launch.bind_numba_cuda(globals())
    T = np.dtype(dtype).type

    @cuda.jit
    def kernel(dy, mask, dx, scale):
        i = cuda.grid(1)
        step = cuda.gridsize(1)
        while i < dy.shape[0]:
            dx[i] = (dy[i] * T(mask[i])) * scale
            i += step

    return kernel


# ---------------------------------------------------------------- launchers
# Each launcher keeps its prepared launches (see _launch: plan_key, keep); the mask keys, which change
# with every counter, are the per-call scalars.

_MASK_PLANS = _launch.plan_cache()
_FORWARD_PLANS = _launch.plan_cache()
_BACKWARD_PLANS = _launch.plan_cache()
_threshold_args: dict = {}  # rate -> np.uint64 threshold: rates are few, the conversion is not free


def _threshold(rate):
    threshold = _threshold_args.get(rate)
    if threshold is None:
        threshold = np.uint64(keep_threshold(rate))  # validates rate first
        if len(_threshold_args) >= 256:
            _threshold_args.clear()
        _threshold_args[rate] = threshold
    return threshold


def _keys_as_args(rate, seed, counter):
    threshold = _threshold(rate)
    key_a, key_b = stream_keys(seed, counter)
    return np.uint64(key_a), np.uint64(key_b), threshold


def keep_mask_cuda(n, rate, seed, counter, out=None):
    """CUDA twin of ``keep_mask_numpy``; allocates a device uint8 (n,) array when ``out`` is None."""
    if out is None:
        out = _launch.empty_device((n,), np.uint8)
    stream = _launch.current_stream()
    key = _launch.plan_key((stream, n), out)
    run = _MASK_PLANS.get(key)
    if run is None:
        run = _launch.keep(_MASK_PLANS, key, _mask_plan(n, out, stream))
    run(*_keys_as_args(rate, seed, counter))
    return out


def _mask_plan(n, out, stream):
    """run(key_a, key_b, threshold) for ``keep_mask_cuda``, after checking ``out``."""
    _launch.check_array("out", out, dtype=np.uint8, contiguous=True)
    if math.prod(out.shape) != n:
        raise ValueError(f"out: expected {n} elements, got shape {tuple(out.shape)}")
    blocks, threads = _launch.grid_1d(n)
    return _launch.bind(_launch.configured(_mask_kernel(), blocks, threads, stream),
                        _launch.device_view(out, flat=True))


def dropout_forward_cuda(x, rate, seed, counter, out, mask_out):
    """CUDA twin of ``dropout_forward_numpy``; ``counter`` is the layer's 1-element int64 device counter."""
    stream = _launch.current_stream()
    key = _launch.plan_key((stream,), x, out, mask_out, counter)
    plan = _FORWARD_PLANS.get(key)
    if plan is None:
        plan = _launch.keep(_FORWARD_PLANS, key, _forward_plan(x, out, mask_out, counter, stream))
    run, T = plan
    run(np.uint64(seed & _M32), _threshold(rate), T(1.0 / (1.0 - rate)))
    return out


def _forward_plan(x, out, mask_out, counter, stream):
    """(run(seed, threshold, scale), scalar type) for ``dropout_forward_cuda``."""
    _launch.check_array("counter", counter, shape=(1,), dtype=np.int64, contiguous=True)
    _launch.check_array("x", x, floating=True, contiguous=True)
    _launch.check_array("out", out, shape=x.shape, dtype=x.dtype, contiguous=True)
    _launch.check_array("mask_out", mask_out, shape=x.shape, dtype=np.uint8, contiguous=True)
    xv = _launch.device_view(x, flat=True)
    ov = xv if out is x else _launch.device_view(out, flat=True)
    blocks, threads = _launch.grid_1d(math.prod(x.shape))
    kernel = _launch.configured(_forward_kernel(_launch.dtype_name(x.dtype)), blocks, threads, stream)
    return (_launch.bind(kernel, xv, ov, _launch.device_view(mask_out, flat=True), _launch.device_view(counter)),
            np.dtype(x.dtype).type)


def dropout_backward_cuda(dy, mask, rate, dx_out):
    """CUDA twin of ``dropout_backward_numpy``."""
    stream = _launch.current_stream()
    key = _launch.plan_key((stream,), dy, mask, dx_out)
    plan = _BACKWARD_PLANS.get(key)
    if plan is None:
        plan = _launch.keep(_BACKWARD_PLANS, key, _backward_plan(dy, mask, dx_out, stream))
    keep_threshold(rate)  # validates rate
    run, T = plan
    run(T(1.0 / (1.0 - rate)))
    return dx_out


def _backward_plan(dy, mask, dx_out, stream):
    """(run(scale), scalar type) for ``dropout_backward_cuda``, after checking every argument."""
    _launch.check_array("dy", dy, floating=True, contiguous=True)
    _launch.check_array("mask", mask, shape=dy.shape, dtype=np.uint8, contiguous=True)
    _launch.check_array("dx_out", dx_out, shape=dy.shape, dtype=dy.dtype, contiguous=True)
    dyv = _launch.device_view(dy, flat=True)
    dxv = dyv if dx_out is dy else _launch.device_view(dx_out, flat=True)
    blocks, threads = _launch.grid_1d(math.prod(dy.shape))
    kernel = _launch.configured(_backward_kernel(_launch.dtype_name(dy.dtype)), blocks, threads, stream)
    return _launch.bind(kernel, dyv, _launch.device_view(mask, flat=True), dxv), np.dtype(dy.dtype).type
