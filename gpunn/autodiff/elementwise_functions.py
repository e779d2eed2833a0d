"""More of ``keras.ops``'s element-wise functions, differentiable as ``functions.py``'s are: trigonometry, the
other exponentials and logarithms, and the activations ``keras.ops`` names (``ops.gelu`` is Keras's tanh form by
default, as there). Each derivative is the one TensorFlow uses (checked against finite differences in the tests).
"""
from __future__ import annotations

import math

import numpy as np

from . import functions as f
from .default_float import floatx
from .functions import _binary, _no_gradient, _unary, _value, array_module
from .tensor import Tensor


# ---- trigonometry ----------------------------------------------------------------------------------------------------

def tan(x):
    return _unary(x, lambda xp, v: xp.tan(v), lambda xp, v, o: 1 + o * o)


def arcsin(x):
    return _unary(x, lambda xp, v: xp.arcsin(v), lambda xp, v, o: 1 / xp.sqrt(1 - v * v))


def arccos(x):
    return _unary(x, lambda xp, v: xp.arccos(v), lambda xp, v, o: -1 / xp.sqrt(1 - v * v))


def arctan(x):
    return _unary(x, lambda xp, v: xp.arctan(v), lambda xp, v, o: 1 / (1 + v * v))


def arcsinh(x):
    return _unary(x, lambda xp, v: xp.arcsinh(v), lambda xp, v, o: 1 / xp.sqrt(v * v + 1))


def arccosh(x):
    return _unary(x, lambda xp, v: xp.arccosh(v), lambda xp, v, o: 1 / xp.sqrt(v * v - 1))


def arctanh(x):
    return _unary(x, lambda xp, v: xp.arctanh(v), lambda xp, v, o: 1 / (1 - v * v))


def arctan2(x1, x2):
    return _binary(x1, x2, lambda xp, a, b: xp.arctan2(a, b), lambda xp, g, a, b, o: g * b / (a * a + b * b),
                   lambda xp, g, a, b, o: -g * a / (a * a + b * b),
                   strong=True)


def hypot(x1, x2):
    return _binary(x1, x2, lambda xp, a, b: xp.hypot(a, b), lambda xp, g, a, b, o: g * a / o,
                   lambda xp, g, a, b, o: g * b / o)


def deg2rad(x):
    return f.multiply(x, math.pi / 180.0)


def rad2deg(x):
    return f.multiply(x, 180.0 / math.pi)


# ---- exponentials, roots and the rest ----------------------------------------------------------------------------

def exp2(x):
    return _unary(x, lambda xp, v: xp.exp2(v), lambda xp, v, o: o * math.log(2.0))


def cbrt(x):
    return _unary(x, lambda xp, v: xp.cbrt(v), lambda xp, v, o: 1 / (3 * o * o))


def logaddexp(x1, x2):
    return _binary(x1, x2, lambda xp, a, b: xp.logaddexp(a, b), lambda xp, g, a, b, o: g * xp.exp(a - o),
                   lambda xp, g, a, b, o: g * xp.exp(b - o),
                   strong=True)


def mod(x1, x2):
    """``x1 mod x2`` with the divisor's sign (NumPy's); d/dx1 = 1, d/dx2 = -floor(x1 / x2)."""
    return _binary(x1, x2, lambda xp, a, b: xp.mod(a, b), lambda xp, g, a, b, o: g,
                   lambda xp, g, a, b, o: -g * xp.floor(xp.true_divide(a, b)))


def fabs(x):
    """``|x|`` as floats (NumPy's and Keras's ``fabs``): integers become floatx."""
    if f._tensor(x) is None:  # Python numbers and lists as Keras converts them
        x = Tensor(f._array_of(x, array_module(x)))
    if f._value(x).dtype.kind in "iub":
        from ..backend import floatx

        x = f.cast(x, floatx())
    return f.absolute(x)


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """NaN and infinities replaced; the gradient passes where ``x`` was finite."""
    return _unary(x, lambda xp, v: xp.nan_to_num(v, nan=nan, posinf=posinf, neginf=neginf),
                  lambda xp, v, o: xp.isfinite(v).astype(o.dtype))


