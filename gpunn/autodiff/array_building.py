"""``keras.ops``'s functions that build arrays out of others: appending and stacking along the third axis, grids,
Kronecker and cross products, Vandermonde matrices, 1-D cross-correlation, signals cut into sequences, geometric
ranges and the classic window functions. Each is composed of ``functions.py``'s differentiable functions, so
gradients come with them; the ranges and windows are constants."""
from __future__ import annotations

import numpy as np

from . import array_functions as af
from . import functions as f
from .default_float import floatx
from .functions import _value, array_module
from .tensor import Tensor


def _input(x):
    """``x`` as a Tensor (Python numbers and lists as Keras converts them: floats in float32)."""
    if f._tensor(x) is not None or hasattr(x, "dtype"):
        return x
    value = f._array_of(x, np)
    return Tensor(value.astype("float32") if value.dtype.kind == "f" else value)


def append(x1, x2, axis=None):
    """``x2`` after ``x1`` along ``axis``; both flattened first when ``axis`` is None, as NumPy does."""
    x1, x2 = f._in_result_type(x1, x2)
    if axis is None:
        return f.concatenate([f.reshape(x1, (-1,)), f.reshape(x2, (-1,))], axis=0)
    return f.concatenate([x1, x2], axis=axis)


def _at_least_3d(x):
    shape = f._shape(x)
    if len(shape) == 0:
        return f.reshape(x, (1, 1, 1))
    if len(shape) == 1:
        return f.reshape(x, (1, shape[0], 1))
    if len(shape) == 2:
        return f.reshape(x, shape + (1,))
    return x


def dstack(xs):
    """The arrays joined along their third axis (1-D ``(n,)`` taken as ``(1, n, 1)``, 2-D as ``(m, n, 1)``)."""
    return f.concatenate([_at_least_3d(_input(x)) for x in xs], axis=2)


def dsplit(x, indices_or_sections):
    """``split`` along the third axis."""
    x = _input(x)
    if len(f._shape(x)) < 3:
        raise ValueError(f"dsplit only works on arrays of 3 or more dimensions, got shape {f._shape(x)}")
    return af.split(x, indices_or_sections, axis=2)


