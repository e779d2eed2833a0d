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
    relu6       y = min(max(z, 0), 6)                   f' = [0 < y < 6]
    hard_silu   y = z h,  h = min(max(z + 3, 0), 6) / 6 f' = h + (z / 6) [0 < z + 3 < 6]
    log_sigmoid y = -softplus(-z)                       f' = sigmoid(-z) = -expm1(y)
    celu        y = max(z, 0) + a expm1(min(z, 0) / a)  f' = min(y / a + 1, 1)        (a = alpha > 0, Keras 1.0)
    hard_tanh   y = min(max(z, -1), 1)                  f' = 0 where |z| > 1, else 1
    soft_shrink y = z - a if z > a, z + a if z < -a,    f' = [y != 0]                 (a = threshold, Keras 0.5)
                    else 0 (NaN too)
    hard_shrink y = z if |z| > a, else 0 (NaN too)      f' = [y != 0]                 (a = threshold, Keras 0.5)
    tanh_shrink y = z - tanh(z)                         f' = tanh(z)^2
    squareplus  y = (z + sqrt(z^2 + a)) / 2             f' = 1 / (1 + (a / 4) / y / y) (a = b, Keras 4)
    sparse_plus y = 0 if z <= -1, z if z >= 1,          f' = min(sqrt(y), 1)
                    else (z + 1)^2 / 4
    sparse_sigmoid y = min(max(z + 1, 0), 2) / 2        dz = dy / 2 where 0 < y < 1, else 0

gelu is Keras's default ``approximate=False``: Phi is the normal CDF via erf, phi its density.
Backward uses the output y only, except for NEEDS_PREACTIVATION (elu, gelu, silu, softsign, mish, hard_silu,
hard_tanh, tanh_shrink), which need z (elu only in the CUDA kernel, for its branch).

``alpha`` carries the one parameter an activation has: leaky_relu's slope, celu's alpha, soft_shrink's and
hard_shrink's threshold, squareplus's b (the layers pass Keras's defaults, the functions of gpunn.activations
their keyword arguments). The others ignore it.

The second group follows Keras 3 (keras/src/activations/activations.py and its backends' nn.py): selu is
``scale * elu(x, alpha)`` with alpha = 1.6732632423543772848170429916717, scale =
1.0507009873554804934193349852946, its gradient TF's SeluGrad (``y < 0``, from the output); softplus is
``logaddexp(x, 0)`` (NumPy backend); softsign and its gradient are TF's Softsign / SoftsignGrad;
hard_sigmoid is Keras 3's ``relu6(x + 3) / 6`` (Keras 2's was 0.2 x + 0.5), its gradient TF's Relu6Grad
(``0 < x + 3 < 6``) through the division; exponential is ``exp``; mish is ``x * tanh(softplus(x))``.

The third group follows Keras 3's jax backend (keras/src/backend/jax/nn.py, i.e. jax.nn) and numpy backend,
which agree on the values: relu6 is ``min(max(x, 0), 6)``; hard_silu is ``x * hard_sigmoid(x)``; log_sigmoid
is ``-softplus(-x)``; celu is jax's ``max(x, 0) + alpha * expm1(min(x, 0) / alpha)``; hard_tanh is
``clip(x, -1, 1)``; soft_shrink and hard_shrink are their ``where`` expressions, so a NaN input gives 0, as in
Keras; tanh_shrink is ``x - tanh(x)``; squareplus is ``(x + sqrt(x^2 + b)) / 2``; sparse_plus is its
``where`` of ``0``, ``x`` and ``(x + 1)^2 / 4``; sparse_sigmoid is jax's ``0.5 * clip(x + 1, 0, 2)``.
Gradients at the kinks are TensorFlow's, which jax's agree with except where noted: relu6 passes nothing at 0
and 6 (TF's Relu6Grad, jax's custom jvp), hard_silu gets that through hard_sigmoid (f' = 0 at -3, 1 at 3);
hard_tanh passes the gradient at -1 and 1 (TF's ClipByValueGrad and jax's ``where`` both do, and a NaN gets
it too), which is why it reads z: y cannot tell z = 1 from z = 2; soft_shrink and hard_shrink pass nothing at
+-threshold nor for NaN (both backends' ``where``; ``[y != 0]`` is that for a threshold >= 0, as the layers'
0.5); sparse_sigmoid passes nothing at -1 and 1 (TF's ``where``; jax's ``clip`` splits the tie and gives
1/4 there). celu, sparse_plus, log_sigmoid, tanh_shrink and squareplus are smooth. Gradients computed from y
where possible so that Dense can overwrite z: log_sigmoid's sigmoid(-z) = 1 - exp(y), celu's exp(z / a) = y / a
+ 1, sparse_plus's (z + 1) / 2 = sqrt(y), squareplus's (1 + z / s) / 2 = y / s with s = sqrt(z^2 + b) = y +
b / (4 y) (as y (y - z) = b / 4), written 1 / (1 + (b / 4) / y / y) so that y = 0 or inf give the limits 0, 1.

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
               "selu", "softplus", "softsign", "hard_sigmoid", "exponential", "mish",
               "relu6", "hard_silu", "log_sigmoid", "celu", "hard_tanh", "soft_shrink", "hard_shrink",
               "tanh_shrink", "squareplus", "sparse_plus", "sparse_sigmoid")
