"""More of ``keras.ops``'s functions, differentiable as ``functions.py``'s are: the error function and its inverse,
the NaN-aware reductions, order statistics (``median``, ``quantile``), differences and diagonals, slices, scatters
and segment reductions, binning and membership tests, the normalizations of ``keras.ops.nn``, and the linear algebra
of ``keras.ops.linalg``.

Gradients follow the conventions of ``functions.py``: ties (``nanmax``, ``segment_max``, a scatter's ``"max"``)
share the gradient equally, NaN positions of the NaN-aware reductions get 0, and a value an update overwrites gets
none. Index and boolean results (``digitize``, ``isin``, ...) and the factorizations ``qr``, ``svd`` and ``eigh``
have no gradient: differentiating through them gives None.
"""
from __future__ import annotations

import builtins
import math
import warnings

import numpy as np

from . import array_functions as af
from . import functions as f
from .default_float import floatx
from .functions import _make, _shape, _unary, _unbroadcast, _value, array_module
from .tensor import Tensor

_slice = builtins.slice  # this module defines keras.ops.slice


# ---- plumbing -----------------------------------------------------------------------------------------------------

def _array(x, xp):
    return f._array_of(x, xp)  # (Python numbers in Keras's types: int32, float32)


def _input(x):
    """``x``, with Python numbers and lists made arrays as Keras makes them (floats in float32)."""
    if f._tensor(x) is not None or hasattr(x, "dtype"):
        return x
    value = f._array_of(x, np)
    return Tensor(value.astype("float32") if value.dtype.kind == "f" else value)


def _floats(x):
    """``x`` as Keras's floating-point functions take it: integers and booleans in float32 (Keras's floatx)."""
    x = _input(x)
    return f.cast(x, "float32") if _value(x).dtype.kind in "iub" else x


def _as_dtype(x, dtype):
    """``x`` in ``dtype`` (its gradient kept), as Keras converts a scale or an offset to the input's dtype."""
    x = _input(x)
    return x if _value(x).dtype == dtype else f.cast(x, dtype)


def _computed_in_float32_at_least(x):
    """(``x`` in at least float32, ``x``'s float dtype): Keras's normalizations compute half precision in float32
    and give the result in the input's dtype."""
    x = _floats(x)
    dtype = _value(x).dtype
    return (f.cast(x, "float32") if dtype.itemsize < 4 else x), dtype


def _back_to(x, dtype):
    return x if _value(x).dtype == dtype else f.cast(x, dtype)


def _host_ints(values) -> list:
    """Integers on the host from a list, a tuple, an array or a Tensor (start indices, shapes)."""
    if isinstance(values, (list, tuple)):
        return [int(v) for v in values]
    return [int(v) for v in np.asarray(f.convert_to_numpy(values)).reshape(-1)]


def _axis_argument(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _swap(xp, a):
    return xp.swapaxes(a, -1, -2)


def _scatter_into(xp, how: str, target, places, values) -> None:
    """``target[places] (how)= values`` in place, repeated places combined ("add", "max", "min" or "mul")."""
    if xp is np:
        {"add": np.add, "max": np.maximum, "min": np.minimum, "mul": np.multiply}[how].at(target, places, values)
        return
    import cupyx

    if how != "mul":
        getattr(cupyx, "scatter_" + how)(target, places, values)
        return
    # CuPy has no multiplying scatter: one round per repeat of a place, each round's places all different
    # (the last pending update of each place, found by a scatter of update numbers)
    pending = xp.arange(len(places), dtype=np.int32)
    while pending.size:
        last = xp.full(target.shape[0], -1, dtype=np.int32)
        cupyx.scatter_max(last, places[pending], pending)
        now = last[places[pending]] == pending
        chosen = pending[now]
        target[places[chosen]] *= values[chosen]
        pending = pending[~now]


def _places(xp, ids, dims: tuple):
    """The flat places that index rows ``ids`` (..., k) name in an array whose leading shape is ``dims`` (k
    axes). Negative indices count from the end; an index out of range gives ``prod(dims)``, one place past the
    end whose updates are dropped, as JAX drops them."""
    sizes = xp.asarray(np.asarray(dims, dtype=np.int64))
    ids = xp.where(ids < 0, ids + sizes, ids)
    inside = xp.all((ids >= 0) & (ids < sizes), axis=-1)
    strides = np.append(np.cumprod(np.asarray(dims[::-1], dtype=np.int64))[::-1][1:], 1).astype(np.int64)
    flat = (ids * xp.asarray(strides)).sum(axis=-1)
    return xp.where(inside, flat, int(np.prod(dims, dtype=np.int64)))


# ---- the error function -----------------------------------------------------------------------------------------

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _erf_values(xp, v):
    if xp is not np:
        from cupyx.scipy.special import erf as erf_on_device

        return erf_on_device(v)
    from ..kernels.erf import erf_numpy

    work = np.ascontiguousarray(v, dtype=np.result_type(v.dtype, np.float32))  # erf_numpy fills a flat view
    # (ascontiguousarray makes a 0-d value 1-d: its shape put back)
    return erf_numpy(work).reshape(np.shape(v)).astype(v.dtype, copy=False)


def erf(x):
    return _unary(_floats(x), _erf_values, lambda xp, v, o: _TWO_OVER_SQRT_PI * xp.exp(-v * v))


# M. Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011): relative error below 4e-7 in
# w = -log(1 - y^2) < 5 (central) and beyond (tails)
_GILES_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                  -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_GILES_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
               0.00943887047, 1.00167406, 2.83297682)


