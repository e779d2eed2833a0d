"""A model's weights and optimizer state as Keras lists them in its files, and back.

Weights: Keras saves a layer's variables in the order ``_trainable_variables + _non_trainable_variables``
(keras/src/layers/layer.py ``save_own_variables``; the legacy HDF5 files use ``trainable_weights +
non_trainable_weights``, legacy_h5_format.py ``_legacy_weights``, the same order for every layer gpunn has):
the trainable kind first, in creation order, then the others (BatchNormalization: gamma, beta, moving_mean,
moving_variance).

The optimizer: ``optimizer.variables`` (keras/src/optimizers/base_optimizer.py), saved in this order:
``iteration``; ``learning_rate`` unless the learning rate is a schedule; then what the optimizer's ``build``
creates for the model's trainable variables. Each ``add_optimizer_variables(var_list, names)`` call interleaves
its names per variable (Adam: momentum and velocity of the first variable, of the second, ...) and separate
calls follow one another (RMSprop: every velocity, then every momentum). ``KERAS_OPTIMIZER_LAYOUTS`` spells out
those calls for each optimizer; one added to gpunn without an entry is taken as one call per slot, in the order
of its ``active_slots()``.

gpunn keeps each slot as one flat buffer over the trained weights (``ParameterStore.params``); a Keras slot
variable is the segment of that buffer for one trained weight, shaped like it.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..layers import sublayers, variable_paths
from ..optimizers import carried_slots
from ..naming import container_name, snake_case
from ..optimizers.variable_view import OptimizerVariablePlace, head_places


@dataclass(frozen=True)
class KerasOptimizerLayout:
    """How a Keras optimizer creates its variables in ``build``.

    ``calls``: per ``add_optimizer_variables`` call, the gpunn slot names it creates (slots the optimizer does
    not use, e.g. SGD's velocity without momentum, are left out). ``keras_names``: a slot's Keras variable name
    where it differs from gpunn's. ``scalars``: (Keras name, value(optimizer, dtype)) of the variables ``build``
    creates after the slots, which gpunn derives from the step count instead of storing."""

    calls: tuple[tuple[str, ...], ...]
    keras_names: dict = field(default_factory=dict)
    scalars: tuple[tuple[str, Callable], ...] = ()
    # Slots whose Keras variables take the weight's own name ('kernel', Adafactor's factored moments), and a
    # scalar placeholder for a weight they do not factor is made outside the optimizer's name scope ('bias').
    named_as_weight: tuple[str, ...] = ()


def _nadam_u_product(optimizer, dtype) -> np.ndarray:
    """Keras's Nadam ``u_product`` after ``iterations`` updates: prod over k of beta_1 (1 - 0.5 * 0.96^k)
    (keras/src/optimizers/nadam.py ``_backend_update_step``). gpunn computes it from the step count
    (kernels/optimizer_rules.py); Keras keeps it in a variable, so it is written for Keras and ignored on load."""
    product = 1.0
    for k in range(1, min(int(optimizer.iterations), 100_000) + 1):
        product *= optimizer.beta_1 * (1.0 - 0.5 * 0.96 ** k)
        if product == 0.0:
            break
    return np.asarray(product, dtype=dtype)


# Keras 3's build() of each optimizer (keras/src/optimizers/<name>.py). AdamW shares Adam's (found through the
# class hierarchy).
KERAS_OPTIMIZER_LAYOUTS: dict[str, KerasOptimizerLayout] = {
    "SGD": KerasOptimizerLayout((("velocity",),), keras_names={"velocity": "momentum"}),
    "RMSprop": KerasOptimizerLayout((("velocity",), ("momentum",), ("average_gradient",))),
    "Adagrad": KerasOptimizerLayout((("accumulator",),)),
    "Adam": KerasOptimizerLayout((("momentum", "velocity"), ("velocity_hat",))),
    "Nadam": KerasOptimizerLayout((("momentum", "velocity"),), scalars=(("u_product", _nadam_u_product),)),
    "Adamax": KerasOptimizerLayout((("momentum", "norm"),)),
    "Adadelta": KerasOptimizerLayout((("accumulated_grad", "accumulated_delta_var"),)),
    "Lion": KerasOptimizerLayout((("momentum",),)),
    "ScheduleFreeAdamW": KerasOptimizerLayout((("momentum", "velocity"),)),
    "Ftrl": KerasOptimizerLayout((("accumulator", "linear"),)),
    "Lamb": KerasOptimizerLayout((("momentum", "velocity"),)),
    "Muon": KerasOptimizerLayout((("momentum", "velocity"),)),  # a velocity for AdamW's weights only
    "Adafactor": KerasOptimizerLayout((("factor_rows", "factor_columns", "velocity"),),  # r and c for 2-D only
                                      named_as_weight=("factor_rows", "factor_columns")),
}


def optimizer_layout(optimizer) -> KerasOptimizerLayout:
    """This optimizer's layout, with only the slots it uses."""
    active = tuple(optimizer.active_slots())
    # Keras's base build makes the weights' moving average (use_ema) before an algorithm's own slots
    leading = tuple((slot,) for slot in optimizer.state_slots() if slot not in active)
    for cls in type(optimizer).__mro__:
        layout = KERAS_OPTIMIZER_LAYOUTS.get(cls.__name__)
        if layout is not None:
            break
    else:
        layout = KerasOptimizerLayout(tuple((slot,) for slot in active))
    calls = tuple(kept for kept in (tuple(s for s in call if s in active) for call in layout.calls) if kept)
    if getattr(optimizer, "slots_made_kind_by_kind", False):
        # tf.keras 2's legacy optimizers make each kind of slot for every weight in turn (Adam's m for all, then v)
        calls = tuple((slot,) for call in calls for slot in call)
    listed = {s for call in calls for s in call}
    missing = [s for s in active if s not in listed]
    if missing:  # a slot the table does not know yet: after the known ones, one call each
        calls += tuple((s,) for s in missing)
    return KerasOptimizerLayout(leading + calls, layout.keras_names, layout.scalars, layout.named_as_weight)


# ---- weights -----------------------------------------------------------------------------------------------


def keras_weight_order(layer) -> list:
    """The layer's weight specs in Keras's saving order: the trainable kind first, then the others; for a layer
    holding layers (``layers/sublayers.py``), each layer's in turn, its own first (``layer.weights``)."""
    specs = layer.weight_specs()
    if sublayers.has_sublayers(layer):
        return specs
    return [s for s in specs if s.trainable] + [s for s in specs if not s.trainable]


def keras_trainable(layer):
    """Whether Keras holds each of the layer's weight specs trainable (a predicate): a variable is trainable in
    Keras while the layer that made it is (the ``trainable`` setter sets it on every variable below), so a frozen
    sublayer's weights are not, whatever the outer layer's flag."""
    made_by = {spec.name: owner for spec, owner in sublayers.flat_specs_and_owners(layer)} \
        if sublayers.has_sublayers(layer) else {}
    # (a weight frozen by itself keeps its place: Keras's legacy HDF5 writer, trainable_weights then the others,
    # would list it after the others, in a file that neither Keras nor gpunn reads back, both reading in the order
    # of a model made from the config)
    return lambda spec: spec.trainable and layer.trainable and made_by.get(spec.name, layer).trainable


def legacy_weight_order(layer) -> list:
    """The order of a tf.keras HDF5 file (legacy_h5_format.py ``_legacy_weights``): ``trainable_weights`` then
    ``non_trainable_weights``, which for a layer holding layers differs from ``keras_weight_order``."""
    specs = keras_weight_order(layer)
    if not layer.trainable:
        return specs
    trainable = keras_trainable(layer)
    return [s for s in specs if trainable(s)] + [s for s in specs if not trainable(s)]


def layer_weights(layer, order=keras_weight_order) -> list[np.ndarray]:
    """The layer's weights (host copies) in Keras's saving order (or ``order``)."""
    values = dict(zip([s.name for s in layer.weight_specs()], layer.get_weights()))
    return [values[s.name] for s in order(layer)]


def owner_paths(layer, path: str) -> list[tuple[str, int]]:
    """(where its variables are in a Keras 3 weights file, how many) of the layer at ``path`` and of each layer
    it holds, in the order of ``keras_weight_order``."""
    return [(f"{path}/{below}" if below and path else below or path, len(sublayers.own_specs(owner)))
            for below, owner in sublayers.owners(layer)]


def from_legacy_order(layer, values: list) -> list:
    """A layer's weights read in ``legacy_weight_order``, in ``keras_weight_order``."""
    legacy = [s.name for s in legacy_weight_order(layer)]
    if len(values) != len(legacy):
        return values  # the count is refused, naming the file, by weight_tensors
    by_name = dict(zip(legacy, values))
    return [by_name[s.name] for s in keras_weight_order(layer)]


def keras_layer_paths(model) -> list[str]:
    """Where each of the model's layers keeps its variables in a Keras 3 weights file: 'layers/' and the
    snake-case class name, made unique by '_1', '_2', ... (saving_lib.py ``_save_container_state``: never the
    layer's own name, which differs between two instances of one model). A layer a Sequential lists again uses up
    a name there too, as Keras names every entry before it skips one already saved."""
    from .model_entries import held_in_files, top_level

    used: dict[str, int] = {}
    held = held_in_files(model)
    paths = {}  # a model it holds: its layers' paths under its own, as Keras's container walk nests them
    for entry in top_level(_keras_container(model), held):
        path = f"layers/{container_name(_class_name(entry), used)}"
        if id(entry) in paths:
            continue
        if entry in held:
            paths.update({id(layer): f"{path}/{inner}" if inner else path
                          for layer, inner in zip(entry._graph_layers, _held_model_paths(entry))})
        else:
            paths[id(entry)] = path
    # (a held model's keras.ops, which a Sequential lists among its own layers, hold no weights: a path of their own)
    return [paths.get(id(layer)) or f"layers/{layer.name}" for layer in model._graph_layers]


def _listed_paths(model) -> dict:
    """{id(layer): its path} as tf.keras 2 (TensorFlow 2.13+) wrote a subclassed model's weights: the entries of
    ``model.layers`` (the layers set as attributes, in Keras's order) under 'layers/' and their snake-case class
    names, where Keras 3 writes them under their attributes; Keras 3 reads either."""
    used: dict[str, int] = {}
    return {id(layer): f"layers/{container_name(_class_name(layer), used)}" for layer in model.layers}


def _keras_container(model) -> list:
    """The layers in the order Keras's file walks them: a Sequential's chain with a layer it calls again listed
    again (Keras's Sequential keeps it twice in its ``_layers``); otherwise each layer once."""
    from ..layers.shared_call import is_shared_call

    calls = getattr(model, "_call_list", None)
    if calls is None or getattr(model, "is_functional", False):
        return list(model._graph_layers)
    return [call.layer if is_shared_call(call) else call for call in calls]


def _class_name(layer) -> str:
    """The snake-case class name Keras's files name a layer by (a model's call() run as one layer: the model's
    class, ``own_weights.py``)."""
    return snake_case(getattr(layer, "keras_class_name", None) or type(layer).__name__)


def _held_model_paths(model) -> list[str]:
    """Where each layer of a model held by another keeps its variables below that model's path: a subclassed
    model's under its attributes (``keras_attribute_paths.py``, '' for its own weights), another's under
    'layers/'."""
    from .keras_attribute_paths import graph_layer_paths, is_subclassed

    if not is_subclassed(model):
        return keras_layer_paths(model)
    reached = graph_layer_paths(model)
    return [reached.get(id(layer), f"layers/{layer.name}") for layer in model._graph_layers]  # (else no weights)


def weight_tensors(model, per_layer: list[list[np.ndarray] | None], filepath, skipped: list | None = None
                   ) -> dict[str, np.ndarray]:
    """The weights given per layer of ``model`` (in Keras's order; None or [] where the file has none) as the
    tensors ``save.restore_weights`` takes, keyed by the layers' positions and weights' names. A layer whose
    number of weights differs from the file's is refused here (``skipped``, a list: named there and left out);
    shapes are checked by ``restore_weights``."""
    tensors = {}
    position = {id(layer): index for index, layer in enumerate(model._layers)}  # a functional's InputLayers: none
    for layer, values in zip(model._graph_layers, per_layer):
        if id(layer) not in position:
            continue
        index = position[id(layer)]
        specs = keras_weight_order(layer)
        if not values:
            continue  # reported as missing by restore_weights, if the layer has weights
        if len(values) != len(specs) and skipped is not None:
            skipped.append(layer.name)
            continue
        if len(values) != len(specs):
            raise ValueError(
                f"filepath: {filepath!r} holds {len(values)} weights for layer #{index} ({layer.name!r}), which "
                f"has {len(specs)} ({[s.name for s in specs]})"
            )
        for spec, value in zip(specs, values):
            tensors[f"layers/{index:03d}.{layer.name}/{spec.name}"] = np.asarray(value)
    return tensors


# ---- the optimizer -----------------------------------------------------------------------------------------


def trained_weights(model) -> list[tuple]:
    """(layer, spec) of each weight the model's flat trained buffer holds, in its order: the layout
    ``ParameterStore`` makes for the trainable flags of the model's last compile."""
    model_flag, layer_flags, frozen = model._store.trainable_state
    return [(layer, spec) for layer, flag, frozen_here in zip(model._store.layers, layer_flags, frozen)
            for spec in layer.weight_specs() if spec.trainable and flag and model_flag and spec.name not in frozen_here]


def trained_weight_descriptions(model) -> list[tuple[str, tuple]]:
    """(Keras's variable path, shape) of each trained weight, in the flat buffer's order (what Muon sorts by)."""
    return [(_keras_path(layer, spec), tuple(spec.shape)) for layer, spec in trained_weights(model)]


def _keras_path(layer, spec) -> str:
    """Keras 3's path of a weight's variable ('sequential/dense/kernel')."""
    return f"{variable_paths.prefix(layer)}{layer.name}/{spec.name}"


def _trained_in_keras_order(model, attribute_order: bool) -> list[tuple]:
    """((layer, spec), (start, stop) in the flat buffers) of each trained weight, in the order of Keras's
    ``model.trainable_variables`` (which orders its optimizer's variables): ``model._weight_order()`` (within a
    layer, its own), which keeps a model called as a layer together; for a subclassed model, the graph's, or
    with ``attribute_order`` its attributes'."""
    from .keras_attribute_paths import is_subclassed  # (which imports this module)

    pairs = list(zip(trained_weights(model), model._store.segments))
    if attribute_order or not is_subclassed(model):
        place = {id(layer): k for k, layer in enumerate(model._weight_order())}
        pairs.sort(key=lambda pair: place.get(id(pair[0][0]), len(place)))
    return pairs


def _variable_path(layer, spec) -> str:
    # as Keras's optimizer names a slot variable after its weight's path
    return _keras_path(layer, spec).replace("/", "_")


def optimizer_variable_places(model, attribute_order: bool = False) -> list[OptimizerVariablePlace]:
    """Each variable of the model's optimizer, in Keras's order (for a subclassed model's weights file,
    ``attribute_order``: ``_trained_in_keras_order``). An optimizer that has not run yet has only its step count and
    learning rate, as an unbuilt Keras optimizer."""
    optimizer = model.optimizer
    prefix = optimizer.name
    places = head_places(optimizer)
    if not getattr(model, "_optimizer_built", False):
        return places
    layout = optimizer_layout(optimizer)
    for call in layout.calls:
        for (layer, spec), (start, stop) in _trained_in_keras_order(model, attribute_order):
            for slot in _kept(model, call, (start, stop)):
                low, high, shape = _place(model, slot, (start, stop), spec.shape)
                if slot in layout.named_as_weight:
                    path = f"{prefix}/{spec.name}" if len(shape) else spec.name
                else:
                    path = f"{prefix}/{_variable_path(layer, spec)}_{layout.keras_names.get(slot, slot)}"
                places.append(OptimizerVariablePlace(path, "slot", slot, low, high, tuple(shape)))
    for name, value_of in layout.scalars:
        places.append(OptimizerVariablePlace(f"{prefix}/{name}", "scalar", value_of=value_of))
    return places


def optimizer_variables(model, attribute_order: bool = False) -> list[tuple[str, np.ndarray]]:
    """(Keras's variable name, value) of each variable of the model's optimizer, in Keras's order
    (``optimizer_variable_places``): copies, as files hold them."""
    optimizer = model.optimizer
    slots = {}
    variables = []
    for place in optimizer_variable_places(model, attribute_order):
        if place.kind == "iteration":
            value = np.asarray(optimizer.step_count, dtype=np.int64)
        elif place.kind == "learning_rate":
            # Keras keeps it in a float32 variable (floatx); the exact value is in the optimizer's config.
            value = np.asarray(optimizer.learning_rate, dtype=np.float32)
        elif place.kind == "slot":
            if place.slot not in slots:
                slots[place.slot] = model.ops.to_numpy(optimizer.slots[place.slot])
            value = slots[place.slot][place.low:place.high].reshape(place.shape).copy()
        else:
            value = place.value_of(optimizer, model.dtype)
        variables.append((place.path, value))
    return variables


def optimizer_variable_count(model) -> int:
    """How many variables Keras's optimizer of the model has now (``optimizer.variables``): the step count and
    learning rate (unless a schedule gives it), then, once it has run, those ``build`` made."""
    optimizer = model.optimizer
    head = 1 + (optimizer.schedule is None)
    if not getattr(model, "_optimizer_built", False):
        return head
    layout = optimizer_layout(optimizer)
    return head + _slot_variable_count(model, layout) + len(layout.scalars)


def _kept(model, call: tuple, segment: tuple) -> tuple:
    """The slots of ``call`` Keras's optimizer makes a variable of for the trained weight at ``segment`` (the
    optimizer told of the weights first: it may not have been built yet)."""
    optimizer = model.optimizer
    optimizer.set_trained_weights(trained_weight_descriptions(model))
    index = [tuple(s) for s in model._store.segments].index(tuple(segment))
    return tuple(slot for slot in call if optimizer.keras_slot_kept(slot, index))


def _place(model, slot: str, segment: tuple, shape) -> tuple:
    """(start, stop, shape) of Keras's variable of ``slot`` for the trained weight at ``segment`` in the slot's
    flat buffer (``Optimizer.keras_slot_place``)."""
    index = [tuple(s) for s in model._store.segments].index(tuple(segment))
    return model.optimizer.keras_slot_place(slot, index, tuple(segment), tuple(shape))


def _slot_variable_count(model, layout) -> int:
    return sum(len(_kept(model, call, segment)) for call in layout.calls for segment in model._store.segments)


@dataclass
class OptimizerState:
    """What a file's optimizer variables set in a gpunn optimizer: the step count, the learning rate (None:
    keep the config's) and the flat slots (empty: the optimizer had not run)."""

    iterations: int
    learning_rate: float | None = None
    slots: dict = field(default_factory=dict)


def optimizer_state(model, values: list[np.ndarray], filepath, attribute_order: bool = False) -> OptimizerState | None:
    """The state that Keras's optimizer variables ``values`` give the model's (compiled) optimizer, or None
    with a warning when they do not fit it; Keras warns and starts a fresh optimizer then too
    (base_optimizer.py ``load_own_variables``, legacy_h5_format.py ``load_model_from_hdf5``)."""
    optimizer = model.optimizer
    # Keras 3 saves the learning rate after the step count (unless it follows a schedule); tf.keras 2.11+ saved
    # the step count alone, its slots right after: the second variable is the rate when it is a scalar.
    has_rate = optimizer.schedule is None and len(values) >= 2 and np.ndim(values[1]) == 0
    head = 1 + has_rate
    if not values:
        return None
    state = OptimizerState(int(np.asarray(values[0]).reshape(())))
    if has_rate and len(values) >= 2:
        saved = np.asarray(values[1]).reshape(())
        # The config holds the exact rate; the variable a rounded copy, or a rate changed since (a callback).
        if saved.dtype.kind == "f" and saved != saved.dtype.type(optimizer.learning_rate):
            state.learning_rate = float(saved)
    if len(values) == head:
        return state  # an optimizer that had not run yet
    layout = optimizer_layout(optimizer)
    ordered = _trained_in_keras_order(model, attribute_order)
    weights = [pair for pair, _ in ordered]
    expected = head + _slot_variable_count(model, layout) + len(layout.scalars)
    values = _as_keras_3_lists_them(optimizer, layout, values, expected, [spec.shape for (_, spec), _ in ordered])
    if len(values) != expected:
        warnings.warn(
            f"filepath: {filepath!r}: the saved optimizer state has {len(values)} variables, while this "
            f"{type(optimizer).__name__} for this model's {len(weights)} trained weights has {expected}; the "
            "model starts with a freshly initialized optimizer",
            stacklevel=4,
        )
        return None
    size = model._store.params.size
    slots = {slot: np.zeros(optimizer.slot_size(slot, size), dtype=model.dtype) for call in layout.calls
             for slot in call}
    position = head
    for call in layout.calls:
        for (layer, spec), (start, stop) in ordered:
            for slot in _kept(model, call, (start, stop)):
                value = np.asarray(values[position])
                low, high, shape = _place(model, slot, (start, stop), spec.shape)
                if value.shape != shape:
                    raise ValueError(
                        f"filepath: optimizer variable #{position} ({slot} of {layer.name}/{spec.name}) in "
                        f"{filepath!r} has shape {value.shape}, expected {shape} (the model's weight is "
                        f"{tuple(spec.shape)})"
                    )
                slots[slot][low:high] = value.reshape(-1)
                position += 1
    state.slots = slots
    return state


def _as_keras_3_lists_them(optimizer, layout, values: list, expected: int, shapes: list) -> list:
    """tf.keras 2.11+'s optimizer variables where they differ from Keras 3's by what changes nothing on load:
    its SGD makes a momentum slot per weight even without momentum (where it keeps -learning_rate * gradient,
    which a momentum of 0 never reads: dropped here, for an SGD without momentum, which has no use for any); its
    Nadam keeps no ``u_product`` variable, which gpunn derives from the step count anyway (a placeholder
    appended). Else ``values`` unchanged."""
    slots = values[len(values) - len(shapes):]
    if (len(values) == expected + len(shapes) and not layout.calls and type(optimizer).__name__ == "SGD"
            and [np.shape(value) for value in slots] == [tuple(shape) for shape in shapes]):
        return values[:len(values) - len(shapes)]
    if type(optimizer).__name__ == "Nadam" and layout.scalars and len(values) == expected - len(layout.scalars):
        return values + [np.zeros(()) for _ in layout.scalars]
    return values


def apply_optimizer_state(model, state: OptimizerState | None) -> None:
    if state is None:
        return
    optimizer = model.optimizer
    if state.learning_rate is not None:
        optimizer.learning_rate = state.learning_rate
    # built whenever the file held its variables, slots or not (an SGD without momentum), as Keras builds a
    # loaded model's optimizer: its summary counts the optimizer's variables
    model._ensure_optimizer()
    carried_slots.forget_frozen(optimizer)
    if state.slots:
        for name, value in state.slots.items():
            optimizer.slots[name][...] = model.ops.asarray(value, dtype=optimizer.slots[name].dtype)
    optimizer.step_count = state.iterations


# ---- what a Keras-format file holds ------------------------------------------------------------------------


@dataclass
class KerasFileContents:
    """A Keras-format file read whole: its configs as the file holds them (Keras's layout; ``legacy`` for the
    tf.keras HDF5 one, whose compile config is the ``training_config``), its weights either by layer path
    (Keras 3: 'layers/dense_1') or in the order of the layers that have weights (tf.keras HDF5), its optimizer
    variables in Keras's order, and the Dropout mask counters gpunn adds (by layer name)."""

    filepath: str
    legacy: bool
    model_config: dict | None = None
    compile_config: dict | None = None
    weights_by_path: dict[str, list] | None = None
    weights_in_order: list[tuple[str, list]] | None = None
    # (tf.keras HDF5) every layer the file names, those without weights too (``load_weights(by_name=True)``)
    layer_names: list[str] | None = None
    optimizer_values: list | None = None
    dropout_counters: dict = field(default_factory=dict)
    # (gpunn's .keras file of a subclassed model) the same counters by the layers' attribute paths, which a model
    # made again from its class shares with the saved one (its layers' generated names differ)
    dropout_counters_by_path: dict = field(default_factory=dict)
    # each seeded layer's [seed, counter] by its index in the model's layers ('3/blocks/dropout'), and by attribute
    # path; in files written since seeds were kept (before: the counters above, the seeds in the layers' configs)
    dropout_draws: dict = field(default_factory=dict)
    dropout_draws_by_path: dict = field(default_factory=dict)
    keras_version: str | None = None  # the Keras release that wrote the file, where the file says
    # A .keras file's assets ('assets/<layer path>/<file>'): {layer path: {file name: its bytes}} (the vocabulary
    # Keras writes for an adapted IntegerLookup / StringLookup)
    assets_by_path: dict = field(default_factory=dict)
    named_variables: dict = field(default_factory=dict)  # {layer path: {name: value}} ('idf_weights')
    # gpunn's file of a subclassed model: its traced graph's config and {layer name: where its weights are}
    traced_graph: dict | None = None
    # gpunn's file of a functional subclass: its graph's config, for a load not given the class
    functional_graph: dict | None = None
    input_dtypes: list | None = None  # and its inputs' dtypes (None: numbers in the model's dtype; "string")
    # Keras 3 files: where the layers' variables are (keras_format.GRAPH_LAYOUT, ATTRIBUTES_LAYOUT for a
    # subclassed model's), None where the model's kind says (a Keras weights file)
    layout: str | None = None

    def per_layer_weights(self, model) -> list[list | None]:
        """Each of ``model``'s layers' weights in the file (Keras's order), None where it holds none. Keras 3
        files are matched by path (a model held as a layer: its layers' under its own, ``keras_layer_paths``);
        tf.keras HDF5 files, as Keras loads them (legacy_h5_format.py ``load_weights_from_hdf5_group``), by the
        order of the entries of ``model.layers`` that have weights."""
        if self.weights_by_path is not None:
            return [self.by_path(layer, path) for layer, path in zip(model._graph_layers, keras_layer_paths(model))]
        from .model_entries import held_in_files

        if held_in_files(model):  # a model it holds is one entry of all its weights, as Keras writes it
            from .h5_format import GRAPH_LAYOUT, per_layer_from_entries

            return per_layer_from_entries(self, model, GRAPH_LAYOUT)
        weighted = [index for index, layer in enumerate(model._graph_layers) if layer.weight_specs()]
        saved = self.weights_in_order or []
        if len(saved) > len(weighted):
            raise ValueError(
                f"filepath: {self.filepath!r} holds weights for {len(saved)} layers ({[n for n, _ in saved]}); "
                f"the model has {len(weighted)} layers with weights"
            )
        per_layer: list[list | None] = [None] * len(model._graph_layers)
        for index, (_, values) in zip(weighted, saved):
            per_layer[index] = from_legacy_order(model._graph_layers[index], values)
        return per_layer

    def per_layer_at(self, model, path_of: dict) -> list[list | None]:
        """Each of ``model``'s layers' weights (Keras's order) at the path ``path_of`` gives it (by the layer's
        id), None for the others; a layer with weights whose path holds none is refused, naming the path."""
        listed = _listed_paths(model)
        per_layer = []
        for layer in model._graph_layers:
            path = path_of.get(id(layer))
            values = None if path is None else self.by_path(layer, path)
            if values is None and id(layer) in listed and self._holds_under(listed[id(layer)]):
                values = self.by_path(layer, listed[id(layer)])  # (a tf.keras 2 file: under model.layers)
            if values is None and path is not None and layer.weight_specs():
                held = sorted({p.split("/", 1)[0] for p in self.weights_by_path})
                raise ValueError(f"filepath: {self.filepath!r} holds no weights at {path!r}, where Keras keeps those "
                                 f"of layer {layer.name!r} of {type(model).__name__} (the file holds {held})")
            per_layer.append(values)
        return per_layer

    def _holds_under(self, path: str) -> bool:
        return any(key == path or key.startswith(path + "/") for key in self.weights_by_path)

    def by_path(self, layer, path: str) -> list | None:
        """The weights of the layer at ``path`` and of those it holds, each at its own path; None when the file
        has none of them."""
        values, found = [], False
        for owner_path, count in owner_paths(layer, path):
            held = self.weights_by_path.get(owner_path)
            found = found or held is not None
            values += list(held) if held is not None else [None] * count
        if not found:
            return None
        if any(value is None for value in values):
            missing = [p for p, count in owner_paths(layer, path) if count and p not in self.weights_by_path]
            raise ValueError(f"filepath: {self.filepath!r} holds no weights for {missing}, inside layer "
                             f"{layer.name!r} ({path!r})")
        return values
