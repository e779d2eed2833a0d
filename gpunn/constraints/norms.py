"""The norm constraints: MaxNorm, MinMaxNorm, UnitNorm.

Each takes the norms of the weight along ``axis`` (kept as length-1 axes), norms = sqrt(sum(w * w)), and
rescales the weight by a factor per norm, with Keras's formulas in Keras's order of operations:

    MaxNorm     w * (clip(norms, 0, max_value) / (eps + norms))
    MinMaxNorm  w * ((rate * clip(norms, min_value, max_value) + (1 - rate) * norms) / (eps + norms))
    UnitNorm    w / (eps + norms)

clip(x, lo, hi) is min(max(x, lo), hi), as ``jnp.clip``; eps is Keras's epsilon, 1e-7. A column of zeros
stays zeros (0 / eps).
"""
from __future__ import annotations

import numpy as np

from .. import fuzz_factor
from ..number_arguments import finite_number
from .base import ProjectionWithOps, check_axis, constant


class _NormConstraint(ProjectionWithOps):
    def __init__(self, axis=0):
        self.axis = check_axis(axis)

    def result_dtype(self, dtype):
        # Keras takes the norm in the weight's floating dtype; other inputs give floatx (float32).
        return np.dtype(dtype) if np.dtype(dtype).kind == "f" else np.dtype("float32")

    def reduced_axes(self, argument: str, shape: tuple) -> tuple:
        rank = len(shape)
        if self.axis is None:
            return tuple(range(rank))
        given = self.axis if isinstance(self.axis, (list, tuple)) else [self.axis]
        if any(not -rank <= a < rank for a in given):
            raise ValueError(f"{argument}: axis {self.axis!r} is out of range for a weight of shape {tuple(shape)}")
        axes = tuple(sorted(a % rank for a in given))
        if len(set(axes)) != len(axes):
            raise ValueError(f"{argument}: axis {self.axis!r} names an axis twice")
        return axes

    def check_shape(self, argument: str, shape: tuple) -> None:
        self.reduced_axes(argument, shape)

    def norms(self, ops, ws, weight):
        """sqrt(sum(w * w)) along ``axis``, keeping the reduced axes: a buffer of ``ws`` this call may reuse."""
        axes = self.reduced_axes(type(self).__name__, weight.shape)
        dtype = weight.dtype
        norms_shape = tuple(1 if i in axes else n for i, n in enumerate(weight.shape))
        squares = ws.buffer(_key("squares", dtype, weight.shape), weight.shape, dtype)
        norms = ws.buffer(_key("norms", dtype, norms_shape), norms_shape, dtype)
        ops.multiply(weight, weight, squares)
        ops.sum(squares, axes, norms, keepdims=True)
        return ops.sqrt(norms, norms)

    def clipped(self, ops, ws, norms, low, high):
        """clip(norms, low, high) into a buffer of its own."""
        out = ws.buffer(_key("desired", norms.dtype, norms.shape), norms.shape, norms.dtype)
        ops.maximum(norms, constant(ws, low, norms.dtype), out)
        return ops.minimum(out, constant(ws, high, norms.dtype), out)

    @staticmethod
    def rescale(ops, ws, weight, norms, desired) -> None:
        """weight *= desired / (eps + norms); ``norms`` and ``desired`` are overwritten."""
        ops.add(norms, constant(ws, fuzz_factor.epsilon(), norms.dtype), norms)
        ops.divide(desired, norms, desired)
        ops.multiply(weight, desired, weight)

    def get_config(self):
        return {"axis": self.axis}


def _key(name: str, dtype, shape) -> str:
    # By dtype and shape: the weights of a layer sharing a workspace reuse one buffer per shape.
    return f"constraint.{name}.{np.dtype(dtype)}.{'x'.join(map(str, shape))}"


class MaxNorm(_NormConstraint):
    """The weights incident to each unit (along ``axis``) rescaled to a norm of at most ``max_value``."""

    def __init__(self, max_value=2, axis=0):
        super().__init__(axis)
        self.max_value = finite_number("max_value", max_value, minimum=0, keep_int=True)

    def apply(self, ops, ws, weight) -> None:
        norms = self.norms(ops, ws, weight)
        desired = self.clipped(ops, ws, norms, 0, self.max_value)
        self.rescale(ops, ws, weight, norms, desired)

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(_NormConstraint):
    """Norms moved into [min_value, max_value] at ``rate`` (1.0: at once; less: part of the way each step)."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        super().__init__(axis)
        self.min_value = finite_number("min_value", min_value, minimum=0, keep_int=True)
        self.max_value = finite_number("max_value", max_value, minimum=0, keep_int=True)
        self.rate = finite_number("rate", rate, keep_int=True)

    def apply(self, ops, ws, weight) -> None:
        dtype = weight.dtype
        norms = self.norms(ops, ws, weight)
        desired = self.clipped(ops, ws, norms, self.min_value, self.max_value)
        ops.multiply(desired, constant(ws, self.rate, dtype), desired)
        rest = ws.buffer(_key("rest", dtype, norms.shape), norms.shape, dtype)
        # (1 - rate) in Python's double, then the weight's dtype, as Keras's jax backend rounds a Python scalar.
        ops.multiply(norms, constant(ws, 1 - self.rate, dtype), rest)
        ops.add(desired, rest, desired)
        self.rescale(ops, ws, weight, norms, desired)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


class UnitNorm(_NormConstraint):
    """The weights incident to each unit (along ``axis``) rescaled to norm 1."""

    def apply(self, ops, ws, weight) -> None:
        norms = self.norms(ops, ws, weight)
        ops.add(norms, constant(ws, fuzz_factor.epsilon(), norms.dtype), norms)
        ops.divide(weight, norms, weight)
