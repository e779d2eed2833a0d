"""The word-index sequence steps shared by ``imdb`` and ``reuters``, each as Keras 3 does it, so that both
return what ``keras.datasets`` returns for the same arguments."""
from __future__ import annotations

import numpy as np

__all__ = ["mark_and_shift", "drop_long", "limit_vocabulary", "object_array"]


def mark_and_shift(sequences, start_char, index_from):
    """Each sequence as a new list: ``start_char`` first (unless None), every word index plus ``index_from``."""
    if start_char is not None:
        return [[start_char] + [w + index_from for w in x] for x in sequences]
    if index_from:
        return [[w + index_from for w in x] for x in sequences]
    return [[w for w in x] for x in sequences]


def drop_long(maxlen, sequences, labels):
    """The sequences shorter than ``maxlen``, with their labels, as lists.

    Keras's documentation speaks of truncating, but its code drops every sequence of ``maxlen`` words or
    more (``len(x) < maxlen`` is kept); that is followed here, so the same reviews are kept.
    """
    kept_sequences, kept_labels = [], []
    for x, y in zip(sequences, labels):
        if len(x) < maxlen:
            kept_sequences.append(x)
            kept_labels.append(y)
    return kept_sequences, kept_labels


def limit_vocabulary(sequences, num_words, skip_top, oov_char):
    """Word indices outside ``[skip_top, num_words)`` replaced by ``oov_char``, or removed when it is None.

    Without ``num_words`` the bound is the largest index present, so, as in Keras, that one word also
    counts as out of vocabulary.
    """
    if not num_words:
        num_words = max(max(x) for x in sequences)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in sequences]
    return [[w for w in x if skip_top <= w < num_words] for x in sequences]


def object_array(sequences) -> np.ndarray:
    """The sequences as Keras returns them: ``np.array(..., dtype="object")``, a 1-D array of lists when
    their lengths differ."""
    return np.array(sequences, dtype="object")
