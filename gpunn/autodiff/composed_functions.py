"""More of ``keras.ops``'s functions, made of differentiable ones (so each has its gradient with no rule of its
own): the real-array forms of the complex-number functions (``real``, ``conj`` are the array, ``imag`` zeros),
``inner``, ``vdot``, ``diagflat``, ``rot90``, ``hsplit`` / ``vsplit``, and the constructors ``array``, ``empty``
(zeros: Keras's values are unspecified), ``empty_like`` and ``tri``. gpunn computes on real arrays only."""
from __future__ import annotations

import numpy as np

from . import array_functions as a
from . import extra_functions as e
from . import functions as f
from .default_float import floatx
from .functions import _value, array_module
from .tensor import Tensor


def _real_only(name, x):
    if f._tensor(x) is None:  # Python numbers and lists as Keras converts them (int32, float32)
        x = Tensor(f._array_of(x, array_module(x)))
    value = _value(x, array_module(x))
    if np.dtype(value.dtype).kind == "c":
        raise TypeError(f"x: {name} takes real arrays in gpunn (it has no complex numbers), got {value.dtype}")
    return x


def real(x):
    return a.copy(_real_only("real", x))


def conj(x):
    return a.copy(_real_only("conj", x))


conjugate = conj


def imag(x):
    return f.zeros_like(_real_only("imag", x))


def isreal(x):
    xp = array_module(x)
    return Tensor(xp.ones(xp.shape(_value(_real_only("isreal", x), xp)), dtype=bool))


def array(x, dtype=None):
    return f.convert_to_tensor(x, dtype=dtype)


def empty(shape, dtype=None):
    return f.zeros(shape, dtype=dtype)


def empty_like(x, dtype=None):
    return f.zeros_like(x, dtype=dtype)


def tri(N, M=None, k=0, dtype=None):  # noqa: N803 (Keras's argument names)
    xp = np
    return f.cast(Tensor(xp.tri(N, M, k)), dtype or floatx())


def inner(x1, x2):
    """The sums of products over the last axes (a scalar operand scales)."""
    if f.ndim(x1) == 0 or f.ndim(x2) == 0:
        return f.multiply(x1, x2)
    return a.tensordot(x1, x2, axes=([-1], [-1]))


def vdot(x1, x2):
    x1, x2 = f._in_result_type(x1, x2)
    out = f.sum(f.multiply(f.ravel(x1), f.ravel(x2)))
    # in the operands' type, as Keras's (a sum of small integers or booleans would be int32)
    return out if out.dtype == x1.dtype else f.cast(out, x1.dtype)


def diagflat(x, k=0):
    return e.diag(f.ravel(x), k=k)


def rot90(array, k=1, axes=(0, 1)):  # noqa: A002 (Keras's argument name)
    """A quarter turn k times in the plane of ``axes``, from the first axis towards the second (NumPy's)."""
    rank = len(f._shape(array))
    if len(axes) != 2 or (rank and axes[0] % rank == axes[1] % rank):  # (1 and -1 of a matrix: one axis)
        raise ValueError(f"Invalid axes: {axes}. Axes must be a tuple of two different dimensions.")
    first, second = axes
    k %= 4
    if k == 0:
        return a.copy(array)
    if k == 2:
        return a.flip(a.flip(array, axis=first), axis=second)
    if k == 1:
        return a.swapaxes(a.flip(array, axis=second), first, second)
    return a.flip(a.swapaxes(array, first, second), axis=second)


def hsplit(x, indices_or_sections):
    return a.split(x, indices_or_sections, axis=1 if f.ndim(x) > 1 else 0)


def vsplit(x, indices_or_sections):
    return a.split(x, indices_or_sections, axis=0)
