"""Keras's default ``Model.compute_loss(x, y, y_pred, sample_weight)`` called by the user (a custom training loop,
a check of the loss of some predictions): the compiled losses of the outputs, each times its ``loss_weights``
entry, plus ``model.losses`` (weight penalties, and the activity and ``add_loss`` terms of the model's last call),
as Keras's ``Trainer.compute_loss`` sums them. gpunn's own steps compute their loss themselves."""
from __future__ import annotations

from .compiled_outputs import loss_weight_value
from .packed_targets import PackedTargets


def compute_loss(model, y, y_pred, sample_weight):
    specs = model._output_specs
    if model._several_outputs:
        total = _several_outputs_loss(model, specs, y, y_pred, sample_weight)
    else:
        # (a subclass's own compute_loss became the step's loss; the one given to compile is kept beside it)
        loss = getattr(model._resolved_loss, "compiled", model._resolved_loss)
        if loss is not None and y is None:  # (fit(x) without targets hands an own compute_loss y=None)
            raise ValueError(f"y: the loss given to compile ({getattr(loss, 'name', loss)!r}) needs targets, and "
                             "compute_loss was given none (y=None: the data had no targets)")
        total = None if loss is None else _weighted(loss(y, y_pred, sample_weight), specs[0].weight)
    for added in model.losses:
        total = added if total is None else total + added
    if total is None:
        raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
    return total


def _several_outputs_loss(model, specs, y, y_pred, sample_weight):
    trained = model._trained_outputs()
    if not trained:
        return None
    shapes = model._trained_output_shapes()
    every = PackedTargets(model.output_names, model._output_keys, [False] * len(specs), shapes, model.dtype)
    with_loss = PackedTargets(model.output_names, model._output_keys, [False] * len(specs), shapes, model.dtype,
                              trained)
    truths = with_loss.per_output("y", y)
    predictions = every.per_output("y_pred", y_pred)
    # one array of sample weights serves every output, as in Keras; a list or dict gives each its own
    weights = (with_loss.per_output("sample_weight", sample_weight)
               if isinstance(sample_weight, (list, tuple, dict)) else [sample_weight] * len(trained))
    total = None
    for k, output in enumerate(trained):
        spec = specs[output]
        value = _weighted(spec.loss(truths[k], predictions[output], weights[k]), spec.weight)
        total = value if total is None else total + value
    return total


def _weighted(value, weight):
    return value if weight is None else value * loss_weight_value(weight)