NEEDS_PREACTIVATION = frozenset({"elu", "gelu", "silu", "softsign", "mish", "hard_silu", "hard_tanh", "tanh_shrink"})

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
        _hard_sigmoid_into(z, out)
    elif activation == "exponential":
        with np.errstate(over="ignore"):  # exp overflows to inf, as Keras's does
            np.exp(z, out=out)
    elif activation == "mish":  # out is never z
        np.logaddexp(z, 0, out=out)
        np.tanh(out, out=out)
        out *= z
    elif activation in _THIRD_GROUP_FORWARD:
        _THIRD_GROUP_FORWARD[activation](z, out, z.dtype.type(alpha))
    else:
        check_activation(activation)
    return out


# Keras 3's activations beyond the first two groups, one function each (z, out, a: alpha in z's dtype). Where
# ``out`` may be ``z``, everything read from z is taken before out is written.


def _relu6_forward(z, out, a):
    np.maximum(z, 0, out=out)  # NaN stays NaN through both
    np.minimum(out, 6.0, out=out)


def _hard_silu_forward(z, out, a):  # out is never z
    _hard_sigmoid_into(z, out)
    out *= z


def _hard_sigmoid_into(z, out):
    np.add(z, 3.0, out=out)
    np.maximum(out, 0, out=out)
    np.minimum(out, 6.0, out=out)
    np.divide(out, 6.0, out=out)
    return out


def _log_sigmoid_forward(z, out, a):
    np.negative(z, out=out)
    np.logaddexp(out, 0, out=out)
    np.negative(out, out=out)


def _celu_forward(z, out, a):
    # max(z, 0) + a expm1(min(z, 0) / a), jax's expression: exactly z above 0, the exponential part at and below
    below = np.minimum(z, 0)
    below /= a
    np.expm1(below, out=below)
    below *= a
    np.maximum(z, 0, out=out)
    out += below


def _hard_tanh_forward(z, out, a):  # out is never z
    np.maximum(z, -1.0, out=out)
    np.minimum(out, 1.0, out=out)


def _soft_shrink_forward(z, out, a):
    # Keras's where(z > a, z - a, where(z < -a, z + a, 0)): NaN fails both tests and gives 0
    above, below = np.greater(z, a), np.less(z, -a)
    shifted_down, shifted_up = np.subtract(z, a), np.add(z, a)
    out.fill(0)
    np.copyto(out, shifted_down, where=above)
    np.copyto(out, shifted_up, where=below)


def _hard_shrink_forward(z, out, a):
    # Keras's where(|z| > a, z, 0): NaN fails the test and gives 0
    dropped = np.logical_not(np.greater(np.abs(z), a))
    if out is not z:
        np.copyto(out, z)
    np.copyto(out, 0, where=dropped)


def _tanh_shrink_forward(z, out, a):  # out is never z
    np.tanh(z, out=out)
    np.subtract(z, out, out=out)


def _squareplus_forward(z, out, a):
    with np.errstate(over="ignore"):  # z^2 overflows to inf, and y with it (to NaN at -inf), as Keras's does
        root = np.multiply(z, z)
    root += a
    np.sqrt(root, out=root)
    np.add(z, root, out=out)
    out /= 2.0


def _sparse_plus_forward(z, out, a):
    # Keras's where(z <= -1, 0, where(z >= 1, z, (z + 1)^2 / 4)); NaN takes the quadratic: NaN
    at_or_below, at_or_above = np.less_equal(z, -1.0), np.greater_equal(z, 1.0)
    quadratic = np.add(z, 1.0)
    with np.errstate(over="ignore"):  # only where z >= 1, which takes z instead
        np.multiply(quadratic, quadratic, out=quadratic)
    quadratic /= 4.0
    np.copyto(quadratic, z, where=at_or_above)
    np.copyto(quadratic, 0, where=at_or_below)
    np.copyto(out, quadratic)


def _sparse_sigmoid_forward(z, out, a):
    np.add(z, 1.0, out=out)
    np.maximum(out, 0, out=out)
    np.minimum(out, 2.0, out=out)
    out *= 0.5


