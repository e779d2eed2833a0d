"""What ``compile`` says for each of a model's outputs: its loss, the weight of that loss in the total, and its
metrics, resolved from ``loss`` / ``loss_weights`` / ``metrics`` as Keras 3 resolves them
(keras/src/trainers/compile_utils.py ``CompileLoss.build``, ``CompileMetrics._build_metrics_set``).

- ``loss``: one loss for every output, a list or tuple of one per output, or a dict by output name. For several
  outputs, ``None`` in the list leaves an output untrained (it is predicted, takes no targets and backpropagates
  nothing), and so does a key left out of the dict when the model's outputs are a dict (Keras 3 refuses a partial
  dict for outputs given as a list, and so does gpunn). At least one output has a loss.
- ``loss_weights``: a number (one output), a list or tuple of one per output, or a dict by output name; the
  training loss is the weighted sum of the outputs' losses.
- ``metrics``: for one output, every metric given (nested lists flattened). For several: a list or tuple of one
  entry per output (a metric, a list of them, or None), or a dict by output name (outputs left out get none). A
  flat list of another length applies to every output, as tf.keras 2 did (Keras 3 refuses it; scripts written
  for tf.keras, such as "Hands-On Machine Learning"'s auxiliary-output model, pass ``metrics=["mse"]``).

An output's name is that of the layer making it (``model.output_names``), or its key when the outputs were given
as a dict (compile's dicts may use either). The logs name each output's loss ``"<output name>_loss"`` and each of its metrics
``"<output name>_<metric name>"``, as Keras's.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import losses as losses_module
from .. import metrics as metrics_module
from ..naming import snake_case


@dataclass
class OutputSpec:
    name: str                  # the output's name: its layer's
    loss: object               # a gpunn Loss; None: the output is not trained (several outputs only)
    weight: float | None       # the loss's weight in the total (None: 1, and no multiplication)
    metrics: list = field(default_factory=list)  # metric identifiers, as given
    weighted_metrics: list = field(default_factory=list)  # those computed with the sample weights
    # the loss as Keras names an unnamed output's (a subclassed model's tuple): the identifier given, a function's
    # name, a Loss's name (compile_utils.py ``get_loss``)
    loss_label: str | None = None


def output_position(key, model) -> int | None:
    """The output a dict key names: its key when the outputs were given as a dict (preferred: a key may be
    another output's layer name), else its layer's name; None when it names none."""
    keys = getattr(model, "_output_keys", None)
    if keys is not None and key in keys:
        return keys.index(key)
    names = list(model.output_names)
    return names.index(key) if key in names else None


def _by_output(argument: str, value: dict, model) -> list:
    """The values of a dict keyed by output name (or key), in the outputs' order; None for outputs it leaves
    out; unknown keys, and two keys for one output, refused."""
    per_output: list = [None] * len(model.output_names)
    given: dict = {}
    for key, item in value.items():
        position = output_position(key, model)
        if position is None:
            raise ValueError(f"{argument}: unknown output name(s) {[str(key)]}; the model's outputs are "
                             f"{_names(model)}")
        if position in given:
            raise ValueError(f"{argument}: keys {given[position]!r} and {key!r} name the same output")
        given[position] = key
        per_output[position] = item
    return per_output


def _is_structure(value) -> bool:
    """A list, tuple or dict of per-output entries (a serialized object, a dict with "class_name", is one
    entry)."""
    return isinstance(value, (list, tuple)) or isinstance(value, dict) and "class_name" not in value


def _check_loss_weight(argument: str, weight):
    """The weight as a number, or a variable given (``keras.Variable``, tf.keras 2's ``K.variable``) as it is:
    its value is read at every step, so a callback assigning it changes the weight from the next step (tf.keras
    2's dynamic loss weights; ``loss_weight_value``)."""
    if weight is None:
        return None
    variable = weight if hasattr(weight, "assign") else None
    try:
        weight = float(weight)
    except (TypeError, ValueError):
        raise ValueError(f"{argument}: expected a number, got {weight!r}") from None
    if weight != weight or weight in (float("inf"), float("-inf")):
        raise ValueError(f"{argument}: expected a finite number, got {weight!r}")
    return weight if variable is None else variable


def loss_weight_value(weight) -> float | None:
    """A compiled loss weight's value now (a variable's, read again each time)."""
    return weight if weight is None or isinstance(weight, float) else float(weight)


def variable_loss_weights(outputs) -> tuple:
    """The values of now of the loss weights given as variables: what a recorded step depends on beyond its
    buffers (a change records it again)."""
    return tuple(float(o.weight) for o in outputs if o.weight is not None and not isinstance(o.weight, float))


def _names(model) -> list:
    return getattr(model, "_output_keys", None) or model.output_names


def _one_per_output(argument: str, what: str, value, count: int, model) -> list | None:
    """The entries of ``value`` per output, when it is a dict by output name (every output given) or a list or
    tuple of one per output; None when it is neither (one value for every output)."""
    if _is_structure(value) and isinstance(value, dict):
        per_output = _by_output(argument, value, model)
        missing = [name for name, entry in zip(_names(model), per_output) if entry is None]
        if missing:  # Keras: "Expected keys [...] in loss dict"
            raise ValueError(f"{argument}: expected a {what} for every output {_names(model)}; the dict has none "
                             f"for {missing}")
        return per_output
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise ValueError(f"{argument}: expected one {what} per output ({count}: {_names(model)}), got "
                             f"{len(value)}")
        return list(value)
    return None


def _losses(loss, count: int, model) -> list:
    """Per output, (its Loss, its label: ``OutputSpec.loss_label``), or (None, None) for an output left untrained
    (several outputs only)."""
    if count > 1 and _is_structure(loss) and isinstance(loss, dict) and getattr(model, "_output_keys", None):
        # outputs given as a dict: Keras walks the loss dict's keys, and an output it leaves out has no loss
        per_output = _by_output("loss", loss, model)
    else:
        per_output = _one_per_output("loss", "loss", loss, count, model) or [loss] * count
    if count == 1 and per_output[0] is None:
        raise ValueError(f"loss: the model's one output {_names(model)[0]!r} has no loss")
    if all(value is None for value in per_output):
        raise ValueError(f"loss: no output of the model {_names(model)} has a loss; give at least one")
    made = [None if value is None else losses_module.as_loss(value) for value in per_output]
    return [(loss, None if loss is None else _loss_label(value, loss)) for value, loss in zip(per_output, made)]


def _weights(loss_weights, count: int, model, per_loss: list) -> list:
    if loss_weights is None:
        return [None] * count
    if count > 1 and _is_structure(loss_weights) and isinstance(loss_weights, dict):
        # a dict may leave out the outputs without a loss (their weight weighs nothing)
        per_output = _by_output("loss_weights", loss_weights, model)
        missing = [name for name, value, loss in zip(_names(model), per_output, per_loss)
                   if value is None and loss is not None]
        if missing:
            raise ValueError(f"loss_weights: expected a weight for every output with a loss; the dict has none for "
                             f"{missing}")
    else:
        per_output = _one_per_output("loss_weights", "weight", loss_weights, count, model)
    if per_output is None:
        if count > 1:
            raise ValueError(f"loss_weights: the model has {count} outputs {_names(model)}; expected a list or "
                             f"dict of one weight per output, got {loss_weights!r}")
        per_output = [loss_weights]
    return [_check_loss_weight(f"loss_weights[{name!r}]", value) for name, value in zip(_names(model), per_output)]


def _flatten(value) -> list:
    if value is None:
        return []
    if _is_structure(value) and isinstance(value, dict):
        return [item for key in sorted(value) for item in _flatten(value[key])]
    if isinstance(value, (list, tuple)):
        return [item for entry in value for item in _flatten(entry)]
    return [value]


def _metrics(argument: str, metrics, count: int, model, trained: list) -> list:
    """Per output, its metric identifiers. One metric, or a flat list for every output, applies to the outputs
    with a loss (``trained``)."""
    if metrics is None:
        return [[] for _ in range(count)]
    if count == 1:
        return [_flatten(metrics)]
    if not _is_structure(metrics):
        return [[metrics] if is_trained else [] for is_trained in trained]
    if isinstance(metrics, dict):
        return [_flatten(value) for value in _by_output(argument, metrics, model)]
    if len(metrics) == count:
        return [_flatten(entry) for entry in metrics]
    if any(_is_structure(entry) for entry in metrics):
        raise ValueError(f"{argument}: the model has {count} outputs {model.output_names}; expected a list of one "
                         f"entry per output, a dict by output name, or a flat list of metrics for every output, "
                         f"got {metrics!r}")
    return [list(metrics) if is_trained else [] for is_trained in trained]


def resolve(model, loss, loss_weights, metrics, weighted_metrics=None) -> tuple[object, list]:
    """(what ``model._resolved_loss`` holds, compiled from what ``model.loss`` was given: the Loss, or for several
    outputs the losses in the structure given; the OutputSpec of each output). Every name is looked up here, so a
    bad one fails in ``compile``."""
    several = getattr(model, "_several_outputs", False)
    count = len(model.output_names) if several else 1
    if loss is None:
        if loss_weights is not None:
            raise ValueError("loss_weights: given without a loss")
        per_loss, labels = [None] * count, [None] * count
    else:
        per_loss, labels = (list(part) for part in zip(*_losses(loss, count, model)))
    for value in per_loss:  # a model trains on the mean over its batch, Keras's default
        if getattr(value, "reduction", "sum_over_batch_size") != "sum_over_batch_size":
            raise ValueError(f"loss: {type(value).__name__}(reduction={value.reduction!r}): a model trains on the "
                             "loss's mean over the batch (reduction='sum_over_batch_size', Keras's default); the "
                             "other reductions serve the loss called on its own. For a loss summed over the batch, "
                             "give a function returning that sum (e.g. lambda y_true, y_pred: "
                             "keras.ops.sum(keras.ops.square(y_true - y_pred))): the model trains on what it returns")
    weights = _weights(loss_weights, count, model, per_loss)
    trained = [value is not None or loss is None for value in per_loss]
    per_metrics = _metrics("metrics", metrics, count, model, trained)
    per_weighted = _metrics("weighted_metrics", weighted_metrics, count, model, trained)
    # Keras names an output by its layer, or by its key when the outputs were a dict
    keys = getattr(model, "_output_keys", None)
    names = (keys or model.output_names) if several else [model.output_names[0] if model.output_names else "output"]
    specs = [OutputSpec(name, l, w, m, wm, label) for name, l, w, m, wm, label in zip(
        names, per_loss, weights, per_metrics, per_weighted, labels)]
    for spec in specs:  # unknown metric names fail here, before any work
        for argument, identifiers in (("metrics", spec.metrics), ("weighted_metrics", spec.weighted_metrics)):
            if identifiers and loss is not None and spec.loss is None:
                # Keras computes them when fit is given targets for every output anyway; gpunn takes targets
                # for the outputs it trains only
                raise ValueError(f"{argument}: output {spec.name!r} has no loss, so it takes no targets and its "
                                 "metrics have nothing to compare with; give it a loss (a loss weight of 0 keeps "
                                 "it out of training) or leave its metrics out")
            for identifier in identifiers:
                _check_metric(argument, identifier, spec.loss)
    if loss is None:
        return None, specs
    if not several:
        return per_loss[0], specs
    if _is_structure(loss) and isinstance(loss, dict):
        return {key: None if value is None else losses_module.as_loss(value) for key, value in loss.items()}, specs
    return type(loss)(per_loss) if isinstance(loss, (list, tuple)) else per_loss[0], specs


def _check_metric(argument: str, identifier, loss) -> None:
    """``identifier`` names a metric gpunn has; else the registry's error, naming ``argument``."""
    try:
        metrics_module.get(identifier, loss, 2, True)
    except ValueError as exc:
        if argument == "metrics":
            raise
        raise ValueError(f"{argument}: {str(exc).removeprefix('metrics: ')}") from None


def check_names(loss, metrics, weighted_metrics=None):
    """For a model whose outputs are not known yet (a subclassed one before its first data): every loss and
    metric name looked up, so that a bad one fails in ``compile``; the losses in the structure given."""
    def losses(value):
        if _is_structure(value):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            made = {key: losses(item) for key, item in items}
            return made if isinstance(value, dict) else type(value)(made.values())
        return None if value is None else losses_module.as_loss(value)

    for argument, value in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
        for identifier in _flatten(value):
            _check_metric(argument, identifier, None)
    return losses(loss)


def resolve_metric_objects(specs: list, units: list, sparse: list, sample_shapes: list) -> list:
    """Per output, (its metric objects, its weighted metric objects), each made for its loss and label layout and
    checked against that layout and the output's ``sample_shapes``. A metric object given twice is copied for the
    later uses (each keeps its own state)."""
    seen: set = set()
    for spec, shape in zip(specs, sample_shapes):
        _check_loss_axis(spec.loss, shape)

    def made(identifiers, spec, width, sparse_labels, shape):
        objects = []
        for identifier in identifiers:
            metric = metrics_module.get(identifier, spec.loss, width, sparse_labels)
            if id(metric) in seen:
                metric = metric.copy()
            seen.add(id(metric))
            _check_axis_per_step(metric, shape)
            if not metric.takes_labels_as_given:  # a metric's own update_state decides what it takes
                metric.check_layout(width, sparse_labels)
            objects.append(metric)
        return objects

    return [(made(spec.metrics, spec, width, flag, shape), made(spec.weighted_metrics, spec, width, flag, shape))
            for spec, width, flag, shape in zip(specs, units, sparse, sample_shapes)]


def _check_loss_axis(loss, sample_shape: tuple) -> None:
    """A loss's ``axis=1`` is the features axis of (samples, features) outputs only; on an output per step Keras
    reduces over the steps there, which gpunn's losses (over the last axis) do not: refused by name."""
    if getattr(loss, "axis", -1) == 1 and len(sample_shape) >= 2:
        shape = (None,) + tuple(sample_shape)
        raise ValueError(f"loss: {type(loss).__name__} with axis=1 on an output of shape {shape}: gpunn's losses "
                         "reduce over the last (features) axis; axis=1 is that axis only for (samples, features) "
                         "outputs; use axis=-1")


def _check_axis_per_step(metric, sample_shape: tuple) -> None:
    """An output per step (samples, steps..., features) reaches the metrics as rows, one per step
    (output_losses.py): an ``axis`` of -1 (the features) or None (all axes) reduces what Keras reduces; any other
    would reduce over rows, not what Keras computes, so it is refused by name."""
    axis = getattr(metric, "axis", -1)
    over_features = axis is None or axis == -1 or (isinstance(axis, (list, tuple)) and list(axis) == [-1])
    if len(sample_shape) < 2 or over_features:
        return
    raise ValueError(f"metrics: {type(metric).__name__} {metric.name!r} with axis={axis!r} on an output of shape "
                     f"{(None,) + tuple(sample_shape)}: gpunn's metrics of an output per step see one row per step, "
                     "so they reduce over the last axis (axis=-1) or all axes (axis=None) only")


def log_names(specs: list, metric_objects: list, prefixed: bool, unnamed: bool = False) -> tuple[list, list]:
    """(the names of the outputs' losses, the names of their metrics then weighted metrics in the logs), as
    Keras's ``CompileLoss`` / ``CompileMetrics.result`` name them: ``"<output>_loss"`` for several outputs (none
    for one), each metric by its name, ``"<output>_<metric>"`` for several outputs (``prefixed``); a repeated name
    numbered ``_1``, ``_2``...; a weighted metric whose name is taken ``"weighted_<metric>"``. Several outputs
    without names (``unnamed``: a subclassed model's tuple): ``"<loss label>_loss"`` (numbered where repeated)
    and each metric by its own name, as Keras names them."""
    trained = [spec for spec in specs if spec.loss is not None]
    counters: dict = {}
    if unnamed:  # (each its own tracker: the logs show them as unnamed_loss_names says)
        loss_names = [_numbered(name, counters) for name in unnamed_loss_names(specs)]
        counters, prefixed = {}, False
    else:
        loss_names = [f"{spec.name}_loss" for spec in trained] if prefixed and len(trained) > 1 else []

    def numbered(name):
        return _numbered(name, counters)

    prefix = [f"{spec.name}_" if prefixed else "" for spec in specs]
    names = [numbered(p + metric.name) for p, (plain, _) in zip(prefix, metric_objects) for metric in plain]
    for p, (_, weighted) in zip(prefix, metric_objects):
        for metric in weighted:
            name = p + metric.name
            names.append(numbered(f"{p}weighted_{metric.name}") if name in counters else numbered(name))
    return loss_names, names


def listed_loss_order(model, specs: list) -> list | None:
    """The order ``evaluate`` lists the outputs' losses in, as positions among the trained outputs: for outputs
    given as a dict and losses as a dict, the order of the loss dict's keys (Keras's ``CompileLoss`` keeps it);
    None for the outputs' own order (a list of outputs, one loss for all)."""
    arguments = getattr(model, "_compile_arguments", None)
    loss = arguments[0] if arguments else None
    if not isinstance(loss, dict) or not getattr(model, "_output_keys", None):
        return None
    trained = [spec.name for spec in specs if spec.loss is not None]
    keys = [key for key in loss if key in trained]
    if sorted(keys) != sorted(trained):
        return None
    order = [trained.index(key) for key in keys]
    return None if order == sorted(order) else order


def in_listed_order(names: list, order: list | None) -> list:
    """``names`` (the outputs' loss names, one per trained output) in the order ``listed_loss_order`` gave."""
    return list(names) if order is None or len(order) != len(names) else [names[k] for k in order]


def unnamed_loss_names(specs: list) -> list:
    """The names Keras's logs give the losses of several outputs without names (a subclassed model's tuple):
    ``"<loss label>_loss"``, two losses of one label under one name (Keras's logs dict keeps the last one's)."""
    trained = [spec for spec in specs if spec.loss is not None]
    return [f"{spec.loss_label or spec.loss.name}_loss" for spec in trained] if len(trained) > 1 else []


def _loss_label(identifier, loss) -> str:
    """The name Keras gives the loss ``identifier`` (made into ``loss``) of an output without a name
    (``compile_utils.get_loss``): a Loss's name where the identifier is one, a class or a class's name; a
    function's name given as a string as it is; else the callable's name in snake case (``get_object_name``)."""
    if isinstance(identifier, str):  # (a class's name, "MeanSquaredError": its Loss; "mse", "MSE": a function's)
        return loss.name if identifier == type(loss).__name__ else identifier
    if isinstance(identifier, (type, losses_module.Loss)):
        return loss.name
    name = getattr(identifier, "name", None)
    if isinstance(name, str):
        return name
    return snake_case(getattr(identifier, "__name__", None) or type(identifier).__name__)


def _numbered(name: str, counters: dict) -> str:
    """``name``, numbered ``_1``, ``_2``... where ``counters`` has seen it."""
    if name in counters:
        counters[name] += 1
        return f"{name}_{counters[name] - 1}"
    counters[name] = 1
    return name
