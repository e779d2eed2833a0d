"""Normal random numbers from the counter-based hash of dropout.py, so CPU and GPU draw the same noise.

For the C-order flat index i of an element of ``out``, with the keys of dropout.py's mask for (seed, counter)
and all hash arithmetic on uint32 (wrapping):
    key_a, key_b = stream_keys(seed, counter)                    (dropout.py)
    H(j)  = lowbias32(lowbias32(j ^ key_a) + key_b)              (dropout.py's h, at index j)
    h1    = H(2i),  h2 = H(2i + 1)                               (two independent draws per element)
    u1    = ((h1 >> 8) + 1) * 2^-24    in (0, 1]                 (never 0: log(u1) is finite)
    u2    = (h2 >> 8) * 2^-24          in [0, 1)
    z     = sqrt(-2 log(u1)) * cos(2 pi u2)                      (Box-Muller: z ~ N(0, 1))
    out   = z * stddev + mean
Everything after the hash is computed in ``out``'s dtype (float32 or float64), in this order, on both sides:
the uniforms are exact in float32, and |z| <= sqrt(2 log 2^24) ~ 5.77 (a tail probability of 8e-9 cut off).
The hash is exact on both sides; log, sqrt and cos are each backend's own (NumPy's and CUDA's libm agree to a
few ulps), so the CPU and the GPU draw the same numbers to a few ulps of the dtype. Indices past 2^31 reuse
the draws of i - 2^31 (2i wraps), far beyond any MLP's activations.

Used as Keras's ``random.normal`` by GaussianNoise (mean 0) and GaussianDropout (mean 1): the layer's counter
lives on the device and the kernel reads it there, so a recorded step draws new noise at every replay.

NumPy twin: ``random_normal_numpy`` (given a ``NormalScratch``, it allocates nothing). CUDA kernel: a
grid-stride loop over the flat ``out``, the hash in uint64 registers masked to 32 bits after each multiply
(dropout.py's device function ``mix``), launcher ``random_normal_cuda``.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from gpunn.kernels import _launch
from gpunn.kernels.dropout import _GOLDEN, _M32, _MUL1, _MUL2, _keep_function, counter_value, stream_keys

cuda = None  # numba.cuda, bound by the kernel factory on first use

_TWO_PI = 2.0 * math.pi
_UNIT = 2.0 ** -24  # (h >> 8) * 2^-24: 24 bits, exact in float32

# uint32 operands as 0-d arrays: a Python int handed to a ufunc becomes a new array at every call.
_U1, _U8, _U15, _U16 = (np.array(v, np.uint32) for v in (1, 8, 15, 16))
_UMUL1, _UMUL2 = np.array(_MUL1, np.uint32), np.array(_MUL2, np.uint32)


class NormalScratch:
    """The twin's buffers for ``n`` outputs of ``dtype``: indices, two hash lanes, their scratch, one float
    lane and the per-call scalars as 0-d arrays. Made once per size (the CPU backend keeps one per size)."""

    def __init__(self, n: int, dtype):
        dtype = np.dtype(dtype)
        self.n, self.dtype = int(n), dtype
        self.index = np.arange(self.n, dtype=np.uint32)
        self.h1, self.h2, self.tmp = (np.empty(self.n, np.uint32) for _ in range(3))
        self.f = np.empty(self.n, dtype)
        self.key_a, self.key_b = np.zeros((), np.uint32), np.zeros((), np.uint32)
        self.mean, self.stddev = np.zeros((), dtype), np.ones((), dtype)
        self.one, self.minus_two = np.array(1, dtype), np.array(-2, dtype)
        self.unit, self.two_pi = np.array(_UNIT, dtype), np.array(_TWO_PI, dtype)


def _mix_inplace(x, tmp):
    """dropout.py's lowbias32 on a uint32 array, in place, with 0-d operands (no temporaries)."""
    np.right_shift(x, _U16, out=tmp)
    x ^= tmp
    x *= _UMUL1
    np.right_shift(x, _U15, out=tmp)
    x ^= tmp
    x *= _UMUL2
    np.right_shift(x, _U16, out=tmp)
    x ^= tmp


def _hash_lane(s: NormalScratch, out, odd: bool):
    """out = H(2i) (or H(2i + 1)) >> 8 for every i."""
    np.left_shift(s.index, _U1, out=out)
    if odd:
        out |= _U1
    out ^= s.key_a
    _mix_inplace(out, s.tmp)
    out += s.key_b
    _mix_inplace(out, s.tmp)
    out >>= _U8


