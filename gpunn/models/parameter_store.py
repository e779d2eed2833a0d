"""ParameterStore: one model's flat buffers (trainable weights, their gradients, non-trainable weights) and the
views into them that each of its layers computes with.

How weights are shared between models (as in Keras, where a layer owns its variables):

- A layer's weights live in exactly one place: the buffers of the store that bound the layer last. Reading or
  writing a layer (``get_weights``, ``set_weights``, ``layer.weights``) always reaches that place.
- A store made for layers that already hold weights (a layer reused from a trained model, the surviving layers
  after ``add``/``pop``, a re-pack after a change of ``trainable``) copies their current values; only layers
  that never held weights are initialised.
- A layer shared by two models is bound to one model's store at a time. Before a model runs (and before each
  training step) it *claims* its layers: every layer bound elsewhere has its current values copied into this
  store and is bound to this store's views again. Training model B therefore changes the layers model A shares
  with it, and A sees those values the next time it runs.
- A store's buffers never move: a claim writes into the same arrays and hands back the same view objects, so
  the optimizer's slots and a recorded (``jit_compile=True``) step of the claiming model stay valid.
"""
from __future__ import annotations

import numpy as np

from ..layers.base import Layer
from .. import step_calls
from ..layers import sublayers
from ..layers.gradient_views import GradientViews


class ParameterStore:
    """The buffers of one model for one layout: these layers, these weight shapes, these trainable flags."""

    def __init__(self, ops, layers, dtype: str, trainable_state):
        """``trainable_state``: (the model's ``trainable``, each layer's ``trainable``, each layer's weights frozen
        by themselves), the flags this layout is made for. As in Keras, a layer's trainable-kind weights are
        trained when both flags are True, but for those frozen by themselves; a layer's own flag also sets
        BatchNormalization's mode."""
        sublayers.check_held_once(layers)
        self.ops = ops
        self.layers = list(layers)
        self.dtype = dtype
        model_flag, layer_flags, frozen = trainable_state
        self.trainable_state = (bool(model_flag), tuple(bool(flag) for flag in layer_flags),
                                tuple(frozenset(names) for names in frozen))
        trained, kept, discarded = [], [], []
        for layer, flag, frozen_here in zip(self.layers, self.trainable_state[1], self.trainable_state[2]):
            for spec in layer.weight_specs():
                trains = spec.trainable and flag and model_flag
                (trained if trains and spec.name not in frozen_here else kept).append((layer, spec))
                if trains and spec.name in frozen_here:
                    discarded.append((layer, spec))
        sizes = [int(np.prod(spec.shape)) for _, spec in trained]
        kept_sizes = [int(np.prod(spec.shape)) for _, spec in kept]
        discarded_sizes = [int(np.prod(spec.shape)) for _, spec in discarded]
        self.params = ops.zeros(sum(sizes), dtype=dtype)
        self.grads = ops.zeros(sum(sizes), dtype=dtype)
        self.states = ops.zeros(sum(kept_sizes), dtype=dtype)
        # the gradients of the weights frozen by themselves, which the backward pass writes and nothing applies
        self.discarded_grads = ops.zeros(sum(discarded_sizes), dtype=dtype)
        self.segments: list[tuple[int, int]] = []
        # The dicts each layer is bound with: made once, so that every claim hands back the same views.
        self._views = {id(layer): ({}, GradientViews({}, {spec.name for owner, spec in discarded if owner is layer}),
                                   flag)
                       for layer, flag in zip(self.layers, self.trainable_state[1])}
        offset = 0
        for (layer, spec), size in zip(trained, sizes):
            weights, grads, _ = self._views[id(layer)]
            weights[spec.name] = self.params[offset:offset + size].reshape(spec.shape)
            grads[spec.name] = self.grads[offset:offset + size].reshape(spec.shape)
            self.segments.append((offset, offset + size))
            offset += size
        offset = 0
        for (layer, spec), size in zip(kept, kept_sizes):
            self._views[id(layer)][0][spec.name] = self.states[offset:offset + size].reshape(spec.shape)
            offset += size
        offset = 0
        for (layer, spec), size in zip(discarded, discarded_sizes):
            self._views[id(layer)][1][spec.name] = self.discarded_grads[offset:offset + size].reshape(spec.shape)
            offset += size
        self._fill()
        for layer in self.layers:
            self._bind(layer)
        self._checked_at = Layer.bindings_made

    def _fill(self) -> None:
        """Each weight's first value: the layer's current one when it holds weights, else its initializer's (drawn
        in layer order on the host, so every backend starts from the same numbers)."""
        ops, dtype = self.ops, self.dtype
        for layer in self.layers:
            weights = self._views[id(layer)][0]
            held = sublayers.held_weights(layer)
            for spec in layer.weight_specs():
                if spec.name in held:
                    _copy(*held[spec.name], ops, weights[spec.name])
                else:
                    weights[spec.name][...] = ops.asarray(spec.initializer(spec.shape, dtype))

    def _bind(self, layer) -> None:
        weights, grads, trainable = self._views[id(layer)]
        layer.bind(self.ops, weights, grads, trainable=trainable, owner=self)

    def claim(self) -> None:
        """Bind back every layer that another model's store bound since (copying its current values first).
        Cheap when no layer anywhere was bound since the last check, as on every training step of one model."""
        if self._checked_at == Layer.bindings_made:
            return
        if step_calls.open_now():  # (this model runs inside another's loss: none of its layers, first)
            for layer in self.layers:
                if sublayers.bound_elsewhere(layer, self):
                    for _, owner in sublayers.owners(layer):
                        step_calls.refuse_own_layer(owner)
        for layer in self.layers:
            if sublayers.bound_elsewhere(layer, self):  # the layer, or one it holds, ran in another model
                weights = self._views[id(layer)][0]
                for name, (ops, current) in sublayers.held_weights(layer).items():
                    _copy(ops, current, self.ops, weights[name])
                self._bind(layer)
        self._checked_at = Layer.bindings_made


def _copy(source_ops, source, ops, out) -> None:
    """out[...] = source, across backends and dtypes (a layer reused from a model on another backend or dtype)."""
    if source_ops is ops:
        ops.copy_into(source, out)
    else:
        out[...] = ops.asarray(source_ops.to_numpy(source), dtype=out.dtype)