def meshgrid(*x, indexing="xy"):
    """Coordinate arrays of the 1-D inputs: ``"xy"`` (Cartesian: the first two axes swapped) or ``"ij"``."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"Valid values for `indexing` are 'xy' and 'ij'. Received: indexing={indexing}")
    for v in x:
        if len(f._shape(_input(v))) != 1:
            raise ValueError(f"meshgrid: the inputs must be 1D, got one of shape {f._shape(_input(v))}")
    vectors = [_input(v) for v in x]
    sizes = [f._shape(v)[0] for v in vectors]
    if indexing == "xy" and len(vectors) >= 2:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    grids = []
    for k, v in enumerate(vectors):
        place = k if indexing == "ij" or len(vectors) < 2 else {0: 1, 1: 0}.get(k, k)
        shape = [1] * len(vectors)
        shape[place] = -1
        grids.append(f.broadcast_to(f.reshape(v, tuple(shape)), tuple(sizes)))
    return grids


def vander(x, N=None, increasing=False):
    """The Vandermonde matrix of a 1-D ``x``: its columns are powers of ``x`` (decreasing unless ``increasing``);
    ``N`` columns (``len(x)`` by default)."""
    x = _input(x)
    shape = f._shape(x)
    if len(shape) != 1:
        raise ValueError(f"Input tensor must be 1-dimensional. Received: input.shape={shape}")
    if N is not None:
        if isinstance(N, bool) or not isinstance(N, (int, np.integer)):
            raise TypeError(f"Argument `N` must be of type `int`. Received: N={N} of type {type(N)}")
        if N < 0:
            raise ValueError(f"Argument 'N' must be nonnegative. Received: N={N}")
    if not isinstance(increasing, bool):
        raise TypeError(f"Argument `increasing` must be of type `bool`. Received: increasing={increasing} of "
                        f"type {type(increasing)}")
    columns = shape[0] if N is None else int(N)
    powers = [f.ones_like(x) if k == 0 else (x if k == 1 else f.power(x, k)) for k in range(columns)]
    if not increasing:
        powers = powers[::-1]
    if not powers:
        xp = array_module(x)
        return Tensor(xp.zeros((shape[0], 0), dtype=_value(x, xp).dtype))
    return f.stack(powers, axis=1)


def kron(x1, x2):
    """The Kronecker product: the blocks ``x1[i, j, ...] * x2``, of shape the product of the shapes (the
    shorter shape padded with leading ones)."""
    x1, x2 = f._in_result_type(x1, x2)
    a, b = f._shape(x1), f._shape(x2)
    rank = max(len(a), len(b))
    a, b = (1,) * (rank - len(a)) + a, (1,) * (rank - len(b)) + b
    # x1 on the even axes, x2 on the odd ones: their product laid out block by block
    spread_a = f.reshape(x1, tuple(n for size in a for n in (size, 1)))
    spread_b = f.reshape(x2, tuple(n for size in b for n in (1, size)))
    return f.reshape(f.multiply(spread_a, spread_b), tuple(m * n for m, n in zip(a, b)))


def _components(x, axis):
    x = af.moveaxis(x, axis, -1)
    count = f._shape(x)[-1]
    if count not in (2, 3):
        raise ValueError(f"incompatible dimensions for cross product (dimension must be 2 or 3), got {count}")
    parts = [x[..., k] for k in range(count)]
    return parts + [None] * (3 - count)


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """The cross product of vectors of 2 or 3 components (a missing third component is 0; two 2-vectors give the
    third component alone), as NumPy computes it; ``axis`` sets all three axes."""
    if axis is not None:
        axisa = axisb = axisc = axis
    x1, x2 = _input(x1), _input(x2)
    a1, a2, a3 = _components(x1, axisa)
    b1, b2, b3 = _components(x2, axisb)
    z = f.subtract(f.multiply(a1, b2), f.multiply(a2, b1))
    if a3 is None and b3 is None:
        return z
    zero = f.zeros_like(f.multiply(a1, b1))
    a3 = zero if a3 is None else a3
    b3 = zero if b3 is None else b3
    x = f.subtract(f.multiply(a2, b3), f.multiply(a3, b2))
    y = f.subtract(f.multiply(a3, b1), f.multiply(a1, b3))
    out = f.stack(_broadcast(x, y, z), axis=-1)
    return af.moveaxis(out, -1, axisc)


def _broadcast(*xs):
    shape = np.broadcast_shapes(*(f._shape(x) for x in xs))
    return [f.broadcast_to(x, shape) for x in xs]


def correlate(x1, x2, mode="valid"):
    """The cross-correlation of two 1-D arrays, ``out[k] = sum_n x1[n + k] * x2[n]`` over the overlap, with
    NumPy's ``mode``s: ``"valid"`` (full overlap), ``"same"`` (the longer one's length) and ``"full"``."""
    if mode not in ("valid", "same", "full"):
        raise ValueError(f"mode must be one of 'valid', 'same' or 'full', got {mode!r}")
    x1, x2 = f._in_result_type(x1, x2)
    if x1.dtype.kind != "f":  # Keras correlates integers and booleans in float32 (int64 in float64)
        dtype = "float64" if x1.dtype == np.int64 else "float32"
        x1, x2 = f.cast(x1, dtype), f.cast(x2, dtype)
    if len(f._shape(x1)) != 1 or len(f._shape(x2)) != 1:
        raise ValueError(f"correlate takes 1-D arrays, got shapes {f._shape(x1)} and {f._shape(x2)}")
    m, n = f._shape(x1)[0], f._shape(x2)[0]
    if m == 0 or n == 0:
        raise ValueError("correlate: the arrays must not be empty")
    if n > m:  # NumPy's rule: the longer array slides under the shorter one, the result reversed
        return af.flip(correlate(x2, x1, mode=mode), axis=0)
    pad = {"valid": (0, 0), "same": (n // 2, n - 1 - n // 2), "full": (n - 1, n - 1)}[mode]
    padded = af.pad(x1, [pad]) if pad != (0, 0) else x1
    length = m + sum(pad) - n + 1
    windows = af.take(padded, np.arange(length)[:, None] + np.arange(n)[None, :], axis=0)
    return f.matmul(windows, x2)


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """``num`` numbers spaced evenly on a log scale from ``start`` to ``stop`` (float32 unless ``dtype``)."""
    values = np.geomspace(f.convert_to_numpy(start), f.convert_to_numpy(stop), num=num, endpoint=endpoint,
                          axis=axis)
    return Tensor(values.astype(dtype or floatx()))


def _window(name: str, x, *args):
    length = int(f.convert_to_numpy(x))
    return Tensor(getattr(np, name)(length, *args).astype("float32"))


def bartlett(x):
    """The Bartlett (triangular) window of ``x`` points, in float32."""
    return _window("bartlett", x)


def blackman(x):
    """The Blackman window of ``x`` points, in float32."""
    return _window("blackman", x)


def hamming(x):
    """The Hamming window of ``x`` points, in float32."""
    return _window("hamming", x)


def hanning(x):
    """The Hann window of ``x`` points, in float32."""
    return _window("hanning", x)


def kaiser(x, beta):
    """The Kaiser window of ``x`` points and shape ``beta``, in float32."""
    return _window("kaiser", x, float(f.convert_to_numpy(beta)))


def extract_sequences(x, sequence_length, sequence_stride):
    """The last axis cut into sequences of ``sequence_length`` points every ``sequence_stride``: (..., n) ->
    (..., 1 + (n - sequence_length) // sequence_stride, sequence_length), as Keras frames a signal."""
    x = _input(x)
    length = f._shape(x)[-1]
    if isinstance(sequence_stride, bool) or not isinstance(sequence_stride, int) or sequence_stride <= 0:
        raise ValueError(f"`sequence_stride` must be a positive integer. Received: sequence_stride={sequence_stride}")
    if isinstance(sequence_length, bool) or not isinstance(sequence_length, int) or not 0 < sequence_length <= length:
        raise ValueError(f"`sequence_length` must be a positive integer of at most the last axis ({length}). "
                         f"Received: sequence_length={sequence_length}")
    frames = 1 + (length - sequence_length) // sequence_stride
    index = np.arange(frames)[:, None] * sequence_stride + np.arange(sequence_length)
    return af.take(x, index, axis=-1)
