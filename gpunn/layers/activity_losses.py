"""What a layer's ``activity_regularizer`` adds to its ``losses`` when it is called eagerly (``layer(x)``,
``model(x)``): ``regularizer(output) / batch size``, as Keras's ``Layer.__call__`` adds it
(keras/src/layers/layer.py), so that ``model.losses`` after a call lists it, before the weight penalties.
A new call replaces those of the last one, as Keras clears a model's losses when it is called again.

In training the same terms are part of the step (``trainer/activity.py``); this is only their report.
"""
from __future__ import annotations

import numpy as np


def record(layer, y) -> None:
    """Keep the term of ``layer``'s output ``y`` (a batch), or none for a layer without an activity_regularizer."""
    regularizer = getattr(layer, "activity_regularizer", None)
    if regularizer is None or getattr(y, "ndim", 0) == 0:
        layer.__dict__.pop("_last_activity_losses", None)
        return
    ops, rows = layer.ops, y.shape[0]
    term = ops.zeros((), y.dtype)
    regularizer.penalty(ops, layer.workspace(("activity", rows, rows)), y, term)
    value = np.asarray(ops.to_numpy(term))
    layer.__dict__["_last_activity_losses"] = [(value / rows).astype(value.dtype) if rows else value]


def recorded(layer) -> list:
    return list(layer.__dict__.get("_last_activity_losses", []))
