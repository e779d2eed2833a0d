"""NumPy helpers with Keras's semantics."""
from __future__ import annotations

import numpy as np

__all__ = ["to_categorical"]


def to_categorical(x=None, num_classes=None, dtype="float64", *, y=None):
    """Convert a class vector (integers) to a one-hot class matrix, as ``keras.utils.to_categorical``.

    Args:
        x: array-like of class labels, integers from 0 to ``num_classes - 1`` (``y=`` by keyword, tf.keras
            2's name, too). A trailing axis of size 1 is dropped first (labels shaped ``(n, 1)`` give
            ``(n, num_classes)``).
        num_classes: total number of classes; inferred as ``max(y) + 1`` when None (or 0, as in Keras).
        dtype: dtype of the result: float64 by default, as Keras 3 gives NumPy labels (tf.keras 2 took this
            argument, with float32 as its default; Keras 3 has no such argument).

    Returns:
        A NumPy array of shape ``x.shape + (num_classes,)`` (after the squeeze above) with a 1 at
        each label's index and 0 elsewhere.

    Raises:
        ValueError: ``x`` is empty without ``num_classes``, holds non-integer or negative values, or a label is
            ``>= num_classes``; or ``num_classes`` is not a positive integer (0 counts the classes, as None).

    Example:
        >>> to_categorical([0, 2, 1])
        array([[1., 0., 0.],
               [0., 0., 1.],
               [0., 1., 0.]])
    """
    if y is not None:  # tf.keras 2's name
        if x is not None:
            raise TypeError("to_categorical: got the labels twice, as x and as y (tf.keras 2's name); pass x")
        x = y
    if x is None:
        raise TypeError("to_categorical: missing the class labels, x")
    y = x
    if hasattr(y, "__cuda_array_interface__") and hasattr(y, "get"):
        y = y.get()  # a CuPy array: labels are small, do the work on the host
    y = np.asarray(y)
    if isinstance(num_classes, (int, np.integer)) and not isinstance(num_classes, bool) and num_classes == 0:
        num_classes = None  # Keras's ``if not num_classes``: 0 counts the classes too
    if y.size == 0 and num_classes is None:
        raise ValueError(f"x: expected at least one label (or num_classes, to count the classes), got an empty "
                         f"array of shape {y.shape}")
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    elif y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            bad = float(y[~(np.isfinite(y) & (y == np.round(y)))].flat[0])
            raise ValueError(f"x: expected integer class labels, got non-integer value {bad!r}")
    elif y.dtype.kind not in "iu":
        raise ValueError(f"x: expected integer class labels, got an array of dtype {y.dtype}")
    labels = y.astype(np.int64)

    shape = labels.shape
    # Keras drops a trailing axis of 1 so (n, 1) label columns give (n, num_classes), not (n, 1, k).
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    labels = labels.reshape(-1)

    low = int(labels.min()) if labels.size else 0
    if low < 0:
        raise ValueError(f"x: expected class labels >= 0, got {low}")
    high = int(labels.max()) if labels.size else -1
    if num_classes is None:
        num_classes = high + 1
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes: expected a positive integer or None, got {num_classes!r}")
    elif high >= num_classes:
        raise ValueError(
            f"x: expected labels in [0, num_classes - 1] = [0, {num_classes - 1}], got label {high} "
            f"(num_classes={num_classes})"
        )
    num_classes = int(num_classes)

    out = np.zeros((labels.size, num_classes), dtype=dtype)
    out[np.arange(labels.size), labels] = 1
    return out.reshape(shape + (num_classes,))
