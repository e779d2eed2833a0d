"""Keras's ``optimizer.variables``: the optimizer's state as the list of variables a Keras optimizer holds, in its
order and with its names (``iteration``, ``learning_rate`` unless a schedule gives it, then what its ``build``
makes for each trained weight: ``adam/sequential_dense_kernel_momentum``...).

gpunn keeps each slot as one flat buffer over the trained weights; each variable here is a live view of its place
in gpunn's state (``OptimizerVariablePlace``, laid out by ``models/keras_variables.py``, which knows the model's
weights): ``numpy()`` reads the current value, ``assign()`` writes it (a slot's segment on the device, the step
count or the learning rate through the optimizer's setters), as scripts written for Keras read and set them. A
value gpunn derives rather than stores (Nadam's ``u_product``, from the step count) reads as Keras's and refuses an
assignment by name.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class OptimizerVariablePlace:
    """Where one of Keras's optimizer variables lives in gpunn: ``kind`` 'iteration' (the step count),
    'learning_rate', 'slot' (``slot``'s flat buffer [low:high], in ``shape``) or 'scalar' (``value_of(optimizer,
    dtype)``: a value gpunn derives instead of storing); ``path``: Keras's ('adam/sequential_dense_kernel_momentum')."""

    path: str
    kind: str
    slot: str | None = None
    low: int = 0
    high: int = 0
    shape: tuple = ()
    value_of: Callable | None = None


def head_places(optimizer) -> list[OptimizerVariablePlace]:
    """The variables every Keras optimizer has from its construction: the step count, and the learning rate unless
    a schedule gives it."""
    places = [OptimizerVariablePlace(f"{optimizer.name}/iteration", "iteration")]
    if optimizer.schedule is None:
        places.append(OptimizerVariablePlace(f"{optimizer.name}/learning_rate", "learning_rate"))
    return places


class OptimizerVariable:
    """One of Keras's optimizer variables, a live view of gpunn's optimizer state (the optimizer held weakly)."""

    def __init__(self, optimizer, place: OptimizerVariablePlace):
        self._optimizer = weakref.ref(optimizer)
        self._place = place

    @property
    def path(self) -> str:
        return self._place.path

    @property
    def name(self) -> str:
        return self._place.path.rsplit("/", 1)[-1]

    @property
    def shape(self) -> tuple:
        return self._place.shape

    @property
    def ndim(self) -> int:
        return len(self._place.shape)

    @property
    def dtype(self) -> str:
        kind = self._place.kind
        if kind == "iteration":
            return "int64"
        if kind == "learning_rate":
            return "float32"  # Keras keeps the rate in a variable of floatx
        optimizer = self._held()
        return np.dtype(optimizer.slots[self._place.slot].dtype if kind == "slot" else optimizer._params.dtype).name

    def _held(self):
        optimizer = self._optimizer()
        if optimizer is None:
            raise ReferenceError(f"{self.path}: the optimizer this variable belongs to no longer exists")
        return optimizer

    @property
    def value(self):
        """The current value: for a slot, the backend array itself (a view of the optimizer's buffer)."""
        optimizer, place = self._held(), self._place
        if place.kind == "iteration":
            return np.int64(optimizer.step_count)
        if place.kind == "learning_rate":
            return np.float32(optimizer.learning_rate)
        if place.kind == "slot":
            return optimizer.slots[place.slot][place.low:place.high].reshape(place.shape)
        return place.value_of(optimizer, optimizer._params.dtype)

    def numpy(self) -> np.ndarray:
        """A NumPy copy of the current value."""
        optimizer, value = self._held(), self.value
        if self._place.kind == "slot":
            return np.array(optimizer.ops.to_numpy(value), copy=True)
        return np.array(value)

    def __array__(self, dtype=None, copy=None):
        value = self.numpy()
        return value if dtype is None else value.astype(dtype)

    def assign(self, value):
        """Set the variable to ``value`` (its shape), as Keras's ``assign``; returns the variable."""
        optimizer, place = self._held(), self._place
        array = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
        if array.shape != tuple(place.shape):
            raise ValueError(f"value: {self.path} has shape {tuple(place.shape)}, got a value of shape {array.shape}")
        if place.kind == "iteration":
            optimizer.step_count = int(array)
        elif place.kind == "learning_rate":
            optimizer.learning_rate = float(array)
        elif place.kind == "slot":
            buffer = optimizer.slots[place.slot]
            buffer[place.low:place.high] = optimizer.ops.asarray(array.reshape(-1), dtype=buffer.dtype)
        else:
            raise ValueError(f"{self.path}: gpunn derives this value from the step count rather than storing it; "
                             "assign the step count (the iteration variable) instead")
        return self

    def __repr__(self) -> str:
        return f"<OptimizerVariable path={self.path}, shape={self.shape}, dtype={self.dtype}, value={self.numpy()}>"
