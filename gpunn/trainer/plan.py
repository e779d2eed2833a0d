"""The plan of a training step: what the step needs to know about a model and its loss, worked out once."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

from .. import metrics as metrics_module
from ..layers import user_layer, wiring
from ..layers.activation import Activation
from ..layers.gradient_views import trained_names
from ..layers.dense import Dense
from ..layers.reshape import Reshape
from . import compiled_outputs
from ..user_stacklevel import user_stacklevel


@dataclass
class OutputPlan:
    """One output of the model as the step computes its loss."""
    index: int                 # the layer (in the plan's layers) whose output it is
    name: str
    loss: object               # None: the output is not trained (compile gave it no loss)
    weight: float | None       # the loss's weight in the total (None: 1)
    target: int | None         # its place among the outputs with targets (PackedTargets.trained); None: no loss
    takes_logits: bool         # the loss reads logits (fused activation, or from_logits=True)
    raw: bool                  # the layer is a Dense handing over its pre-activation output
    sparse_labels: bool
    width: int                 # the output's units (sizes per-class metric state)
    metrics: list              # its compiled metric objects, resolved for its labels
    mask_source: object = None  # the layer making the padding mask of a per-step output (Keras masks its loss)


@dataclass
class TrainPlan:
    layers: list               # the layers run in training (a fused trailing Activation layer left out)
    sources: tuple | None      # how they connect (layers/wiring.py); None: a chain
    modes: tuple | None        # per layer, a training mode its functional call fixed (None: the step's)
    split_inputs: object       # the batch as the model's inputs (several: layers/packed_inputs.py)
    outputs: list              # an OutputPlan per model output
    output_indices: tuple | None  # for several outputs, the layers making them (wiring.forward); else None
    targets: object            # for several outputs, how their targets are packed (PackedTargets); else None
    need_dx: list              # per layer: does any layer it reads from have trainable weights? (wiring.need_dx)
    has_regularizers: bool
    has_constraints: bool      # a trained weight has a constraint, applied after each update
    metrics: list              # every compiled metric object, output by output
    metric_outputs: list       # per metric, the position of its output in ``outputs``
    metric_names: list         # per metric, its name in the logs
    metric_weighted: list      # per metric, whether it takes the sample weights (compile's weighted_metrics)
    loss_names: list           # for several outputs, the names of their losses in the logs; else empty
    labels_as_column: bool     # class ids given as a (samples, 1) column: the user's metrics see them so
    sparse_labels: object      # the label layout the plan was made for (a tuple per output for several)
    activity: frozenset = frozenset()  # indices of the layers with an activity_regularizer (trainer/activity.py)
    losses_last: bool = False  # several outputs without names: evaluate lists their losses after the metrics
    shown_loss_names: list | None = None  # and the logs name their losses so, two of one name sharing a key
    listed_loss_order: list | None = None  # the order evaluate lists the outputs' losses in (None: theirs)
    added_losses: frozenset = frozenset()  # indices of the layers giving add_loss losses (trainer/layer_losses.py)

    @property
    def raw(self) -> frozenset:
        """The layers handing over logits to the loss (wiring.forward's ``raw``)."""
        return frozenset(output.index for output in self.outputs if output.raw)

    @property
    def loss_takes_logits(self) -> bool:
        return self.outputs[0].takes_logits

    @property
    def dense_tail_fused(self) -> bool:
        return self.outputs[0].raw

    @property
    def output_width(self) -> int:
        return self.outputs[0].width


def _fusable(loss, layer) -> bool:
    """Whether ``layer``'s activation can be left to ``loss`` (softmax / sigmoid + cross-entropy). An activity
    regularizer on an output layer penalises the activated output, which a fused loss never makes."""
    tail_act = getattr(getattr(layer, "activation", None), "name", None)
    return (loss is not None and not loss.from_logits and not loss.takes_sample_weights
            and loss.fusable_activation is not None
            and tail_act == loss.fusable_activation and isinstance(layer, (Dense, Activation))
            and layer.activity_regularizer is None)


def _warn_logits_after_activation(loss, layer) -> None:
    """Keras's warning (its TensorFlow backend's, as tf.keras 2's) for ``from_logits=True`` on an output that its
    softmax or sigmoid already made probabilities: the loss applies the activation again."""
    activation = getattr(getattr(layer, "activation", None), "name", None)
    if loss is not None and loss.from_logits and activation is not None and activation == loss.fusable_activation:
        warnings.warn(f"`{getattr(loss, 'name', type(loss).__name__)}` received `from_logits=True`, but the `output` "
                      f"argument was produced by a {activation.capitalize()} activation and thus does not represent "
                      "logits. Was this intended?", stacklevel=user_stacklevel())


def make_plan(model, sparse_labels) -> TrainPlan:
    """Fuse the output activations into the losses where a loss can take logits (softmax / sigmoid + cross-
    entropy), find which layers need dx, and resolve the metrics (Keras's 'accuracy' depends on the loss and,
    failing that, on the label layout). ``sparse_labels``: whether the labels are class ids, one flag per output
    for a model of several."""
    source = getattr(model, "_output_mask_source", None)
    specs = model._output_specs
    if source is not None:
        _check_masked_output(model, source, specs)
    layers, sources, modes = list(model._calls), model._sources, model._modes_in_fit()
    several = model._several_outputs
    flags = tuple(sparse_labels) if several else (bool(sparse_labels),)
    ends = list(model._output_layer_indices())
    layers, sources, modes, ends = _scalar_outputs_as_columns(model, layers, sources, modes, ends)
    units = [layers[i].output_shape[-1] for i in ends]
    for i, spec in zip(ends, specs):
        _warn_logits_after_activation(spec.loss, layers[i])
    if not several:
        fused = [_fusable(specs[0].loss, layers[-1])]
        raw = [fused[0] and isinstance(layers[-1], Dense)]
        if fused[0] and isinstance(layers[-1], Activation):
            layers = layers[:-1]
            ends = [len(layers) - 1]
            # The loss reads the logits the Activation would have read, which in a graph come from the layer
            # before it (every other layer is an ancestor of the one it reads): what remains ends there.
            if sources is not None:
                sources = sources[:-1]
            if modes is not None:
                modes = modes[:-1]
    else:
        read = {s for reads in sources for s in reads}
        # An output read by other layers hands them its activated value: its activation stays in the layer.
        fused = [isinstance(layers[i], Dense) and _fusable(spec.loss, layers[i]) and i not in read
                 for i, spec in zip(ends, specs)]
        raw = list(fused)
    objects = _metric_objects(model, specs, units, flags)  # per output: (metrics, weighted metrics)
    trained = [k for k, spec in enumerate(specs) if spec.loss is not None]
    outputs = [OutputPlan(index=i, name=spec.name, loss=spec.loss,
                          weight=None if getattr(spec.loss, "returns_the_whole_loss", False) else spec.weight,
                          target=trained.index(k) if k in trained else None,
                          takes_logits=is_fused or (spec.loss is not None and spec.loss.from_logits),
                          raw=is_raw, sparse_labels=flag, width=width, metrics=plain + weighted,
                          mask_source=source)
               for k, (i, spec, is_fused, is_raw, flag, width, (plain, weighted)) in enumerate(
                   zip(ends, specs, fused, raw, flags, units, objects))]
    # the metrics, then the weighted metrics (Keras's order), each with its output
    metrics = [m for plain, _ in objects for m in plain] + [m for _, weighted in objects for m in weighted]
    metric_outputs = [k for k, (plain, _) in enumerate(objects) for _ in plain] + [
        k for k, (_, weighted) in enumerate(objects) for _ in weighted]
    metric_weighted = [False] * sum(len(plain) for plain, _ in objects) + [True] * sum(len(w) for _, w in objects)
    unnamed = several and getattr(model, "_unnamed_outputs", False)  # (a subclassed model's tuple of outputs)
    loss_names, metric_names = compiled_outputs.log_names(specs, objects, prefixed=several, unnamed=unnamed)
    targets = None
    if several and not unnamed:
        # Keras's evaluate lists the loss, the outputs' losses, then the other logs by name: so do the logs
        order = sorted(range(len(metrics)), key=lambda m: metric_names[m])
        metrics, metric_outputs = [metrics[m] for m in order], [metric_outputs[m] for m in order]
        metric_names, metric_weighted = [metric_names[m] for m in order], [metric_weighted[m] for m in order]
    if several:
        targets = model._targets_layout()
    need_dx = wiring.need_dx(layers, sources, lambda layer: layer.bound.grads)
    return TrainPlan(
        layers=layers, sources=sources, modes=modes, split_inputs=model._split_inputs, outputs=outputs,
        output_indices=tuple(ends) if several else None, targets=targets, need_dx=need_dx,
        has_regularizers=any(s.regularizer is not None for layer in layers for s in layer.trained_weight_specs()),
        has_constraints=any(s.constraint is not None and s.name in trained_names(layer.bound.grads)
                            for layer in layers for s in layer.trained_weight_specs()),
        metrics=metrics, metric_outputs=metric_outputs, metric_names=metric_names, metric_weighted=metric_weighted,
        loss_names=loss_names, losses_last=unnamed, labels_as_column=not several and sparse_labels == "column",
        shown_loss_names=compiled_outputs.unnamed_loss_names(specs) if unnamed else None,
        listed_loss_order=compiled_outputs.listed_loss_order(model, specs) if several and not unnamed else None,
        sparse_labels=flags if several else sparse_labels,
        activity=frozenset(i for i, layer in enumerate(layers) if layer.activity_regularizer is not None),
        added_losses=frozenset(i for i, layer in enumerate(layers) if user_layer.adds_losses(layer)),
    )


def _scalar_outputs_as_columns(model, layers, sources, modes, ends):
    """An output of one value per sample, shape (samples,) (e.g. ``Reshape(())`` after ``Dense(1)``), as the step
    computes it: Keras brings targets and predictions to the same rank (``squeeze_or_expand_to_same_rank``), so
    its loss and metrics are those of a (samples, 1) column. The step reads an output's units off its last axis:
    the plan runs such an output through a hidden ``Reshape((1,))``; the model's own call (predict) is untouched."""
    scalar = [k for k, i in enumerate(ends) if tuple(layers[i].output_shape) == ()]
    if not scalar:
        return layers, sources, modes, ends
    layers, ends = list(layers), list(ends)
    if sources is None:  # a chain: one output, the last layer's
        sources = tuple((i - 1,) for i in range(len(layers)))
    sources = list(sources)
    modes = list(modes) if modes is not None else [None] * len(layers)
    for k in scalar:
        column = Reshape((1,), name=f"{layers[ends[k]].name}_as_column")
        column.build(())
        column.bind(layers[ends[k]].ops, {}, {})
        layers.append(column)
        sources.append((ends[k],))
        modes.append(None)
        ends[k] = len(layers) - 1
    return layers, tuple(sources), tuple(modes), ends


def _check_masked_output(model, source, specs) -> None:
    """An output carrying a padding mask (``Embedding(mask_zero=True)`` or ``Masking`` before a per-step output):
    its loss and metrics are masked as Keras masks them (``output_losses.py``), for one output of a built-in loss
    computed per step; anything else is refused by name rather than computed without the mask."""
    loss = specs[0].loss if len(specs) == 1 else None
    per_step = len(model._output_shapes()[0]) > 1
    if len(specs) == 1 and loss is not None and per_step and not loss.takes_sample_weights and not getattr(
            loss, "takes_inputs", False):
        return
    raise ValueError(f"model {model.name!r}: its output carries the padding mask of layer {source.name!r} "
                     "(mask_zero=True, or a Masking layer), which Keras applies to the loss and metrics; gpunn does so "
                     "for a model of one output computed per step with a built-in loss, not here: reduce the steps "
                     "before the output (e.g. GlobalAveragePooling1D), or use mask_zero=False")


def _metric_objects(model, specs: list, units: list, sparse: tuple) -> list:
    """Per output, the compiled metric objects for this label layout, each checked against it (a clear error
    for a metric that cannot take these labels and outputs). Made once per compile and layout and kept on the
    model (``model._metric_objects``, reset by ``compile``), so training, evaluation and ``model.metrics`` share
    one set of objects, as Keras's compiled metrics are one set."""
    cache = getattr(model, "_metric_objects", None)
    key = (tuple(sparse), tuple(int(u) for u in units))
    if cache is not None and key in cache:
        return cache[key]
    resolved = compiled_outputs.resolve_metric_objects(specs, units, list(sparse), model._trained_output_shapes())
    if cache is not None:
        cache[key] = resolved
    return resolved


def log_names_before_data(model) -> list | None:
    """The names of the logs, as ``make_plan`` will give them, before the model has seen any labels (its
    ``metrics_names`` right after compile or load): a metric's name does not depend on the labels' layout, so
    each is made for class ids here. None where that cannot be told (the step will say)."""
    specs = model._output_specs
    if not specs or (model._several_outputs and not model.built):  # (several outputs: named once built)
        return None
    try:  # (a metric's name does not depend on the width of the output either: None where not built yet)
        objects = [([metrics_module.get(i, spec.loss, None, True) for i in spec.metrics],
                    [metrics_module.get(i, spec.loss, None, True) for i in spec.weighted_metrics])
                   for spec in specs]
    except (ValueError, TypeError, AttributeError, IndexError):
        return None
    unnamed = model._several_outputs and getattr(model, "_unnamed_outputs", False)
    loss_names, names = compiled_outputs.log_names(specs, objects, prefixed=model._several_outputs, unnamed=unnamed)
    if unnamed:
        return ["loss"] + names + compiled_outputs.unnamed_loss_names(specs)
    listed = compiled_outputs.in_listed_order(loss_names, compiled_outputs.listed_loss_order(model, specs))
    return ["loss"] + listed + (sorted(names) if model._several_outputs else names)


def run_forward(plan: TrainPlan, x, training: bool, outputs: dict | None = None):
    """(output, backprops): the plan's layers in order; an output Dense whose activation the loss applies hands
    over logits. The output is the model's one, or the list of its several. ``outputs``, when given, receives the
    output of each layer with an activity regularizer, by index."""
    return wiring.forward(plan.layers, plan.sources, plan.split_inputs(x), training, raw=plan.raw, outputs=outputs,
                          keep=plan.activity, modes=plan.modes, output_indices=plan.output_indices)


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
