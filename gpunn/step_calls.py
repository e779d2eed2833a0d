"""Calls of a model's own layers that its training step cannot have, refused by name.

A model's own layers run again while its step computes its loss and metrics:

Between a step's forward pass and its backward pass, each layer's workspace holds what its backward pass reads
(inputs, activations, dropout masks; the last layer's output is the ``y_pred`` the loss is given), and the model's
buffers hold the weights the optimizer is about to update. The model itself, a model holding its layers or a
feature extractor sharing them (``keras.Model(student.inputs, student.get_layer("dense").output)``), called by the
model's own ``compute_loss``, a loss function or a metric of the user's, would write over those workspaces, bind
the layers to another model's buffers (whose stale values the next step would copy back, so that training stood
still), and give a value gpunn cannot differentiate: its step differentiates the loss with respect to ``y_pred``
only. Keras differentiates such a call; gpunn refuses it, naming the layer, before the call computes or binds
anything.

``stepping(model)`` surrounds a model's steps (eager, recorded and replayed: a replay runs the host calls of the
user's code within it); ``computing_loss`` opens the window around such a host call.

And a layer of the model called again inside another layer's call() (a Lambda's function calling it, or a model
holding it): ``refuse_a_models_layer_inside``.
"""
from __future__ import annotations

import contextlib
import threading


class _Window(threading.local):
    """In this thread: the model whose steps run now (None: none); the model whose loss is being computed now
    (None: none), what computes it, and the ids of the layers its step runs (found on the first check); the layers
    of the forward passes running now."""

    def __init__(self):
        self.stepping = None
        self.model, self.what, self.layer_ids = None, "", None
        self.running: list = []  # the layers of each model's forward pass running now, outermost first


_WINDOW = _Window()


@contextlib.contextmanager
def stepping(model):
    """While ``model``'s training or test steps run in this thread."""
    kept = _WINDOW.stepping
    _WINDOW.stepping = model
    try:
        yield
    finally:
        _WINDOW.stepping = kept


@contextlib.contextmanager
def computing_loss(model, what: str):
    """While ``what`` (``"Distiller.compute_loss"``, ``"loss 'mine'"``) computes for a step of ``model``."""
    kept = (_WINDOW.model, _WINDOW.what, _WINDOW.layer_ids)
    _WINDOW.model, _WINDOW.what, _WINDOW.layer_ids = model, what, None
    try:
        yield
    finally:
        _WINDOW.model, _WINDOW.what, _WINDOW.layer_ids = kept


def in_the_steps_loss(function, what: str):
    """``function`` (a host call of a loss or metric of the user's), run in the window of the model whose step
    runs it (none outside a step: a metric updated on its own)."""

    def run(*args, **kwargs):
        model = _WINDOW.stepping
        if model is None:
            return function(*args, **kwargs)
        with computing_loss(model, what):
            return function(*args, **kwargs)

    return run


@contextlib.contextmanager
def running(layers: list):
    """While a model's forward pass runs ``layers`` (``wiring.forward``), in training or not."""
    _WINDOW.running.append(layers)
    try:
        yield
    finally:
        _WINDOW.running.pop()


def refuse_a_models_layer_inside(sublayer, outer) -> None:
    """Raise if ``sublayer``, called inside the call() of ``outer`` (a Lambda's function, a layer of the user's), is
    also a layer of the model running it: it would run twice in one pass on one workspace, the second run writing
    over the first one's output (which a Lambda reading it still reads) and over what the first one's backward
    pass reads, and its second backprop over the first one's weight gradients (Keras adds both)."""
    if any(layer is sublayer for layers in _WINDOW.running for layer in layers):
        raise ValueError(
            f"layer {sublayer.name!r} is called inside the call() of layer {outer.name!r} and is also a layer of "
            "the model running it: gpunn runs a layer once per pass on buffers of its own, and cannot run the same "
            "weights in two places of one pass (Keras adds both uses' gradients); give the model one place that "
            "calls it (a layer of your own holding it, called twice, runs twice)")


def note_forward(layer) -> None:
    """Count a forward pass of ``layer`` (it asked for a workspace) while a loss computes: a call differentiated
    there (``calling.differentiated_call``) knows by it whether a later call has written over what its backward
    pass reads."""
    layer.__dict__["_forwards_in_losses"] = layer.__dict__.get("_forwards_in_losses", 0) + 1


def forwards_of(layer) -> int:
    return layer.__dict__.get("_forwards_in_losses", 0)


def open_now() -> bool:
    return _WINDOW.model is not None


def differentiated_here(values) -> bool:
    """Whether a layer or model called on ``values`` now runs on a Tensor a loss is differentiated by (y_pred in a
    loss of the step computing now): such a call is differentiated through (``calling.differentiated_call``)."""
    if not open_now():
        return False
    from .autodiff import Tensor

    return any(isinstance(value, Tensor) and value.requires_grad for value in values)


def refuse_own_layer(layer) -> None:
    """Raise if ``layer`` is one the model computing its loss now runs in its steps (or one inside those)."""
    model = _WINDOW.model
    if model is None:
        return
    if _WINDOW.layer_ids is None:
        from .layers import sublayers

        _WINDOW.layer_ids = {id(owner) for _, _, owner in sublayers.with_sublayers(model._graph_layers)}
    if id(layer) not in _WINDOW.layer_ids:
        return
    raise ValueError(
        f"{_WINDOW.what}: layer {layer.name!r} of model {model.name!r} was called while the model's step computes "
        "its loss and metrics (the model itself, a model holding its layers, or a feature extractor sharing them). "
        "gpunn differentiates the loss with respect to y_pred only, so that call's output would be a constant, and "
        "it would write over what the step's backward pass reads. Compute it from y_pred; a model of its own that "
        "shares no layer with it, such as a frozen teacher, may run there")
