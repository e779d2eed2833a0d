"""Adafactor, as Keras 3 writes it (keras/src/optimizers/adafactor.py): second moments factored into a row and a
column average for the 2-D weights, a step scaled by the weight's own size.

Per step t (counted from 1), for each weight w with gradient g:

    rho = min(lr, 1 / sqrt(t));  alpha = max(epsilon_2, rms(w)) * rho;  beta = 1 - t ** beta_2_decay
    g2 = g * g + epsilon_1
    2-D:  r = beta r + (1 - beta) mean(g2, columns);  c = beta c + (1 - beta) mean(g2, rows)
          v = (r / mean(r)) outer c
    else: v = beta v + (1 - beta) g2
    u = g / sqrt(v);  w -= alpha * u / max(1, rms(u) / clip_threshold)

(``relative_step`` changes nothing in Keras's arithmetic, rho taking the minimum either way, so it is kept for the
configuration only.) ``r`` and ``c`` are kept in flat buffers of their own (``factor_rows``, ``factor_columns``:
each weight's rows, and columns, in turn), ``v`` in one over all parameters. Keras's files list r, c and velocity
per weight; for a weight that is not 2-D, r and c are scalar placeholders Keras never updates (one zero each here
too). Every operation is an Ops primitive on the weight's segment, reading the rate and the count from the device
state, so the step records and replays.
"""
from __future__ import annotations

import math

from ..number_arguments import finite_number, positive_number
from .base import ITERATIONS, LEARNING_RATE, WEIGHT_DECAY, Optimizer

ROWS, COLUMNS = "factor_rows", "factor_columns"


