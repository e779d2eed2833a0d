"""The steps shared by ``boston_housing`` and ``california_housing``, each as Keras 3 does it."""
from __future__ import annotations

import numpy as np

__all__ = ["check_test_split", "read_xy", "shuffle_and_split"]


def check_test_split(test_split) -> None:
    """Keras's check and message: a test fraction in [0, 1)."""
    if not (0 <= test_split < 1):
        raise ValueError(
            f"Invalid `test_split` argument: {test_split}. It must be between 0 and 1 (exclusive of 1)."
        )


def read_xy(path):
    """Arrays ``x`` and ``y`` of a Keras housing ``.npz`` file (plain numbers: no pickle allowed)."""
    with np.load(path, allow_pickle=False) as f:
        return f["x"], f["y"]


def shuffle_and_split(x, y, test_split, seed):
    """Rows shuffled with ``np.random.RandomState(seed)``, the last ``test_split`` of them the test set."""
    rng = np.random.RandomState(seed)
    indices = np.arange(len(x))
    rng.shuffle(indices)
    x, y = x[indices], y[indices]
    split = int(len(x) * (1 - test_split))
    return (np.array(x[:split]), np.array(y[:split])), (np.array(x[split:]), np.array(y[split:]))
