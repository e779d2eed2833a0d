"""Muon, as Keras 3 writes it (keras/src/optimizers/muon.py): momentum orthogonalized by Newton-Schulz iterations
for the 2-D weights, AdamW for the others.

Which weights take which step (Keras's ``_should_use_adamw``): AdamW for every weight that is not 2-D, for those
whose path (``sequential/embedding/embeddings``) holds "embedding" when ``exclude_embeddings``, and for those
whose path one of ``exclude_layers``' regular expressions finds; Muon for the rest (a Dense kernel). Per step,
after the learning rate and count are advanced:

    every weight:  w -= w * decay * lr            (decay: weight_decay for Muon's, adam_weight_decay for AdamW's;
                                                   none for a weight of exclude_from_weight_decay)
    AdamW's:       Adam's step with the rate lr * adam_lr_ratio (the ``adam_update`` kernel on the weight's segment)
    Muon's:        m += g + m * (momentum - 1);  g' = g + momentum * m (nesterov) or m
                   X = g' (as rows <= columns: transposed when taller than wide);  X /= ||X||_F + 1e-7
                   ns_steps times:  A = X X^T;  X = a X + (b A + (c A) A) X
                   w -= (lr * X (transposed back)) * sqrt(max(rows, columns)) * rms_rate    (no rms_rate: lr * X)

Each weight is a segment of the flat buffers, viewed in its shape; every operation is an Ops primitive on the
device, reading the learning rate and count from the optimizer's device state, so the step records and replays
like the fused ones. The velocity slot is kept over the whole buffer; Keras makes one for AdamW's weights only,
and its files hold those alone (``keras_slot_kept``).
"""
from __future__ import annotations

import math
import re

import numpy as np

from ..autodiff.functions import convert_to_numpy
from ..number_arguments import finite_number
from . import decay_exclusion
from .algorithms import _in_range
from .base import ITERATIONS, LEARNING_RATE, WEIGHT_DECAY, Optimizer


