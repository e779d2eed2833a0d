"""Reuters newswire topics, as ``keras.datasets.reuters``: the same file, arguments and results."""
from __future__ import annotations

import json

import numpy as np

from ._cache import cached_file
from ._ragged_npz import load_ragged_npz
from ._sequences import drop_long, limit_vocabulary, mark_and_shift, object_array

__all__ = ["load_data", "get_word_index", "get_label_names"]

# Keras's published files and their hashes (sha256 for the arrays, md5 for the word index).
ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/reuters.npz"
FILE_HASH = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
WORD_INDEX_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/reuters_word_index.json"
WORD_INDEX_HASH = "4d44cc38712099c9e383dc6e5f11a921"

# The 46 topics, indexed by label.
LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee",
    "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx",
    "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock",
    "retail", "ipi", "iron-steel", "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem",
    "dlr", "gas", "silver", "wpi", "hog", "lead",
)


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2, seed=113,
              start_char=1, oov_char=2, index_from=3):
    """Load the Reuters newswires: 11,228 newswires labelled with one of 46 topics.

    Each newswire is a list of word indices, words ranked by how often they occur; ``0`` is reserved for
    padding. The file is Keras's ``reuters.npz``, read from ``$GPUNN_DATA_DIR/reuters/`` when that variable
    is set, else ``~/.gpunn/datasets/reuters/``, and downloaded there when missing (unless
    ``GPUNN_OFFLINE=1``).

    Args:
        path: the file's name in that directory; an absolute path is used as it is.
        num_words: keep the ``num_words`` most frequent words, others become ``oov_char``; None keeps all.
        skip_top: the most frequent ``skip_top`` words also become ``oov_char``.
        maxlen: drop newswires of ``maxlen`` or more indices (counting ``start_char``); None keeps all.
        test_split: fraction of the (shuffled, filtered) newswires that form the test set, the last ones.
        seed: seed of the shuffle (``np.random.RandomState(seed)``).
        start_char: index put at the start of every newswire; None puts none.
        oov_char: index that replaces words cut by ``num_words`` or ``skip_top``; None removes them.
        index_from: added to every word index.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: ``x`` 1-D object arrays of lists of ints, ``y`` int
        arrays of topic labels 0-45 (names: ``get_label_names()``), as ``keras.datasets.reuters.load_data``
        returns them.

    Raises:
        FileNotFoundError: the file is missing and could not be downloaded.
    """
    arrays = load_ragged_npz(cached_file("reuters", path, ORIGIN, FILE_HASH))
    xs, labels = arrays["x"], arrays["y"]

    rng = np.random.RandomState(seed)
    indices = np.arange(len(xs))
    rng.shuffle(indices)
    xs, labels = xs[indices], labels[indices]

    xs = mark_and_shift(xs, start_char, index_from)
    if maxlen:
        xs, labels = drop_long(maxlen, xs, labels)
    xs = limit_vocabulary(xs, num_words, skip_top, oov_char)

    # Keras checks no range here (unlike the housing sets): test_split=1 gives an empty training set.
    split = int(len(xs) * (1 - test_split))
    return ((object_array(xs[:split]), np.array(labels[:split])),
            (object_array(xs[split:]), np.array(labels[split:])))


def get_word_index(path="reuters_word_index.json"):
    """The ``{word: index}`` dictionary of the Reuters newswires (indices before ``index_from`` is added).

    Read from Keras's ``reuters_word_index.json`` in the reuters cache directory, downloaded when missing.
    """
    with open(cached_file("reuters", path, WORD_INDEX_ORIGIN, WORD_INDEX_HASH)) as f:
        return json.load(f)


def get_label_names():
    """The 46 topic names, a tuple indexed by label."""
    return LABEL_NAMES
