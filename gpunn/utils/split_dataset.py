"""``keras.utils.split_dataset``: a dataset cut into a left part and a right part (train / validation).

Keras 3 returns two ``tf.data.Dataset`` objects (``torch.utils.data`` subsets for a torch dataset), which needs
TensorFlow even for NumPy arrays. Where TensorFlow is imported in the process (by the script or a library it
uses) and Keras 3 can be, or the script hands over a ``tf.data.Dataset`` or a torch dataset or names
``preferred_backend``, gpunn lets Keras 3 itself make the split (TensorFlow installs it), so the parts are Keras's,
batch size and order included. Elsewhere, NumPy arrays (an array of samples, or a tuple or list of arrays of the
same length) are split as NumPy arrays in the same structure: the same samples on each side as Keras's, shuffled by
Python's ``random`` with the same seed, so ``x_train, x_val = split_dataset(x, left_size=0.8)`` and ``(x_train,
y_train), (x_val, y_val) = split_dataset((x, y), ...)`` give what Keras's datasets hold, as arrays that ``fit``
takes. Followed: keras/src/utils/dataset_utils.py (its checks and messages).
"""
from __future__ import annotations

import random
import sys

import numpy as np

from .. import _compat
from ..layers.tf_pipeline import is_tf_dataset


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None, preferred_backend=None):
    """See the module docstring; the arguments are Keras's."""
    if is_tf_dataset(dataset) or _is_torch_dataset(dataset) or preferred_backend is not None or (
            "tensorflow" in sys.modules and _compat.keras_utility("split_dataset") is not None):
        return _by_keras(dataset, left_size, right_size, shuffle, seed, preferred_backend)
    if not isinstance(dataset, (tuple, list, np.ndarray)):
        raise TypeError(f"Unsupported dataset type: {type(dataset)}")  # Keras's message
    if right_size is None and left_size is None:
        raise ValueError("At least one of the `left_size` or `right_size` must be specified. Received: "
                         "left_size=None and right_size=None")
    columns = _columns(dataset)
    length = len(columns[0])
    order = list(range(length))
    if shuffle:
        if seed is None:
            seed = random.randint(0, int(1e6))
        random.seed(seed)  # Keras shuffles its list of samples so; the same seed moves indices the same way
        random.shuffle(order)
    left, right = split_sizes(left_size, right_size, length)
    parts = [np.asarray(order[:left]), np.asarray(order[-right:])]
    if isinstance(dataset, np.ndarray):
        return tuple(dataset[rows] for rows in parts)
    return tuple(tuple(column[rows] for column in columns) for rows in parts)


def _by_keras(dataset, left_size, right_size, shuffle, seed, preferred_backend):
    kerass = _compat.keras_utility("split_dataset")
    if kerass is None:
        raise ImportError("split_dataset: Keras 3 makes the tf.data (or torch) parts, as keras.utils.split_dataset "
                          "does, and it could not be imported (pip install keras; with TensorFlow it comes "
                          "installed); NumPy arrays are split without it when TensorFlow is not imported")
    return kerass(dataset, left_size=left_size, right_size=right_size, shuffle=shuffle, seed=seed,
                  preferred_backend=preferred_backend)


def _is_torch_dataset(dataset) -> bool:
    return any(klass.__name__ == "Dataset" and klass.__module__.startswith("torch.utils.data")
               for klass in type(dataset).__mro__)


def _columns(dataset) -> list:
    """The arrays of ``dataset``, each indexed by sample first, checked as Keras checks them."""
    if isinstance(dataset, np.ndarray):
        if len(dataset) == 0:
            raise ValueError("Received an empty dataset. Argument `dataset` must be a non-empty list/tuple of "
                             "`numpy.ndarray` objects or `tf.data.Dataset` objects.")
        return [dataset]
    kind = "tuple" if isinstance(dataset, tuple) else "list"
    if len(dataset) == 0:
        raise ValueError(f"Received an empty list dataset. Please provide a non-empty {kind} of arrays.")
    for i, element in enumerate(dataset):
        if not isinstance(element, np.ndarray):
            raise ValueError(f"Expected a {kind} of `numpy.ndarray` objects,Received: {type(element)} at index {i}.")
        if element.shape[0] != dataset[0].shape[0]:
            raise ValueError(f"Received a {kind} of NumPy arrays with different lengths.Mismatch found at index {i}, "
                             f"Expected shape={dataset[0].shape} Received shape={element.shape}.Please provide a "
                             f"{kind} of NumPy arrays of the same length.")
    if dataset[0].shape[0] == 0:
        raise ValueError("Received an empty dataset. Argument `dataset` must be a non-empty list/tuple of "
                         "`numpy.ndarray` objects or `tf.data.Dataset` objects.")
    return list(dataset)


def split_sizes(left_size, right_size, total_length: int) -> tuple[int, int]:
    """Keras's ``_rescale_dataset_split_sizes``: the two sizes as sample counts (a float is a fraction, rounded),
    with its checks and messages."""
    left_type, right_type = type(left_size), type(right_size)
    if left_size is not None and left_type not in (int, float) and right_size is not None and \
            right_type not in (int, float):
        raise TypeError("Invalid `left_size` and `right_size` Types. Expected: integer or float or None, Received: "
                        f"type(left_size)={left_type} and type(right_size)={right_type}")
    if left_size is not None and left_type not in (int, float):
        raise TypeError(f"Invalid `left_size` Type. Expected: int or float or None, Received: "
                        f"type(left_size)={left_type}.  ")
    if right_size is not None and right_type not in (int, float):
        raise TypeError(f"Invalid `right_size` Type. Expected: int or float or None,Received: "
                        f"type(right_size)={right_type}.")
    if left_size == 0 and right_size == 0:
        raise ValueError("Both `left_size` and `right_size` are zero. At least one of the split sizes must be "
                         "non-zero.")
    if left_type is int and (left_size <= 0 or left_size >= total_length) or \
            left_type is float and (left_size <= 0 or left_size >= 1):
        raise ValueError(f"`left_size` should be either a positive integer smaller than {total_length}, or a float "
                         f"within the range `[0, 1]`. Received: left_size={left_size}")
    if right_type is int and (right_size <= 0 or right_size >= total_length) or \
            right_type is float and (right_size <= 0 or right_size >= 1):
        raise ValueError(f"`right_size` should be either a positive integer and smaller than {total_length} or a "
                         f"float within the range `[0, 1]`. Received: right_size={right_size}")
    if right_type is left_type is float and right_size + left_size > 1:
        raise ValueError("The sum of `left_size` and `right_size` is greater than 1. It must be less than or equal "
                         "to 1.")
    # (Keras's types kept: a fraction becomes an int, a count a float; its messages print them so)
    left = round(left_size * total_length) if left_type is float else left_size if left_size is None else \
        float(left_size)
    right = round(right_size * total_length) if right_type is float else right_size if right_size is None else \
        float(right_size)
    if left is None:
        left = total_length - right
    elif right is None:
        right = total_length - left
    if left + right > total_length:
        raise ValueError(f"The sum of `left_size` and `right_size` should be smaller than the {total_length}. "
                         f"Received: left_size + right_size = {left + right}and total_length = {total_length}")
    for split, side in ((left, "left"), (right, "right")):
        if split == 0:
            raise ValueError(f"With `dataset` of length={total_length}, `left_size`={left} and "
                             f"`right_size`={right}.Resulting {side} side dataset split will be empty. Adjust "
                             "any of the aforementioned parameters")
    return int(left), int(right)


__all__ = ["split_dataset"]
