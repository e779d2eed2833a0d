"""``pad_sequences``: lists of varying length (word-index sequences such as ``datasets.imdb``'s) as one array,
with the arguments, defaults and errors of ``keras.utils.pad_sequences``."""
from __future__ import annotations

import numpy as np

__all__ = ["pad_sequences"]


def _lengths_and_item_shape(sequences) -> tuple[list, tuple]:
    """Each sequence's length, and the shape of one item (taken from the first non-empty sequence)."""
    lengths, item_shape = [], None
    for sequence in sequences:
        try:
            lengths.append(len(sequence))
        except TypeError as e:
            raise ValueError(f"`sequences` must be a list of iterables. Found non-iterable: {sequence}") from e
        if item_shape is None and len(sequence):
            item_shape = np.asarray(sequence).shape[1:]
    return lengths, item_shape or ()


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """A (len(sequences), maxlen, ...) array of ``dtype``: each sequence cut to its last (``truncating="pre"``) or
    first (``"post"``) ``maxlen`` items and filled with ``value`` before (``padding="pre"``) or after (``"post"``)
    them; ``maxlen`` defaults to the longest sequence."""
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable.")
    if truncating not in ("pre", "post"):
        raise ValueError(f'Truncating type "{truncating}" not understood')
    if padding not in ("pre", "post"):
        raise ValueError(f'Padding type "{padding}" not understood')
    lengths, item_shape = _lengths_and_item_shape(sequences)
    if maxlen is None:
        maxlen = int(np.max(lengths))
    text_dtype = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not text_dtype:
        raise ValueError(f"`dtype` {dtype} is not compatible with `value`'s type: {type(value)}\n"
                         "You should set `dtype=object` for variable length strings.")
    padded = np.full((len(sequences), maxlen) + tuple(item_shape), value, dtype=dtype)
    for row, sequence in enumerate(sequences):
        if not len(sequence):
            continue
        kept = np.asarray(sequence[-maxlen:] if truncating == "pre" else sequence[:maxlen], dtype=dtype)
        if kept.shape[1:] != tuple(item_shape):
            raise ValueError(f"Shape of sample {kept.shape[1:]} of sequence at position {row} is different from "
                             f"expected shape {tuple(item_shape)}")
        if padding == "post":
            padded[row, :len(kept)] = kept
        else:
            padded[row, maxlen - len(kept):] = kept
    return padded
