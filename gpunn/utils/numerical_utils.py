"""``keras.utils.normalize`` (keras/src/utils/numerical_utils.py)."""
from __future__ import annotations

import sys

import numpy as np

__all__ = ["normalize"]


def normalize(x, axis=-1, order=2):
    """A copy of ``x`` divided by its ``order``-norm along ``axis``, as ``keras.utils.normalize``.

    Keras's NumPy branch: ``np.linalg.norm(x, order, axis)``, norms of 0 replaced by 1 (a zero row stays zero
    instead of becoming NaN), and ``axis=None`` divides along the last axis. ``axis=0`` divides along axis 0,
    where Keras 3.15's ``axis = axis or -1`` divides along the last one (rows by the columns' norms). A NumPy
    array gives a NumPy array, a CuPy array a CuPy array (the same formula on the device); other array-likes
    (lists, pandas) are read as NumPy arrays.

    Args:
        x: array to normalize.
        axis: axis along which to normalize (an int, or None for the norm of the whole array).
        order: normalization order (e.g. ``order=2`` for the L2 norm, 1 for L1, ``np.inf`` for the max).

    Returns:
        The normalized copy (floating point, as NumPy's division gives it).
    """
    xp = np
    if hasattr(x, "__cuda_array_interface__") and type(x).__module__.split(".")[0] == "cupy":
        xp = sys.modules["cupy"]  # the caller's own CuPy array: computed where it lives, with its module
    elif not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"x: expected a numeric array, got dtype {x.dtype}")
    if axis is not None and (isinstance(axis, bool) or not isinstance(axis, (int, np.integer))):
        raise TypeError(f"axis: expected an int or None, got {axis!r}")
    if axis is not None and not -max(x.ndim, 1) <= axis < max(x.ndim, 1):
        raise ValueError(f"axis: expected an axis of an array of {x.ndim} dimensions, got {axis}")
    norm = xp.atleast_1d(xp.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    if axis is None:  # Keras: "axis cannot be `None`" for the division
        axis = -1
    return x / xp.expand_dims(norm, axis)