class Muon(Optimizer):
    update_step = "adam_update"  # AdamW's weights: readied (compiled) when the optimizer is built
    host_hyperparameters = Optimizer.host_hyperparameters + (
        "adam_beta_1", "adam_beta_2", "adam_weight_decay", "epsilon", "exclude_layers", "exclude_embeddings",
        "muon_a", "muon_b", "muon_c", "adam_lr_ratio", "momentum", "ns_steps", "nesterov", "rms_rate")

    def __init__(self, learning_rate=0.001, adam_beta_1=0.9, adam_beta_2=0.999, adam_weight_decay=0.004,
                 epsilon=1e-7, weight_decay=0.004, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, exclude_layers=None, exclude_embeddings=True,
                 muon_a=3.4445, muon_b=-4.7750, muon_c=2.0315, adam_lr_ratio=1, momentum=0.95, ns_steps=5,
                 nesterov=True, rms_rate=0.2, **kwargs):
        # (Keras's order: the base arguments come before Muon's own)
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name, **kwargs)
        self.adam_beta_1 = _in_range("adam_beta_1", adam_beta_1)
        self.adam_beta_2 = _in_range("adam_beta_2", adam_beta_2)
        self.adam_weight_decay = finite_number("adam_weight_decay", adam_weight_decay, allow_none=True)
        self.epsilon = finite_number("epsilon", epsilon)
        if exclude_layers is not None and (isinstance(exclude_layers, str) or not all(
                isinstance(pattern, str) for pattern in exclude_layers)):
            raise ValueError(f"exclude_layers: expected a list of strings (regular expressions) or None, got "
                             f"{exclude_layers!r}")
        self.exclude_layers = list(exclude_layers or [])
        self.exclude_embeddings = bool(exclude_embeddings)
        self.muon_a, self.muon_b, self.muon_c = (finite_number(name, value) for name, value in
                                                 (("muon_a", muon_a), ("muon_b", muon_b), ("muon_c", muon_c)))
        self.adam_lr_ratio = finite_number("adam_lr_ratio", adam_lr_ratio)
        self.momentum = _in_range("momentum", momentum, high_open=False)
        if isinstance(ns_steps, bool) or not isinstance(ns_steps, (int, np.integer)) or ns_steps < 0:
            raise ValueError(f"ns_steps: expected an integer >= 0, got {ns_steps!r}")
        self.ns_steps = int(ns_steps)
        self.nesterov = bool(nesterov)
        self.rms_rate = finite_number("rms_rate", rms_rate, allow_none=True)
        self._weight_descriptions: tuple = ()

    def active_slots(self):
        return ("momentum", "velocity")

    # ---- which weights take which step ---------------------------------------------------------------
    def set_trained_weights(self, descriptions) -> None:
        super().set_trained_weights(descriptions)
        self._weight_descriptions = tuple((str(path), tuple(int(n) for n in shape)) for path, shape in descriptions)

    # Muon decays weight by weight, each by its kind's factor (weight_decay, or adam_weight_decay for AdamW's
    # weights): the weights of exclude_from_weight_decay are skipped there, not masked over the flat buffer
    decays_each_weight_itself = True

    def _decay_excluded_flags(self) -> tuple[bool, ...]:
        """Per trained weight, whether ``exclude_from_weight_decay`` spares it (Keras's ``_use_weight_decay``)."""
        exclusions = self._decay_exclusions
        return tuple(exclusions is not None and decay_exclusion.excluded(exclusions, path)
                     for path, _ in self._weight_descriptions)

    def _adamw_flags(self) -> tuple[bool, ...]:
        """Per trained weight, whether it takes AdamW's step (from the arguments as they are now)."""
        return tuple(self._should_use_adamw(path, shape) for path, shape in self._weight_descriptions)

    def _should_use_adamw(self, path: str, shape: tuple) -> bool:
        if len(shape) != 2:
            return True
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(pattern, path) for pattern in self.exclude_layers)

    def keras_slot_kept(self, slot: str, weight_index: int) -> bool:
        """Keras's Muon makes a velocity for AdamW's weights only."""
        return slot != "velocity" or self._adamw_flags()[weight_index]

    def build(self, ops, params, segments):
        super().build(ops, params, segments)
        descriptions = self._weight_descriptions
        if len(descriptions) != len(self._segments) or any(
                math.prod(shape) != stop - start for (_, shape), (start, stop) in zip(descriptions, self._segments)):
            raise ValueError("Muon: the trained weights' paths and shapes must be given (set_trained_weights) for "
                             f"the {len(self._segments)} weights it updates; got {len(descriptions)}")
        dtype = params.dtype
        ws = self._workspace
        # AdamW's steps read [count, lr * adam_lr_ratio, no decay] (the decay is taken apart, at the full rate)
        self._adam_state = ws.zeros("muon.adam_state", (3,), np.float64)
        self._rate = ws.buffer("muon.rate", (1,), dtype)
        self._read_constants(dtype)

    def _read_constants(self, dtype) -> None:
        """The hyperparameters the step reads as device constants, from the attributes of now (a callback may set
        ``momentum`` or ``muon_a``; Keras reads them at every step): written again only when they changed, and a
        recorded step is recorded again then (``host_hyperparameters``)."""
        ws = self._workspace
        self._constants = {name: ws.constant(f"muon.{name}", value, dtype) for name, value in (
            ("momentum_less_one", self.momentum - 1), ("momentum", self.momentum), ("a", self.muon_a),
            ("b", self.muon_b), ("c", self.muon_c), ("tiny", 1e-7), ("adam_decay", self.adam_weight_decay or 0.0))}
        self._ratio = ws.constant("muon.adam_lr_ratio", self.adam_lr_ratio, np.float64)

    def _rehearse_update(self, dtype) -> None:
        """Compile AdamW's kernel for this dtype (the base class's rehearsal runs ``update`` on one element, which
        has no weights' shapes to follow)."""
        one = self.ops.zeros((1,), dtype=dtype)
        state = self.ops.copy(self.state)
        self.ops.advance_optimizer_state(state, None)
        self.ops.adam_update(one, self.ops.zeros((1,), dtype=dtype), self.ops.zeros((1,), dtype=dtype),
                             self.ops.zeros((1,), dtype=dtype), None, state, self.adam_beta_1, self.adam_beta_2,
                             self.epsilon)

    # ---- the step ------------------------------------------------------------------------------------
    def update(self, params, grads):
        ops, ws, state = self.ops, self._workspace, self.state
        dtype = params.dtype
        self._read_constants(dtype)
        ops.cast_into(state[LEARNING_RATE:LEARNING_RATE + 1], self._rate)  # Keras: lr cast to the weight's dtype
        decay = ws.buffer("muon.decay", (1,), dtype)
        ops.cast_into(state[WEIGHT_DECAY:WEIGHT_DECAY + 1], decay)
        adamw_flags, spared = self._adamw_flags(), self._decay_excluded_flags()
        if any(adamw_flags):
            ops.copy_into(state[ITERATIONS:ITERATIONS + 1], self._adam_state[0:1])
            ops.multiply(state[LEARNING_RATE:LEARNING_RATE + 1], self._ratio, self._adam_state[1:2])
        for index, ((start, stop), (_, shape)) in enumerate(zip(self._segments, self._weight_descriptions)):
            p, g = params[start:stop], grads[start:stop]
            adamw = adamw_flags[index]
            scratch = ws.buffer("muon.decay_scratch", (self._size,), dtype)[:stop - start]
            if not spared[index]:
                self._decoupled_decay(p, self._constants["adam_decay"] if adamw else decay, self._rate, scratch)
            if adamw:
                ops.adam_update(p, g, self.slots["momentum"][start:stop], self.slots["velocity"][start:stop], None,
                                self._adam_state, self.adam_beta_1, self.adam_beta_2, self.epsilon)
            else:
                self._muon_step(p.reshape(shape), g, self.slots["momentum"][start:stop], index)

    def zeropower_via_newtonschulz5(self, x, steps: int):
        """Keras's: ``steps`` Newton-Schulz iterations toward the orthogonal factor of the matrix (or of each matrix
        of the last two axes) ``x``, as the update computes them (``_muon_step``), on host arrays."""
        given = np.asarray(convert_to_numpy(x))
        dtype = given.dtype if given.dtype.kind == "f" else np.dtype("float32")  # (computed in float64)
        x = given.astype(np.float64)
        if x.ndim < 2:
            raise ValueError(f"Expected gradient or momentum to have at least 2 dimensions. Received: shape={x.shape}")
        tall = x.shape[-2] > x.shape[-1]
        if tall:
            x = np.swapaxes(x, -1, -2)
        x = x / (np.linalg.norm(x, axis=(-2, -1), keepdims=True) + 1e-7)
        for _ in range(int(steps)):
            gram = x @ np.swapaxes(x, -1, -2)
            x = self.muon_a * x + (self.muon_b * gram + self.muon_c * gram @ gram) @ x
        return (np.swapaxes(x, -1, -2) if tall else x).astype(dtype)

    def lr_adjust(self, x):
        """Keras's: the update ``x`` (a matrix) times sqrt(max(rows, columns)) * ``rms_rate`` (Moonlight's scaling,
        as the update applies it), or ``x`` as it is without ``rms_rate``."""
        if self.rms_rate is None:
            return x
        shape = np.shape(convert_to_numpy(x))
        return x * math.sqrt(max(shape[0], shape[1])) * self.rms_rate

    def _muon_step(self, p, g, m, index) -> None:
        ops, ws, k = self.ops, self._workspace, self._constants
        dtype, (rows, columns) = p.dtype, p.shape
        size = rows * columns
        scratch = ws.buffer("muon.scratch", (self._size,), dtype)[:size]
        ops.multiply(m, k["momentum_less_one"], scratch)
        ops.add(g, scratch, scratch)
        ops.add(m, scratch, m)
        if self.nesterov:
            ops.multiply(m, k["momentum"], scratch)
            ops.add(g, scratch, scratch)
            direction = scratch
        else:
            direction = m
        tall = rows > columns
        short, long = (columns, rows) if tall else (rows, columns)
        x = ws.buffer(f"muon.x.{index}", (short, long), dtype)
        matrix = direction.reshape(rows, columns)
        ops.copy_into(matrix.T if tall else matrix, x)
        norm = ws.buffer("muon.norm", (1,), dtype)
        squares = ws.buffer(f"muon.squares.{index}", (short, long), dtype)
        ops.multiply(x, x, squares)
        ops.sum(squares.reshape(-1), 0, norm, keepdims=True)
        ops.sqrt(norm, norm)
        ops.add(norm, k["tiny"], norm)
        ops.divide(x, norm, x)
        gram = ws.buffer(f"muon.gram.{index}", (short, short), dtype)
        scaled = ws.buffer(f"muon.scaled_gram.{index}", (short, short), dtype)
        mixed = ws.buffer(f"muon.mixed.{index}", (short, short), dtype)
        moved = ws.buffer(f"muon.moved.{index}", (short, long), dtype)
        for _ in range(self.ns_steps):
            ops.matmul(x, x.T, out=gram)
            ops.multiply(gram, k["c"], scaled)
            ops.matmul(scaled, gram, out=mixed)
            ops.multiply(gram, k["b"], gram)
            ops.add(gram, mixed, gram)
            ops.matmul(gram, x, out=moved)
            ops.multiply(x, k["a"], x)
            ops.add(x, moved, x)
        update = ws.buffer(f"muon.update.{index}", (rows, columns), dtype)
        ops.multiply(x.T if tall else x, self._rate, update)
        if self.rms_rate is not None:
            adjust = ws.constant(f"muon.adjust.{index}", math.sqrt(max(rows, columns)), dtype)
            ops.multiply(update, adjust, update)
            ops.multiply(update, ws.constant("muon.rms_rate", self.rms_rate, dtype), update)
        ops.subtract(p, update, p)

    def get_config(self):
        return {**super().get_config(), "adam_beta_1": self.adam_beta_1, "adam_beta_2": self.adam_beta_2,
                "epsilon": self.epsilon, "exclude_layers": list(self.exclude_layers), "muon_a": self.muon_a,
                "muon_b": self.muon_b, "muon_c": self.muon_c, "adam_lr_ratio": self.adam_lr_ratio,
                "momentum": self.momentum, "ns_steps": self.ns_steps, "nesterov": self.nesterov,
                "exclude_embeddings": self.exclude_embeddings, "adam_weight_decay": self.adam_weight_decay,
                "rms_rate": self.rms_rate}

