"""The fused steps of bias_act.py, softmax_xent.py, sigmoid_bce.py and dropout.py as Numba loops for the CPU.

``fused_cpu.py`` wraps these with the NumPy twins' argument lists; this module holds the compiled code only.
Each step walks its 2-D arrays in blocks of rows, a few passes over each row while it sits in L1 (elementwise
passes that LLVM vectorises, and scalar reductions), single-threaded, writing only into the given buffers:
nothing is allocated. Results follow the twins' formulas in the twins' order of operations and dtype, so
they agree to the rounding of the elementary functions, and bit for bit where none is involved (relu,
leaky_relu, the backward of activations computed from y, dbias, dropout). Sums that the twins take with
NumPy's ``sum`` / ``mean`` use NumPy's own pairwise order (``pairwise_sum``); dbias adds row after row, as
NumPy sums along axis 0.

What makes the loops fast, each worth 1.3-8x somewhere:

* ``error_model='numpy'``: Numba's default (Python) model tests every float division for zero to raise
  ZeroDivisionError, a branch that stops vectorisation. The numpy model gives IEEE inf/nan, as the twins do.
* Elementary functions written here (exp, expm1, tanh, erf, log1p): Numba lowers ``math.exp`` & co. to
  scalar libm calls, which LLVM cannot vectorise without Intel's SVML, so a loop of them runs 5-50x slower
  than NumPy's SIMD ufuncs. These are the classic range reduction + polynomial (Cephes, fdlibm, Cody),
  branch-free (special values by selects), the exponent built from bits, with explicit fused multiply-adds
  (``llvm.fma``: one correctly rounded IEEE operation; no fastmath flags anywhere): within 1-2 ulp, as
  accurate as NumPy's SIMD loops, and deterministic however LLVM vectorises.
* In-place calls (``out`` is ``z``, ``dz_out`` is ``dy``...): LLVM guards a vectorised loop with a runtime
  overlap test of its arrays and takes the scalar loop when they overlap, even exactly. So each step takes
  an ``inplace`` flag and passes the same array twice to a helper inlined at Numba-IR level, where LLVM
  sees one pointer and needs no test.
* No reference counting in the loops: helpers take whole arrays and row indices, never row views, and are
  called once per block of rows (see "row reductions" below).
* 512-bit vectors where the CPU has them (``prefer_wide_vectors``).

All the compiled code lives in this one file on purpose: Numba's disk cache (``cache=True``) revalidates a
cached function against its own source file only, so a helper in another module could change without the
cached callers noticing. The constants taken from the twins' modules (erf coefficients, dropout hash) are
frozen into the compiled code the same way: a change there needs this file touched as well.
"""
from __future__ import annotations

import functools
import math

import numpy as np
from llvmlite import ir
from numba import carray, njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from gpunn.kernels import dropout as _dropout
from gpunn.kernels.activations import _INV_SQRT2, _INV_SQRT_2PI, _MISH_CLAMP, SELU_SCALE, SELU_SCALE_ALPHA
from gpunn.kernels.erf import _A, _B, _C, _D, _INV_SQRT_PI, _P, _Q, _Y_CLAMP

jit = functools.partial(njit, cache=True, error_model="numpy")
# Row helpers (the loops) are inlined into each step at Numba-IR level, before LLVM optimises anything, so
# that an in-place call hands LLVM's vectoriser one pointer; a loop inlined later by LLVM arrives already
# vectorised behind an overlap test. They choose values with ``select``: a conditional expression inlined
# at IR level trips Numba's SSA checks.
row_helper = functools.partial(njit, inline="always", error_model="numpy")
# Scalar functions are inlined by LLVM (alwaysinline) into the calling loop, which it then vectorises.
scalar_helper = functools.partial(njit, forceinline=True, error_model="numpy")
_SCALAR_OVERLOAD = {"forceinline": True, "error_model": "numpy"}

# Activation codes: the wrapper resolves the name once; each step branches on the code once per block.
LINEAR, RELU, LEAKY_RELU, ELU, GELU, SIGMOID, TANH, SILU = range(8)
SELU, SOFTPLUS, SOFTSIGN, HARD_SIGMOID, EXPONENTIAL, MISH = range(8, 14)
# The third group (Keras 3's relu6 .. sparse_sigmoid) runs through entry points of its own (see there).
RELU6, HARD_SILU, LOG_SIGMOID, CELU, HARD_TANH, SOFT_SHRINK, HARD_SHRINK = range(14, 21)
TANH_SHRINK, SQUAREPLUS, SPARSE_PLUS, SPARSE_SIGMOID = range(21, 25)
CODES = {"linear": LINEAR, "relu": RELU, "leaky_relu": LEAKY_RELU, "elu": ELU, "gelu": GELU,
         "sigmoid": SIGMOID, "tanh": TANH, "silu": SILU, "selu": SELU, "softplus": SOFTPLUS,
         "softsign": SOFTSIGN, "hard_sigmoid": HARD_SIGMOID, "exponential": EXPONENTIAL, "mish": MISH,
         "relu6": RELU6, "hard_silu": HARD_SILU, "log_sigmoid": LOG_SIGMOID, "celu": CELU, "hard_tanh": HARD_TANH,
         "soft_shrink": SOFT_SHRINK, "hard_shrink": HARD_SHRINK, "tanh_shrink": TANH_SHRINK,
         "squareplus": SQUAREPLUS, "sparse_plus": SPARSE_PLUS, "sparse_sigmoid": SPARSE_SIGMOID}


# ---------------------------------------------------------------- intrinsics


@intrinsic
def select(typingctx, condition, a, b):
    """a if condition else b, as one LLVM select (no branch) of two values of one type."""
    if not isinstance(condition, types.Boolean) or a != b:
        return None

    def codegen(context, builder, signature, args):
        return builder.select(*args)

    return a(condition, a, b), codegen


@intrinsic
def prefer_wide_vectors(typingctx):
    """Let LLVM vectorise the calling function with the CPU's widest vectors (512 bits with AVX-512): its
    tuning for recent Intel cores stops at 256 bits unless asked, and these loops are compute-bound (20-30%
    faster). Results do not change: every lane computes the same scalar expression, and no loop here
    reduces across lanes (the sums are explicit scalar chains). A function attribute, set through llvmlite's
    attribute set, whose whitelist does not list it; skipped if that ever fails."""
    def codegen(context, builder, signature, args):
        try:
            set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        except Exception:  # only speed depends on it
            pass
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c rounded once (IEEE fusedMultiplyAdd), for three floats of one type."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return a(a, b, c), codegen


@intrinsic
def pow2(typingctx, k):
    """2.0 ** k for a float k holding an integer in the normal exponent range (-1022..1023 for float64,
    -126..127 for float32), made from its exponent bits. The integer work stays in the float's width (int32
    for float32): Numba would widen int32 arithmetic to int64, halving the lanes of a float32 loop."""
    if k == types.float64:
        int_type, bias, shift = ir.IntType(64), 1023, 52
    elif k == types.float32:
        int_type, bias, shift = ir.IntType(32), 127, 23
    else:
        return None

    def codegen(context, builder, signature, args):
        exponent = builder.add(builder.fptosi(args[0], int_type), ir.Constant(int_type, bias))
        return builder.bitcast(builder.shl(exponent, ir.Constant(int_type, shift)), args[0].type)

    return k(k), codegen


# ---------------------------------------------------------------- elementary functions
# Python stubs, given a float32 and a float64 body by the overloads below (inlined by LLVM where called).


def exp(x):
    """e ** x, within 1 ulp."""


def expm1_nonpositive(x):
    """e ** x - 1 for x <= 0 (or NaN), within 1 ulp."""


def tanh(x):
    """tanh x, within about 2 ulp."""


