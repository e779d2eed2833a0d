"""Activation functions y = f(z) and their backward dz = dy * f'(.), as Keras 3 defines them.

    linear      y = z                                   f' = 1
    relu        y = max(z, 0)                           f' = [y > 0]
    leaky_relu  y = z if z >= 0 else alpha z            f' = 1 if y > 0 else alpha     (alpha > 0, Keras 0.2)
    elu         y = z if z > 0 else expm1(z)            f' = 1 if z > 0 else y + 1     (alpha 1.0)
    gelu        y = z Phi(z) = z/2 (1 + erf(z/sqrt2))   f' = Phi(z) + z phi(z)         (exact erf form)
    sigmoid     y = 1 / (1 + exp(-z))                   f' = y (1 - y)
    tanh        y = tanh(z)                             f' = 1 - y^2
    silu        y = z s,  s = sigmoid(z)                f' = s (1 + z (1 - s))

gelu is Keras's default ``approximate=False``: Phi is the normal CDF via erf, phi its density.
Backward uses the output y only, except for NEEDS_PREACTIVATION (elu, gelu, silu), which need z.

NumPy twins: ``activation_forward_numpy`` and ``activation_backward_numpy`` (in place, into given
buffers). CUDA: ``device_functions(activation, dtype)`` builds the pair of Numba device functions
(forward(z, alpha), backward(dy, y, z, alpha)) that the fused kernels of bias_act.py inline; each
activation gets its own functions, so kernels never branch on the activation. The launchers live in
bias_act.py.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from gpunn.kernels.erf import erf_numpy

ACTIVATIONS = ("linear", "relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "silu")
NEEDS_PREACTIVATION = frozenset({"elu", "gelu", "silu"})

LEAKY_RELU_ALPHA = 0.2  # Keras 3 LeakyReLU negative_slope default; the elu alpha is Keras's 1.0
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

cuda = None  # numba.cuda, bound on first use by device_functions


def check_activation(activation: str) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation: unknown {activation!r}, expected one of {ACTIVATIONS}")
    return activation


# ---------------------------------------------------------------- NumPy twins


def _sigmoid_into(z, out):
    """out = 1 / (1 + exp(-z)); exp overflowing to inf for z << 0 correctly gives 0."""
    np.negative(z, out=out)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)
    return out


def activation_forward_numpy(z, out, activation, alpha=LEAKY_RELU_ALPHA):
    """out[...] = f(z). ``out`` may be ``z`` unless the activation is in NEEDS_PREACTIVATION."""
    if activation == "linear":
        if out is not z:
            np.copyto(out, z)
    elif activation == "relu":
        np.maximum(z, 0, out=out)
    elif activation == "leaky_relu":
        # max(z, alpha z) for alpha <= 1, min for alpha > 1: two vectorised passes, where a masked
        # multiply (where=) runs about 10x slower
        pick = np.maximum if alpha <= 1.0 else np.minimum
        if out is z:
            pick(z, z * alpha, out=out)
        else:
            np.multiply(z, alpha, out=out)
            pick(out, z, out=out)
    elif activation == "elu":
        # expm1(min(z, 0)) is 0 where z > 0, and expm1(z) >= z everywhere, so a max restores z > 0
        np.minimum(z, 0, out=out)
        np.expm1(out, out=out)
        np.maximum(out, z, out=out)
    elif activation == "gelu":
        np.multiply(z, _INV_SQRT2, out=out)
        erf_numpy(out, out=out)
        out += 1.0
        out *= z
        out *= 0.5
    elif activation == "sigmoid":
        _sigmoid_into(z, out)
    elif activation == "tanh":
        np.tanh(z, out=out)
    elif activation == "silu":
        _sigmoid_into(z, out)
        out *= z
    else:
        check_activation(activation)
    return out


def activation_backward_numpy(dy, y, z, activation, dz_out, alpha=LEAKY_RELU_ALPHA, scratch=None):
    """dz_out = dy * f'(.); ``dz_out`` may be ``dy``. ``scratch`` (same shape) avoids a temporary
    for every activation but linear and relu."""
    if activation == "linear":
        if dz_out is not dy:
            np.copyto(dz_out, dy)
        return dz_out
    if activation == "relu":
        np.multiply(dy, y > 0, out=dz_out)
        return dz_out
    check_activation(activation)
    s = np.empty_like(dy) if scratch is None else scratch
    if activation == "leaky_relu":
        # f' = alpha + (1 - alpha) [y > 0], vectorised rather than a masked multiply
        np.multiply(y > 0, 1.0 - alpha, out=s)
        s += alpha
    elif activation == "sigmoid":
        np.subtract(1.0, y, out=s)
        s *= y
    elif activation == "tanh":
        np.multiply(y, y, out=s)
        np.subtract(1.0, s, out=s)
    elif activation == "elu":
        # f' = y + 1 = exp(z) <= 1 below zero, and 1 above, where y + 1 > 1: so min(y + 1, 1)
        np.add(y, 1.0, out=s)
        np.minimum(s, 1.0, out=s)
    elif activation == "gelu":
        # f' = Phi(z) + z phi(z); the multiply into dz_out must wait until dy is consumed,
        # so phi goes through dz_out only when it is not dy
        np.multiply(z, _INV_SQRT2, out=s)
        erf_numpy(s, out=s)
        s += 1.0
        s *= 0.5
        t = np.multiply(z, z) if dz_out is dy else np.multiply(z, z, out=dz_out)
        t *= -0.5
        np.exp(t, out=t)
        t *= z
        t *= _INV_SQRT_2PI
        s += t
    elif activation == "silu":
        # f' = s (1 + z (1 - s)) = s + y (1 - s), with y = z s
        _sigmoid_into(z, s)
        if dz_out is dy:
            t = np.subtract(1.0, s)
        else:
            t = np.subtract(1.0, s, out=dz_out)
        t *= y
        s += t
    np.multiply(dy, s, out=dz_out)
    return dz_out


# ---------------------------------------------------------------- CUDA device functions


@functools.lru_cache(maxsize=None)
def device_functions(activation: str, dtype: str):
    """(forward(z, alpha), backward(dy, y, z, alpha)) Numba device functions computing in ``dtype``."""
    from gpunn.kernels import _launch

    cuda = _launch.bind_numba_cuda(globals())
    check_activation(activation)
    T = np.dtype(dtype).type
    zero, one, half = T(0), T(1), T(0.5)
    inv_sqrt2, inv_sqrt_2pi = T(_INV_SQRT2), T(_INV_SQRT_2PI)

    def device(fn):
        return cuda.jit(device=True)(fn)

    @device
    def sigmoid(z):
        # split by sign so exp never overflows
        if z >= zero:
            return one / (one + math.exp(-z))
        e = math.exp(z)
        return e / (one + e)

    if activation == "linear":
        def fwd(z, alpha):
            return z

        def bwd(dy, y, z, alpha):
            return dy
    elif activation == "relu":
        def fwd(z, alpha):
            return z if z > zero else zero

        def bwd(dy, y, z, alpha):
            return dy if y > zero else zero
    elif activation == "leaky_relu":
        def fwd(z, alpha):
            return z if z >= zero else alpha * z

        def bwd(dy, y, z, alpha):
            return dy if y > zero else dy * alpha
    elif activation == "elu":
        def fwd(z, alpha):
            return z if z > zero else math.expm1(z)

        def bwd(dy, y, z, alpha):
            return dy if z > zero else dy * (y + one)
    elif activation == "gelu":
        def fwd(z, alpha):
            return half * z * (one + math.erf(z * inv_sqrt2))

        def bwd(dy, y, z, alpha):
            cdf = half * (one + math.erf(z * inv_sqrt2))
            pdf = math.exp(-half * z * z) * inv_sqrt_2pi
            return dy * (cdf + z * pdf)
    elif activation == "sigmoid":
        def fwd(z, alpha):
            return sigmoid(z)

        def bwd(dy, y, z, alpha):
            return dy * y * (one - y)
    elif activation == "tanh":
        def fwd(z, alpha):
            return math.tanh(z)

        def bwd(dy, y, z, alpha):
            return dy * (one - y * y)
    else:  # silu
        def fwd(z, alpha):
            return z * sigmoid(z)

        def bwd(dy, y, z, alpha):
            s = sigmoid(z)
            return dy * (s + y * (one - s))
    return device(fwd), device(bwd)
