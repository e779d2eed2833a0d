"""An optimizer's step count and learning rate as its readers get them: numbers (``float(lr)``, arithmetic,
formatting) that also answer what Keras's Variables do (``.numpy()``, ``.value``, ``.assign(v)``,
``.assign_add(v)``), as scripts and callbacks written for Keras read ``optimizer.learning_rate.numpy()`` or call
``optimizer.learning_rate.assign(1e-4)``. Assigning goes through the optimizer's setter, which checks the value
and writes it to the device; the optimizer is held weakly (a stored value keeps none alive), and a copy or a
pickle is the plain number."""
from __future__ import annotations

import weakref

import numpy as np


class _Assigning:
    _NUMPY_TYPE: type = np.float64

    def _held(self, assign) -> None:
        self._assign = weakref.WeakMethod(assign)

    def numpy(self):
        return self._NUMPY_TYPE(self)

    @property
    def value(self):
        return self.numpy()

    @property
    def dtype(self) -> str:
        return np.dtype(self._NUMPY_TYPE).name  # Keras Variable's dtype: its name ("int64", "float32")

    @property
    def shape(self) -> tuple:
        return ()

    def assign(self, value):
        assign = self._assign()
        if assign is None:
            raise ReferenceError("assign: the optimizer this value was read from no longer exists")
        return assign(value)

    def assign_add(self, value):
        return self.assign(self + value)

    def assign_sub(self, value):
        return self.assign(self - value)


class HostFloat(_Assigning, float):
    """A float with Keras Variable's methods (float32, as Keras keeps a learning rate)."""

    _NUMPY_TYPE = np.float32

    def __new__(cls, value, assign):
        number = float.__new__(cls, value)
        number._held(assign)
        return number

    def __reduce__(self):
        return float, (float(self),)


class HostInt(_Assigning, int):
    """An int with Keras Variable's methods (int64, as Keras keeps ``iterations``)."""

    _NUMPY_TYPE = np.int64

    def __new__(cls, value, assign):
        number = int.__new__(cls, value)
        number._held(assign)
        return number

    def __reduce__(self):
        return int, (int(self),)
