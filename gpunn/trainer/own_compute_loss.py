"""A model subclass's own ``compute_loss(x, y, y_pred, sample_weight, training)``, as the loss of its steps.

Keras's training and test steps take their loss from ``model.compute_loss``; a subclass may override it (the
knowledge-distillation example's ``Distiller`` mixes a student loss with a distillation loss of a teacher's
predictions for ``x``). gpunn makes that method the model's loss: a host call of the step hands it the batch's
inputs (a host array), targets and predictions (a Tensor, differentiated by ``gpunn/autodiff``) and the sample
weights, and takes its value as the batch's loss. Its ``super().compute_loss(...)`` is the loss given to
``compile`` (``Trainer.compute_loss``); the built-in losses compute on Tensors (``loss_tensors.py``).

As in Keras, what the method returns is the whole loss: a model whose weight penalties or ``add_loss`` terms gpunn
would add besides is refused by name (Keras adds them only inside its default ``compute_loss``).
"""
from __future__ import annotations

import functools

import numpy as np

from .. import overrides
from ..autodiff import Tensor, user_functions
from .. import step_calls
from ..losses import FunctionLoss


class OwnComputeLoss(FunctionLoss):
    """The loss of a model whose class overrides ``compute_loss``; ``compiled``: the Loss given to compile (or
    None), what ``super().compute_loss`` computes."""

    takes_inputs = True  # the step hands weighted_compute the batch's inputs (output_losses.py)
    # what it returns is the whole loss, as Keras's steps take it: compile's loss_weights are for the compiled
    # loss, which ``super().compute_loss`` weighs (direct_compute_loss.py), not for this one again (plan.py)
    returns_the_whole_loss = True

    def __init__(self, model, compiled):
        super().__init__(fn=None, name="loss")
        self.model, self.compiled = model, compiled

    def weighted_compute(self, ops, ws, output, y_true, grad_scale, logits, need_grad, sample_weight, x=None):
        from ..losses import _like_output, _per_sample

        per_sample = _per_sample(ws, output)
        gradient = _like_output(ws, "gradient", output) if need_grad else None
        ops.run_python(functools.partial(_step, self.model, ops, x, y_true, output, grad_scale, sample_weight,
                                         per_sample, gradient))
        return per_sample, gradient, output



def _step(model, ops, x, y_true, y_pred, grad_scale, sample_weight, per_sample_out, gradient_out) -> None:
    """One batch's loss from the model's compute_loss, written as a loss function's is (its value for every
    sample, its gradient with respect to y_pred)."""
    inputs = _inputs_as_given(model, np.asarray(ops.to_numpy(x)))  # what a Keras step's x is to a teacher model
    kwargs = {"training": gradient_out is not None} if overrides.names_training(model.compute_loss) else {}
    weights = None if sample_weight is None else Tensor(sample_weight)

    what = f"{type(model).__name__}.compute_loss"

    def loss(truth, prediction):
        if truth.ndim == 2 and truth.shape[1] == 0:  # fit(x) without y: Keras's y=None
            truth = None
        with step_calls.computing_loss(model, what):  # (the model's own layers are not run again there)
            if gradient_out is None:
                return model.compute_loss(x=inputs, y=truth, y_pred=prediction, sample_weight=weights, **kwargs)
            read = _traced_model_weights(model)
            try:
                result = model.compute_loss(x=inputs, y=truth, y_pred=prediction, sample_weight=weights, **kwargs)
            finally:
                for owner, _, kept in read:
                    owner._traced_weights = kept
        _refuse_weights_in_the_loss(model, result, read)
        return result

    # the sample weights go to compute_loss, which applies them (Keras's contract); none are applied again here
    user_functions.loss_step(what, loss, y_true, y_pred, grad_scale, None, per_sample_out, gradient_out, False)


def _inputs_as_given(model, packed_x: np.ndarray):
    """The batch's inputs as Keras hands them to compute_loss: the array of one input; for a model of several, a
    list of their arrays, or a dict of them by the keys the model was given (its step holds them side by side in
    one array, ``layers/packed_inputs.py``)."""
    packed = getattr(model, "_packed", None)
    if packed is None:
        return packed_x
    rows = packed_x.shape[0]
    parts = [packed_x[:, offset:offset + width].reshape((rows,) + shape)
             for shape, offset, width in zip(packed.shapes, packed.offsets, packed.widths)]
    if packed.dict_order is None:
        return parts
    by_name = dict(zip(packed.names, parts))  # (a dict of inputs is packed by input name: packed_inputs.py)
    return {key: by_name[key] for key in packed.dict_order} if set(packed.dict_order) == set(by_name) else by_name


