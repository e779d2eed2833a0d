"""The error function erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt, vectorised in NumPy.

NumPy has no erf, and the exact GELU (Keras's default ``approximate=False``) needs one accurate enough
for float64 gradient checks. This is W. J. Cody's rational Chebyshev approximation ("Rational
Chebyshev approximations for the error function", Math. Comp. 23, 1969; Netlib SPECFUN ``calerf``),
relative error about 1e-16 in float64:

* |x| <= 0.46875:      erf(x)  = x * A(x^2) / B(x^2)
* 0.46875 < |x| <= 4:  erfc(y) = exp(-y^2) * C(y) / D(y)
* |x| > 4:             erfc(y) = exp(-y^2) / y * (1/sqrt(pi) + P(1/y^2) / (y^2 Q(1/y^2)))

with erf(x) = sign(x) * (1 - erfc(|x|)). Cody's exact splitting of exp(-y^2) is left out: it matters
for erfc's relative error, not for erf's. Each region is evaluated only on its own elements, and
float32 inputs are computed in float32.

NumPy twin: ``erf_numpy(x, out)``. CUDA: device code calls ``math.erf`` (Numba lowers it to libdevice),
so there is no kernel or launcher here.
"""
from __future__ import annotations

import numpy as np

_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
      3.20937758913846947e03, 1.85777706184603153e-1)
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
      2.84423683343917062e03)
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
      2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
      2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
      1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
      3.43936767414372164e03, 1.23033935480374942e03)
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
      1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
      6.05183413124413191e-2, 2.33520497626869185e-3)
_INV_SQRT_PI = 5.6418958354775628695e-1
# erfc(y) underflows to 0 long before this; clamping keeps inf from producing inf - inf.
_Y_CLAMP = 27.0


def _ratio(num_lead, num, den, t):
    """Horner evaluation of (((lead*t + num[0])*t + ...)) / ((t + den[0])*t + ...), Cody's layout."""
    xnum = num_lead * t
    xden = t.copy()
    for a, b in zip(num[:-1], den[:-1]):
        xnum += a
        xnum *= t
        xden += b
        xden *= t
    xnum += num[-1]
    xden += den[-1]
    xnum /= xden
    return xnum


def _exp_neg_square(y):
    """exp(-y^2). Cody splits the exponent to get erfc to full relative accuracy; erf only needs
    absolute accuracy, and the rounding of y^2 costs at most y^2 * erfc(y) * eps < 0.2 eps there."""
    s = y * y
    np.negative(s, out=s)
    return np.exp(s, out=s)


def _erf_small(x):
    t = x * x
    r = _ratio(_A[4], _A[:4], _B, t)
    r *= x
    return r


def _erfc_mid(y):
    r = _ratio(_C[8], _C[:8], _D, y)
    r *= _exp_neg_square(y)
    return r


def _erfc_large(y):
    np.minimum(y, _Y_CLAMP, out=y)
    t = 1.0 / (y * y)
    r = _ratio(_P[5], _P[:5], _Q, t)
    r *= t
    np.subtract(_INV_SQRT_PI, r, out=r)
    r /= y
    r *= _exp_neg_square(y)
    return r


def erf_numpy(x, out=None):
    """erf of a float32/float64 array into ``out`` (allocated if None; must not alias ``x``'s
    temporaries, but may be ``x`` itself). Returns ``out``."""
    x = np.asarray(x)
    if out is None:
        out = np.empty_like(x)
    xf = x.reshape(-1)
    of = out.reshape(-1)  # out is C-contiguous, so this is a view
    ax = np.abs(xf)
    small = np.flatnonzero(ax <= 0.46875)
    mid = np.flatnonzero((ax > 0.46875) & (ax <= 4.0))
    # everything else, NaN included (it compares false above and propagates through the formula)
    large = np.flatnonzero(~(ax <= 4.0))
    xs_small = xf[small]
    y_mid = ax[mid]
    y_large = ax[large]
    sign_mid = np.sign(xf[mid])
    sign_large = np.sign(xf[large])
    if small.size:
        of[small] = _erf_small(xs_small)
    if mid.size:
        r = _erfc_mid(y_mid)
        np.subtract(1.0, r, out=r)
        r *= sign_mid
        of[mid] = r
    if large.size:
        r = _erfc_large(y_large)
        np.subtract(1.0, r, out=r)
        r *= sign_large
        of[large] = r
    return out
