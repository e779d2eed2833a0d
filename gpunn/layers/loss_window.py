"""A model's own layers run again while its step computes the loss (its own ``compute_loss``), refused.

Between a step's forward pass and its backward pass, each layer's workspace holds what its backward pass reads
(inputs, activations, dropout masks; the last layer's output is the ``y_pred`` compute_loss is given), and the
model's buffers hold the weights the optimizer is about to update. ``self(x)``, ``self.student(x)`` or a feature
extractor sharing the model's layers (``keras.Model(student.inputs, student.get_layer("dense").output)``, as
``keras.distillation.FeatureDistillation`` with a layer name builds) called there would write over those
workspaces, bind the layers to another model's buffers (whose stale values the next step would copy back, so that
training stood still), and give a value gpunn cannot differentiate: its step differentiates compute_loss with
respect to ``y_pred`` only. Keras differentiates such a call; gpunn refuses it, naming the layer, before the call
computes or binds anything.
"""
from __future__ import annotations

import contextlib
import threading

from . import sublayers


class _Window(threading.local):
    """The model whose step is computing its loss in this thread (None: none), what runs it, and the ids of
    the layers its step runs (found on the first check)."""

    def __init__(self):
        self.model, self.what, self.layer_ids = None, "", None


_WINDOW = _Window()


@contextlib.contextmanager
def computing_loss(model, what: str):
    """While ``what`` (``"Distiller.compute_loss"``) computes the loss of a step of ``model``."""
    kept = (_WINDOW.model, _WINDOW.what, _WINDOW.layer_ids)
    _WINDOW.model, _WINDOW.what, _WINDOW.layer_ids = model, what, None
    try:
        yield
    finally:
        _WINDOW.model, _WINDOW.what, _WINDOW.layer_ids = kept


def open_now() -> bool:
    return _WINDOW.model is not None


def refuse_own_layer(layer) -> None:
    """Raise if ``layer`` is one the model computing its loss now runs in its steps (or one inside those)."""
    model = _WINDOW.model
    if model is None:
        return
    if _WINDOW.layer_ids is None:
        _WINDOW.layer_ids = {id(owner) for _, _, owner in sublayers.with_sublayers(model._graph_layers)}
    if id(layer) not in _WINDOW.layer_ids:
        return
    raise ValueError(
        f"{_WINDOW.what}: layer {layer.name!r} of model {model.name!r} was called while the model's step computes "
        "its loss (self(x), a model holding the model's layers, or a feature extractor sharing them). gpunn "
        "differentiates compute_loss with respect to y_pred only, so that call's output would be a constant, and "
        "it would write over what the step's backward pass reads. Compute the loss from y_pred; a model of its own "
        "that shares no layer with it, such as a frozen teacher, may run there")
