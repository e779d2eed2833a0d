"""Optimizer: one update over the model's flat parameter buffer per step (one fused launch on the GPU).

Keras 3 semantics: ``learning_rate`` is a float or a schedule called with ``iterations`` (the number of
updates done so far); ``weight_decay`` is decoupled (p -= p * wd * lr before the update); ``clipnorm``
clips each weight's gradient by its own norm, ``global_clipnorm`` all of them together, ``clipvalue``
element-wise.
"""
from __future__ import annotations

import numpy as np

from .schedules import LearningRateSchedule, deserialize as deserialize_schedule, serialize as serialize_schedule


def _non_negative_or_none(argument, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{argument}: expected a positive number or None, got {value!r}")
    return float(value)


class Optimizer:
    slot_names: tuple[str, ...] = ()
    update_step: str | None = None  # the Ops method the update calls, readied when the optimizer is built
    default_learning_rate = 0.001

    def __init__(self, learning_rate=None, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, **kwargs):
        for legacy in ("lr", "decay"):
            if legacy in kwargs:
                raise TypeError(f"{type(self).__name__}: argument {legacy!r} is the legacy Keras 2 name; use "
                                f"{'learning_rate' if legacy == 'lr' else 'a schedule from gpunn.optimizers.schedules'}")
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        if clipnorm is not None and global_clipnorm is not None:
            raise ValueError("clipnorm, global_clipnorm: give at most one of them")
        self._learning_rate = None
        self.learning_rate = self.default_learning_rate if learning_rate is None else learning_rate
        self.weight_decay = float(weight_decay or 0.0)
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay: expected a non-negative number, got {weight_decay!r}")
        self.clipnorm = _non_negative_or_none("clipnorm", clipnorm)
        self.clipvalue = _non_negative_or_none("clipvalue", clipvalue)
        self.global_clipnorm = _non_negative_or_none("global_clipnorm", global_clipnorm)
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self.slots: dict = {}
        self.ops = None
        self._segments: list[tuple[int, int]] = []

    # ---- learning rate ----------------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        if isinstance(self._learning_rate, LearningRateSchedule):
            return float(self._learning_rate(self.iterations))
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, LearningRateSchedule):
            self._learning_rate = value
            return
        if isinstance(self._learning_rate, LearningRateSchedule):
            raise TypeError("learning_rate: this optimizer follows a schedule; it cannot be set to a number")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not value > 0:
            raise ValueError(f"learning_rate: expected a positive number or a schedule, got {value!r}")
        self._learning_rate = float(value)

    lr = learning_rate  # Keras 2 spelling some callbacks and scripts still read

    # ---- state ------------------------------------------------------------------------------------
    def build(self, ops, params, segments) -> None:
        """Allocate the slot buffers (same size as ``params``); ``segments`` are each weight's (start, stop)."""
        self.ops = ops
        self._segments = list(segments)
        self.slots = {name: ops.zeros(params.shape, dtype=params.dtype) for name in self.active_slots()}
        if self.update_step is not None:
            ops.prepare_update(self.update_step, params.dtype)

    def active_slots(self) -> tuple[str, ...]:
        return self.slot_names

    def variables(self) -> dict:
        """Everything needed to resume: the slots and the step count (for saving)."""
        return dict(self.slots)

    # ---- the update -------------------------------------------------------------------------------
    def apply(self, params, grads) -> None:
        self._clip(grads)
        lr = self.learning_rate
        self.iterations += 1
        self.update(params, grads, lr, self.iterations)

    def update(self, params, grads, lr: float, step: int) -> None:
        raise NotImplementedError

    def _clip(self, grads) -> None:
        xp = self.ops.xp if self.ops is not None else np
        if self.clipvalue is not None:
            xp.clip(grads, -self.clipvalue, self.clipvalue, out=grads)
        # Norms stay on the device (no host read-back): scale = min(1, clip / norm).
        if self.global_clipnorm is not None:
            norm = xp.sqrt((grads * grads).sum())
            grads *= xp.minimum(1.0, self.global_clipnorm / xp.maximum(norm, 1e-12)).astype(grads.dtype)
        if self.clipnorm is not None:
            for start, stop in self._segments:
                g = grads[start:stop]
                norm = xp.sqrt((g * g).sum())
                g *= xp.minimum(1.0, self.clipnorm / xp.maximum(norm, 1e-12)).astype(grads.dtype)

    # ---- config -----------------------------------------------------------------------------------
    def get_config(self) -> dict:
        lr = self._learning_rate
        return {
            "name": self.name,
            "learning_rate": serialize_schedule(lr) if isinstance(lr, LearningRateSchedule) else lr,
            "weight_decay": self.weight_decay or None,
            "clipnorm": self.clipnorm, "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm,
        }

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = deserialize_schedule(config["learning_rate"])
        return cls(**config)
