"""Data sets with Keras's ``load_data()`` conventions.

- ``digits``: scikit-learn's 8x8 digits, shipped offline (the default for examples and tests).
- ``mnist``, ``fashion_mnist``: the 28x28 sets, read from IDX files in a local cache (downloaded
  once when missing).
- ``boston_housing``, ``california_housing``: Keras's regression sets (13 and 8 features).
- ``imdb``, ``reuters``: Keras's word-index sequence sets (review sentiment, newswire topics), with
  ``get_word_index``.
- ``cifar10``, ``cifar100``: Keras's 32x32 colour image sets (10 classes; 100 fine or 20 coarse classes).
- ``synthetic``: generated classification and regression data of any size.

All but ``digits`` and ``synthetic`` are files in a local cache, downloaded once when missing; the
Keras sets use Keras's own files, so they return exactly what ``keras.datasets`` returns.
"""
from __future__ import annotations

import difflib

from . import (boston_housing, california_housing, cifar10, cifar100, digits, fashion_mnist, imdb, mnist, reuters,
               synthetic)

__all__ = [
    "boston_housing", "california_housing", "cifar10", "cifar100", "digits", "fashion_mnist", "imdb", "mnist",
    "reuters", "synthetic", "load", "NAMES",
]

_MODULES = {
    "digits": digits,
    "mnist": mnist,
    "fashion_mnist": fashion_mnist,
    "boston_housing": boston_housing,
    "california_housing": california_housing,
    "imdb": imdb,
    "reuters": reuters,
    "cifar10": cifar10,
    "cifar100": cifar100,
    "synthetic": synthetic,
}
NAMES = tuple(_MODULES)


def load(name, **kwargs):
    """Load a data set by name: ``load("mnist")`` is ``mnist.load_data()``.

    Args:
        name: one of ``NAMES``: ``'digits'``, ``'mnist'``, ``'fashion_mnist'``, ``'boston_housing'``,
            ``'california_housing'``, ``'imdb'``, ``'reuters'``, ``'cifar10'``, ``'cifar100'``, ``'synthetic'``
            (case-insensitive; ``-`` may stand for ``_``).
        **kwargs: passed on to that module's ``load_data``.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``.

    Raises:
        ValueError: ``name`` is not a known data set; the message suggests the closest name.
    """
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else name
    module = _MODULES.get(key)
    if module is None:
        choices = ", ".join(repr(n) for n in NAMES)
        message = f"dataset: expected one of {choices}, got {name!r}."
        close = difflib.get_close_matches(key, NAMES, n=1) if isinstance(key, str) else []
        if close:
            message += f" Did you mean {close[0]!r}?"
        raise ValueError(message)
    return module.load_data(**kwargs)
