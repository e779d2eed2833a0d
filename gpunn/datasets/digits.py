"""scikit-learn's 8x8 handwritten digits: the data set that needs no download.

1,797 images of the digits 0-9 ship inside scikit-learn, so this works offline, which makes it
the default for examples and tests.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["load_data"]


def load_data(test_split=0.2, seed=113):
    """Load scikit-learn's digits as a Keras-style train/test split.

    Images are 8x8 with integer intensities 0-16; they are divided by 16, so ``x`` holds float32
    values in [0, 1] (unlike ``mnist.load_data``, which returns raw uint8 0-255).

    The split is stratified: each digit contributes ``round(test_split * its count)`` images to the
    test set, chosen with ``numpy.random.default_rng(seed)``; both sets are then shuffled. The same
    ``seed`` always gives the same split.

    Args:
        test_split: fraction of the data to hold out for testing, in [0, 1).
        seed: random seed of the split and shuffle.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: ``x`` float32 of shape ``(num_samples, 8, 8)``,
        ``y`` uint8 labels 0-9 of shape ``(num_samples,)``.
    """
    if isinstance(test_split, bool) or not isinstance(test_split, numbers.Real) or not 0 <= test_split < 1:
        raise ValueError(f"test_split: expected a fraction in [0, 1), got {test_split!r}")
    # Imported here: scikit-learn costs about a second to import, and only this loader needs it.
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)
    y = bunch.target.astype(np.uint8)

    rng = np.random.default_rng(seed)
    test_idx = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        rng.shuffle(members)
        test_idx.append(members[: int(round(test_split * len(members)))])
    is_test = np.zeros(len(y), dtype=bool)
    is_test[np.concatenate(test_idx)] = True
    train = rng.permutation(np.flatnonzero(~is_test))
    test = rng.permutation(np.flatnonzero(is_test))
    return (x[train], y[train]), (x[test], y[test])
