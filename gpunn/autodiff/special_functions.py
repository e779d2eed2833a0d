"""The last of ``keras.ops``'s element-wise numeric functions, differentiable as ``functions.py``'s are: the
complementary error function and the Bessel I0 (SciPy's on the CPU, CuPy's on the GPU: computed directly, so
erfc keeps its relative precision where it is small), sinc, logaddexp2, fmod, fmax / fmin, ldexp, and those
without a gradient (heaviside, nextafter, gcd, lcm). Each derivative is the one TensorFlow and JAX use (checked
against finite differences in the tests)."""
from __future__ import annotations

import math

import numpy as np

from .extra_functions import _TWO_OVER_SQRT_PI, _floats
from .default_float import floatx
from .functions import _binary, _kind, _no_gradient, _unary


def _special(xp, name):
    """SciPy's (NumPy arrays) or CuPy's (``cupyx``) special function ``name``."""
    if xp is np:
        import scipy.special

        return getattr(scipy.special, name)
    import cupyx.scipy.special

    return getattr(cupyx.scipy.special, name)


def erfc(x):
    return _unary(_floats(x), lambda xp, v: _special(xp, "erfc")(v).astype(v.dtype, copy=False),
                  lambda xp, v, o: -_TWO_OVER_SQRT_PI * xp.exp(-v * v))


def i0(x):
    """The modified Bessel function of the first kind, of order 0; its derivative is I1."""
    return _unary(_floats(x), lambda xp, v: _special(xp, "i0")(v).astype(v.dtype, copy=False),
                  lambda xp, v, o: _special(xp, "i1")(v).astype(v.dtype, copy=False))


def _sinc_derivative(xp, v, o):
    """(cos(pi x) - sinc(x)) / x, 0 at x = 0."""
    zero = v == 0
    safe = xp.where(zero, 1, v)
    return xp.where(zero, 0, (xp.cos(math.pi * safe) - o) / safe)


def sinc(x):
    """sin(pi x) / (pi x), 1 at 0."""
    return _unary(_floats(x), lambda xp, v: xp.sinc(v), _sinc_derivative)


def logaddexp2(x1, x2):
    return _binary(x1, x2, lambda xp, a, b: xp.logaddexp2(a, b), lambda xp, g, a, b, o: g * xp.exp2(a - o),
                   lambda xp, g, a, b, o: g * xp.exp2(b - o),
                   strong=True)


def fmod(x1, x2):
    """``x1 mod x2`` with the dividend's sign (C's fmod); d/dx1 = 1, d/dx2 = -trunc(x1 / x2)."""
    return _binary(x1, x2, lambda xp, a, b: xp.fmod(a, b), lambda xp, g, a, b, o: g,
                   lambda xp, g, a, b, o: -g * xp.trunc(xp.true_divide(a, b)))


def _first_kept(xp, a, b, better):
    """Where ``fmax`` / ``fmin`` takes its first operand: the better one (ties to it), or the other is NaN."""
    return better(xp.asarray(a), b) | xp.isnan(b)


def fmax(x1, x2):
    """The larger, a NaN operand ignored; the gradient goes to the operand taken."""
    return _binary(x1, x2, lambda xp, a, b: xp.fmax(a, b),
                   lambda xp, g, a, b, o: g * _first_kept(xp, a, b, lambda p, q: p >= q),
                   lambda xp, g, a, b, o: g * ~_first_kept(xp, a, b, lambda p, q: p >= q))


def fmin(x1, x2):
    """The smaller, a NaN operand ignored; the gradient goes to the operand taken."""
    return _binary(x1, x2, lambda xp, a, b: xp.fmin(a, b),
                   lambda xp, g, a, b, o: g * _first_kept(xp, a, b, lambda p, q: p <= q),
                   lambda xp, g, a, b, o: g * ~_first_kept(xp, a, b, lambda p, q: p <= q))


def ldexp(x1, x2):
    """x1 * 2**x2 for integer exponents x2; the gradient goes to x1 (2**x2)."""
    def forward(xp, a, b):  # (integers scaled as floats: NumPy's ldexp of two integer types is float16)
        return xp.ldexp(xp.asarray(a).astype(floatx()) if _kind(a) in ("b", "i", "u") else a, b)

    return _binary(x1, x2, forward, lambda xp, g, a, b, o: g * xp.exp2(b).astype(g.dtype))


heaviside = _no_gradient("heaviside")
nextafter = _no_gradient("nextafter")
gcd = _no_gradient("gcd")
lcm = _no_gradient("lcm")
