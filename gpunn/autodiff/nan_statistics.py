"""More of ``keras.ops``'s statistics: the NaN-aware arg-extremes, running totals, medians and quantiles (NaNs left
out), the correlation matrix, histograms and the trapezoidal rule. Composed of the differentiable functions of
``functions.py`` where they have a gradient (a quantile's reaches the one or two values it is interpolated between;
NaNs get none); indices and counts have none."""
from __future__ import annotations

import numpy as np

from . import array_functions as af
from . import extra_functions as ef
from . import functions as f
from .functions import array_module
from .tensor import Tensor

_input, _floats, _array = ef._input, ef._floats, ef._array


def _nan_arg(x, axis, keepdims, pick, fill):
    x = _input(x)
    xp = array_module(x)
    value = _array(x, xp)
    if value.dtype.kind != "f":
        out = pick(value, axis=axis, keepdims=keepdims)
    else:
        nan = xp.isnan(value)
        out = pick(xp.where(nan, fill, value), axis=axis, keepdims=keepdims)
        # a slice of NaNs alone has no answer: -1, as JAX gives (NumPy raises)
        out = xp.where(xp.all(nan, axis=axis, keepdims=keepdims), -1, out)
    return Tensor(xp.asarray(out).astype(np.int32))


def nanargmax(x, axis=None, keepdims=False):
    """The index of the largest value that is not NaN (-1 for a slice of NaNs), in int32 as Keras gives it."""
    return _nan_arg(x, axis, keepdims, array_module(x).argmax, -np.inf)


def nanargmin(x, axis=None, keepdims=False):
    """The index of the smallest value that is not NaN (-1 for a slice of NaNs), in int32 as Keras gives it."""
    return _nan_arg(x, axis, keepdims, array_module(x).argmin, np.inf)


def _without_nans(x, fill):
    x = _input(x)
    mask = ef._nan_mask(x)
    return x if mask is None else f.where(mask, fill, x)


def nancumsum(x, axis=None, dtype=None):
    """The running sum with NaNs counted as 0."""
    return f.cumsum(_without_nans(x, 0.0), axis=axis, dtype=dtype)


def nancumprod(x, axis=None, dtype=None):
    """The running product with NaNs counted as 1."""
    return af.cumprod(_without_nans(x, 1.0), axis=axis, dtype=dtype)


def nanquantile(x, q, axis=None, method="linear", keepdims=False):
    """``quantile`` of the values that are not NaN (NaN for a slice of NaNs alone), as NumPy computes it."""
    if method not in ef._QUANTILE_METHODS:
        raise ValueError(f"nanquantile: method must be one of {ef._QUANTILE_METHODS}, got {method!r}")
    x = _floats(x)
    xp = array_module(x)
    value = _array(x, xp)
    if not xp.isnan(value).any():
        return ef.quantile(x, q, axis=axis, method=method, keepdims=keepdims)
    levels = np.asarray(f.convert_to_numpy(q), dtype=np.float64)
    if levels.ndim > 1:
        raise ValueError(f"nanquantile: q must be a number or 1-D, got shape {levels.shape}")
    if not np.all((levels >= 0) & (levels <= 1)):
        raise ValueError(f"nanquantile: q must be in [0, 1], got {levels.tolist()}")
    axes = f._axis_tuple(axis, value.ndim)
    kept = [k for k in range(value.ndim) if k not in axes]
    rows = f.reshape(f.transpose(x, kept + list(axes)), tuple(value.shape[k] for k in kept) + (-1,))
    ordered = af.sort(rows, axis=-1)  # NaNs sort last
    count = xp.sum(~xp.isnan(_array(rows, xp)), axis=-1, keepdims=True)  # values per slice that are not NaN
    typed = ef.position_dtype(value)
    position = xp.maximum(count - 1, 0).astype(typed) * xp.asarray(levels.reshape(-1).astype(typed))
    out = ef._between_order_statistics(xp, position, method, value.dtype,
                                       lambda places: af.take_along_axis(ordered, places, axis=-1))
    out = f.where(xp.broadcast_to(count == 0, out.shape), np.nan, out)
    out = f.reshape(out, f._shape(out)[:-1] + levels.shape)
    if levels.ndim:
        out = af.moveaxis(out, -1, 0)
    if keepdims:
        out = f.reshape(out, levels.shape + tuple(1 if k in axes else n for k, n in enumerate(value.shape)))
    return out


