"""gpunn's own random state: weight initialisation, shuffling and dropout seeds all draw from it.

``gpunn.utils.set_random_seed(s)`` resets it (and Python's and NumPy's global generators), so the same seed
gives the same run bit for bit on the CPU.
"""
from __future__ import annotations

import random as _py_random

import numpy as np

_generator = np.random.default_rng()


def generator() -> np.random.Generator:
    return _generator


def set_random_seed(seed: int) -> None:
    """Seed gpunn, Python's ``random`` and NumPy's global generator, as ``keras.utils.set_random_seed`` does."""
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    _py_random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    _generator = np.random.default_rng(int(seed))


def reseed_from_python_random() -> None:
    """A new generator seeded from Python's ``random``, as Keras makes its global seed generator after
    ``clear_session()`` (keras/src/random/seed_generator.py ``make_default_seed``)."""
    global _generator
    _generator = np.random.default_rng(_py_random.randint(1, int(1e9)))


def new_seed() -> int:
    """A 32-bit seed for a component (a dropout layer's counter-based RNG), drawn from gpunn's generator."""
    return int(_generator.integers(0, 2**31 - 1))