def _erfinv_values(xp, v):
    if xp is not np:
        from cupyx.scipy.special import erfinv as erfinv_on_device

        return erfinv_on_device(v)
    y = np.asarray(v, dtype=np.float64)
    inside = np.abs(y) < 1
    y_in = np.where(inside, y, 0.0)
    w = -np.log1p(-y_in * y_in)
    central, tail = w - 2.5, np.sqrt(w) - 3.0
    p_central, p_tail = np.zeros_like(w), np.zeros_like(w)
    for a, b in zip(_GILES_CENTRAL, _GILES_TAIL):
        p_central = p_central * central + a
        p_tail = p_tail * tail + b
    x = np.where(w < 5.0, p_central, p_tail) * y_in
    # Halley's steps on erf(x) = y (cubic convergence: three take Giles's 4e-7 to double precision and
    # recover where the tail polynomial is extrapolated, |y| > 1 - 1e-7)
    for _ in range(3):
        step = (_erf_values(np, x) - y_in) / (_TWO_OVER_SQRT_PI * np.exp(-x * x))
        x = x - step / (1.0 + x * step)
    edge = np.where(np.abs(y) == 1, np.copysign(np.inf, y), np.nan)  # +-1 -> +-inf, outside [-1, 1] or NaN -> NaN
    return np.where(inside, x, edge).astype(v.dtype, copy=False)


def erfinv(x):
    return _unary(_floats(x), _erfinv_values, lambda xp, v, o: (math.sqrt(math.pi) / 2) * xp.exp(o * o))


# ---- NaN-aware reductions ---------------------------------------------------------------------------------------

def _nan_mask(x):
    """Where ``x`` is NaN, or None for integers and booleans, which hold none."""
    xp = array_module(x)
    value = _array(x, xp)
    return xp.isnan(value) if value.dtype.kind in "fc" else None


def _integer_total(x, total):
    """An integer sum or product in Keras's dtype: int32 for booleans and small integers, uint32 for small
    unsigned ones, else the input's."""
    dtype = np.dtype(_value(x).dtype)
    if dtype.kind == "b" or (dtype.kind == "i" and dtype.itemsize < 4):
        dtype = np.dtype("int32")
    elif dtype.kind == "u" and dtype.itemsize < 4:
        dtype = np.dtype("uint32")
    return f.cast(total, dtype)


def nansum(x, axis=None, keepdims=False):
    x = _input(x)
    mask = _nan_mask(x)
    if mask is None:
        return _integer_total(x, f.sum(x, axis=axis, keepdims=keepdims))
    return f.sum(f.where(mask, 0.0, x), axis=axis, keepdims=keepdims)


def _count_and_mean(x, mask, axis):
    """(the number of values that are not NaN, their mean), both with the reduced axes kept; NaN where all are."""
    xp = array_module(x)
    count = xp.sum(~mask, axis=_axis_argument(axis), keepdims=True).astype(_value(x).dtype)
    total = f.sum(f.where(mask, 0.0, x), axis=axis, keepdims=True)
    return count, f.where(count == 0, np.nan, f.divide(total, xp.maximum(count, 1)))


def _reduced(x, axis, keepdims):
    """A result computed with the reduced axes kept, as asked (``keepdims``)."""
    return x if keepdims else f.squeeze(x, axis=_axis_argument(axis) if axis is not None else None)


def nanmean(x, axis=None, keepdims=False):
    x = _floats(x)
    _, mean = _count_and_mean(x, _nan_mask(x), axis)
    return _reduced(mean, axis, keepdims)


def nanvar(x, axis=None, keepdims=False):
    x = _floats(x)
    xp = array_module(x)
    mask = _nan_mask(x)
    count, mean = _count_and_mean(x, mask, axis)
    squares = f.sum(f.square(f.where(mask, 0.0, f.subtract(x, mean))), axis=axis, keepdims=True)
    variance = f.where(count == 0, np.nan, f.divide(squares, xp.maximum(count, 1)))
    return _reduced(variance, axis, keepdims)


def nanstd(x, axis=None, keepdims=False):
    return f.sqrt(nanvar(x, axis=axis, keepdims=keepdims))


def _nan_extreme(x, axis, keepdims, function, fill):
    x = _input(x)
    mask = _nan_mask(x)
    if mask is None:
        return function(x, axis=axis, keepdims=keepdims)
    xp = array_module(x)
    extreme = function(f.where(mask, fill, x), axis=axis, keepdims=keepdims)
    return f.where(xp.all(mask, axis=_axis_argument(axis), keepdims=keepdims), np.nan, extreme)


def nanmax(x, axis=None, keepdims=False):
    return _nan_extreme(x, axis, keepdims, f.max, -np.inf)


def nanmin(x, axis=None, keepdims=False):
    return _nan_extreme(x, axis, keepdims, f.min, np.inf)


def nanprod(x, axis=None, keepdims=False):
    x = _input(x)
    mask = _nan_mask(x)
    if mask is None:
        return _integer_total(x, f.prod(x, axis=axis, keepdims=keepdims))
    return f.prod(f.where(mask, 1.0, x), axis=axis, keepdims=keepdims)


