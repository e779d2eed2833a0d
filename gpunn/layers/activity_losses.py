"""What a layer's ``activity_regularizer`` adds to its ``losses`` when it is called eagerly (``layer(x)``,
``model(x)``): ``regularizer(output) / batch size``, as Keras's ``Layer.__call__`` adds it
(keras/src/layers/layer.py), so that ``model.losses`` after a call lists it, before the weight penalties.
A new call replaces those of the last one, as Keras clears a model's losses when it is called again; a layer
called twice in the model lists a term per call.

In training the same terms are part of the step (``trainer/activity.py``); this is only their report.
"""
from __future__ import annotations

import numpy as np

from .shared_call import is_shared_call


def clear(call) -> None:
    """Forget the terms of the last call: every run of a layer starts its list again (a model's steps leave none,
    as Keras's compiled jax steps leave none)."""
    _layer_of(call).__dict__.pop("_last_activity_losses", None)


def add(call, y) -> None:
    """Add the term of ``call``'s output ``y`` (a batch) to its layer's, for a layer with an
    activity_regularizer. ``call``: the layer, or a SharedCall of it (a later call in the model: Keras lists a
    term per call)."""
    regularizer = getattr(call, "activity_regularizer", None)
    if regularizer is None or getattr(y, "ndim", 0) == 0:
        return
    ops, rows = call.ops, y.shape[0]
    term = ops.zeros((), y.dtype)
    regularizer.penalty(ops, call.workspace(("activity", rows, rows)), y, term)
    value = np.asarray(ops.to_numpy(term))
    _layer_of(call).__dict__.setdefault("_last_activity_losses", []).append(
        (value / rows).astype(value.dtype) if rows else value)


def recorded(layer) -> list:
    return list(layer.__dict__.get("_last_activity_losses", []))


def _layer_of(call):
    return call.layer if is_shared_call(call) else call
