"""Utilities, as ``keras.utils``."""
from ..random import set_random_seed
from .np_utils import to_categorical

__all__ = ["to_categorical", "set_random_seed"]