_THIRD_GROUP_FORWARD = {
    "relu6": _relu6_forward, "hard_silu": _hard_silu_forward, "log_sigmoid": _log_sigmoid_forward,
    "celu": _celu_forward, "hard_tanh": _hard_tanh_forward, "soft_shrink": _soft_shrink_forward,
    "hard_shrink": _hard_shrink_forward, "tanh_shrink": _tanh_shrink_forward, "squareplus": _squareplus_forward,
    "sparse_plus": _sparse_plus_forward, "sparse_sigmoid": _sparse_sigmoid_forward,
}


def activation_backward_numpy(dy, y, z, activation, dz_out, alpha=LEAKY_RELU_ALPHA, scratch=None):
    """dz_out = dy * f'(.); ``dz_out`` may be ``dy``. ``scratch`` (same shape) avoids a temporary
    for every activation but linear and relu."""
    if activation == "linear":
        if dz_out is not dy:
            np.copyto(dz_out, dy)
        return dz_out
    if activation == "relu":
        # dy where the unit is on, else 0: a select, as jax's, so that a NaN dy (a row's 0/0 loss) where the unit
        # is off passes 0 rather than NaN * 0 (the CUDA kernel selects too)
        return _dy_where(dy, np.greater(y, 0), dz_out)
    if activation == "relu6":  # dy where 0 < y < 6, else 0: a select, as relu's and jax's
        on = np.greater(y, 0)
        on &= np.less(y, 6.0)  # (NaN is flat, as the loops' comparisons send it)
        return _dy_where(dy, on, dz_out)
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
        _inside_unit_interval(y, s)  # then dy / 6 there
        np.divide(dy, 6.0, out=dz_out)
        dz_out *= s
        return dz_out
    if activation == "sparse_sigmoid":
        # as hard_sigmoid: dy / 2 where 0 < y < 1
        _inside_unit_interval(y, s)
        np.multiply(dy, 0.5, out=dz_out)
        dz_out *= s
        return dz_out
    if activation in _THIRD_GROUP_DERIVATIVE:
        _THIRD_GROUP_DERIVATIVE[activation](y, z, s, dy.dtype.type(alpha), None if dz_out is dy else dz_out)
    elif activation == "leaky_relu":
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


def _dy_where(dy, on, dz_out):
    """dz_out = dy where ``on``, else 0 (a select: a NaN dy where off passes 0); ``on`` is overwritten."""
    np.logical_not(on, out=on)
    if dz_out is not dy:
        np.copyto(dz_out, dy)
    np.copyto(dz_out, 0, where=on)
    return dz_out


def _inside_unit_interval(y, out):
    """out = [0 < y < 1], as min(1 - y, y) > 0: 1 - y is exact there, and NaN is outside."""
    np.subtract(1.0, y, out=out)
    np.minimum(out, y, out=out)
    np.greater(out, 0, out=out)
    return out


# f' of the third group into s (y, z, s, a: alpha in the dtype, spare: a free buffer shaped like s, or None).


def _relu6_derivative(y, z, s, a, spare):
    # [0 < y < 6], as min(6 - y, y) > 0 (NaN is outside)
    np.subtract(6.0, y, out=s)
    np.minimum(s, y, out=s)
    np.greater(s, 0, out=s)


def _hard_silu_derivative(y, z, s, a, spare):
    # h + (z / 6) [0 < z + 3 < 6], h = hard_sigmoid(z): 0 at z = -3, 1 at z = 3
    inside = np.add(z, 3.0)
    _hard_sigmoid_into(z, s)
    np.minimum(np.subtract(6.0, inside), inside, out=inside)
    np.greater(inside, 0, out=inside)
    slope = np.divide(z, 6.0, out=spare)
    slope *= inside
    s += slope


def _log_sigmoid_derivative(y, z, s, a, spare):
    # sigmoid(-z) = 1 - exp(y), accurate for every y <= 0
    np.expm1(y, out=s)
    np.negative(s, out=s)


def _celu_derivative(y, z, s, a, spare):
    # exp(z / a) = y / a + 1 below zero, and 1 above, where y / a + 1 > 1: so min(y / a + 1, 1), NaN kept
    np.divide(y, a, out=s)
    s += 1.0
    np.minimum(s, 1.0, out=s)


def _hard_tanh_derivative(y, z, s, a, spare):
    # 1 - [|z| > 1]: 1 at z = +-1 and for NaN
    np.abs(z, out=s)
    np.greater(s, 1.0, out=s)
    np.subtract(1.0, s, out=s)


def _shrink_derivative(y, z, s, a, spare):
    np.not_equal(y, 0, out=s)


def _tanh_shrink_derivative(y, z, s, a, spare):
    np.tanh(z, out=s)
    s *= s


