"""Strings on the host: what the layers reading text (StringLookup) take, as NumPy arrays of Python ``str``.

Keras hands strings to TensorFlow, which takes ``str`` and ``bytes`` alike (bytes are its strings; ``str`` is
encoded in UTF-8). Here every value becomes a ``str`` (bytes decoded with the layer's ``encoding``), so that a
vocabulary of ``str`` finds the ``bytes`` of the same text. Anything else in the data (None, NaN, a number) is
refused with its index: a missing category is a value the user must fill, not one to hash silently.
"""
from __future__ import annotations

import numpy as np

from . import numeric_arguments as numeric


def _as_str(value, encoding: str):
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode(encoding)
    return None


def text_array(argument: str, data, encoding: str = "utf-8") -> np.ndarray:
    """``data`` (a string, a nested list of them, a NumPy / pandas array of ``str`` or ``bytes``) as a NumPy
    array of ``str`` of the same shape; anything that is not text is refused by name."""
    data = numeric.on_host(data)
    if isinstance(data, (str, bytes)):
        data = [data]  # (a scalar is not a batch; callers reshape what they need)
    try:
        array = np.asarray(data, dtype=object) if not isinstance(data, np.ndarray) else data
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{argument}: expected a rectangular array of strings ({exc})") from None
    if array.dtype.kind == "U":
        return array
    if array.dtype.kind == "S":
        return np.char.decode(array, encoding).astype(str)
    if array.dtype.kind != "O":
        raise TypeError(f"{argument}: expected strings, got {array.dtype} values")
    flat = array.reshape(-1)
    texts = [_as_str(value, encoding) for value in flat]
    for index, text in enumerate(texts):
        if text is None:
            position = tuple(int(i) for i in np.unravel_index(index, array.shape))
            raise TypeError(f"{argument}: expected strings, got {flat[index]!r} (of type {type(flat[index]).__name__})"
                            f" at index {position}; fill missing values first (e.g. with '' or a category of "
                            "their own)")
    if not texts:
        return np.zeros(array.shape, dtype=str)
    return np.array(texts, dtype=str).reshape(array.shape)


def utf8_bytes(texts: np.ndarray) -> np.ndarray:
    """Each ``str`` of ``texts`` as its UTF-8 bytes (what TensorFlow hashes), a flat object array."""
    return np.array([text.encode("utf-8") for text in np.asarray(texts).reshape(-1).tolist()], dtype=object)