def erf(x):
    """erf x by Cody's rational approximations in float64 (as erf.py); float32 rounds the float64 result."""


def log1p_unit(x):
    """log(1 + x) for 0 <= x <= 1 (or NaN), fdlibm's log1p in float64, within 1 ulp."""


def _by_type(f32_body, f64_body):
    def choose(x):
        if x == types.float32:
            return f32_body
        if x == types.float64:
            return f64_body
        return None

    return choose


# e ** x = 2 ** k * e ** r, k = round(x / ln2), r = x - k ln2 (Cody-Waite: ln2 split in two so that
# k * LN2_HI is exact), |r| <= ln2 / 2. The scale is applied as 2 ** floor(k/2) * 2 ** (k - floor(k/2)), two
# normal powers, so results that are subnormal are rounded once, correctly. k stays a float throughout.
_ROUND_F64 = 6755399441055744.0  # 1.5 * 2**52: x + it - it rounds x to the nearest integer
_INV_LN2 = 1.4426950408889634
_LN2_HI_F64 = 6.93147180369123816490e-01  # fdlibm
_LN2_LO_F64 = 1.90821492927058770002e-10
# Taylor coefficients 1/n! of e ** r - 1 - r, n = 2..13: the remainder is below 1e-17 for |r| <= ln2 / 2
_TAYLOR_F64 = tuple(1.0 / math.factorial(n) for n in range(2, 14))


@scalar_helper
def _expm1_reduced_f64(r):
    c = _TAYLOR_F64
    p = fma(c[11], r, c[10])
    p = fma(p, r, c[9])
    p = fma(p, r, c[8])
    p = fma(p, r, c[7])
    p = fma(p, r, c[6])
    p = fma(p, r, c[5])
    p = fma(p, r, c[4])
    p = fma(p, r, c[3])
    p = fma(p, r, c[2])
    p = fma(p, r, c[1])
    p = fma(p, r, c[0])
    return fma(r * r, p, r)


def _exp_f64(x):
    # Outside (-746, 710) the result is 0 or inf, given by the selects at the end. Those lanes (and NaN)
    # reduce 0 instead of x: k and 2 ** k stay in range, and no subnormal is made only to be discarded
    # (each costs a microcode assist, ~100 cycles). NaN flows through r.
    xc = x if x < 710.0 else 0.0
    xc = xc if xc > -746.0 else 0.0
    kf = fma(xc, _INV_LN2, _ROUND_F64) - _ROUND_F64
    r = fma(-kf, _LN2_HI_F64, x)  # x, not xc: NaN must reach the result
    r = fma(-kf, _LN2_LO_F64, r)
    half = np.floor(kf * 0.5)
    y = (1.0 + _expm1_reduced_f64(r)) * pow2(half) * pow2(kf - half)
    y = math.inf if x >= 710.0 else y
    return 0.0 if x <= -746.0 else y


@scalar_helper
def _exp_in_range_f64(x):
    """e ** x for finite 0 <= x <= 700 (no guards: for callers that clamp their argument)."""
    kf = fma(x, _INV_LN2, _ROUND_F64) - _ROUND_F64
    r = fma(-kf, _LN2_HI_F64, x)
    r = fma(-kf, _LN2_LO_F64, r)
    return (1.0 + _expm1_reduced_f64(r)) * pow2(kf)


_F32 = np.float32
_ROUND_F32 = _F32(12582912.0)  # 1.5 * 2**23
_INV_LN2_F32 = _F32(_INV_LN2)
_LN2_HI_F32 = _F32(0.693359375)  # Cephes expf
_LN2_LO_F32 = _F32(-2.12194440e-4)
# Cephes expf: e ** r = 1 + r + r^2 P(r) on |r| <= ln2 / 2
_EXP_P_F32 = tuple(_F32(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
                                     1.6666665459e-1, 5.0000001201e-1))
_ONE_F32, _ZERO_F32, _HALF_F32, _INF_F32 = _F32(1.0), _F32(0.0), _F32(0.5), _F32(np.inf)
_EXP_HI_F32, _EXP_LO_F32 = _F32(89.0), _F32(-104.0)


@scalar_helper
def _exp_reduced_f32(r):
    c = _EXP_P_F32
    p = fma(c[0], r, c[1])
    p = fma(p, r, c[2])
    p = fma(p, r, c[3])
    p = fma(p, r, c[4])
    p = fma(p, r, c[5])
    return fma(r * r, p, r) + _ONE_F32


def _exp_f32(x):
    xc = x if x < _EXP_HI_F32 else _ZERO_F32  # as _exp_f64
    xc = xc if xc > _EXP_LO_F32 else _ZERO_F32
    kf = fma(xc, _INV_LN2_F32, _ROUND_F32) - _ROUND_F32
    r = fma(-kf, _LN2_HI_F32, x)
    r = fma(-kf, _LN2_LO_F32, r)
    half = np.floor(kf * _HALF_F32)
    y = _exp_reduced_f32(r) * pow2(half) * pow2(kf - half)
    y = _INF_F32 if x >= _EXP_HI_F32 else y
    return _ZERO_F32 if x <= _EXP_LO_F32 else y


@scalar_helper
def _exp_in_range_f32(x):
    """e ** x for finite 0 <= x <= 80 (no guards: for callers that clamp their argument)."""
    kf = fma(x, _INV_LN2_F32, _ROUND_F32) - _ROUND_F32
    r = fma(-kf, _LN2_HI_F32, x)
    r = fma(-kf, _LN2_LO_F32, r)
    return _exp_reduced_f32(r) * pow2(kf)


overload(exp, jit_options=_SCALAR_OVERLOAD)(_by_type(_exp_f32, _exp_f64))


# e ** x - 1 = 2 ** k (e ** r - 1) + (2 ** k - 1): for k in [-58, 0] both terms are exact or rounded once.
def _expm1_nonpositive_f64(x):
    xc = x if x > -40.0 else -40.0  # e ** x - 1 rounds to -1 below -38; NaN is restored at the end
    kf = fma(xc, _INV_LN2, _ROUND_F64) - _ROUND_F64
    r = fma(-kf, _LN2_HI_F64, xc)
    r = fma(-kf, _LN2_LO_F64, r)
    s = pow2(kf)
    y = fma(_expm1_reduced_f64(r), s, s - 1.0)
    return y if x == x else x


# Taylor coefficients 1/n!, n = 2..7, of e ** r - 1 - r in float32: remainder below 0.3 ulp for |r| <= ln2/2
_TAYLOR_F32 = tuple(_F32(1.0 / math.factorial(n)) for n in range(2, 8))
_EXPM1_LO_F32 = _F32(-20.0)


def _expm1_nonpositive_f32(x):
    xc = x if x > _EXPM1_LO_F32 else _EXPM1_LO_F32
    kf = fma(xc, _INV_LN2_F32, _ROUND_F32) - _ROUND_F32
    r = fma(-kf, _LN2_HI_F32, xc)
    r = fma(-kf, _LN2_LO_F32, r)
    c = _TAYLOR_F32
    p = fma(c[5], r, c[4])
    p = fma(p, r, c[3])
    p = fma(p, r, c[2])
    p = fma(p, r, c[1])
    p = fma(p, r, c[0])
    s = pow2(kf)
    y = fma(fma(r * r, p, r), s, s - _ONE_F32)
    return y if x == x else x


overload(expm1_nonpositive, jit_options=_SCALAR_OVERLOAD)(_by_type(_expm1_nonpositive_f32, _expm1_nonpositive_f64))