def _squareplus_derivative(y, z, s, a, spare):
    # 1 / (1 + (b / 4) / y / y): y = 0 (z = -inf, or z^2 + b rounding to z^2) gives 0, y = inf gives 1
    with np.errstate(divide="ignore"):
        np.divide(a / 4, y, out=s)
        s /= y
    s += 1.0
    np.reciprocal(s, out=s)


def _sparse_plus_derivative(y, z, s, a, spare):
    # (z + 1) / 2 = sqrt(y) inside (-1, 1); 0 below (y = 0), 1 above (y = z >= 1): min(sqrt(y), 1), NaN kept
    np.sqrt(y, out=s)
    np.minimum(s, 1.0, out=s)


_THIRD_GROUP_DERIVATIVE = {
    "relu6": _relu6_derivative, "hard_silu": _hard_silu_derivative, "log_sigmoid": _log_sigmoid_derivative,
    "celu": _celu_derivative, "hard_tanh": _hard_tanh_derivative, "soft_shrink": _shrink_derivative,
    "hard_shrink": _shrink_derivative, "tanh_shrink": _tanh_shrink_derivative,
    "squareplus": _squareplus_derivative, "sparse_plus": _sparse_plus_derivative,
}


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
    elif activation in _THIRD_GROUP_FORWARD:
        fwd, bwd = _third_group_device_pair(activation, T, device)
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


def _third_group_device_pair(activation, T, device):
    """(fwd, bwd) Python functions for the third group, in ``dtype``'s type T, as the twins compute them.
    Comparisons are written so that NaN goes where np.maximum / np.minimum and the twins' masks send it."""
    zero, one, half = T(0), T(1), T(0.5)
    three, six, two = T(3), T(6), T(2)

    @device
    def hard_sigmoid(z):
        u = z + three
        u = zero if u < zero else u  # NaN stays NaN
        u = six if u > six else u
        return u / six

    @device
    def softplus(z):
        if z > zero:
            return z + math.log1p(math.exp(-z))
        return math.log1p(math.exp(z))

    if activation == "relu6":
        def fwd(z, alpha):
            u = zero if z < zero else z
            return six if u > six else u

        def bwd(dy, y, z, alpha):
            return dy if (y > zero and y < six) else zero  # a select, as relu's: a NaN dy where flat passes 0
    elif activation == "hard_silu":
        def fwd(z, alpha):
            return hard_sigmoid(z) * z

        def bwd(dy, y, z, alpha):
            u = z + three
            inside = one if (u > zero and u < six) else zero
            return dy * (hard_sigmoid(z) + (z / six) * inside)
    elif activation == "log_sigmoid":
        def fwd(z, alpha):
            return -softplus(-z)

        def bwd(dy, y, z, alpha):
            return dy * -math.expm1(y)
    elif activation == "celu":
        def fwd(z, alpha):
            above = zero if z < zero else z  # max(z, 0), min(z, 0): NaN stays NaN in both
            below = zero if z > zero else z
            return above + alpha * math.expm1(below / alpha)

        def bwd(dy, y, z, alpha):
            u = y / alpha + one
            return dy * (one if u > one else u)
    elif activation == "hard_tanh":
        def fwd(z, alpha):
            u = -one if z < -one else z
            return one if u > one else u

        def bwd(dy, y, z, alpha):
            return dy * (zero if abs(z) > one else one)
    elif activation in ("soft_shrink", "hard_shrink"):
        if activation == "soft_shrink":
            def fwd(z, alpha):
                if z > alpha:
                    return z - alpha
                if z < -alpha:
                    return z + alpha
                return zero
        else:
            def fwd(z, alpha):
                return z if abs(z) > alpha else zero

        def bwd(dy, y, z, alpha):
            return dy * (one if y != zero else zero)
    elif activation == "tanh_shrink":
        def fwd(z, alpha):
            return z - math.tanh(z)

        def bwd(dy, y, z, alpha):
            t = math.tanh(z)
            return dy * (t * t)
    elif activation == "squareplus":
        quarter = T(0.25)

        def fwd(z, alpha):
            return (z + math.sqrt(z * z + alpha)) / two

        def bwd(dy, y, z, alpha):
            q = alpha * quarter
            return dy * (one / (one + (q / y) / y))
    elif activation == "sparse_plus":
        four = T(4)

        def fwd(z, alpha):
            if z <= -one:
                return zero
            if z >= one:
                return z
            u = z + one
            return (u * u) / four

        def bwd(dy, y, z, alpha):
            r = math.sqrt(y)
            return dy * (one if r > one else r)
    else:  # sparse_sigmoid
        def fwd(z, alpha):
            u = z + one
            u = zero if u < zero else u
            u = two if u > two else u
            return u * half

        def bwd(dy, y, z, alpha):
            return (dy * half) * (one if (y > zero and y < one) else zero)
    return fwd, bwd