# ---- statistics ---------------------------------------------------------------------------------------------------

def _difference(x, axis):
    xp = array_module(x)
    value = _array(x, xp)
    out = xp.diff(value, axis=axis)
    axis = axis % value.ndim
    later = tuple(_slice(1, None) if k == axis else _slice(None) for k in range(value.ndim))
    earlier = tuple(_slice(None, -1) if k == axis else _slice(None) for k in range(value.ndim))

    def back(g):
        full = xp.zeros(value.shape, dtype=g.dtype)
        full[later] += g
        full[earlier] -= g
        return full

    return _make(out, [x], [back])


def diff(a, n=1, axis=-1):
    if n < 0:
        raise ValueError(f"diff: the order n must be non-negative, got {n}")
    out = af.copy(_input(a))
    for _ in range(n):
        out = _difference(out, axis)
    return out


def ptp(x, axis=None, keepdims=False):
    """max - min; tied extremes share their gradient equally."""
    x = _input(x)
    return f.subtract(f.max(x, axis=axis, keepdims=keepdims), f.min(x, axis=axis, keepdims=keepdims))


_QUANTILE_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def quantile(x, q, axis=None, method="linear", keepdims=False):
    """NumPy's quantiles of the sorted values, ``q`` (a number or a 1-D list) in [0, 1]: q's axis first, then the
    axes left after the reduction. The gradient reaches the one or two values each quantile is interpolated
    between, with their interpolation weights; a slice holding a NaN gives NaN (and no gradient)."""
    if method not in _QUANTILE_METHODS:
        raise ValueError(f"quantile: method must be one of {_QUANTILE_METHODS}, got {method!r}")
    x = _floats(x)
    xp = array_module(x)
    value = _array(x, xp)
    levels = np.asarray(f.convert_to_numpy(q), dtype=np.float64)
    if levels.ndim > 1:
        raise ValueError(f"quantile: q must be a number or 1-D, got shape {levels.shape}")
    if not np.all((levels >= 0) & (levels <= 1)):
        raise ValueError(f"quantile: q must be in [0, 1], got {levels.tolist()}")
    axes = f._axis_tuple(axis, value.ndim)
    kept = [k for k in range(value.ndim) if k not in axes]
    if value.size == 0:  # NaN for an empty slice, nothing for no slice, as NumPy and Keras
        shape = tuple(1 if k in axes else n for k, n in enumerate(value.shape)) if keepdims else \
            tuple(value.shape[k] for k in kept)
        return Tensor(xp.full(levels.shape + shape, np.nan, dtype=value.dtype))
    rows = f.reshape(f.transpose(x, kept + list(axes)), tuple(value.shape[k] for k in kept) + (-1,))
    ordered = af.sort(rows, axis=-1)
    out = _between_order_statistics(np, position_dtype(value)(levels) * position_dtype(value)(rows.shape[-1] - 1),
                                    method, value.dtype, lambda places: af.take(ordered, xp.asarray(places), axis=-1))
    if levels.ndim:
        out = af.moveaxis(out, -1, 0)
    if keepdims:
        out = f.reshape(out, levels.shape + tuple(1 if k in axes else n for k, n in enumerate(value.shape)))
    if value.dtype.kind == "f":  # NumPy: a slice holding a NaN has NaN quantiles
        out = f.where(xp.any(xp.isnan(value), axis=axes, keepdims=keepdims), np.nan, out)
    return out


def position_dtype(value):
    """The float type quantiles' places are computed in: the values' (float32 for integers), as JAX computes
    ``q * (n - 1)`` in q's float32, where 0.7 * 10 rounds to 7 exactly (in float64 it is 6.99999988, whose floor
    is 6: another element for the "lower" method)."""
    return value.dtype.type if value.dtype.kind == "f" else np.float32


def _between_order_statistics(xp, position, method: str, dtype, take):
    """The quantiles at fractional ``position``s among sorted values, by ``method``; ``take(places)`` gathers the
    sorted values at integer places (the gradient reaches the one or two values each is interpolated between)."""
    low, high = xp.floor(position).astype(np.int64), xp.ceil(position).astype(np.int64)
    if method == "lower":
        return take(low)
    if method == "higher":
        return take(high)
    if method == "nearest":
        # halves to even, as NumPy, TensorFlow and Keras's numpy backend (its jax backend takes the lower one)
        return take(xp.round(position).astype(np.int64))
    if method == "midpoint":
        return f.multiply(f.add(take(low), take(high)), 0.5)
    below, above = take(low), take(high)
    fraction = xp.asarray((position - low).astype(dtype))
    # JAX's form (Keras's backend): below * (1 - t) + above * t; between -inf and a number, -inf (NumPy's
    # below + (above - below) * t would give NaN), and NaN at an infinite value's own place, as JAX gives it
    with np.errstate(invalid="ignore"):
        return f.add(f.multiply(below, 1 - fraction), f.multiply(above, fraction))


def percentile(x, q, axis=None, method="linear", keepdims=False):
    levels = np.asarray(f.convert_to_numpy(q), dtype=np.float64)
    if not np.all((levels >= 0) & (levels <= 100)):
        raise ValueError(f"percentile: q must be in [0, 100], got {levels.tolist()}")
    return quantile(x, levels / 100.0, axis=axis, method=method, keepdims=keepdims)