def random_normal_numpy(seed, counter, mean, stddev, out, scratch: NormalScratch | None = None):
    """out[...] = mean + stddev * N(0, 1) draws for (seed, counter) (module docstring), in out's dtype.
    ``counter``: an int, or the layer's 1-element int64 counter array. ``out`` must be C-contiguous."""
    out_dtype = np.dtype(out.dtype)
    if out_dtype not in (np.float32, np.float64):
        raise ValueError(f"out: expected float32 or float64, got {out_dtype}")
    if not out.flags.c_contiguous:
        raise ValueError("out: expected a C-contiguous array")
    n = out.size
    s = scratch if scratch is not None else NormalScratch(n, out_dtype)
    if s.n != n or s.dtype != out_dtype:
        raise ValueError(f"scratch: made for {s.n} {s.dtype} values, out holds {n} {out_dtype}")
    key_a, key_b = stream_keys(int(seed), counter_value(counter))
    s.key_a.fill(key_a)
    s.key_b.fill(key_b)
    s.mean.fill(mean)
    s.stddev.fill(stddev)
    flat = out.reshape(n)
    _hash_lane(s, s.h1, odd=False)
    _hash_lane(s, s.h2, odd=True)
    # u1 = (h1 + 1) * 2^-24; r = sqrt(-2 log u1), in s.f
    np.copyto(s.f, s.h1, casting="unsafe")
    np.add(s.f, s.one, out=s.f)
    np.multiply(s.f, s.unit, out=s.f)
    np.log(s.f, out=s.f)
    np.multiply(s.f, s.minus_two, out=s.f)
    np.sqrt(s.f, out=s.f)
    # cos(2 pi u2), u2 = h2 * 2^-24, in out
    np.copyto(flat, s.h2, casting="unsafe")
    np.multiply(flat, s.unit, out=flat)
    np.multiply(flat, s.two_pi, out=flat)
    np.cos(flat, out=flat)
    np.multiply(s.f, flat, out=flat)
    np.multiply(flat, s.stddev, out=flat)
    np.add(flat, s.mean, out=flat)
    return out


# ---------------------------------------------------------------- CUDA kernel


@functools.lru_cache(maxsize=None)
def _normal_kernel(dtype: str):
    _, mix = _keep_function()  # dropout.py's hash as a device function; binds numba.cuda there
    _launch.bind_numba_cuda(globals())
    T = np.dtype(dtype).type
    u = np.uint64
    m32, golden, s1, s8 = u(_M32), u(_GOLDEN), u(1), u(8)
    one, minus_two, unit, two_pi = T(1), T(-2), T(_UNIT), T(_TWO_PI)

    @cuda.jit
    def kernel(out, counter, seed, mean, stddev):
        # The keys from the layer's device counter, as the host's stream_keys computes them: each thread
        # derives them (three hashes), so no value is read back or frozen into a recorded step.
        key_a = mix(mix(u(counter[0]) & m32) ^ seed)
        key_b = mix(key_a ^ golden)
        i = cuda.grid(1)
        step = cuda.gridsize(1)
        while i < out.shape[0]:
            j = (u(i) << s1) & m32
            h1 = mix((mix(j ^ key_a) + key_b) & m32) >> s8
            h2 = mix((mix((j | s1) ^ key_a) + key_b) & m32) >> s8
            # the twin's operations in its order, in T
            r = math.sqrt(math.log((T(h1) + one) * unit) * minus_two)
            c = math.cos((T(h2) * unit) * two_pi)
            out[i] = ((r * c) * stddev) + mean
            i += step

    return kernel


_PLANS = _launch.plan_cache()


def random_normal_cuda(seed, counter, mean, stddev, out):
    """CUDA twin of ``random_normal_numpy``; ``counter`` is the layer's 1-element int64 device counter."""
    stream = _launch.current_stream()
    key = _launch.plan_key((stream,), out, counter)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _launch.keep(_PLANS, key, _plan(out, counter, stream))
    run, T = plan
    run(np.uint64(int(seed) & _M32), T(mean), T(stddev))
    return out


def _plan(out, counter, stream):
    """(run(seed, mean, stddev), scalar type) for ``random_normal_cuda``, after checking the arguments."""
    _launch.check_array("counter", counter, shape=(1,), dtype=np.int64, contiguous=True)
    _launch.check_array("out", out, floating=True, contiguous=True)
    blocks, threads = _launch.grid_1d(max(1, math.prod(out.shape)))
    kernel = _launch.configured(_normal_kernel(_launch.dtype_name(out.dtype)), blocks, threads, stream)
    return (_launch.bind(kernel, _launch.device_view(out, flat=True), _launch.device_view(counter)),
            np.dtype(out.dtype).type)