# Cephes tanh: a + a z P(z) / Q(z) (z = a^2) for a = |x| <= 0.625, 1 - 2 / (e ** 2a + 1) above. Both are
# c0 + c1 * (num / den), so one division serves both branches, chosen by selects. a is clamped where tanh
# rounds to 1 (NaN too, restored at the end), so e ** 2a needs no guards.
_TANH_P_F64 = (-9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3)
_TANH_Q_F64 = (1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3)


def _tanh_f64(x):
    a = math.fabs(x)
    small = a <= 0.625
    z = a * a
    num = fma(fma(_TANH_P_F64[0], z, _TANH_P_F64[1]), z, _TANH_P_F64[2])
    den = fma(fma(z + _TANH_Q_F64[0], z, _TANH_Q_F64[1]), z, _TANH_Q_F64[2])
    ac = a if a < 20.0 else 20.0  # tanh rounds to 1 beyond 19.1
    e = _exp_in_range_f64(ac + ac)
    c0 = a if small else 1.0
    c1 = a * z if small else -2.0
    num = num if small else 1.0
    den = den if small else e + 1.0
    y = math.copysign(c0 + c1 * (num / den), x)
    return y if x == x else x


# Cephes tanhf: a + a z P(z) for a <= 0.625
_TANH_P_F32 = tuple(_F32(c) for c in (-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2,
                                      1.33314422036e-1, -3.33332819422e-1))
_TANH_CLAMP_F32, _TANH_SMALL_F32, _TWO_F32 = _F32(10.0), _F32(0.625), _F32(2.0)


def _tanh_f32(x):
    a = math.fabs(x)
    small = a <= _TANH_SMALL_F32
    z = a * a
    c = _TANH_P_F32
    p = fma(c[0], z, c[1])
    p = fma(p, z, c[2])
    p = fma(p, z, c[3])
    p = fma(p, z, c[4])
    ac = a if a < _TANH_CLAMP_F32 else _TANH_CLAMP_F32  # tanh rounds to 1 beyond 9.1
    e = _exp_in_range_f32(ac + ac)
    c0 = a if small else _ONE_F32
    c1 = a * z if small else -_TWO_F32
    num = p if small else _ONE_F32
    den = _ONE_F32 if small else e + _ONE_F32
    y = math.copysign(c0 + c1 * (num / den), x)
    return y if x == x else x


overload(tanh, jit_options=_SCALAR_OVERLOAD)(_by_type(_tanh_f32, _tanh_f64))


# Cody's erf, operation for operation as erf_numpy (including its Horner layout), so float64 results agree
# with the twin's to the rounding of exp; all three regions are evaluated and the result selected, with
# their three rational functions sharing one division.
def _erf_f64(x):
    y = math.fabs(x)
    t = x * x
    sn, sd = _A[4] * t, t  # |x| <= 0.46875: x A(t) / B(t)
    sn = (sn + _A[0]) * t
    sd = (sd + _B[0]) * t
    sn = (sn + _A[1]) * t
    sd = (sd + _B[1]) * t
    sn = (sn + _A[2]) * t
    sd = (sd + _B[2]) * t
    sn = sn + _A[3]
    sd = sd + _B[3]
    mn, md = _C[8] * y, y  # |x| <= 4: erfc = e ** -y^2 C(y) / D(y)
    mn = (mn + _C[0]) * y
    md = (md + _D[0]) * y
    mn = (mn + _C[1]) * y
    md = (md + _D[1]) * y
    mn = (mn + _C[2]) * y
    md = (md + _D[2]) * y
    mn = (mn + _C[3]) * y
    md = (md + _D[3]) * y
    mn = (mn + _C[4]) * y
    md = (md + _D[4]) * y
    mn = (mn + _C[5]) * y
    md = (md + _D[5]) * y
    mn = (mn + _C[6]) * y
    md = (md + _D[6]) * y
    mn = mn + _C[7]
    md = md + _D[7]
    yl = _Y_CLAMP if y > _Y_CLAMP else y  # above: erfc = e ** -y^2 / y (1/sqrt(pi) + P(u) / (y^2 Q(u)))
    u = 1.0 / (yl * yl)
    ln, ld = _P[5] * u, u
    ln = (ln + _P[0]) * u
    ld = (ld + _Q[0]) * u
    ln = (ln + _P[1]) * u
    ld = (ld + _Q[1]) * u
    ln = (ln + _P[2]) * u
    ld = (ld + _Q[2]) * u
    ln = (ln + _P[3]) * u
    ld = (ld + _Q[3]) * u
    ln = ln + _P[4]
    ld = ld + _Q[4]
    small = y <= 0.46875
    middle = y <= 4.0  # NaN fails both tests and takes the last region, as in the twin
    ratio = (sn if small else (mn if middle else ln)) / (sd if small else (md if middle else ld))
    e = exp(-(yl * yl))
    erfc_mid = ratio * e
    erfc_large = ((_INV_SQRT_PI - ratio * u) / yl) * e
    tail = math.copysign(1.0 - (erfc_mid if middle else erfc_large), x)
    return ratio * x if small else tail


_erf_f64_jit = scalar_helper(_erf_f64)


def _erf_f32(x):
    return np.float32(_erf_f64_jit(np.float64(x)))


overload(erf, jit_options=_SCALAR_OVERLOAD)(_by_type(_erf_f32, _erf_f64))


# fdlibm log1p restricted to [0, 1]: f = x for x < sqrt2 - 1 (k = 0); above, f = (1 + x) / 2 - 1 (k = 1)
# with c the rounding error of 1 + x; then log(1 + f) = f - (f^2/2 - s (f^2/2 + R(s^2))), s = f / (2 + f).
_LP = (6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01, 2.222219843214978396e-01,
       1.818357216161805012e-01, 1.531383769920937332e-01, 1.479819860511658591e-01)


def _log1p_unit_f64(x):
    big = x >= 0.41421356237309503
    u = 1.0 + x
    c = (x - (u - 1.0)) / u if big else 0.0
    f = u * 0.5 - 1.0 if big else x
    k = 1.0 if big else 0.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    r = z * (_LP[0] + z * (_LP[1] + z * (_LP[2] + z * (_LP[3] + z * (_LP[4] + z * (_LP[5] + z * _LP[6]))))))
    return k * _LN2_HI_F64 - ((hfsq - (s * (hfsq + r) + (k * _LN2_LO_F64 + c))) - f)


_log1p_unit_f64_jit = scalar_helper(_log1p_unit_f64)


def _log1p_unit_f32(x):
    return np.float32(_log1p_unit_f64_jit(np.float64(x)))


overload(log1p_unit, jit_options=_SCALAR_OVERLOAD)(_by_type(_log1p_unit_f32, _log1p_unit_f64))


@scalar_helper
def softplus(x, zero):
    """log(1 + e ** x) as np.logaddexp(x, 0) computes it: max(x, 0) + log1p(e ** -|x|), the exp in (0, 1]
    (+inf gives inf, -inf 0, NaN NaN). ``zero`` is 0 in x's type."""
    return select(x > zero, x, zero) + log1p_unit(exp(-math.fabs(x)))


# ---------------------------------------------------------------- row reductions
# Every helper from here on takes a 2-D array and row indices, never a row view: Numba counts references to
# arrays held in variables (atomic increments and decrements) and, in functions as branchy as these, cannot
# prove them short-lived and leave them out; on each row that cost 40-60 ns, as much as a 100-column row's
# work. For the same reason each step calls its inlined helpers once per block of rows (``_block_rows``),
# not once per row: inlining binds the helper's array arguments to new variables, with their counts.
#
# NumPy sums a contiguous run with pairwise_sum: runs of up to 128 with 8 accumulators, longer ones split at
# half (rounded down to a multiple of 8) and the two halves' sums added. The same tree walked without
# recursion (a cached caller of a recursive Numba function crashes on loading, numba#6061): a post-order walk
# with an explicit stack of pending right halves, in arrays on the native stack.