def median(x, axis=None, keepdims=False):
    # (JAX's median: the midpoint of the two middle values, an infinite one's too)
    return quantile(x, 0.5, axis=axis, method="midpoint", keepdims=keepdims)


# ---- arrays -------------------------------------------------------------------------------------------------------

def diag(x, k=0):
    """The k-th diagonal of a matrix, or a matrix with a vector on its k-th diagonal."""
    x = _input(x)
    rank = len(_shape(x))
    if rank == 2:
        return af.diagonal(x, offset=k)
    if rank != 1:
        raise ValueError(f"diag: x must be 1-D or 2-D, got shape {_shape(x)}")
    xp = array_module(x)
    out = xp.diag(_array(x, xp), k)
    return _make(out, [x], [lambda g: xp.diagonal(g, k).copy()])


def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    values = np.logspace(f.convert_to_numpy(start), f.convert_to_numpy(stop), num=num, endpoint=endpoint, base=base,
                         axis=axis)
    return Tensor(values.astype(dtype or floatx()))  # Keras: floatx unless a dtype is given


def select(condlist, choicelist, default=0):
    """Each element from the first choice whose condition holds there, else ``default``."""
    if not isinstance(condlist, (list, tuple)) or not isinstance(choicelist, (list, tuple)):
        raise ValueError(f"condlist and choicelist must be lists. Received: type(condlist) = {type(condlist)}, "
                         f"type(choicelist) = {type(choicelist)}")
    if not condlist or not choicelist:
        raise ValueError(f"condlist and choicelist must not be empty. Received: condlist = {condlist}, "
                         f"choicelist = {choicelist}")
    if len(condlist) != len(choicelist):
        raise ValueError(f"select: condlist ({len(condlist)}) and choicelist ({len(choicelist)}) must have the "
                         "same length")
    out = default
    for condition, choice in reversed(list(zip(condlist, choicelist))):  # the first condition that holds wins
        out = f.where(condition, _input(choice), out)
    return out


def _starts(starts: list, sizes: tuple, lengths: list) -> list:
    """Start indices as XLA's dynamic slices take them: negative ones count from the end, and a start whose
    slice would run past the end moves back until it fits."""
    starts = [s + n if s < 0 else s for s, n in zip(starts, sizes)]
    return [builtins.min(builtins.max(s, 0), n - m) for s, n, m in zip(starts, sizes, lengths)]


def slice(inputs, start_indices, shape):  # noqa: A001 (Keras's name)
    """``inputs[start:start + shape]`` on every axis; a length of -1 takes the rest of its axis."""
    sizes = _shape(inputs)
    starts, lengths = _host_ints(start_indices), _host_ints(shape)
    if len(starts) != len(sizes) or len(lengths) != len(sizes):
        raise ValueError(f"Length of `start_indices` must match length of `shape` and the rank of `inputs` "
                         f"{len(sizes)}. Received: start_indices={starts}, shape={lengths}")
    lengths = [n - s if m == -1 else m for s, m, n in zip(starts, lengths, sizes)]
    if any(not 0 <= m <= n for m, n in zip(lengths, sizes)):
        raise ValueError(f"slice: shape {lengths} does not fit in inputs of shape {sizes}")
    starts = _starts(starts, sizes, lengths)
    return f.get_item(inputs, tuple(_slice(s, s + m) for s, m in zip(starts, lengths)))


def slice_update(inputs, start_indices, updates):
    """``inputs`` with ``updates`` written from ``start_indices`` on (in ``inputs``'s dtype)."""
    updates = _input(updates)
    xp = array_module(inputs, updates)
    target, patch = _array(inputs, xp), _array(updates, xp)
    starts = _host_ints(start_indices)
    if patch.ndim != target.ndim or len(starts) != target.ndim:
        raise ValueError(f"slice_update: updates (shape {patch.shape}) and start_indices ({starts}) must have the "
                         f"rank of inputs (shape {target.shape})")
    if any(m > n for m, n in zip(patch.shape, target.shape)):
        raise ValueError(f"slice_update: updates of shape {patch.shape} do not fit in inputs of shape "
                         f"{target.shape}")
    starts = _starts(starts, target.shape, patch.shape)
    key = tuple(_slice(s, s + m) for s, m in zip(starts, patch.shape))
    out = target.copy()
    out[key] = patch

    def back_inputs(g):
        full = g.copy()
        full[key] = 0
        return full

    return _make(out, [inputs, updates], [back_inputs, lambda g: g[key].astype(patch.dtype, copy=False)])


def scatter(indices, values, shape):
    """Zeros of ``shape`` with ``values`` added at the index rows ``indices`` (..., k) (repeats add up)."""
    values = _input(values)
    xp = array_module(indices, values)
    ids = _array(indices, xp).astype(np.int64)
    value = _array(values, xp)
    shape = tuple(_host_ints(shape))
    depth = ids.shape[-1]
    rest, count = shape[depth:], int(np.prod(shape[:depth], dtype=np.int64))
    places = _places(xp, ids, shape[:depth]).reshape(-1)
    out = xp.zeros((count + 1,) + rest, dtype=value.dtype)  # the last row takes what JAX drops
    _scatter_into(xp, "add", out, places, xp.broadcast_to(value, ids.shape[:-1] + rest).reshape((-1,) + rest))

    def back(g):
        padded = xp.concatenate([g.reshape((count,) + rest), xp.zeros((1,) + rest, dtype=g.dtype)])
        return _unbroadcast(xp, padded[places].reshape(ids.shape[:-1] + rest), value.shape)

    return _make(out[:count].reshape(shape), [values], [back])


