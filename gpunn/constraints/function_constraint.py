"""A function of the user's as a constraint (``kernel_constraint=my_positive_weights``, as "Hands-On Machine
Learning" writes one: ``def my_positive_weights(weights): return ops.where(weights < 0., ops.zeros_like(weights),
weights)``), as Keras takes any callable: run after each optimizer update on the trained weight, its result
written back. Saved by its registered name, as Keras saves a function."""
from __future__ import annotations

from .base import Constraint


class FunctionConstraint(Constraint):
    def __init__(self, function):
        self.function = function

    def __call__(self, w):
        return self.function(w)

    def apply(self, ops, ws, weight) -> None:
        ops.assign_result(self, weight)

    def get_config(self) -> dict:
        raise TypeError("a FunctionConstraint is written as its function (constraints.serialize)")

    def __repr__(self) -> str:
        return f"FunctionConstraint({getattr(self.function, '__name__', self.function)!r})"