def nanpercentile(x, q, axis=None, method="linear", keepdims=False):
    levels = np.asarray(f.convert_to_numpy(q), dtype=np.float64)
    if not np.all((levels >= 0) & (levels <= 100)):
        raise ValueError(f"nanpercentile: q must be in [0, 100], got {levels.tolist()}")
    return nanquantile(x, levels / 100.0, axis=axis, method=method, keepdims=keepdims)


def nanmedian(x, axis=None, keepdims=False):
    return nanquantile(x, 0.5, axis=axis, method="midpoint", keepdims=keepdims)  # (JAX's, as median)


def corrcoef(x):
    """The correlation matrix of the rows of ``x`` (each row a variable, each column an observation), clipped to
    [-1, 1] as NumPy does."""
    x = _floats(x)
    if len(f._shape(x)) > 2:
        raise ValueError(f"corrcoef takes a 1-D or 2-D array, got shape {f._shape(x)}")
    rows = f.reshape(x, (1, -1)) if len(f._shape(x)) < 2 else x
    centred = f.subtract(rows, f.mean(rows, axis=1, keepdims=True))
    covariance = f.matmul(centred, f.transpose(centred))
    scale = f.sqrt(af.diagonal(covariance))
    out = f.clip(f.divide(f.divide(covariance, f.reshape(scale, (-1, 1))), f.reshape(scale, (1, -1))), -1.0, 1.0)
    return f.reshape(out, ()) if f._shape(rows)[0] == 1 else out  # (one variable: a scalar, as NumPy's)


def histogram(x, bins=10, range=None):  # noqa: A002 (Keras's argument name)
    """(counts, bin edges) of the values of a 1-D ``x`` in ``bins`` equal bins over ``range`` (the values' own
    span by default): the last bin includes its right edge, values outside the range are not counted."""
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)):
        raise TypeError(f"Argument `bins` must be of type `int`. Received: bins={bins}")
    if bins < 0:
        raise ValueError(f"Argument `bins` should be a non-negative integer. Received: bins={bins}")
    if range:
        if len(range) < 2 or not isinstance(range, tuple):
            raise ValueError(f"Argument `range` must be a tuple of two elements. Received: range={range}")
        if range[1] < range[0]:
            raise ValueError("The second element of `range` must be greater than the first. "
                             f"Received: range={range}")
    x = _input(x)
    xp = array_module(x)
    value = _array(x, xp)
    if value.ndim != 1:
        raise ValueError(f"Input tensor must be 1-dimensional. Received: input.shape={value.shape}")
    dtype = value.dtype if value.dtype.kind == "f" else np.dtype("float32")
    if bins == 0:  # no bins: no counts, and the one edge at the range's start (JAX's)
        start = range[0] if range else (float(xp.min(value)) if value.size else 0.0)
        return Tensor(xp.zeros(0, dtype=dtype)), Tensor(xp.asarray([start], dtype=dtype))
    counts, edges = xp.histogram(value, bins=int(bins), range=range)
    return Tensor(counts.astype(dtype)), Tensor(edges.astype(dtype))  # (counts in the float dtype, as JAX's)


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """The integral of ``y`` along ``axis`` by the trapezoidal rule, at the points ``x`` (or spaced ``dx``)."""
    y = _floats(y)
    moved = af.moveaxis(y, axis, -1)
    head, tail = moved[..., :-1], moved[..., 1:]
    heights = f.multiply(f.add(head, tail), 0.5)
    if x is None:
        return f.multiply(f.sum(heights, axis=-1), dx)
    steps = ef.diff(_floats(x), axis=-1 if len(f._shape(x)) == 1 else axis)
    if len(f._shape(x)) != 1:
        steps = af.moveaxis(steps, axis, -1)
    return f.sum(f.multiply(heights, steps), axis=-1)
