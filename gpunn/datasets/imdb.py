"""IMDB movie-review sentiment, as ``keras.datasets.imdb``: the same file, arguments and results."""
from __future__ import annotations

import json
import warnings

import numpy as np

from ._cache import cached_file
from ._ragged_npz import load_ragged_npz
from ._sequences import drop_long, limit_vocabulary, mark_and_shift, object_array

__all__ = ["load_data", "get_word_index"]

# Keras's published files and their hashes (sha256 for the arrays, md5 for the word index).
ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz"
FILE_HASH = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
WORD_INDEX_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb_word_index.json"
WORD_INDEX_HASH = "bfafd718b763782e994055a2d397834f"


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2,
              index_from=3, **kwargs):
    """Load the IMDB reviews: 25,000 training and 25,000 test reviews labelled positive (1) or negative (0).

    Each review is a list of word indices, words ranked by how often they occur (``3`` encodes the third
    most frequent word once ``index_from`` is added); ``0`` is reserved for padding. The file is Keras's
    ``imdb.npz``, read from ``$GPUNN_DATA_DIR/imdb/`` when that variable is set, else
    ``~/.gpunn/datasets/imdb/``, and downloaded there when missing (unless ``GPUNN_OFFLINE=1``).

    Args:
        path: the file's name in that directory; an absolute path is used as it is.
        num_words: keep the ``num_words`` most frequent words, others become ``oov_char``; None keeps all.
        skip_top: the most frequent ``skip_top`` words also become ``oov_char``.
        maxlen: drop reviews of ``maxlen`` or more indices (counting ``start_char``); None keeps all.
        seed: seed of the shuffle (``np.random.RandomState(seed)``, training set first, then test set).
        start_char: index put at the start of every review; None puts none.
        oov_char: index that replaces words cut by ``num_words`` or ``skip_top``; None removes them.
        index_from: added to every word index.
        **kwargs: accepted as Keras 3 accepts them, and ignored with a warning.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: ``x`` 1-D object arrays of lists of ints, ``y`` int
        arrays of 0/1 labels, as ``keras.datasets.imdb.load_data`` returns them.

    Raises:
        FileNotFoundError: the file is missing and could not be downloaded.
        ValueError: ``maxlen`` leaves no training or no test review.
    """
    if kwargs:
        # Keras 3 drops unknown keywords without a word; a warning keeps the script running and the typo seen.
        warnings.warn(f"imdb.load_data ignores the arguments {', '.join(sorted(kwargs))}, as Keras 3 does.",
                      stacklevel=2)
    arrays = load_ragged_npz(cached_file("imdb", path, ORIGIN, FILE_HASH))
    x_train, labels_train = arrays["x_train"], arrays["y_train"]
    x_test, labels_test = arrays["x_test"], arrays["y_test"]

    # One generator for both shuffles, training set first: Keras's exact calls, hence its exact order.
    rng = np.random.RandomState(seed)
    indices = np.arange(len(x_train))
    rng.shuffle(indices)
    x_train, labels_train = x_train[indices], labels_train[indices]
    indices = np.arange(len(x_test))
    rng.shuffle(indices)
    x_test, labels_test = x_test[indices], labels_test[indices]

    x_train = mark_and_shift(x_train, start_char, index_from)
    x_test = mark_and_shift(x_test, start_char, index_from)
    if maxlen:
        x_train, labels_train = drop_long(maxlen, x_train, labels_train)
        x_test, labels_test = drop_long(maxlen, x_test, labels_test)
        if not x_train or not x_test:
            raise ValueError(
                f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was kept. Increase maxlen."
            )

    # The vocabulary limit counts indices over both sets together, as Keras does.
    xs = limit_vocabulary(x_train + x_test, num_words, skip_top, oov_char)
    labels = np.concatenate([labels_train, labels_test])
    split = len(x_train)
    return (object_array(xs[:split]), labels[:split]), (object_array(xs[split:]), labels[split:])


def get_word_index(path="imdb_word_index.json"):
    """The ``{word: index}`` dictionary of the IMDB reviews (indices before ``index_from`` is added).

    Read from Keras's ``imdb_word_index.json`` in the imdb cache directory, downloaded when missing.
    """
    with open(cached_file("imdb", path, WORD_INDEX_ORIGIN, WORD_INDEX_HASH)) as f:
        return json.load(f)