_STACK_DEPTH = 64  # each split at least halves the run: enough for any int64 length


def _native_stack_array(item_type, llvm_type):
    @intrinsic
    def stack_pointer(typingctx, length):
        """A pointer to ``length`` (a literal int) items of stack memory in the calling function's frame."""
        if not isinstance(length, types.IntegerLiteral):
            return None

        def codegen(context, builder, signature, args):
            size = context.get_constant(types.intp, length.literal_value)
            return cgutils.alloca_once(builder, llvm_type, size=size)

        return types.CPointer(item_type)(length), codegen

    return stack_pointer


_stack_f64 = _native_stack_array(types.float64, ir.DoubleType())
_stack_i64 = _native_stack_array(types.int64, ir.IntType(64))


@jit
def _pairwise(t, x, m, r, dot):
    """sum_i x[r, i] (dot False; t and m unused) or sum_i t[r, i] (x[r, i] - m) (dot True), in NumPy's
    pairwise order. One function, no calls: each call between Numba functions costs reference counts."""
    kind = x.dtype.type
    right_lo = carray(_stack_i64(_STACK_DEPTH), _STACK_DEPTH)  # pending right halves: start, length
    right_n = carray(_stack_i64(_STACK_DEPTH), _STACK_DEPTH)
    left_sum = carray(_stack_f64(_STACK_DEPTH), _STACK_DEPTH)  # their left halves' sums, once known
    left_done = carray(_stack_i64(_STACK_DEPTH), _STACK_DEPTH)
    depth = 0
    lo = 0
    n = x.shape[1]
    while True:
        while n > 128:  # descend to the leftmost run, leaving the right halves for later
            half = n // 2
            half -= half % 8
            right_lo[depth] = lo + half
            right_n[depth] = n - half
            left_done[depth] = 0
            depth += 1
            n = half
        # a run of n <= 128: NumPy's eight chains (which also hide the add latency), then the rest
        if n < 8:
            value = kind(-0.0)
            for i in range(lo, lo + n):
                value += t[r, i] * (x[r, i] - m) if dot else x[r, i]
        else:
            if dot:
                r0, r1 = t[r, lo] * (x[r, lo] - m), t[r, lo + 1] * (x[r, lo + 1] - m)
                r2, r3 = t[r, lo + 2] * (x[r, lo + 2] - m), t[r, lo + 3] * (x[r, lo + 3] - m)
                r4, r5 = t[r, lo + 4] * (x[r, lo + 4] - m), t[r, lo + 5] * (x[r, lo + 5] - m)
                r6, r7 = t[r, lo + 6] * (x[r, lo + 6] - m), t[r, lo + 7] * (x[r, lo + 7] - m)
            else:
                r0, r1, r2, r3 = x[r, lo], x[r, lo + 1], x[r, lo + 2], x[r, lo + 3]
                r4, r5, r6, r7 = x[r, lo + 4], x[r, lo + 5], x[r, lo + 6], x[r, lo + 7]
            end = lo + n - n % 8
            for i in range(lo + 8, end, 8):
                if dot:
                    r0 += t[r, i] * (x[r, i] - m)
                    r1 += t[r, i + 1] * (x[r, i + 1] - m)
                    r2 += t[r, i + 2] * (x[r, i + 2] - m)
                    r3 += t[r, i + 3] * (x[r, i + 3] - m)
                    r4 += t[r, i + 4] * (x[r, i + 4] - m)
                    r5 += t[r, i + 5] * (x[r, i + 5] - m)
                    r6 += t[r, i + 6] * (x[r, i + 6] - m)
                    r7 += t[r, i + 7] * (x[r, i + 7] - m)
                else:
                    r0 += x[r, i]
                    r1 += x[r, i + 1]
                    r2 += x[r, i + 2]
                    r3 += x[r, i + 3]
                    r4 += x[r, i + 4]
                    r5 += x[r, i + 5]
                    r6 += x[r, i + 6]
                    r7 += x[r, i + 7]
            value = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
            for i in range(end, lo + n):
                value += t[r, i] * (x[r, i] - m) if dot else x[r, i]
        while depth > 0:  # climb: a finished left half waits for its right half; a right half completes
            top = depth - 1
            if left_done[top] == 0:
                left_sum[top] = value
                left_done[top] = 1
                lo = right_lo[top]
                n = right_n[top]
                break
            value = kind(left_sum[top]) + value
            depth = top
        if depth == 0:
            return x.dtype.type(0.0) + value


@row_helper
def pairwise_sum(a, r):
    """a[r].sum() as NumPy computes it, to the bit."""
    return _pairwise(a, a, a.dtype.type(0.0), r, False)


@row_helper
def pairwise_dot_shifted(t, x, m, r):
    """sum_i t[r, i] (x[r, i] - m), in the order of ``pairwise_sum``."""
    return _pairwise(t, x, m, r, True)


@jit
def row_max(a, r):
    """max(a[r]) of a non-empty row, in eight chains. A NaN may be skipped here, but it reaches the softmax
    through exp(x - m) and the row sum all the same."""
    n = a.shape[1]
    m0 = a[r, 0]
    if n < 8:
        for i in range(1, n):
            m0 = a[r, i] if a[r, i] > m0 else m0
        return m0
    m1, m2, m3, m4, m5, m6, m7 = a[r, 1], a[r, 2], a[r, 3], a[r, 4], a[r, 5], a[r, 6], a[r, 7]
    end = n - n % 8
    for i in range(8, end, 8):
        m0 = a[r, i] if a[r, i] > m0 else m0
        m1 = a[r, i + 1] if a[r, i + 1] > m1 else m1
        m2 = a[r, i + 2] if a[r, i + 2] > m2 else m2
        m3 = a[r, i + 3] if a[r, i + 3] > m3 else m3
        m4 = a[r, i + 4] if a[r, i + 4] > m4 else m4
        m5 = a[r, i + 5] if a[r, i + 5] > m5 else m5
        m6 = a[r, i + 6] if a[r, i + 6] > m6 else m6
        m7 = a[r, i + 7] if a[r, i + 7] > m7 else m7
    for i in range(end, n):
        m0 = a[r, i] if a[r, i] > m0 else m0
    m0 = m1 if m1 > m0 else m0
    m2 = m3 if m3 > m2 else m2
    m4 = m5 if m5 > m4 else m4
    m6 = m7 if m7 > m6 else m6
    m0 = m2 if m2 > m0 else m0
    m4 = m6 if m6 > m4 else m4
    return m4 if m4 > m0 else m0


# ---------------------------------------------------------------- blocks of rows

_BLOCK_ELEMENTS = 4096  # a block of rows: enough work to amortise its reference counts, and stays in L1


