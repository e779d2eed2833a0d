"""Activation functions y = f(z) and their backward dz = dy * f'(.), as Keras 3 defines them.

    linear      y = z                                   f' = 1
    relu        y = max(z, 0)                           f' = [y > 0]
    leaky_relu  y = z if z >= 0 else alpha z            f' = 1 if y > 0 else alpha     (alpha > 0, Keras 0.2)
    elu         y = z if z > 0 else expm1(z)            f' = 1 if z > 0 else y + 1     (alpha 1.0)
    gelu        y = z Phi(z) = z/2 (1 + erf(z/sqrt2))   f' = Phi(z) + z phi(z)         (exact erf form)
    sigmoid     y = 1 / (1 + exp(-z))                   f' = y (1 - y)
    tanh        y = tanh(z)                             f' = 1 - y^2
    silu        y = z s,  s = sigmoid(z)                f' = s (1 + z (1 - s))
    selu        y = S z if z > 0 else S A expm1(z)      f' = y + S A if y < 0 else S   (S, A: Keras's constants)
    softplus    y = log(1 + exp(z))                     f' = sigmoid(z) = -expm1(-y)
    softsign    y = z / (1 + |z|)                       dz = dy / (1 + |z|)^2
    hard_sigmoid y = min(max(z + 3, 0), 6) / 6          dz = dy / 6 where 0 < y < 1, else 0
    exponential y = exp(z)                              f' = y
    mish        y = z tanh(softplus(z))                 f' = t + (1 - t^2) z sigmoid(z),  t = tanh(softplus(z))
                                                        (computed from e = exp(z), see the twin)

gelu is Keras's default ``approximate=False``: Phi is the normal CDF via erf, phi its density.
Backward uses the output y only, except for NEEDS_PREACTIVATION (elu, gelu, silu, softsign, mish), which
need z (elu only in the CUDA kernel, for its branch).

The new ones follow Keras 3 (keras/src/activations/activations.py and its backends' nn.py): selu is
``scale * elu(x, alpha)`` with alpha = 1.6732632423543772848170429916717, scale =
1.0507009873554804934193349852946, its gradient TF's SeluGrad (``y < 0``, from the output); softplus is
``logaddexp(x, 0)`` (NumPy backend); softsign and its gradient are TF's Softsign / SoftsignGrad;
hard_sigmoid is Keras 3's ``relu6(x + 3) / 6`` (Keras 2's was 0.2 x + 0.5), its gradient TF's Relu6Grad
(``0 < x + 3 < 6``) through the division; exponential is ``exp``; mish is ``x * tanh(softplus(x))``.

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

ACTIVATIONS = ("linear", "relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "silu",
               "selu", "softplus", "softsign", "hard_sigmoid", "exponential", "mish")
NEEDS_PREACTIVATION = frozenset({"elu", "gelu", "silu", "softsign", "mish"})

LEAKY_RELU_ALPHA = 0.2  # Keras 3 LeakyReLU negative_slope default; the elu alpha is Keras's 1.0
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
# SELU's constants, as keras/src/backend/numpy/nn.py writes them; S A is applied as one product
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
SELU_SCALE_ALPHA = SELU_SCALE * SELU_ALPHA
_MISH_CLAMP = 30.0  # mish's f' is 1 to the rounding of float64 above this (see activation_backward_numpy)

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
    elif activation == "selu":
        # S z above zero, S A expm1(z) at and below; out may be z, so the branch mask and the negative
        # part are taken before out is written
        negative = np.less_equal(z, 0)
        below = np.minimum(z, 0)
        np.expm1(below, out=below)
        below *= z.dtype.type(SELU_SCALE_ALPHA)
        np.multiply(z, z.dtype.type(SELU_SCALE), out=out)
        np.copyto(out, below, where=negative)
    elif activation == "softplus":
        np.logaddexp(z, 0, out=out)
    elif activation == "softsign":  # out is never z (softsign needs z in backward)
        np.abs(z, out=out)
        out += 1.0
        np.divide(z, out, out=out)
    elif activation == "hard_sigmoid":
        np.add(z, 3.0, out=out)
        np.maximum(out, 0, out=out)
        np.minimum(out, 6.0, out=out)
        np.divide(out, 6.0, out=out)
    elif activation == "exponential":
        with np.errstate(over="ignore"):  # exp overflows to inf, as Keras's does
            np.exp(z, out=out)
    elif activation == "mish":  # out is never z
        np.logaddexp(z, 0, out=out)
        np.tanh(out, out=out)
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
    if activation == "exponential":  # f' = y
        np.multiply(dy, y, out=dz_out)
        return dz_out
    check_activation(activation)
    s = np.empty_like(dy) if scratch is None else scratch
    if activation == "softsign":
        # TF's SoftsignGrad: dy / (1 + |z|)^2, a division rather than a multiply by f'
        np.abs(z, out=s)
        s += 1.0
        s *= s
        np.divide(dy, s, out=dz_out)
        return dz_out
    if activation == "hard_sigmoid":
        # inside = 0 < y < 1, as min(1 - y, y) > 0 (1 - y is exact there, NaN is outside); then dy / 6 there
        np.subtract(1.0, y, out=s)
        np.minimum(s, y, out=s)
        np.greater(s, 0, out=s)
        np.divide(dy, 6.0, out=dz_out)
        dz_out *= s
        return dz_out
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
    elif activation == "selu":
        # TF's SeluGrad: y + S A below zero (y < 0), S elsewhere
        np.add(y, y.dtype.type(SELU_SCALE_ALPHA), out=s)
        np.copyto(s, y.dtype.type(SELU_SCALE), where=np.logical_not(np.less(y, 0)))
    elif activation == "softplus":
        # sigmoid(z) = 1 - exp(-softplus(z)) = -expm1(-y), accurate for every y >= 0
        np.negative(y, out=s)
        np.expm1(s, out=s)
        np.negative(s, out=s)
    elif activation == "mish":
        # f' = t + (1 - t^2) z sigmoid(z) with t = tanh(softplus(z)) = n / (n + 2), n = e (e + 2), e = exp(z),
        # so 1 - t^2 = 4 (n + 1) / (n + 2)^2: written in n, no term is the difference of nearly equal ones
        # (from t itself, an ulp of t would come back times |1 - 2 t z sigmoid(z)|, up to ~20). Above
        # z = 30 the second term is below 1e-24 and t rounds to 1: z is clamped there, so nothing
        # overflows. It takes temporaries here; the compiled CPU loop and the CUDA kernel need none.
        np.minimum(z, _MISH_CLAMP, out=s)  # zc
        e = np.exp(s) if dz_out is dy else np.exp(s, out=dz_out)
        n = np.add(e, 2.0)
        n *= e
        d = np.add(n, 2.0)
        e_plus_one = np.add(e, 1.0)
        np.divide(e, e_plus_one, out=e)  # sigmoid(zc)
        e *= s  # sigmoid(zc) zc
        np.add(n, 1.0, out=s)
        s /= d
        s /= d
        s *= 4.0  # 1 - t^2
        s *= e
        n /= d  # t
        s += n
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
    elif activation == "silu":
        def fwd(z, alpha):
            return z * sigmoid(z)

        def bwd(dy, y, z, alpha):
            s = sigmoid(z)
            return dy * (s + y * (one - s))
    elif activation == "selu":
        scale, scale_alpha = T(SELU_SCALE), T(SELU_SCALE_ALPHA)

        def fwd(z, alpha):
            return scale * z if z > zero else scale_alpha * math.expm1(z)

        def bwd(dy, y, z, alpha):
            return dy * (y + scale_alpha) if y < zero else dy * scale
    elif activation == "softplus":
        @device
        def softplus(z):
            # logaddexp(z, 0) as NumPy computes it: the exp never overflows
            if z > zero:
                return z + math.log1p(math.exp(-z))
            return math.log1p(math.exp(z))

        def fwd(z, alpha):
            return softplus(z)

        def bwd(dy, y, z, alpha):
            return dy * -math.expm1(-y)
    elif activation == "softsign":
        def fwd(z, alpha):
            return z / (one + abs(z))

        def bwd(dy, y, z, alpha):
            u = abs(z) + one
            return dy / (u * u)
    elif activation == "hard_sigmoid":
        three, six = T(3), T(6)

        def fwd(z, alpha):
            u = z + three
            u = zero if u < zero else u  # NaN stays NaN, as np.maximum keeps it
            u = six if u > six else u
            return u / six

        def bwd(dy, y, z, alpha):
            return (dy / six) * (one if (y > zero and y < one) else zero)
    elif activation == "exponential":
        def fwd(z, alpha):
            return math.exp(z)

        def bwd(dy, y, z, alpha):
            return dy * y
    else:  # mish
        two, four, clamp = T(2), T(4), T(_MISH_CLAMP)

        def fwd(z, alpha):
            if z > zero:
                return math.tanh(z + math.log1p(math.exp(-z))) * z
            return math.tanh(math.log1p(math.exp(z))) * z

        def bwd(dy, y, z, alpha):
            zc = clamp if z > clamp else z  # as the twin: f' from e = exp(z), 1 - t^2 = 4 (n + 1) / (n + 2)^2
            e = math.exp(zc)
            n = (e + two) * e
            d = n + two
            sig = e / (e + one)
            q = (((n + one) / d) / d) * four
            return dy * (n / d + q * (sig * zc))
    return device(fwd), device(bwd)