def _traced_model_weights(model) -> list:
    """[(layer, {name: Tensor}, what it traced before)] for the trainable weights of the model's layers, traced
    while its compute_loss runs, so that a loss reading one (``ops.sum(ops.square(self.layers[1].kernel))``) is
    seen."""
    from ..layers import sublayers

    read = []
    for layer in model._graph_layers:
        for _, owner in sublayers.owners(layer):
            names = [spec.name for spec in sublayers.own_specs(owner)
                     if spec.trainable and spec.name in owner.bound.grads]
            if names:
                traced = {name: Tensor(owner.bound.weights[name], requires_grad=True) for name in names}
                read.append((owner, traced, owner.__dict__.get("_traced_weights")))
                owner._traced_weights = traced
    return read


def _refuse_weights_in_the_loss(model, result, read) -> None:
    """Refuse a loss that depends on a weight of the model: Keras differentiates compute_loss with respect to every
    trainable weight, and gpunn's step takes its gradient with respect to y_pred only, so the weight would not get
    that part of its gradient (a weight read for a metric, which the loss does not depend on, is fine)."""
    watched = {id(tensor): (owner, name) for owner, traced, _ in read for name, tensor in traced.items()}
    stack, seen = [result] if isinstance(result, Tensor) else [], set()
    while stack:
        tensor = stack.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        if id(tensor) in watched:
            owner, name = watched[id(tensor)]
            raise ValueError(
                f"{type(model).__name__}.compute_loss: the loss it returns depends on the weight {name!r} of layer "
                f"{owner.name!r}; gpunn differentiates compute_loss with respect to y_pred only, so that weight "
                "would not get this part of its gradient (Keras differentiates it with respect to every weight). "
                "Give the layer a regularizer (kernel_regularizer=...), or add the penalty in a layer's call() "
                "with self.add_loss(...)")
        stack.extend(getattr(tensor, "_parents", ()))


def trained_outside_call(model) -> list:
    """The names of the attributes of ``model`` (private ones too, which Keras tracks as well) holding layers or
    models that its graph does not run and that would train: Keras differentiates compute_loss with respect to
    every trainable weight the model tracks, so a teacher called inside compute_loss trains there; gpunn calls it
    as a constant."""
    from ..layers import sublayers
    from ..layers.base import Layer
    from ..models.keras_attribute_paths import is_subclassed, user_attributes
    from ..models.sequential import Sequential

    # (the layers inside the graph's layers too: a model with weights of its own runs as one layer holding them)
    in_graph = {id(owner) for _, _, owner in sublayers.with_sublayers(model._graph_layers)}
    found, seen = [], set()

    def take(value, name):
        if isinstance(value, (list, tuple)):
            for item in value:
                take(item, name)
        elif isinstance(value, dict):
            for item in value.values():
                take(item, name)
        elif isinstance(value, (Layer, Sequential)) and id(value) not in seen:
            seen.add(id(value))
            layers = value._graph_layers if isinstance(value, Sequential) else [value]
            # (weights Keras would train: a layer's trainable ones, none of a frozen layer's or model's)
            trained = [layer for layer in layers if id(layer) not in in_graph and value.trainable
                       and layer.has_weights and layer.trainable_weights]
            if trained:
                found.append(name)

    attributes = user_attributes(model) if is_subclassed(model) else [
        (name, value) for name, value in vars(model).items() if not name.startswith("_")]
    for name, value in attributes:
        take(value, name)
    return found


def penalties_of(model) -> list:
    """What gpunn's steps add to a model's loss besides the compiled one: (layer name, what) pairs."""
    found = []
    for layer in model._graph_layers:
        for name, value in vars(layer).items():
            if name.endswith("regularizer") and value is not None:
                found.append((layer.name, name.lstrip("_")))
        if getattr(layer, "_adds_losses", False):
            found.append((layer.name, "add_loss"))
    return found
