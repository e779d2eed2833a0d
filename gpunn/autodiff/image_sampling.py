"""How ``image_functions.py`` samples images: the resampling matrices of ``resize`` and the interpolation of
``affine_transform`` / ``map_coordinates`` at arbitrary points, with their gradients with respect to the images.

Resizing is separable (JAX's ``jax.image.resize``, which Keras's jax backend calls): along each spatial axis the
output is a fixed (output length x input length) matrix applied to the input, so the matrices are built once on
the host, in float64 as JAX's ``compute_weight_mat`` builds them, and kept; applying one is a matrix product on
NumPy or CuPy alike, and its gradient is the product with the transposed matrix. Sampling at points follows
``jax.scipy.ndimage.map_coordinates``: nearest (rounded half away from zero) or linear interpolation between the
``2 ** ndim`` neighbours, points outside the input moved back in by the fill mode, or given ``fill_value``.
"""
from __future__ import annotations

import functools
import itertools

import numpy as np

from .array_functions import _scatter_add

RESIZE_INTERPOLATIONS = ("bilinear", "nearest", "lanczos3", "lanczos5", "bicubic", "area")
FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")


# ---- resizing -------------------------------------------------------------------------------------------------------

def _lanczos(radius: float):
    def kernel(x):
        y = radius * np.sin(np.pi * x) * np.sin(np.pi * x / radius)
        out = np.where(x > 1e-3, y / np.where(x != 0, np.pi ** 2 * x ** 2, 1), 1.0)
        return np.where(x > radius, 0.0, out)

    return kernel


def _keys_cubic(x):
    """Keys's cubic kernel with a = -0.5 (Pillow's, TensorFlow's and JAX's)."""
    out = ((1.5 * x - 2.5) * x) * x + 1.0
    out = np.where(x >= 1.0, ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0, out)
    return np.where(x >= 2.0, 0.0, out)


def _triangle(x):
    return np.maximum(0.0, 1.0 - np.abs(x))


_KERNELS = {"bilinear": _triangle, "bicubic": _keys_cubic, "lanczos3": _lanczos(3.0), "lanczos5": _lanczos(5.0)}


@functools.lru_cache(maxsize=256)
def nearest_indices(in_len: int, out_len: int) -> np.ndarray:
    """The input index each output index copies: floor((o + 0.5) * in / out), in float32 as JAX computes it
    (so that the ties fall as they do there)."""
    offsets = (np.arange(out_len, dtype=np.float32) + np.float32(0.5)) * np.float32(in_len) / np.float32(out_len)
    return np.minimum(np.floor(offsets).astype(np.int64), in_len - 1)


@functools.lru_cache(maxsize=256)
def resize_matrix(in_len: int, out_len: int, method: str, antialias: bool) -> np.ndarray:
    """The (out_len, in_len) float64 matrix that resizes one axis (JAX's ``compute_weight_mat`` with no
    translation): each output pixel's centre mapped back into the input, the kernel's weights there (widened by
    the scale when antialiasing a downscale), normalized to sum to 1, and 0 for centres outside the input."""
    inv_scale = in_len / out_len
    if method == "nearest":
        matrix = np.zeros((out_len, in_len))
        matrix[np.arange(out_len), nearest_indices(in_len, out_len)] = 1.0
        return matrix
    sample = (np.arange(out_len) + 0.5) * inv_scale - 0.5
    if method == "area":  # the overlap of each output pixel's span with each input pixel's
        left = np.arange(out_len) * inv_scale
        inputs = np.arange(in_len, dtype=np.float64)
        weights = np.maximum(0.0, np.minimum(left[None, :] + inv_scale, inputs[:, None] + 1.0)
                             - np.maximum(left[None, :], inputs[:, None]))
    else:
        kernel_scale = max(inv_scale, 1.0) if antialias else 1.0
        distance = np.abs(sample[None, :] - np.arange(in_len)[:, None]) / kernel_scale
        weights = _KERNELS[method](distance)
    total = weights.sum(axis=0, keepdims=True)
    weights = np.where(np.abs(total) > 1000.0 * float(np.finfo(np.float32).eps),
                       weights / np.where(total != 0, total, 1.0), 0.0)
    weights = np.where(((sample >= -0.5) & (sample <= in_len - 0.5))[None, :], weights, 0.0)
    return np.ascontiguousarray(weights.T)