trunc = _no_gradient("trunc")
floor_divide = _no_gradient("floor_divide")
signbit = _no_gradient("signbit")
isneginf = _no_gradient("isneginf")
isposinf = _no_gradient("isposinf")


def isclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    xp = array_module(x1, x2)
    return Tensor(xp.isclose(_value(x1, xp), _value(x2, xp), rtol=rtol, atol=atol, equal_nan=equal_nan))


# ---- activations under keras.ops's names ---------------------------------------------------------------------------

def _activation(name):
    def function(x, *args, **kwargs):
        from .. import activations

        if getattr(x, "_is_symbolic", False):
            return getattr(activations, name)(x, *args, **kwargs)
        # a Tensor in Keras's type (the fused step computes in float32 at least and returns host arrays as they
        # are): integers and booleans in floatx (hard_tanh keeps integers, as its clip does), float16 kept
        tensor = f._tensor(x)
        if tensor is None:
            tensor = Tensor(f._array_of(x, array_module(x)))
        dtype = tensor.value.dtype
        if dtype.kind in "biu":
            if name == "hard_tanh":
                return f.clip(tensor, -1, 1)
            dtype = np.dtype(floatx())
            tensor = f.cast(tensor, dtype)
        out = getattr(activations, name)(tensor, *args, **kwargs)
        return out if out.dtype == dtype else f.cast(out, dtype)

    function.__name__ = name
    function.__doc__ = f"``keras.ops.{name}``: gpunn.activations.{name}, differentiable on Tensors."
    return function


selu = _activation("selu")
celu = _activation("celu")
relu6 = _activation("relu6")
hard_sigmoid = _activation("hard_sigmoid")
hard_silu = _activation("hard_silu")
hard_swish = _activation("hard_swish")
hard_tanh = _activation("hard_tanh")
hard_shrink = _activation("hard_shrink")
soft_shrink = _activation("soft_shrink")
tanh_shrink = _activation("tanh_shrink")
sparse_plus = _activation("sparse_plus")
sparse_sigmoid = _activation("sparse_sigmoid")
squareplus = _activation("squareplus")


def gelu(x, approximate=True):
    """``keras.ops.gelu``: the tanh approximation by default (Keras's), the exact erf form with
    ``approximate=False``."""
    if not approximate:
        from .. import activations

        return activations.gelu(x, approximate=False)
    inner = f.multiply(math.sqrt(2.0 / math.pi), f.add(x, f.multiply(0.044715, f.power(x, 3.0))))
    return f.multiply(f.multiply(0.5, x), f.add(1.0, f.tanh(inner)))


def glu(x, axis=-1):
    """The first half of ``x`` along ``axis``, gated by the sigmoid of the second half."""
    size = f._shape(x)[axis]
    if size % 2:
        raise ValueError(f"glu: the axis {axis} must have an even size, got {size}")
    axis = axis % len(f._shape(x))
    first = tuple(slice(None) if k != axis else slice(0, size // 2) for k in range(axis + 1))
    second = tuple(slice(None) if k != axis else slice(size // 2, size) for k in range(axis + 1))
    return f.multiply(f.get_item(x, first), f.sigmoid(f.get_item(x, second)))


def threshold(x, threshold, default_value):  # noqa: A002 (Keras's argument name)
    """``x`` where it is greater than ``threshold``, else ``default_value``."""
    xp = array_module(x)
    if f._tensor(x) is None:
        x = Tensor(f._array_of(x, xp))
    # a Python default stays weak beside x, as in Keras's where (int32 with -1 is int32, with 0.5 float32)
    return f.where(f._value(x, xp) > threshold, x, default_value)
