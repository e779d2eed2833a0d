"""``keras.ops``'s functions of integers and indices, none differentiable: the bitwise operations and shifts,
``unravel_index``, ``argpartition``, ``unique`` and ``view`` (the same bytes read as another dtype)."""
from __future__ import annotations

import numpy as np

from . import extra_functions as ef
from . import functions as f
from .functions import array_module
from .tensor import Tensor

_input, _array = ef._input, ef._array


def _integers(name: str, *xs):
    values = []
    xp = array_module(*xs)
    for x in xs:
        value = xp.asarray(_array(_input(x), xp)) if not isinstance(x, (int, np.integer)) else x
        if isinstance(value, (int, np.integer)) and name == "unravel_index":
            value = _array(value, xp)  # (a Python int as int32, Keras's)
        if getattr(value, "dtype", np.dtype("int64")).kind not in "biu":
            raise TypeError(f"{name}: takes integers or booleans, got dtype {value.dtype}")
        values.append(value)
    return xp, values


def _bitwise(name: str, how):
    def function(x, y):
        xp, _ = _integers(name, x, y)  # (checks the types)
        # in Keras's result type: Python integers weak beside integer arrays, else int32; booleans shifted as int32
        out, _ = f._combined(xp, [x, y], lambda xp, a, b: getattr(xp, how)(a, b))
        return Tensor(xp.asarray(out))

    function.__name__ = name
    function.__doc__ = f"NumPy's ``{how}`` of integers or booleans, element by element."
    return function


bitwise_and = _bitwise("bitwise_and", "bitwise_and")
bitwise_or = _bitwise("bitwise_or", "bitwise_or")
bitwise_xor = _bitwise("bitwise_xor", "bitwise_xor")
bitwise_left_shift = _bitwise("bitwise_left_shift", "left_shift")
bitwise_right_shift = _bitwise("bitwise_right_shift", "right_shift")
left_shift = bitwise_left_shift
right_shift = bitwise_right_shift


def bitwise_invert(x):
    """Each bit flipped (``~x``; ``not`` for booleans)."""
    xp, (value,) = _integers("bitwise_invert", x)
    return Tensor(xp.invert(_array(x, xp) if isinstance(x, int) else value))  # (a Python int as int32)


bitwise_not = bitwise_invert


def unravel_index(indices, shape):
    """The coordinates in an array of ``shape`` of flat ``indices``: a tuple of one index array per axis."""
    xp, (value,) = _integers("unravel_index", indices)
    dims = tuple(int(n) for n in shape)
    if int(np.prod(dims)) == 0:
        raise ValueError(f"unravel_index: cannot unravel into the empty shape {dims}")
    coordinates = xp.unravel_index(value, dims)
    return tuple(Tensor(xp.asarray(c).astype(value.dtype if value.dtype.kind in "iu" else np.int32))
                 for c in coordinates)


def argpartition(x, kth, axis=-1):
    """Indices that partition ``x`` along ``axis`` about its ``kth`` smallest value: that value at place ``kth``,
    smaller ones before it, larger ones after (their order within each side unspecified), in int32."""
    x = _input(x)
    xp = array_module(x)
    value = _array(x, xp)
    if axis is None:
        value, axis = value.reshape(-1), 0
    return Tensor(xp.argpartition(value, kth, axis=axis).astype(np.int32))


def unique(x, sorted=True, return_index=False, return_inverse=False,  # noqa: A002 (Keras's argument names)
           return_counts=False, axis=None, size=None, fill_value=None):
    """The distinct values of ``x`` in sorted order (of its rows along ``axis`` when given), with optionally the
    index of each one's first occurrence, the inverse map and the counts, as NumPy gives them. ``size`` pads (or
    cuts) the result to that length with ``fill_value`` (the smallest value by default), as JAX does for a
    static shape."""
    x = _input(x)
    xp = array_module(x)
    value = _array(x, xp)
    # each NaN a value of its own, as JAX's (equal_nan=False)
    results = xp.unique(value, return_index=return_index, return_inverse=return_inverse,
                        return_counts=return_counts, axis=axis, **({"equal_nan": False} if xp is np else {}))
    results = list(results) if isinstance(results, tuple) else [results]
    if size is not None:
        results = _sized(xp, results, value, int(size), fill_value, axis, return_index, return_inverse)
    index_dtype = np.int32
    out = [Tensor(results[0])] + [Tensor(xp.asarray(r).astype(index_dtype)) for r in results[1:]]
    return out[0] if len(out) == 1 else tuple(out)


def _sized(xp, results, value, size, fill_value, axis, return_index, return_inverse):
    """The results of ``unique`` cut or padded to ``size`` distinct values (counts and first indices padded with
    0, as JAX pads them; the inverse map unchanged)."""
    values = results[0]
    along = 0 if axis is None else axis
    found = values.shape[along]
    if found >= size:
        cut = [xp.take(values, xp.arange(size), axis=along)]
        for k, r in enumerate(results[1:], start=1):
            inverse = return_inverse and k == 1 + int(return_index)
            cut.append(r if inverse else r[:size])
        return cut
    fill = xp.min(value) if fill_value is None else fill_value
    pad_shape = list(values.shape)
    pad_shape[along] = size - found
    padded = [xp.concatenate([values, xp.full(pad_shape, fill, dtype=values.dtype)], axis=along)]
    for k, r in enumerate(results[1:], start=1):
        inverse = return_inverse and k == 1 + int(return_index)
        padded.append(r if inverse else xp.concatenate([r, xp.zeros(size - found, dtype=r.dtype)]))
    return padded


def view(x, dtype=None):
    """The bytes of ``x`` read as ``dtype`` (the last axis resized by the ratio of the item sizes)."""
    x = _input(x)
    xp = array_module(x)
    value = _array(x, xp)
    # (ascontiguousarray makes a 0-d array 1-d; a 0-d one keeps its shape, and NumPy refuses it another item size)
    value = xp.ascontiguousarray(value) if value.ndim else value.copy()
    return Tensor(value if dtype is None else value.view(np.dtype(dtype)))


def angle(x):
    """The angle of each value in the complex plane: 0 for a real value >= 0, pi for one < 0 (float32 for
    integers). No gradient (it is 0 but at 0)."""
    x = _input(x)
    xp = array_module(x)
    value = _array(x, xp)
    dtype = value.dtype if value.dtype.kind == "f" else np.dtype("float32")
    return Tensor(xp.angle(value).astype(dtype) if value.dtype.kind != "c" else xp.angle(value))


__all__ = ["angle", "argpartition", "bitwise_and", "bitwise_invert", "bitwise_left_shift", "bitwise_not",
           "bitwise_or", "bitwise_right_shift", "bitwise_xor", "left_shift", "right_shift", "unique",
           "unravel_index", "view"]
