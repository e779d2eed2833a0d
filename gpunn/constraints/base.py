"""Constraint: a projection applied to a trained weight after each optimizer update (Keras 3's
``keras/src/constraints/constraints.py``).

Two ways in: ``constraint(w)`` returns the projected copy of an array, as in Keras; a training step calls
``constraint.apply(ops, ws, weight)``, which projects the weight in place on its view in the model's flat
buffer, through Ops primitives, with scratch and 0-d constants from the workspace ``ws``: after the first step
it allocates nothing, and a recorded step replays it.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import overrides
from ..ops.base import reference_ops_for
from ..ops.workspace import Workspace



class Constraint:
    """The identity, as Keras's base class. A constraint of one's own subclasses it and overrides
    ``__call__(w)`` (returning the projected array, as in Keras: a training step writes its result back into
    the weight, allocating on every step) or, to run allocation-free on any backend, ``apply``."""

    def __call__(self, w):
        return w

    def apply(self, ops, ws, weight) -> None:
        """Project ``weight`` in place. The base class is the identity; a subclass that overrides only
        ``__call__`` is run through it."""
        if overrides.user_definition(type(self), "__call__") is not None:
            ops.assign_result(self, weight)

    def check_shape(self, argument: str, shape: tuple) -> None:
        """Raise a ValueError naming ``argument`` when this constraint cannot apply to a weight of ``shape``."""

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


class ProjectionWithOps(Constraint):
    """A built-in constraint: written once as ``apply`` (Ops primitives, in place); ``constraint(w)`` runs that
    on a copy of ``w``. A subclass of the script's overriding ``__call__`` (and not ``apply``) is run through
    its ``__call__``, as Keras runs it; its ``super().__call__(w)`` is the built-in projection."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if overrides.user_definition(cls, "__call__") and not overrides.user_definition(cls, "apply"):
            cls.apply = Constraint.apply  # ops.assign_result(self, weight): the subclass's __call__, written back

    def apply(self, ops, ws, weight) -> None:
        raise NotImplementedError

    def _projection(self, ops, ws, weight) -> None:
        """The built-in ``apply`` of the class, whatever a subclass of the script's put in its place."""
        overrides.nearest_gpunn_class(type(self)).apply(self, ops, ws, weight)

    def result_dtype(self, dtype) -> np.dtype:
        """The dtype of ``constraint(w)`` for a ``w`` of ``dtype``."""
        return dtype

    def __call__(self, w):
        ops = reference_ops_for(w)
        if not isinstance(w, ops.xp.ndarray):
            array_like = hasattr(w, "__array__")
            w = np.asarray(w)  # a gpunn Variable (its live array), or nested lists
            if not array_like and w.dtype == np.float64:
                w = w.astype(np.float32)  # Keras reads Python floats in floatx
        out = ops.xp.array(w, dtype=self.result_dtype(w.dtype), copy=True)
        self.check_shape("w", out.shape)
        self._projection(ops, Workspace(ops), out)
        return out


def constant(ws, value, dtype):
    """A 0-d constant keyed by its value and dtype: constraints with different bounds sharing ``ws`` each keep
    their own (a constant rewritten between calls would break a recorded step)."""
    return ws.constant(f"constraint.{np.dtype(dtype)}.{value!r}", value, dtype)


def check_axis(axis):
    """Keras's ``axis``: an int or a list of ints (the axes the norm is taken over), or None (all axes)."""
    def one(a):
        if isinstance(a, (bool, np.bool_)) or not isinstance(a, numbers.Integral):
            raise ValueError(f"axis: expected an int or a list of ints, got {axis!r}")
        return int(a)

    if axis is None:
        return None
    if isinstance(axis, (list, tuple)):
        return type(axis)(one(a) for a in axis)
    return one(axis)