_REDUCTIONS = ("add", "max", "min", "mul")


def scatter_update(inputs, indices, updates, reduction=None):
    """``inputs`` with ``updates`` put at the index rows ``indices`` (N, k): written over them (the last of repeated
    rows wins), or combined with them by ``reduction`` ("add", "max", "min", "mul"). The gradient of "mul" is
    exact where no update is 0."""
    if reduction is not None:
        reduction = reduction.lower()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"Invalid reduction: {reduction}. Supported values are: None, 'add', 'max', 'min', "
                             "'mul'.")
    updates = _input(updates)
    xp = array_module(inputs, indices, updates)
    target = _array(inputs, xp)
    ids = _array(indices, xp).astype(np.int64)
    new_value = _array(updates, xp)
    depth = ids.shape[-1]
    rest, count = target.shape[depth:], int(np.prod(target.shape[:depth], dtype=np.int64))
    places = _places(xp, ids, target.shape[:depth]).reshape(-1)
    new = xp.broadcast_to(new_value.astype(target.dtype, copy=False), ids.shape[:-1] + rest).reshape((-1,) + rest)
    rows = xp.concatenate([target.reshape((count,) + rest), xp.zeros((1,) + rest, dtype=target.dtype)])

    def spread(flags):  # per-row flags over the rows' trailing axes
        return flags.reshape(flags.shape + (1,) * len(rest))

    def padded(g):
        return xp.concatenate([g.reshape((count,) + rest), xp.zeros((1,) + rest, dtype=g.dtype)])

    def to_updates(grad_rows):
        grad = _unbroadcast(xp, grad_rows.reshape(ids.shape[:-1] + rest), new_value.shape)
        return grad.astype(new_value.dtype, copy=False)

    if reduction is None:
        # which update lands on each row: the last one naming it (as NumPy's assignment), whatever the device
        order = xp.arange(len(places), dtype=np.int32)
        last = xp.full(count + 1, -1, dtype=np.int32)
        _scatter_into(xp, "max", last, places, order)
        written = spread(last[:count] >= 0)
        out = xp.where(written, new[xp.maximum(last[:count], 0)], rows[:count]) if len(places) else rows[:count]
        landed = spread(last[places] == order)
        rules = [lambda g: xp.where(written, 0, g.reshape((count,) + rest)).reshape(target.shape),
                 lambda g: to_updates(padded(g)[places] * landed)]
    elif reduction == "add":
        out = rows.copy()
        _scatter_into(xp, "add", out, places, new)
        out = out[:count]
        rules = [lambda g: g, lambda g: to_updates(padded(g)[places])]
    elif reduction in ("max", "min"):
        combined = rows.copy()
        _scatter_into(xp, reduction, combined, places, new)
        out = combined[:count]
        kept = rows == combined
        chosen = new == combined[places]
        ties = kept.astype(target.dtype)
        _scatter_into(xp, "add", ties, places, chosen.astype(target.dtype))
        ties = xp.maximum(ties, 1)
        rules = [lambda g: (padded(g) * kept / ties)[:count].reshape(target.shape),
                 lambda g: to_updates((padded(g) / ties)[places] * chosen)]
    else:
        factors = xp.ones_like(rows)
        _scatter_into(xp, "mul", factors, places, new)
        out = (rows * factors)[:count]
        safe = xp.where(new == 0, 1, new)
        rules = [lambda g: (padded(g) * factors)[:count].reshape(target.shape),
                 lambda g: to_updates(xp.where(new == 0, 0, (padded(g) * rows * factors)[places] / safe))]
    return _make(out.reshape(target.shape), [inputs, updates], rules)


def _segment(data, segment_ids, num_segments, how):
    data = _input(data)
    xp = array_module(data, segment_ids)
    value = _array(data, xp)
    ids = _array(segment_ids, xp).astype(np.int64)
    if ids.ndim > 1:
        raise ValueError(f"Argument `segment_ids` should be an 1-D vector, got shape: {ids.ndim}. Consider either "
                         "flatten input with segment_ids.reshape((-1)) and data.reshape((-1, ) + "
                         "data.shape[len(segment_ids.shape):]) or vectorize with vmap.")
    if ids.shape[0] != value.shape[0]:
        raise ValueError(f"Argument `segment_ids` and `data` should have same leading dimension. Got {ids.shape} "
                         f"v.s. {value.shape}.")
    if num_segments is None:  # inferred from the largest id, as Keras's NumPy and TensorFlow backends do
        num_segments = int(ids.max()) + 1 if ids.size else 0
    num_segments = int(num_segments)
    rest = value.shape[1:]
    # ids outside [0, num_segments) go to one more segment, dropped at the end (as JAX drops them)
    slot = xp.where((ids >= 0) & (ids < num_segments), ids, num_segments)

    def padded(g):
        return xp.concatenate([g, xp.zeros((1,) + rest, dtype=g.dtype)])

    if how == "add":
        out = xp.zeros((num_segments + 1,) + rest, dtype=value.dtype)
        _scatter_into(xp, "add", out, slot, value)
        return _make(out[:num_segments], [data], [lambda g: padded(g)[slot]])
    if how == "mul":
        return _segment_product(xp, data, value, slot, num_segments, rest, padded)
    # an empty segment's maximum (minimum): the lowest (highest) value of the dtype, as JAX gives
    if value.dtype.kind == "f":
        extreme = -np.inf if how == "max" else np.inf
    else:
        extreme = np.iinfo(value.dtype).min if how == "max" else np.iinfo(value.dtype).max
    out = xp.full((num_segments + 1,) + rest, extreme, dtype=value.dtype)
    _scatter_into(xp, how, out, slot, value)
    chosen = value == out[slot]
    ties = xp.zeros(out.shape, dtype=value.dtype)
    _scatter_into(xp, "add", ties, slot, chosen.astype(value.dtype))
    return _make(out[:num_segments], [data], [lambda g: (padded(g) / xp.maximum(ties, 1))[slot] * chosen])


