"""What Keras's preprocessing layers of numeric categories (Discretization, Hashing, IntegerLookup) take: numbers
only (strings, which StringLookup takes, are refused by name), their argument checks, and the conversions Keras
applies to their data.
"""
from __future__ import annotations

import numpy as np

from . import tf_pipeline
from .keyword_inputs import NOT_GIVEN


def integer_argument(argument: str, value, minimum: int | None = None, allow_none: bool = False):
    """``value`` as an int (None where allowed), refused by name when it is not an integer >= ``minimum``."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{argument}: expected an integer, got {value!r} (of type {type(value).__name__})")
    if minimum is not None and value < minimum:
        raise ValueError(f"{argument}: expected an integer >= {minimum}, got {value}")
    return int(value)


def check_salt(salt):
    """Keras's hash salt: None, one integer (used twice) or two, as a list of two unsigned 64-bit integers."""
    if salt is None:
        return None
    if isinstance(salt, (tuple, list)) and len(salt) == 2:
        pair = list(salt)
    elif isinstance(salt, (int, np.integer)) and not isinstance(salt, bool):
        pair = [salt, salt]
    else:
        raise ValueError(f"salt: expected a tuple of 2 integers, or a single integer, got {salt!r}")
    for value in pair:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < 2 ** 64:
            raise ValueError(f"salt: expected unsigned integers (below 2**64), got {salt!r}")
    return [int(value) for value in pair]


def as_int64(values: np.ndarray) -> np.ndarray:
    """TensorFlow's cast of numbers to int64, which Keras's Hashing and IntegerLookup apply to their inputs:
    floats truncated toward zero, those outside the int64 range to its minimum (what the cast gives on the CPU)."""
    values = np.asarray(values)
    if values.dtype.kind in "iub":
        return values.astype(np.int64)
    inside = (values >= -2.0 ** 63) & (values < 2.0 ** 63)
    with np.errstate(invalid="ignore"):
        return np.where(inside, np.trunc(np.where(inside, values, 0)).astype(np.int64), np.iinfo(np.int64).min)


def is_text(value) -> bool:
    """Strings, bytes, or an array or list holding them (what StringLookup would take)."""
    if isinstance(value, (str, bytes)):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "USO" and (value.dtype.kind != "O" or any(isinstance(v, (str, bytes))
                                                                           for v in value.reshape(-1)[:1000]))
    if isinstance(value, (list, tuple)):
        return any(is_text(v) for v in value[:1000])
    # a TensorFlow string tensor (tf.constant(["a", "b"]), a batch of a dataset), found without importing TensorFlow
    return type(value).__module__.split(".")[0] == "tensorflow" and \
        getattr(getattr(value, "dtype", None), "name", None) == "string"


def refuse_text(argument: str, value, layer: str) -> None:
    """Refuse string data or tokens: gpunn's preprocessing layers take numbers."""
    if is_text(value):
        raise TypeError(f"{argument}: gpunn's {layer} takes numbers (integers, or floats), got strings; string "
                        "categories go to a StringLookup layer (which turns them into indices)")


def is_one_array(data) -> bool:
    """An array of data (NumPy, CuPy, pandas, or a tensor: gpunn's, TensorFlow's, JAX's, torch's), not an
    iterable of batches (what adapt() tells apart; Keras takes a backend tensor as one array too)."""
    if isinstance(data, np.ndarray) or hasattr(data, "__cuda_array_interface__"):
        return True
    if type(data).__module__.split(".")[0] == "pandas":
        return True
    return all(hasattr(data, name) for name in ("__array__", "shape", "dtype")) and not tf_pipeline.is_tf_dataset(data)


def on_host(data):
    """An array of data as a NumPy array where it is a CuPy or pandas one; anything else as it is."""
    if hasattr(data, "__cuda_array_interface__") and hasattr(data, "get"):
        return data.get()
    return data.to_numpy() if type(data).__module__.split(".")[0] == "pandas" else data


class TakesNumbers:
    """A layer refusing string inputs by name when called (the data check would name their dtype only)."""

    def __call__(self, inputs=NOT_GIVEN, *more, **keywords):
        if tf_pipeline.is_pipeline_tensor(inputs):  # inside tf.data's map (tf_pipeline.py)
            return tf_pipeline.call_in_pipeline(self, inputs)
        refuse_text("inputs", inputs, type(self).__name__)
        if getattr(self, "takes_scalars", False) and isinstance(inputs, (int, np.integer)) and not isinstance(
                inputs, bool) and not more and not keywords:
            # one value on its own (Keras's lookups encode it as a sample of one): its encoding, or its index
            out = super().__call__(np.full((1, 1), inputs))
            mode = getattr(self, "output_mode", None)
            return out[0, 0] if mode == "int" else out if mode == "one_hot" else out[0]  # (Keras's shapes)
        return super().__call__(inputs, *more, **keywords)


def adapt_batches(data, steps):
    """The batches ``adapt`` reads from an iterable ``data`` (a generator, a PyDataset...), ``steps`` at most;
    one that is not iterable, or gives no batch, is refused by name."""
    try:
        batches = iter(data)
    except TypeError:
        raise TypeError(f"data: expected an array or an iterable of batches, got {type(data).__name__}") from None
    seen = 0
    for batch in batches:
        if steps is not None and seen >= steps:
            break
        yield batch
        seen += 1
    if seen == 0:
        raise ValueError("data: adapt() received an empty iterable (no batches)")
