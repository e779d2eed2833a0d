"""The plan of a training step: what the step needs to know about a model and its loss, worked out once."""
from __future__ import annotations

from dataclasses import dataclass

from .. import metrics as metrics_module
from ..layers import wiring
from ..layers.activation import Activation
from ..layers.dense import Dense


@dataclass
class TrainPlan:
    layers: list               # the layers run in training (a fused trailing Activation layer left out)
    sources: tuple | None      # how they connect (layers/wiring.py); None: a chain
    modes: tuple | None        # per layer, a training mode its functional call fixed (None: the step's)
    split_inputs: object       # the batch as the model's inputs (several: layers/packed_inputs.py)
    dense_tail_fused: bool     # the last Dense returns logits; the loss applies its activation
    loss_takes_logits: bool
    need_dx: list              # per layer: does any layer it reads from have trainable weights? (wiring.need_dx)
    has_regularizers: bool
    has_constraints: bool      # a trained weight has a constraint, applied after each update
    metrics: list              # the compiled metric objects, resolved for these labels
    sparse_labels: bool
    output_width: int          # the model's output units (sizes per-class metric state)
    activity: frozenset = frozenset()  # indices of the layers with an activity_regularizer (trainer/activity.py)


def make_plan(model, sparse_labels: bool) -> TrainPlan:
    """Fuse the output activation into the loss where the loss can take logits (softmax / sigmoid + cross-
    entropy), find which layers need dx, and resolve the metrics (Keras's 'accuracy' depends on the loss and,
    failing that, on the label layout)."""
    loss = model.loss
    source = getattr(model, "_output_mask_source", None)
    if source is not None:
        raise ValueError(f"model {model.name!r}: its output carries the padding mask of layer {source.name!r} "
                         "(mask_zero=True), which Keras applies to the loss and metrics and gpunn does not; "
                         "reduce the steps before the output (e.g. GlobalAveragePooling1D) or use mask_zero=False")
    layers, sources, modes = list(model._layers), model._sources, model._modes
    last = layers[-1]
    tail_act = getattr(getattr(last, "activation", None), "name", None)
    # An activity regularizer on the output layer penalises the activated output, which a fused loss never makes
    fused = (not loss.from_logits and loss.fusable_activation is not None and tail_act == loss.fusable_activation
             and isinstance(last, (Dense, Activation)) and last.activity_regularizer is None)
    if fused and isinstance(last, Activation):
        layers = layers[:-1]
        # The loss reads the logits the Activation would have read, which in a graph come from the layer
        # before it (every other layer is an ancestor of the one it reads): what remains ends there.
        if sources is not None:
            sources = sources[:-1]
        if modes is not None:
            modes = modes[:-1]
    need_dx = wiring.need_dx(layers, sources, lambda layer: layer.bound.grads)
    units = model._layers[-1].output_shape[-1]
    return TrainPlan(
        layers=layers, sources=sources, modes=modes, split_inputs=model._split_inputs, dense_tail_fused=fused and isinstance(last, Dense),
        loss_takes_logits=fused or loss.from_logits, need_dx=need_dx,
        has_regularizers=any(s.regularizer is not None for layer in layers for s in layer.weight_specs()),
        has_constraints=any(s.constraint is not None and s.name in layer.bound.grads
                            for layer in layers for s in layer.weight_specs()),
        metrics=resolve_metrics(model, units, sparse_labels), sparse_labels=sparse_labels, output_width=units,
        activity=frozenset(i for i, layer in enumerate(layers) if layer.activity_regularizer is not None),
    )


def resolve_metrics(model, units: int, sparse_labels: bool) -> list:
    """The compiled metric objects for this label layout, each checked against it (a clear error for a metric
    that cannot take these labels and outputs). Made once per compile and layout and kept on the model
    (``model._metric_objects``, reset by ``compile``), so training, evaluation and ``model.metrics`` share one
    set of objects, as Keras's compiled metrics are one set."""
    cache = getattr(model, "_metric_objects", None)
    key = (bool(sparse_labels), int(units))
    if cache is not None and key in cache:
        return cache[key]
    resolved = [metrics_module.get(m, model.loss, units, sparse_labels) for m in model.metric_identifiers]
    for metric in resolved:
        metric.check_layout(units, sparse_labels)
    if cache is not None:
        cache[key] = resolved
    return resolved


def run_forward(plan: TrainPlan, x, training: bool, outputs: dict | None = None):
    """(output, backprops): the plan's layers in order; the fused tail Dense hands over logits. ``outputs``, when
    given, receives the output of each layer with an activity regularizer, by index."""
    return wiring.forward(plan.layers, plan.sources, plan.split_inputs(x), training, raw_last=plan.dense_tail_fused, outputs=outputs,
                          keep=plan.activity, modes=plan.modes)


def weight_penalty(plan: TrainPlan, ops, ws, dtype):
    """The weight penalties of the plan's layers summed into a 0-d buffer of ``ws`` (None without
    regularizers): of the weights the batch is computed with, so taken before the update."""
    if not plan.has_regularizers:
        return None
    total = ws.buffer("penalty", (), dtype)
    part = ws.buffer("penalty.part", (), dtype)
    ops.fill(0, total)
    for layer in plan.layers:
        layer.regularization_penalty(part)
        ops.add(total, part, total)
    return total