def along_axis(xp, matrix, value, axis: int):
    """``matrix`` (out, in) applied along ``axis`` of ``value`` (of length ``in`` there)."""
    return xp.moveaxis(xp.tensordot(matrix, value, axes=([1], [axis])), 0, axis)


# ---- sampling at points --------------------------------------------------------------------------------------------

def _fixed(xp, index, size: int, mode: str):
    """``index`` moved into [0, size) by the fill mode (JAX's index fixers); "constant" clips, the caller masks."""
    if mode in ("constant", "nearest"):
        return xp.clip(index, 0, size - 1)
    if mode == "wrap":
        return index % size
    if mode == "mirror":  # (c d c b | a b c d | c b a b): a triangle wave of period 2 (size - 1)
        if size == 1:
            return xp.zeros_like(index)
        return xp.abs((index + size - 1) % (2 * size - 2) - (size - 1))
    # reflect, (d c b a | a b c d | d c b a): the mirror of the half-pixel grid
    return (xp.abs((2 * index + 1 + 2 * size) % (4 * size) - 2 * size) - 1) // 2


def _nodes(xp, coordinate, order: int):
    """The (index, weight) pairs interpolating at ``coordinate``: one for order 0, two for order 1."""
    if order == 0:
        rounded = xp.sign(coordinate) * xp.floor(xp.abs(coordinate) + 0.5)  # half away from zero, as lax.round
        return [(rounded.astype(np.int64), None)]
    lower = xp.floor(coordinate)
    upper_weight = coordinate - lower
    index = lower.astype(np.int64)
    return [(index, 1 - upper_weight), (index + 1, upper_weight)]


def sample(xp, rows, sizes: tuple, coordinates: list, order: int, mode: str, fill_value, base=None):
    """Interpolates ``rows`` at points.

    ``rows`` (N, C) holds the values of a grid of shape ``sizes`` (flattened in C order, one row per point of the
    grid, C values carried along; several grids stacked when ``base`` is given). ``coordinates`` are one array per
    grid axis, all of one shape S; ``base`` (broadcastable to S) is the first row of the grid each point samples.
    Returns (the (S..., C) samples, a function of their gradient giving the gradient for ``rows``)."""
    strides = [int(np.prod(sizes[d + 1:], dtype=np.int64)) for d in range(len(sizes))]
    per_axis = []
    for coordinate, size in zip(coordinates, sizes):
        per_axis.append([(_fixed(xp, index, size, mode), (index >= 0) & (index < size) if mode == "constant" else None,
                          weight) for index, weight in _nodes(xp, coordinate, order)])
    dtype = rows.dtype
    out = None
    used = []  # (flat index, weight of the value there, or None for 1) of each neighbour, for the gradient
    for corner in itertools.product(*per_axis):
        flat = base if base is not None else 0
        weight = valid = None
        for (index, inside, part), stride in zip(corner, strides):
            flat = flat + index * stride
            if part is not None:
                weight = part if weight is None else weight * part
            if inside is not None:
                valid = inside if valid is None else valid & inside
        values = rows[flat]
        if valid is not None:
            values = xp.where(valid[..., None], values, xp.asarray(fill_value, dtype=dtype))
            inside_weight = valid.astype(dtype) if weight is None else xp.where(valid, weight, 0)
        else:
            inside_weight = weight
        term = values if weight is None else weight[..., None].astype(dtype, copy=False) * values
        out = term if out is None else out + term
        used.append((flat, inside_weight))

    def backward(grad):
        full = xp.zeros(rows.shape, dtype=grad.dtype)
        channels = rows.shape[1]
        for flat, weight in used:
            part = grad if weight is None else grad * weight[..., None].astype(grad.dtype, copy=False)
            _scatter_add(xp, full, (xp.broadcast_to(flat, grad.shape[:-1]).reshape(-1),), part.reshape(-1, channels))
        return full

    return out, backward
