"""Layer: the shape every gpunn layer has.

A layer declares its weights (``weight_specs``), receives views into the model's flat buffers (``bind``),
and runs ``forward(x, training) -> (y, backprop)`` where ``backprop(dy, need_dx) -> dx`` writes the
weight gradients into the gradient views (overwriting, not accumulating: each weight is used once a step).
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .. import initializers, regularizers

Backprop = Callable[..., Any]
_name_counters: dict[str, itertools.count] = {}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def unique_name(prefix: str) -> str:
    counter = _name_counters.setdefault(prefix, itertools.count())
    n = next(counter)
    return prefix if n == 0 else f"{prefix}_{n}"


@dataclass
class WeightSpec:
    name: str
    shape: tuple[int, ...]
    initializer: initializers.Initializer
    regularizer: regularizers.Regularizer | None = None
    trainable: bool = True


@dataclass
class Bound:
    """The arrays a layer works with once the model has allocated its flat buffers."""

    weights: dict[str, Any] = field(default_factory=dict)
    grads: dict[str, Any] = field(default_factory=dict)


def normalize_shape(argument: str, shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    try:
        shape = tuple(None if s is None else int(s) for s in shape)
    except (TypeError, ValueError):  # ValueError: int("a"), e.g. from a string given as the shape
        raise TypeError(f"{argument}: expected a tuple of positive ints, got {shape!r}") from None
    if any(s is not None and s <= 0 for s in shape):
        raise ValueError(f"{argument}: expected positive dimensions, got {shape!r}")
    return shape


class Layer:
    has_weights = False

    def __init__(self, name=None, dtype=None, trainable=True, input_shape=None, input_dim=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        self.name = name or unique_name(_snake(type(self).__name__))
        self.dtype = np.dtype(dtype).name if dtype is not None else None
        if self.dtype is not None and np.dtype(self.dtype).kind != "f":
            raise ValueError(f"dtype: expected a floating dtype such as 'float32' or 'float64', got {dtype!r}")
        self.trainable = bool(trainable)
        if input_dim is not None:
            input_shape = (input_dim,)
        self.declared_input_shape = None if input_shape is None else normalize_shape("input_shape", input_shape)
        self.input_shape: tuple | None = None  # without the batch dimension
        self.output_shape: tuple | None = None
        self.built = False
        self.ops = None
        self.bound = Bound()

    # ---- construction -----------------------------------------------------------------------------
    def build(self, input_shape: tuple) -> None:
        self.input_shape = tuple(input_shape)
        self.output_shape = self.compute_output_shape(self.input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def weight_specs(self) -> list[WeightSpec]:
        return []

    def bind(self, ops, weights: dict, grads: dict) -> None:
        self.ops = ops
        self.bound = Bound(weights, grads)
        # Looked up once here, not on every training step.
        self._regularized = [(s.regularizer, weights[s.name], grads[s.name]) for s in self.weight_specs()
                             if s.regularizer is not None and s.name in grads]

    # ---- computation ------------------------------------------------------------------------------
    def forward(self, x, training: bool) -> tuple[Any, Backprop]:
        raise NotImplementedError

    def regularization_penalty(self):
        """The weight penalty added to the loss (0.0 when no regularizer)."""
        total = 0.0
        for spec in self.weight_specs():
            if spec.regularizer is not None:
                total = total + spec.regularizer.penalty(self.ops.xp, self.bound.weights[spec.name])
        return total

    def add_regularization_gradients(self) -> None:
        """Add each weight penalty's gradient to its gradient view. The model calls this after backward (and
        after the sum over ranks: the penalty depends on the weights alone, so each rank adds it once)."""
        for regularizer, weight, grad in self._regularized:
            regularizer.add_gradient(self.ops.xp, weight, grad)

    # ---- Keras-facing -----------------------------------------------------------------------------
    @property
    def weights(self) -> list:
        return [self.bound.weights[s.name] for s in self.weight_specs()] if self.built else []

    def get_weights(self) -> list[np.ndarray]:
        return [self.ops.to_numpy(w).copy() for w in self.weights]

    def set_weights(self, values) -> None:
        specs = self.weight_specs()
        if len(values) != len(specs):
            raise ValueError(f"weights: layer {self.name!r} expects {len(specs)} arrays, got {len(values)}")
        for spec, value in zip(specs, values):
            value = np.asarray(value)
            if value.shape != spec.shape:
                raise ValueError(
                    f"weights: layer {self.name!r} weight {spec.name!r} expects shape {spec.shape}, got {value.shape}"
                )
            self.bound.weights[spec.name][...] = self.ops.asarray(value, dtype=self.bound.weights[spec.name].dtype)

    def count_params(self) -> int:
        return sum(int(np.prod(s.shape)) for s in self.weight_specs())

    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable}
        if self.dtype is not None:
            config["dtype"] = self.dtype
        if self.declared_input_shape is not None:
            config["input_shape"] = list(self.declared_input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"