def _segment_product(xp, data, value, slot, num_segments, rest, padded):
    """The products of the segments; the gradient of a value is the product of the others in its segment (so a
    segment with one 0 sends its gradient to that 0 alone, one with two 0s sends none)."""
    zero = value == 0
    nonzero = xp.ones((num_segments + 1,) + rest, dtype=value.dtype)
    _scatter_into(xp, "mul", nonzero, slot, xp.where(zero, 1, value).astype(value.dtype))
    zeros = xp.zeros((num_segments + 1,) + rest, dtype=np.int64)
    _scatter_into(xp, "add", zeros, slot, zero.astype(np.int64))
    out = xp.where(zeros > 0, 0, nonzero).astype(value.dtype)

    def gradient(g):
        others = xp.where(zero, xp.where(zeros[slot] == 1, nonzero[slot], 0),
                          xp.where(zeros[slot] > 0, 0, nonzero[slot] / xp.where(zero, 1, value)))
        return (padded(g)[slot] * others).astype(g.dtype)

    return _make(out[:num_segments], [data], [gradient])


def segment_sum(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002 (Keras's argument name)
    """The sums of the rows of ``data`` with each segment id; ``sorted`` (ids in order) changes nothing here."""
    return _segment(data, segment_ids, num_segments, "add")


def segment_max(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002 (Keras's argument name)
    """The maxima of the rows of ``data`` with each segment id (-inf for an empty segment); tied maxima share
    the gradient equally."""
    return _segment(data, segment_ids, num_segments, "max")


def segment_min(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002 (Keras's argument name)
    """The minima of the rows of ``data`` with each segment id (the dtype's highest value for an empty segment);
    tied minima share the gradient equally."""
    return _segment(data, segment_ids, num_segments, "min")


def segment_prod(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002 (Keras's argument name)
    """The products of the rows of ``data`` with each segment id (1 for an empty segment)."""
    return _segment(data, segment_ids, num_segments, "mul")


# ---- binning and membership (no gradient but bincount's weights) -------------------------------------------------

def digitize(x, bins):
    xp = array_module(x, bins)
    return Tensor(xp.digitize(_array(x, xp), _array(bins, xp)).astype(np.int32))


def searchsorted(sorted_sequence, values, side="left"):
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    xp = array_module(sorted_sequence, values)
    sequence = _array(sorted_sequence, xp)
    if sequence.ndim != 1:
        raise ValueError("`searchsorted` only supports 1-D sorted sequences. You can use "
                         "`keras.ops.vectorized_map` to extend it to N-D sequences. Received: "
                         f"sorted_sequence.shape={sequence.shape}")
    return Tensor(xp.searchsorted(sequence, _array(values, xp), side=side).astype(np.int32))


def bincount(x, weights=None, minlength=0, sparse=False):
    """The count (or the sum of ``weights``) of each non-negative integer of a 1-D ``x``, or of each row of a 2-D
    one (every row then counts up to the largest value of all)."""
    if sparse:
        raise ValueError("bincount: sparse=True: gpunn's tensors are dense; leave sparse False")
    xp = array_module(x, weights)
    ids = _array(x, xp).astype(np.int64)
    if ids.ndim not in (1, 2):
        raise ValueError(f"bincount: x must be 1-D or 2-D, got shape {ids.shape}")
    length = builtins.max(int(ids.max()) + 1 if ids.size else 0, int(minlength))
    rows = ids.reshape(1, -1) if ids.ndim == 1 else ids
    flat = (rows + xp.arange(rows.shape[0])[:, None] * length).reshape(-1)  # each row counts in its own bins
    shape = (length,) if ids.ndim == 1 else (rows.shape[0], length)
    if weights is None:
        return Tensor(xp.bincount(flat, minlength=rows.shape[0] * length).reshape(shape).astype(np.int32))
    weights = _input(weights)
    w = _array(weights, xp)
    dtype = w.dtype if w.dtype.kind == "f" else np.result_type(ids.dtype, w.dtype)
    out = xp.bincount(flat, weights=w.reshape(-1), minlength=rows.shape[0] * length).reshape(shape).astype(dtype)
    return _make(out, [weights], [lambda g: g.reshape(-1)[flat].reshape(w.shape).astype(w.dtype, copy=False)])


def isin(x1, x2, assume_unique=False, invert=False):
    xp = array_module(x1, x2)
    return Tensor(xp.isin(_array(x1, xp), _array(x2, xp), assume_unique=assume_unique, invert=invert))


def allclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    xp = array_module(x1, x2)
    return Tensor(xp.asarray(xp.allclose(_array(x1, xp), _array(x2, xp), rtol=rtol, atol=atol, equal_nan=equal_nan)))


def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    """Keras's multi-hot encoding: the one-hot codes of the labels, combined (max) over the labels' axis (axis 1
    of a 2-D ``inputs``, axis 0 of a 1-D one)."""
    if num_classes is None and "num_tokens" in kwargs:
        num_classes = kwargs.pop("num_tokens")
    if kwargs:
        raise TypeError(f"multi_hot: unexpected keyword arguments {sorted(kwargs)}")
    if num_classes is None:
        raise ValueError("Argument `num_classes` must be specified.")
    if sparse:
        raise ValueError("multi_hot: sparse=True: gpunn's tensors are dense; leave sparse False")
    xp = array_module(inputs)
    ids = _array(inputs, xp).astype(np.int32)
    codes = f.one_hot(ids, num_classes, axis=axis, dtype=dtype or floatx()).value
    return Tensor(codes.max(axis=1 if ids.ndim > 1 else 0))


# ---- normalizations -------------------------------------------------------------------------------------------

def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    """x / sqrt(mean(x^2) + epsilon) over ``axis``, times ``scale``; epsilon defaults to Keras's backend epsilon."""
    epsilon = f.epsilon() if epsilon is None else epsilon
    work, dtype = _computed_in_float32_at_least(x)
    if not _shape(work):  # Keras normalizes a scalar as a vector of one
        work = f.expand_dims(work, 0)
    axis = tuple(builtins.sorted(axis)) if isinstance(axis, (list, tuple)) else axis
    mean_square = f.mean(f.square(work), axis=axis, keepdims=True)
    out = f.multiply(work, f.rsqrt(f.add(mean_square, epsilon)))
    if scale is not None:
        out = f.multiply(out, _as_dtype(scale, _value(work).dtype))
    return _back_to(out, dtype)


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    """(x - mean) / sqrt(variance + epsilon) over ``axis``, times ``gamma``, plus ``beta``; epsilon defaults to
    Keras's backend epsilon. The deprecated ``rms_scaling=True`` divides by sqrt(variance + epsilon) only."""
    rms_scaling = kwargs.pop("rms_scaling", False)
    if kwargs:
        raise TypeError(f"layer_normalization: unexpected keyword arguments {sorted(kwargs)}")
    if rms_scaling:
        warnings.warn("You passed `rms_scaling=True`, which is deprecated. This argument incorrectly scales the "
                      "input by the variance, not the root mean square. To correctly use RMS Normalization, please "
                      "use `keras.ops.rms_normalization` / `keras.ops.nn.rms_normalization` instead.")
    epsilon = f.epsilon() if epsilon is None else epsilon
    work, dtype = _computed_in_float32_at_least(x)
    compute = _value(work).dtype
    shape = _shape(work)
    axes = builtins.sorted([axis] if isinstance(axis, int) else list(axis))
    broadcast_shape = [1] * len(shape)
    for a in axes:
        broadcast_shape[a] = shape[a]

    def spread(v):  # gamma and beta over the normalized axes, when those are not just the last one
        if v is None:
            return None
        v = _as_dtype(v, compute)
        return f.reshape(v, broadcast_shape) if len(_shape(v)) != len(shape) and axes != [len(shape) - 1] else v

    gamma, beta = spread(gamma), spread(beta)
    if rms_scaling:
        out = f.multiply(work, f.rsqrt(f.add(f.var(work, axis=axes, keepdims=True), epsilon)))
        return _back_to(out if gamma is None else f.multiply(out, gamma), dtype)
    mean, variance = af.moments(work, axes=axes, keepdims=True)
    inverse = f.rsqrt(f.add(variance, epsilon))
    if gamma is not None:
        inverse = f.multiply(inverse, gamma)
    shift = f.negative(f.multiply(mean, inverse))
    if beta is not None:
        shift = f.add(shift, beta)
    return _back_to(f.add(f.multiply(work, inverse), shift), dtype)


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    """(x - mean) / sqrt(variance + epsilon) * scale + offset, the vectors laid along ``axis``."""
    x = _input(x)
    shape = [1] * len(_shape(x))
    shape[axis] = _shape(_input(mean))[0]

    def along(v):
        return f.reshape(_input(v), shape)

    inverse = f.rsqrt(f.add(along(variance), epsilon))
    if scale is not None:
        inverse = f.multiply(inverse, along(scale))
    shift = f.negative(f.multiply(along(mean), inverse))
    if offset is not None:
        shift = f.add(shift, along(offset))
    return f.add(f.multiply(x, inverse), shift)


def psnr(x1, x2, max_val):
    """20 log10(max_val) - 10 log10(mean((x1 - x2)^2)), over all elements."""
    x1, x2 = _input(x1), _input(x2)
    if _shape(x1) != _shape(x2):
        raise ValueError(f"Input shapes {_shape(x1)} and {_shape(x2)} must match for PSNR calculation. ")
    mse = f.mean(f.square(f.subtract(x1, x2)))
    peak = _as_dtype(max_val, _value(x2).dtype)
    return f.subtract(f.multiply(20.0, f.log10(peak)), f.multiply(10.0, f.log10(mse)))


# ---- linear algebra ---------------------------------------------------------------------------------------------

def _matrices(x, square=True):
    """(``x`` in floating point, its array module, its values), after Keras's checks: rank >= 2, square."""
    x = _floats(x)
    xp = array_module(x)
    value = _array(x, xp)
    if value.ndim < 2:
        raise ValueError(f"Expected input to have rank >= 2. Received input with shape {value.shape}.")
    if square and value.shape[-1] != value.shape[-2]:
        raise ValueError(f"Expected a square matrix. Received non-square input with shape {value.shape}")
    return x, xp, value


def inv(x):
    x, xp, a = _matrices(x)
    out = xp.linalg.inv(a)
    return _make(out, [x], [lambda g: -_swap(xp, out) @ g @ _swap(xp, out)])


def det(x):
    x, xp, a = _matrices(x)
    out = xp.linalg.det(a)
    return _make(out, [x], [lambda g: (g * out)[..., None, None] * _swap(xp, xp.linalg.inv(a))])


def slogdet(x):
    """(sign, log |det|) of square matrices; log |det| has the gradient inv(x)^T, the sign none."""
    x, xp, a = _matrices(x)
    sign, logabsdet = xp.linalg.slogdet(a)
    return Tensor(sign), _make(logabsdet, [x], [lambda g: g[..., None, None] * _swap(xp, xp.linalg.inv(a))])


def solve(a, b):
    """x with a x = b: ``b`` a vector (M,) or matrices (..., M, N), batches broadcast, as NumPy 2 and JAX."""
    a, xp, coefficients = _matrices(a)
    b = _floats(b)
    rhs = _array(b, xp)
    vector = rhs.ndim == 1
    columns = rhs[:, None] if vector else rhs
    if columns.shape[-2] != coefficients.shape[-1]:
        raise ValueError(f"Incompatible shapes between `a` and `b`. Received: a.shape={coefficients.shape}, "
                         f"b.shape={rhs.shape}")
    batch = np.broadcast_shapes(coefficients.shape[:-2], columns.shape[:-2])
    lhs = xp.broadcast_to(coefficients, batch + coefficients.shape[-2:])
    columns = xp.broadcast_to(columns, batch + columns.shape[-2:])
    solution = xp.linalg.solve(lhs, columns)

    def grad_columns(g):  # the gradient of the right-hand side: solve(a^T, g)
        return xp.linalg.solve(_swap(xp, lhs), g[..., None] if vector else g)

    def grad_b(g):
        grad = grad_columns(g)
        return _unbroadcast(xp, grad, (rhs.shape[0], 1) if vector else rhs.shape).reshape(rhs.shape)

    def grad_a(g):
        return _unbroadcast(xp, -grad_columns(g) @ _swap(xp, solution), coefficients.shape)

    return _make(solution[..., 0] if vector else solution, [a, b], [grad_a, grad_b])


def cholesky(x, upper=False):
    """The lower (or, with ``upper``, upper) triangular factor of symmetric positive-definite matrices. As in JAX,
    the factor is of (x + x^T) / 2, so the gradient is symmetric (TensorFlow's rule)."""
    x, xp, a = _matrices(x)
    symmetric = (a + _swap(xp, a)) / 2
    try:
        if xp is np:
            lower = np.linalg.cholesky(symmetric)
        else:
            import cupyx

            with cupyx.errstate(linalg="raise"):  # CuPy otherwise leaves a failed factor unreported
                lower = xp.linalg.cholesky(symmetric)
        if bool(xp.isnan(lower).any()):
            raise ValueError("Cholesky decomposition failed. The input might not be a valid positive definite "
                             "matrix.")
    except Exception as error:
        raise ValueError(f"Cholesky decomposition failed: {error}") from error

    def back(g):
        g = _swap(xp, g) if upper else g
        lower_inverse = xp.linalg.inv(lower)
        middle = _swap(xp, lower) @ g
        n = middle.shape[-1]
        middle = middle * (xp.tri(n, dtype=middle.dtype) - 0.5 * xp.eye(n, dtype=middle.dtype))  # tril, diag / 2
        grad = _swap(xp, lower_inverse) @ middle @ lower_inverse
        return (grad + _swap(xp, grad)) / 2

    return _make(_swap(xp, lower).copy() if upper else lower, [x], [back])


def qr(x, mode="reduced"):
    """(q, r), without a gradient."""
    if mode not in ("reduced", "complete"):
        raise ValueError("`mode` argument value not supported. Expected one of {'reduced', 'complete'}. "
                         f"Received: mode={mode}")
    _, xp, a = _matrices(x, square=False)
    q, r = xp.linalg.qr(a, mode=mode)
    return Tensor(q), Tensor(r)


def svd(x, full_matrices=True, compute_uv=True):
    """(u, s, vh), or s alone without ``compute_uv``; without a gradient."""
    _, xp, a = _matrices(x, square=False)
    result = xp.linalg.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)
    return tuple(Tensor(r) for r in result) if compute_uv else Tensor(result)


def eigh(x):
    """(eigenvalues in ascending order, eigenvectors) of symmetric matrices (of (x + x^T) / 2, as JAX); without a
    gradient."""
    _, xp, a = _matrices(x)
    values, vectors = xp.linalg.eigh((a + _swap(xp, a)) / 2)
    return Tensor(values), Tensor(vectors)
