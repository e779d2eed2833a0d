"""An optimizer's step count and learning rate as its readers get them: numbers (``float(lr)``, arithmetic,
formatting) that also answer what Keras's Variables do (``.numpy()``, ``.assign(v)``, ``.value``), as scripts
and callbacks written for Keras read ``optimizer.learning_rate.numpy()`` or call
``optimizer.learning_rate.assign(1e-4)``. Assigning goes through the optimizer's setter, which checks the value
and writes it to the device."""
from __future__ import annotations

import numpy as np


class HostFloat(float):
    """A float with Keras Variable's reading and assigning methods (float32, as Keras keeps a learning rate)."""

    def __new__(cls, value, assign):
        number = super().__new__(cls, value)
        number._assign = assign
        return number

    def numpy(self) -> np.float32:
        return np.float32(self)

    @property
    def value(self) -> np.float32:
        return self.numpy()

    def assign(self, value):
        return self._assign(value)


class HostInt(int):
    """An int with Keras Variable's reading and assigning methods (int64, as Keras keeps ``iterations``)."""

    def __new__(cls, value, assign):
        number = super().__new__(cls, value)
        number._assign = assign
        return number

    def numpy(self) -> np.int64:
        return np.int64(self)

    @property
    def value(self) -> np.int64:
        return self.numpy()

    def assign(self, value):
        return self._assign(value)
