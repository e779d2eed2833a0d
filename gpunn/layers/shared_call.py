"""A layer called again in one model (shared layers: a siamese tower, one embedding for two inputs).

A model's calls are its layers in order (``wiring.py``), each computing into its own workspace, and each layer's
backprop overwrites its gradients (``base.py``). The first call of a shared layer is the layer itself; every later
call is a ``SharedCall``: the same computation with the same weights (the very views), on buffers of its own and
with gradients of its own, which the backward pass adds into the layer's once the layer's own backprop has
written them (``wiring.backward``). Weight penalties and constraints belong to the layer and are applied once.
Everything else (name, shapes, activation, flags) is the layer's.
"""
from __future__ import annotations

import copy

from ..ops.workspace import Workspaces
from . import base  # a module, not its names: base imports wiring, which imports this
from .gradient_views import GradientViews


class SharedCall:
    def __init__(self, layer):
        held = _held_model(layer)
        if held is not None:
            raise ValueError(f"layer {layer.name!r} holds model {held.name!r} and is called more than once; gpunn "
                             "runs a model inside a layer of the user's once a step: make a second layer")
        self.layer = layer
        self._copy = None
        self._made_for = None  # the layer's Bound the copy was made for

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.layer, name)

    def _current(self):
        """The layer's computation on this call's own buffers: a shallow copy of the layer, made again whenever
        the layer is bound to new buffers (a model packed again, or another model sharing it ran)."""
        layer = self.layer
        if self._copy is None or self._made_for is not layer.bound or self._copy.ops is not layer.ops:
            twin = copy.copy(layer)
            twin.__dict__["_tracked"] = dict(layer.__dict__.get("_tracked", {}))  # the layer's own, not shared
            twin._shared_from = layer  # a layer of the user's: its call() reads the layer's Variables
            twin._workspaces = Workspaces(layer.ops)
            grads = GradientViews({name: layer.ops.zeros(tuple(g.shape), dtype=g.dtype)
                                   for name, g in layer.bound.grads.items()},
                                  getattr(layer.bound.grads, "discarded", ()))
            twin.bound = base.Bound(layer.bound.weights, grads, layer.bound.trainable, layer.bound.owner)
            twin._penalized, twin._regularized, twin._constrained = [], [], []
            twin._variables = {}
            if base.sublayers.has_sublayers(layer):  # (a residual block called four times)
                _twin_sublayers(twin, layer)
                base.sublayers.bind_children(twin, layer.ops, twin.bound.weights, twin.bound.grads,
                                             twin.bound.trainable, twin.bound.owner)
            self._copy, self._made_for = twin, layer.bound
        return self._copy

    @property
    def bound(self):
        """This call's weights (the layer's) and gradients (its own)."""
        return self._current().bound

    def forward(self, x, training, **kwargs):
        return self._current().forward(x, training, **kwargs)

    def workspace(self, rows):
        return self._current().workspace(rows)

    # The layer applies its penalties and constraints, once a step.
    def regularization_penalty(self, out) -> None:
        self.layer.ops.fill(0, out)

    def add_regularization_gradients(self) -> None:
        pass

    def apply_constraints(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<SharedCall of {self.layer!r}>"


def _held_model(layer):
    """A model ``layer`` holds, at any depth (in a list or dict, inside a layer it holds), or None: its twins would
    share that model's layers (``_twin_sublayers`` copies layers only)."""
    seen: set = set()

    def find(value):
        if base.sublayers.is_held_model(value):
            return value
        if isinstance(value, base.Layer):
            if id(value) in seen:
                return None
            seen.add(id(value))
            items = [item for name, item in vars(value).items() if name not in base.sublayers.NOT_SUBLAYERS]
        elif isinstance(value, dict):
            items = list(value.values())
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            return None
        return next((found for found in map(find, items) if found is not None), None)

    return find(layer)


def _twin_sublayers(twin, layer, made: dict | None = None) -> None:
    """Give ``twin`` (a shallow copy of ``layer``) twins of the layers ``layer`` holds, at the same attributes: each
    computes into workspaces of its own, so that this call's activations stay for its backprop while another
    call of ``layer`` runs the layers themselves. Bound to the twin's views (``sublayers.bind_children``), they
    compute with the layer's weights and write the twin's gradients."""
    made = {} if made is None else made

    def twin_of(value):
        if isinstance(value, base.Layer):
            found = made.get(id(value))
            if found is None:
                found = made[id(value)] = copy.copy(value)
                found._shared_from = value  # (its call(), if the user's, reads the layer's Variables)
                found._workspaces, found._variables, found._repeated_call_twins = None, {}, {}
                _twin_sublayers(found, value, made)
            return found
        if isinstance(value, dict):
            return {key: twin_of(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            items = [twin_of(item) for item in value]
            return tuple(items) if isinstance(value, tuple) else items
        return value

    for name, value in vars(layer).items():
        if name not in base.sublayers.NOT_SUBLAYERS and value is not layer and base.sublayers.holds_layers(value):
            twin.__dict__[name] = twin_of(value)
    # the order the layer tracked its layers in, for its twins (sublayers.children sorts by it)
    twin.__dict__["_tracked"] = {id(made[key]): order for key, order in layer.__dict__.get("_tracked", {}).items()
                                 if key in made}


def is_shared_call(layer) -> bool:
    return isinstance(layer, SharedCall)


def add_shared_gradients(calls: list, ran: set, index: int, ops) -> None:
    """After the backprop of ``calls[index]`` (a layer): add into its gradients those of its later calls that
    ran backprop this step (``ran``); when the layer's own did not run, the first of them is copied instead."""
    layer = calls[index]
    first = index in ran
    for i, call in enumerate(calls):
        if isinstance(call, SharedCall) and call.layer is layer and i in ran:
            for name, grad in layer.bound.grads.items():
                own = call.bound.grads[name]
                if first:
                    ops.add(grad, own, grad)
                else:
                    ops.copy_into(own, grad)
            first = True