@row_helper
def _block_rows(cols):
    return max(1, _BLOCK_ELEMENTS // max(cols, 1))


# ---------------------------------------------------------------- bias + activation


@row_helper
def _activate_block(code, z, out, r0, r1, alpha):
    """out[r, c] = f(z[r, c]) for rows r0..r1-1, as activation_forward_numpy computes it; alpha is in z's
    dtype. One branch per activation around its loops: the loops themselves never branch on it."""
    t = z.dtype.type
    zero, one, half = t(0.0), t(1.0), t(0.5)
    n = z.shape[1]
    if code == LINEAR:
        for r in range(r0, r1):
            for c in range(n):
                out[r, c] = z[r, c]
    elif code == RELU:
        for r in range(r0, r1):
            for c in range(n):  # np.maximum(z, 0): NaN stays NaN
                v = z[r, c]
                out[r, c] = select(v < zero, zero, v)
    elif code == LEAKY_RELU:
        for r in range(r0, r1):
            for c in range(n):  # max(z, alpha z) for alpha <= 1, min for alpha > 1: both are this
                v = z[r, c]
                out[r, c] = select(v >= zero, v, v * alpha)
    elif code == ELU:
        for r in range(r0, r1):
            for c in range(n):  # NaN stays NaN
                v = z[r, c]
                out[r, c] = select(v > zero, v, expm1_nonpositive(select(v > zero, zero, v)))
    elif code == GELU:
        k = t(_INV_SQRT2)
        for r in range(r0, r1):
            for c in range(n):
                v = z[r, c]
                out[r, c] = ((erf(v * k) + one) * v) * half
    elif code == SIGMOID:
        for r in range(r0, r1):
            for c in range(n):
                out[r, c] = one / (exp(-z[r, c]) + one)
    elif code == TANH:
        for r in range(r0, r1):
            for c in range(n):
                out[r, c] = tanh(z[r, c])
    elif code == SILU:
        for r in range(r0, r1):
            for c in range(n):
                v = z[r, c]
                out[r, c] = (one / (exp(-v) + one)) * v
    elif code == SELU:
        scale, scale_alpha = t(SELU_SCALE), t(SELU_SCALE_ALPHA)
        for r in range(r0, r1):
            for c in range(n):  # NaN takes the first branch: NaN either way
                v = z[r, c]
                out[r, c] = select(v <= zero, scale_alpha * expm1_nonpositive(select(v > zero, zero, v)), scale * v)
    elif code == SOFTPLUS:
        for r in range(r0, r1):
            for c in range(n):
                out[r, c] = softplus(z[r, c], zero)
    elif code == SOFTSIGN:
        for r in range(r0, r1):
            for c in range(n):
                v = z[r, c]
                out[r, c] = v / (math.fabs(v) + one)
    elif code == HARD_SIGMOID:
        three, six = t(3.0), t(6.0)
        for r in range(r0, r1):
            for c in range(n):  # min(max(z + 3, 0), 6) / 6, NaN kept as np.maximum / np.minimum keep it
                u = z[r, c] + three
                u = select(u < zero, zero, u)
                out[r, c] = select(u > six, six, u) / six
    elif code == EXPONENTIAL:
        for r in range(r0, r1):
            for c in range(n):
                out[r, c] = exp(z[r, c])
    else:  # MISH
        for r in range(r0, r1):
            for c in range(n):
                v = z[r, c]
                out[r, c] = tanh(softplus(v, zero)) * v


@row_helper
def _activation_grad_block(code, dy, y, z, dz, r0, r1, alpha):
    """dz[r, c] = dy[r, c] * f'(.) for rows r0..r1-1, as activation_backward_numpy computes it (z is read
    for gelu and silu)."""
    t = dy.dtype.type
    zero, one, half = t(0.0), t(1.0), t(0.5)
    n = dy.shape[1]
    if code == LINEAR:
        for r in range(r0, r1):
            for c in range(n):
                dz[r, c] = dy[r, c]
    elif code == RELU:
        # a select, as jax's and the CUDA kernel's: a NaN dy where the unit is off passes 0, not NaN * 0
        for r in range(r0, r1):
            for c in range(n):
                dz[r, c] = select(y[r, c] > zero, dy[r, c], zero)
    elif code == LEAKY_RELU:
        # the twin's f' = (1 - alpha) [y > 0] + alpha, each term rounded to the dtype
        positive, negative = t(t(1.0 - alpha) + t(alpha)), t(alpha)
        for r in range(r0, r1):
            for c in range(n):
                dz[r, c] = dy[r, c] * select(y[r, c] > zero, positive, negative)
    elif code == ELU:
        for r in range(r0, r1):
            for c in range(n):  # f' = min(y + 1, 1), NaN kept
                u = y[r, c] + one
                dz[r, c] = dy[r, c] * select(u > one, one, u)
    elif code == GELU:
        k, k_pdf, minus_half = t(_INV_SQRT2), t(_INV_SQRT_2PI), t(-0.5)
        for r in range(r0, r1):
            for c in range(n):
                v = z[r, c]
                cdf = (erf(v * k) + one) * half
                pdf_z = (exp((v * v) * minus_half) * v) * k_pdf
                dz[r, c] = dy[r, c] * (cdf + pdf_z)
    elif code == SIGMOID:
        for r in range(r0, r1):
            for c in range(n):
                u = y[r, c]
                dz[r, c] = dy[r, c] * ((one - u) * u)
    elif code == TANH:
        for r in range(r0, r1):
            for c in range(n):
                u = y[r, c]
                dz[r, c] = dy[r, c] * (one - u * u)
    elif code == SILU:  # f' = s + (1 - s) y, s = sigmoid(z)
        for r in range(r0, r1):
            for c in range(n):
                s = one / (exp(-z[r, c]) + one)
                dz[r, c] = dy[r, c] * (s + (one - s) * y[r, c])
    elif code == SELU:  # f' = y + S A where y < 0, else S
        scale, scale_alpha = t(SELU_SCALE), t(SELU_SCALE_ALPHA)
        for r in range(r0, r1):
            for c in range(n):
                u = y[r, c]
                dz[r, c] = dy[r, c] * select(u < zero, u + scale_alpha, scale)
    elif code == SOFTPLUS:  # f' = -expm1(-y), y >= 0
        for r in range(r0, r1):
            for c in range(n):
                dz[r, c] = dy[r, c] * -expm1_nonpositive(-y[r, c])
    elif code == SOFTSIGN:  # dz = dy / (1 + |z|)^2
        for r in range(r0, r1):
            for c in range(n):
                u = math.fabs(z[r, c]) + one
                dz[r, c] = dy[r, c] / (u * u)
    elif code == HARD_SIGMOID:  # dz = dy / 6 where 0 < y < 1, else 0
        six = t(6.0)
        for r in range(r0, r1):
            for c in range(n):
                u = y[r, c]
                inside = (u > zero) & (u < one)  # NaN is outside
                dz[r, c] = (dy[r, c] / six) * select(inside, one, zero)
    elif code == EXPONENTIAL:  # f' = y
        for r in range(r0, r1):
            for c in range(n):
                dz[r, c] = dy[r, c] * y[r, c]
    else:  # MISH: f' = t + (1 - t^2) z sigmoid(z), in e = exp(z) as the twin computes it
        two, four, clamp = t(2.0), t(4.0), t(_MISH_CLAMP)
        for r in range(r0, r1):
            for c in range(n):
                v = z[r, c]
                zc = select(v > clamp, clamp, v)  # NaN kept
                e = exp(zc)
                m = (e + two) * e
                d = m + two
                sig = e / (e + one)
                q = (((m + one) / d) / d) * four
                dz[r, c] = dy[r, c] * (m / d + q * (sig * zc))


@row_helper
def _forward_block(z, bias, has_bias, code, out, r0, r1, alpha):
    if has_bias:
        for r in range(r0, r1):
            for c in range(z.shape[1]):
                z[r, c] += bias[c]
    _activate_block(code, z, out, r0, r1, alpha)


@jit
def bias_act_forward(z, bias, code, out, inplace, alpha):
    """z += bias; out = f(z). ``inplace``: out is z."""
    prefer_wide_vectors()
    if out.shape != z.shape or bias.shape[0] != z.shape[1]:
        raise ValueError("bias_act_forward: out must have z's shape (B, N) and bias (N,)")
    a = z.dtype.type(alpha)
    rows, step = z.shape[0], _block_rows(z.shape[1])
    for r0 in range(0, rows, step):
        if inplace:
            _forward_block(z, bias, True, code, z, r0, min(r0 + step, rows), a)
        else:
            _forward_block(z, bias, True, code, out, r0, min(r0 + step, rows), a)


@jit
def act_forward(z, code, out, inplace, alpha):
    """out = f(z), no bias. ``inplace``: out is z."""
    prefer_wide_vectors()
    if out.shape != z.shape:
        raise ValueError("bias_act_forward: out must have z's shape")
    a = z.dtype.type(alpha)
    rows, step = z.shape[0], _block_rows(z.shape[1])
    for r0 in range(0, rows, step):
        if inplace:
            _activate_block(code, z, z, r0, min(r0 + step, rows), a)
        else:
            _activate_block(code, z, out, r0, min(r0 + step, rows), a)


@row_helper
def _backward_block(dy, y, z, code, dz, dbias, has_bias, r0, r1, alpha):
    _activation_grad_block(code, dy, y, z, dz, r0, r1, alpha)
    if has_bias:
        for r in range(r0, r1):
            for c in range(dy.shape[1]):
                dbias[c] += dz[r, c]


@row_helper
def _check_backward(dy, y, z, dz):
    if y.shape != dy.shape or z.shape != dy.shape or dz.shape != dy.shape:
        raise ValueError("act_backward_bias_grad: dy, y, z and dz_out must have one shape")


@jit
def act_backward_bias_grad(dy, y, z, code, dz, dbias, inplace, alpha):
    """dz = dy * f'; dbias = sum over rows of dz (added row after row, as np.sum(axis=0)). ``inplace``:
    dz is dy. ``z`` is y where the activation does not read it."""
    prefer_wide_vectors()
    _check_backward(dy, y, z, dz)
    if dbias.shape[0] != dy.shape[1]:
        raise ValueError("act_backward_bias_grad: dbias_out must be (N,)")
    t = dy.dtype.type
    for c in range(dbias.shape[0]):
        dbias[c] = t(0.0)
    rows, step = dy.shape[0], _block_rows(dy.shape[1])
    for r0 in range(0, rows, step):
        if inplace:
            _backward_block(dy, y, z, code, dy, dbias, True, r0, min(r0 + step, rows), alpha)
        else:
            _backward_block(dy, y, z, code, dz, dbias, True, r0, min(r0 + step, rows), alpha)


@jit
def act_backward(dy, y, z, code, dz, inplace, alpha):
    """dz = dy * f', no bias gradient."""
    prefer_wide_vectors()
    _check_backward(dy, y, z, dz)
    rows, step = dy.shape[0], _block_rows(dy.shape[1])
    for r0 in range(0, rows, step):
        if inplace:
            _activation_grad_block(code, dy, y, z, dy, r0, min(r0 + step, rows), alpha)
        else:
            _activation_grad_block(code, dy, y, z, dz, r0, min(r0 + step, rows), alpha)


# ---------------------------------------------------------------- bias + activation: the third group
# relu6 .. sparse_sigmoid have entry points of their own, the same steps as above around their own blocks: in the
# entry points above, eleven more branches (each inlined four times, in place and not, in both loops) doubled
# their compilation for every model (a cold ``warm_up``: 100 s instead of 45 s where measured), where these
# compile only for a model that uses them (about 10 s cold).


@row_helper
def _activate_third_group(code, z, out, r0, r1, alpha):
    """out[r, c] = f(z[r, c]) for relu6 .. sparse_sigmoid, rows r0..r1-1: the twins' formulas (activations.py)
    with selects that keep or drop NaN as the twins' np.maximum / np.minimum / masks do; alpha in z's dtype."""
    t = z.dtype.type
    zero, one, half, two, three, six = t(0.0), t(1.0), t(0.5), t(2.0), t(3.0), t(6.0)
    n = z.shape[1]
    if code == RELU6:
        for r in range(r0, r1):
            for c in range(n):
                u = z[r, c]
                u = select(u < zero, zero, u)
                out[r, c] = select(u > six, six, u)
    elif code == HARD_SILU:
        for r in range(r0, r1):
            for c in range(n):
                v = z[r, c]
                u = v + three
                u = select(u < zero, zero, u)
                out[r, c] = (select(u > six, six, u) / six) * v
    elif code == LOG_SIGMOID:
        for r in range(r0, r1):
            for c in range(n):
                out[r, c] = -softplus(-z[r, c], zero)
    elif code == CELU:  # max(z, 0) + a expm1(min(z, 0) / a), a > 0
        for r in range(r0, r1):
            for c in range(n):
                v = z[r, c]
                out[r, c] = select(v < zero, zero, v) + alpha * expm1_nonpositive(select(v > zero, zero, v) / alpha)
    elif code == HARD_TANH:
        for r in range(r0, r1):
            for c in range(n):
                u = z[r, c]
                u = select(u < -one, -one, u)
                out[r, c] = select(u > one, one, u)
    elif code == SOFT_SHRINK:  # NaN fails both tests: 0, as Keras's where
        for r in range(r0, r1):
            for c in range(n):
                v = z[r, c]
                out[r, c] = select(v > alpha, v - alpha, select(v < -alpha, v + alpha, zero))
    elif code == HARD_SHRINK:
        for r in range(r0, r1):
            for c in range(n):
                v = z[r, c]
                out[r, c] = select(math.fabs(v) > alpha, v, zero)
    elif code == TANH_SHRINK:
        for r in range(r0, r1):
            for c in range(n):
                v = z[r, c]
                out[r, c] = v - tanh(v)
    elif code == SQUAREPLUS:
        for r in range(r0, r1):
            for c in range(n):
                v = z[r, c]
                out[r, c] = (v + math.sqrt(v * v + alpha)) / two
    elif code == SPARSE_PLUS:
        four = t(4.0)
        for r in range(r0, r1):
            for c in range(n):
                v = z[r, c]
                u = v + one
                out[r, c] = select(v <= -one, zero, select(v >= one, v, (u * u) / four))
    else:  # SPARSE_SIGMOID
        for r in range(r0, r1):
            for c in range(n):
                u = z[r, c] + one
                u = select(u < zero, zero, u)
                out[r, c] = select(u > two, two, u) * half


@row_helper
def _third_group_grad(code, dy, y, z, dz, r0, r1, alpha):
    """dz[r, c] = dy[r, c] * f'(.) for relu6 .. sparse_sigmoid, rows r0..r1-1, as the twins compute f' (alpha in
    dy's dtype)."""
    t = dy.dtype.type
    zero, one, half, three, six = t(0.0), t(1.0), t(0.5), t(3.0), t(6.0)
    n = dy.shape[1]
    if code == RELU6:  # dy where 0 < y < 6: a select, as relu's (a NaN dy where flat passes 0)
        for r in range(r0, r1):
            for c in range(n):
                u = y[r, c]
                dz[r, c] = select((u > zero) & (u < six), dy[r, c], zero)
    elif code == HARD_SILU:  # h + (z / 6) [0 < z + 3 < 6]
        for r in range(r0, r1):
            for c in range(n):
                v = z[r, c]
                u = v + three
                inside = select((u > zero) & (u < six), one, zero)
                h = select(u < zero, zero, u)
                h = select(h > six, six, h) / six
                dz[r, c] = dy[r, c] * (h + (v / six) * inside)
    elif code == LOG_SIGMOID:  # -expm1(y), y <= 0
        for r in range(r0, r1):
            for c in range(n):
                dz[r, c] = dy[r, c] * -expm1_nonpositive(y[r, c])
    elif code == CELU:  # min(y / a + 1, 1), NaN kept
        for r in range(r0, r1):
            for c in range(n):
                u = y[r, c] / alpha + one
                dz[r, c] = dy[r, c] * select(u > one, one, u)
    elif code == HARD_TANH:  # 1 - [|z| > 1]
        for r in range(r0, r1):
            for c in range(n):
                dz[r, c] = dy[r, c] * select(math.fabs(z[r, c]) > one, zero, one)
    elif code == SOFT_SHRINK or code == HARD_SHRINK:  # [y != 0]
        for r in range(r0, r1):
            for c in range(n):
                dz[r, c] = dy[r, c] * select(y[r, c] != zero, one, zero)
    elif code == TANH_SHRINK:  # tanh(z)^2
        for r in range(r0, r1):
            for c in range(n):
                u = tanh(z[r, c])
                dz[r, c] = dy[r, c] * (u * u)
    elif code == SQUAREPLUS:  # 1 / (1 + (b / 4) / y / y)
        q = alpha / t(4.0)
        for r in range(r0, r1):
            for c in range(n):
                u = y[r, c]
                dz[r, c] = dy[r, c] * (one / (one + (q / u) / u))
    elif code == SPARSE_PLUS:  # min(sqrt(y), 1), NaN kept
        for r in range(r0, r1):
            for c in range(n):
                u = math.sqrt(y[r, c])
                dz[r, c] = dy[r, c] * select(u > one, one, u)
    else:  # SPARSE_SIGMOID: dy / 2 where 0 < y < 1
        for r in range(r0, r1):
            for c in range(n):
                u = y[r, c]
                dz[r, c] = (dy[r, c] * half) * select((u > zero) & (u < one), one, zero)


@row_helper
def _forward_block_third_group(z, bias, has_bias, code, out, r0, r1, alpha):
    if has_bias:
        for r in range(r0, r1):
            for c in range(z.shape[1]):
                z[r, c] += bias[c]
    _activate_third_group(code, z, out, r0, r1, alpha)


@jit
def bias_act_forward_third_group(z, bias, code, out, inplace, alpha):
    """``bias_act_forward`` for the third group."""
    prefer_wide_vectors()
    if out.shape != z.shape or bias.shape[0] != z.shape[1]:
        raise ValueError("bias_act_forward: out must have z's shape (B, N) and bias (N,)")
    a = z.dtype.type(alpha)
    rows, step = z.shape[0], _block_rows(z.shape[1])
    for r0 in range(0, rows, step):
        if inplace:
            _forward_block_third_group(z, bias, True, code, z, r0, min(r0 + step, rows), a)
        else:
            _forward_block_third_group(z, bias, True, code, out, r0, min(r0 + step, rows), a)


@jit
def act_forward_third_group(z, code, out, inplace, alpha):
    """``act_forward`` for the third group."""
    prefer_wide_vectors()
    if out.shape != z.shape:
        raise ValueError("bias_act_forward: out must have z's shape")
    a = z.dtype.type(alpha)
    rows, step = z.shape[0], _block_rows(z.shape[1])
    for r0 in range(0, rows, step):
        if inplace:
            _activate_third_group(code, z, z, r0, min(r0 + step, rows), a)
        else:
            _activate_third_group(code, z, out, r0, min(r0 + step, rows), a)


@row_helper
def _backward_block_third_group(dy, y, z, code, dz, dbias, has_bias, r0, r1, alpha):
    _third_group_grad(code, dy, y, z, dz, r0, r1, alpha)
    if has_bias:
        for r in range(r0, r1):
            for c in range(dy.shape[1]):
                dbias[c] += dz[r, c]


@jit
def act_backward_bias_grad_third_group(dy, y, z, code, dz, dbias, inplace, alpha):
    """``act_backward_bias_grad`` for the third group."""
    prefer_wide_vectors()
    _check_backward(dy, y, z, dz)
    if dbias.shape[0] != dy.shape[1]:
        raise ValueError("act_backward_bias_grad: dbias_out must be (N,)")
    t = dy.dtype.type
    a = t(alpha)
    for c in range(dbias.shape[0]):
        dbias[c] = t(0.0)
    rows, step = dy.shape[0], _block_rows(dy.shape[1])
    for r0 in range(0, rows, step):
        if inplace:
            _backward_block_third_group(dy, y, z, code, dy, dbias, True, r0, min(r0 + step, rows), a)
        else:
            _backward_block_third_group(dy, y, z, code, dz, dbias, True, r0, min(r0 + step, rows), a)


@jit
def act_backward_third_group(dy, y, z, code, dz, inplace, alpha):
    """``act_backward`` for the third group."""
    prefer_wide_vectors()
    _check_backward(dy, y, z, dz)
    a = dy.dtype.type(alpha)
    rows, step = dy.shape[0], _block_rows(dy.shape[1])
    for r0 in range(0, rows, step):
        if inplace:
            _third_group_grad(code, dy, y, z, dy, r0, min(r0 + step, rows), a)
        else:
            _third_group_grad(code, dy, y, z, dz, r0, min(r0 + step, rows), a)


# ---------------------------------------------------------------- softmax and cross-entropy
# Per row: m = max (row_max), p = exp(x - m) (a vectorised pass), s = its pairwise sum, p /= s (another).


@row_helper
def _softmax_block(x, p, r0, r1):
    """p = softmax(x) as softmax_numpy, rows r0..r1-1; p may be x."""
    for r in range(r0, r1):
        m = row_max(x, r)
        for c in range(x.shape[1]):
            p[r, c] = exp(x[r, c] - m)
        s = pairwise_sum(p, r)
        for c in range(x.shape[1]):
            p[r, c] = p[r, c] / s


@jit
def softmax(logits, out, inplace):
    prefer_wide_vectors()
    if out.shape != logits.shape:
        raise ValueError("softmax: out must have the shape of logits")
    if logits.shape[1] == 0:
        raise ValueError("softmax: logits have no columns")
    rows, step = logits.shape[0], _block_rows(logits.shape[1])
    for r0 in range(0, rows, step):
        if inplace:
            _softmax_block(logits, logits, r0, min(r0 + step, rows))
        else:
            _softmax_block(logits, out, r0, min(r0 + step, rows))


@row_helper
def _class_index(label, cols):
    """A label as a column index, negative ones counted from the end like NumPy's indexing."""
    k = np.int64(label)
    if k < -cols or k >= cols:
        raise IndexError("softmax_xent: a label is out of range for the number of classes")
    if k < 0:
        k += cols
    return k


@row_helper
def _sparse_xent_block(x, labels, p, d, loss, r0, r1, scale, has_grad):
    """Rows r0..r1-1 of softmax_xent_numpy with class indices. p may be x."""
    t = x.dtype.type
    n = x.shape[1]
    for r in range(r0, r1):
        k = _class_index(labels[r], n)
        m = row_max(x, r)
        picked = x[r, k] - m  # read before p, which may be x, is written
        for c in range(n):
            p[r, c] = exp(x[r, c] - m)
        s = pairwise_sum(p, r)
        if has_grad:
            for c in range(n):
                q = p[r, c] / s
                p[r, c] = q
                d[r, c] = q * scale
            d[r, k] = d[r, k] - scale
        else:
            for c in range(n):
                p[r, c] = p[r, c] / s
        loss[r] = t(math.log(s)) - picked


@row_helper
def _dense_xent_block(x, labels, p, d, loss, r0, r1, scale, has_grad):
    """Rows r0..r1-1 of softmax_xent_numpy with target rows. p may be x."""
    t = x.dtype.type
    n = x.shape[1]
    for r in range(r0, r1):
        m = row_max(x, r)
        sum_t = pairwise_sum(labels, r)
        picked = pairwise_dot_shifted(labels, x, m, r)  # sum_j t_j (x_j - m), before p is written
        for c in range(n):
            p[r, c] = exp(x[r, c] - m)
        s = pairwise_sum(p, r)
        if has_grad:
            for c in range(n):
                q = p[r, c] / s
                p[r, c] = q
                d[r, c] = (q * sum_t - labels[r, c]) * scale
        else:
            for c in range(n):
                p[r, c] = p[r, c] / s
        loss[r] = t(math.log(s)) * sum_t - picked


@row_helper
def _check_xent(logits, probs, dlogits, loss):
    if probs.shape != logits.shape or dlogits.shape != logits.shape or loss.shape[0] != logits.shape[0]:
        raise ValueError("softmax_xent: probs_out and dlogits_out must have the shape of logits, loss_out (B,)")
    if logits.shape[1] == 0:
        raise ValueError("softmax_xent: logits have no columns")


@jit
def softmax_xent_sparse(logits, labels, probs, dlogits, loss, scale, has_grad, inplace):
    """Class-index labels (B,). Without has_grad, dlogits is a placeholder (probs). ``inplace``: probs is
    logits."""
    prefer_wide_vectors()
    _check_xent(logits, probs, dlogits, loss)
    if labels.shape[0] != logits.shape[0]:
        raise ValueError("softmax_xent: labels must be (B,)")
    for r in range(labels.shape[0]):  # every class id checked before anything is written
        _class_index(labels[r], logits.shape[1])
    s = logits.dtype.type(scale)
    rows, step = logits.shape[0], _block_rows(logits.shape[1])
    for r0 in range(0, rows, step):
        if inplace:
            _sparse_xent_block(logits, labels, logits, dlogits, loss, r0, min(r0 + step, rows), s, has_grad)
        else:
            _sparse_xent_block(logits, labels, probs, dlogits, loss, r0, min(r0 + step, rows), s, has_grad)


@jit
def softmax_xent_dense(logits, labels, probs, dlogits, loss, scale, has_grad, inplace):
    """Target rows (B, C); otherwise as softmax_xent_sparse."""
    prefer_wide_vectors()
    _check_xent(logits, probs, dlogits, loss)
    if labels.shape != logits.shape:
        raise ValueError("softmax_xent: dense labels must have the shape of logits")
    s = logits.dtype.type(scale)
    rows, step = logits.shape[0], _block_rows(logits.shape[1])
    for r0 in range(0, rows, step):
        if inplace:
            _dense_xent_block(logits, labels, logits, dlogits, loss, r0, min(r0 + step, rows), s, has_grad)
        else:
            _dense_xent_block(logits, labels, probs, dlogits, loss, r0, min(r0 + step, rows), s, has_grad)


# ---------------------------------------------------------------- sigmoid + binary cross-entropy
# Per element, with e = exp(-|x|): term = log1p(e) + max(x, 0) - x t, p = (1 if x >= 0 else e) / (1 + e).


@row_helper
def _bce_block(x, targets, p, d, loss, r0, r1, scale, has_grad):
    """Rows r0..r1-1 of sigmoid_bce_numpy. With has_grad, d holds a row's loss terms until its gradient
    replaces them; without, p holds them until the probabilities (exp recomputed) replace them."""
    t = x.dtype.type
    zero, one = t(0.0), t(1.0)
    n = x.shape[1]
    for r in range(r0, r1):
        if has_grad:
            for c in range(n):
                v = x[r, c]
                e = exp(-math.fabs(v))
                p[r, c] = select(v >= zero, one, e) / (e + one)
                d[r, c] = (log1p_unit(e) + select(v > zero, v, zero)) - v * targets[r, c]
            loss[r] = pairwise_sum(d, r) / t(n)
            for c in range(n):
                d[r, c] = (p[r, c] - targets[r, c]) * scale
        else:
            for c in range(n):
                v = x[r, c]
                e = exp(-math.fabs(v))
                p[r, c] = (log1p_unit(e) + select(v > zero, v, zero)) - v * targets[r, c]
            loss[r] = pairwise_sum(p, r) / t(n)
            for c in range(n):
                v = x[r, c]
                e = exp(-math.fabs(v))
                p[r, c] = select(v >= zero, one, e) / (e + one)


@jit
def sigmoid_bce(logits, targets, probs, dlogits, loss, scale, has_grad):
    """sigmoid_bce_numpy: loss = row mean (pairwise sum / C). Without has_grad, dlogits is a placeholder.
    probs must not be logits."""
    prefer_wide_vectors()
    if (targets.shape != logits.shape or probs.shape != logits.shape or dlogits.shape != logits.shape
            or loss.shape[0] != logits.shape[0]):
        raise ValueError("sigmoid_bce: targets, probs_out, dlogits_out must have the shape of logits, loss (B,)")
    s = logits.dtype.type(scale)
    rows, step = logits.shape[0], _block_rows(logits.shape[1])
    for r0 in range(0, rows, step):
        _bce_block(logits, targets, probs, dlogits, loss, r0, min(r0 + step, rows), s, has_grad)


# ---------------------------------------------------------------- dropout

_U = np.uint64
_M32, _MUL1, _MUL2 = _U(_dropout._M32), _U(_dropout._MUL1), _U(_dropout._MUL2)
_S8, _S15, _S16 = _U(8), _U(15), _U(16)


@scalar_helper
def _lowbias32(x):
    """dropout.lowbias32 on a uint64 holding 32 bits: the products are masked back to 32 bits."""
    x ^= x >> _S16
    x = (x * _MUL1) & _M32
    x ^= x >> _S15
    x = (x * _MUL2) & _M32
    x ^= x >> _S16
    return x


@scalar_helper
def _keep(i, key_a, key_b, threshold):
    """True where element i (the C-order flat index) is kept: dropout.py's hash, bit for bit."""
    h = _lowbias32((_U(i) & _M32) ^ key_a)
    h = _lowbias32((h + key_b) & _M32)
    return (h >> _S8) >= threshold


@row_helper
def _dropout_block(x, out, mask, r0, r1, key_a, key_b, threshold, scale):
    t = x.dtype.type
    zero, one = t(0.0), t(1.0)
    cols = x.shape[1]
    for r in range(r0, r1):
        for c in range(cols):
            keep = _keep(r * cols + c, key_a, key_b, threshold)
            mask[r, c] = np.uint8(keep)
            out[r, c] = (x[r, c] * select(keep, one, zero)) * scale


@jit
def dropout_forward(x, out, mask, key_a, key_b, threshold, scale, inplace):
    """x, out, mask as 2-D (B, N); keys and threshold from dropout.stream_keys / keep_threshold."""
    prefer_wide_vectors()
    if out.shape != x.shape or mask.shape != x.shape:
        raise ValueError("dropout_forward: out and mask_out must have the shape of x")
    s = x.dtype.type(scale)
    ka, kb, th = _U(key_a), _U(key_b), _U(threshold)
    rows, step = x.shape[0], _block_rows(x.shape[1])
    for r0 in range(0, rows, step):
        if inplace:
            _dropout_block(x, x, mask, r0, min(r0 + step, rows), ka, kb, th, s)
        else:
            _dropout_block(x, out, mask, r0, min(r0 + step, rows), ka, kb, th, s)


@row_helper
def _dropout_grad_block(dy, mask, dx, r0, r1, scale):
    t = dy.dtype.type
    for r in range(r0, r1):
        for c in range(dy.shape[1]):
            dx[r, c] = (dy[r, c] * t(mask[r, c])) * scale


@jit
def dropout_backward(dy, mask, dx, scale, inplace):
    prefer_wide_vectors()
    if mask.shape != dy.shape or dx.shape != dy.shape:
        raise ValueError("dropout_backward: mask and dx_out must have the shape of dy")
    s = dy.dtype.type(scale)
    rows, step = dy.shape[0], _block_rows(dy.shape[1])
    for r0 in range(0, rows, step):
        if inplace:
            _dropout_grad_block(dy, mask, dy, r0, min(r0 + step, rows), s)
        else:
            _dropout_grad_block(dy, mask, dx, r0, min(r0 + step, rows), s)