class Adafactor(Optimizer):
    host_hyperparameters = Optimizer.host_hyperparameters + (
        "beta_2_decay", "epsilon_1", "epsilon_2", "clip_threshold", "relative_step")

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0,
                 relative_step=True, *base_arguments, **kwargs):
        super().__init__(learning_rate, *base_arguments, **kwargs)
        self.beta_2_decay = finite_number("beta_2_decay", beta_2_decay)
        self.epsilon_1 = finite_number("epsilon_1", epsilon_1, 0.0)
        self.epsilon_2 = finite_number("epsilon_2", epsilon_2, 0.0)
        self.clip_threshold = positive_number("clip_threshold", clip_threshold)
        self.relative_step = bool(relative_step)
        self._shapes: tuple = ()

    def active_slots(self):
        return (ROWS, COLUMNS, "velocity")

    # ---- the factored slots' layout ------------------------------------------------------------------
    def set_trained_weights(self, descriptions) -> None:
        super().set_trained_weights(descriptions)
        shapes = tuple(tuple(int(n) for n in shape) for _, shape in descriptions)
        for (path, _), shape in zip(descriptions, shapes):
            if len(shape) > 2:
                raise ValueError(f"Adafactor: the weight {path} has shape {shape}; gpunn factors the second moments "
                                 "of 2-D weights only (its layers have none of more dimensions)")
        self._shapes = shapes

    def _factor_sizes(self, slot: str) -> list[int]:
        """Per trained weight, how many values its factor of ``slot`` has: its rows (or columns) when it is 2-D,
        else one (Keras's scalar placeholder)."""
        axis = 0 if slot == ROWS else 1
        return [shape[axis] if len(shape) == 2 else 1 for shape in self._shapes]

    def _factor_starts(self, slot: str) -> list[int]:
        sizes = self._factor_sizes(slot)
        return [sum(sizes[:index]) for index in range(len(sizes))]

    def slot_size(self, slot: str, params_size: int) -> int:
        if slot in (ROWS, COLUMNS):
            return max(1, sum(self._factor_sizes(slot)))
        return params_size

    def keras_slot_place(self, slot, weight_index, segment, shape):
        if slot not in (ROWS, COLUMNS):
            return super().keras_slot_place(slot, weight_index, segment, shape)
        start, size = self._factor_starts(slot)[weight_index], self._factor_sizes(slot)[weight_index]
        return start, start + size, (size,) if len(shape) == 2 else ()

    def build(self, ops, params, segments):
        super().build(ops, params, segments)
        if len(self._shapes) != len(self._segments) or any(
                math.prod(shape) != stop - start for shape, (start, stop) in zip(self._shapes, self._segments)):
            raise ValueError("Adafactor: the trained weights' shapes must be given (set_trained_weights) for the "
                             f"{len(self._segments)} weights it updates; got {len(self._shapes)}")

    def _rehearse_update(self, dtype) -> None:
        """Nothing to compile ahead: the step is made of the Ops primitives (the base class's rehearsal runs
        ``update`` on one element, which has no weights' shapes to follow)."""

    # ---- the step ------------------------------------------------------------------------------------
    def update(self, params, grads):
        ops, ws, state = self.ops, self._workspace, self.state
        dtype = params.dtype
        scalar = {name: ws.buffer(f"adafactor.{name}", (1,), dtype) for name in (
            "step", "rate", "decay", "rho", "beta", "rest", "rms", "alpha", "scale", "mean")}
        k = {name: ws.constant(f"adafactor.{name}", value, dtype) for name, value in (
            ("one", 1.0), ("decay", self.beta_2_decay), ("epsilon_1", self.epsilon_1),
            ("epsilon_2", self.epsilon_2), ("clip", self.clip_threshold))}
        ops.cast_into(state[ITERATIONS:ITERATIONS + 1], scalar["step"])  # t: this update's count, advanced already
        ops.cast_into(state[LEARNING_RATE:LEARNING_RATE + 1], scalar["rate"])
        ops.cast_into(state[WEIGHT_DECAY:WEIGHT_DECAY + 1], scalar["decay"])
        ops.sqrt(scalar["step"], scalar["rho"])
        ops.divide(k["one"], scalar["rho"], scalar["rho"])
        ops.minimum(scalar["rate"], scalar["rho"], scalar["rho"])  # rho = min(lr, 1 / sqrt(t))
        ops.power(scalar["step"], k["decay"], scalar["beta"])
        ops.subtract(k["one"], scalar["beta"], scalar["beta"])  # beta = 1 - t ** decay
        ops.subtract(k["one"], scalar["beta"], scalar["rest"])
        offsets = zip(self._factor_starts(ROWS), self._factor_starts(COLUMNS))
        for (start, stop), shape, offset in zip(self._segments, self._shapes, offsets):
            self._update_weight(params[start:stop], grads[start:stop], self.slots["velocity"][start:stop], shape,
                                offset, scalar, k)

    def _rms_into(self, x, scratch, out) -> None:
        """out = sqrt(mean(x * x)) over the whole of ``x``."""
        ops = self.ops
        ops.multiply(x, x, scratch)
        ops.sum(scratch, 0, out, keepdims=True)
        ops.divide(out, self._workspace.constant(f"adafactor.count.{x.size}", float(x.size), x.dtype), out)
        ops.sqrt(out, out)

    def _update_weight(self, w, g, v, shape, offset, scalar, k) -> None:
        ops, ws = self.ops, self._workspace
        size, dtype = w.size, w.dtype
        scratch = ws.buffer("adafactor.scratch", (self._size,), dtype)[:size]
        squares = ws.buffer("adafactor.squares", (self._size,), dtype)[:size]
        self._decoupled_decay(w, scalar["decay"], scalar["rate"], scratch)
        self._rms_into(w, scratch, scalar["rms"])
        ops.maximum(k["epsilon_2"], scalar["rms"], scalar["alpha"])
        ops.multiply(scalar["alpha"], scalar["rho"], scalar["alpha"])
        ops.multiply(g, g, squares)
        ops.add(squares, k["epsilon_1"], squares)  # g * g + epsilon_1
        if len(shape) != 2:
            ops.multiply(scalar["beta"], v, v)
            ops.multiply(scalar["rest"], squares, scratch)
            ops.add(v, scratch, v)
        else:
            rows, columns = shape
            r = self.slots[ROWS][offset[0]:offset[0] + rows]
            c = self.slots[COLUMNS][offset[1]:offset[1] + columns]
            matrix = squares.reshape(rows, columns)
            for factor, axis, count in ((r, 1, columns), (c, 0, rows)):
                mean = ws.buffer(f"adafactor.mean.{axis}.{factor.size}", factor.shape, dtype)
                ops.sum(matrix, axis, mean)
                ops.divide(mean, ws.constant(f"adafactor.count.{count}", float(count), dtype), mean)
                ops.multiply(scalar["beta"], factor, factor)
                ops.multiply(scalar["rest"], mean, mean)
                ops.add(factor, mean, factor)
            ops.sum(r, 0, scalar["mean"], keepdims=True)
            ops.divide(scalar["mean"], ws.constant(f"adafactor.count.{rows}", float(rows), dtype), scalar["mean"])
            normalized = ws.buffer(f"adafactor.normalized.{rows}", (rows, 1), dtype)
            ops.divide(r.reshape(rows, 1), scalar["mean"], normalized)
            ops.multiply(normalized, c.reshape(1, columns), v.reshape(rows, columns))  # v = (r / mean r) outer c
        ops.sqrt(v, scratch)
        ops.divide(g, scratch, scratch)  # u = g / sqrt(v)
        self._rms_into(scratch, squares, scalar["scale"])
        ops.divide(scalar["scale"], k["clip"], scalar["scale"])
        ops.maximum(k["one"], scalar["scale"], scalar["scale"])
        ops.divide(scratch, scalar["scale"], scratch)
        ops.multiply(scalar["alpha"], scratch, scratch)
        ops.subtract(w, scratch, w)

    def get_config(self):
        return {**super().get_config(), "beta_2_decay": self.beta_2_decay, "epsilon_1": self.epsilon_1,
                "epsilon_2": self.epsilon_2, "clip_threshold": self.clip_threshold,
                "relative_step": self.relative_step}


