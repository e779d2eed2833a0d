"""model.save / save_weights / load_weights: a model's config, weights and optimizer state in the format its
file name chooses (``file_kinds.py``): Keras 3's ``.keras`` (``keras_format.py``), tf.keras's ``.h5``
(``h5_format.py``) or gpunn's safetensors (``file_format.py``). Every format keeps the optimizer state, and every
write is atomic (``atomic_write.py``). Imports no model class (``load.py`` builds models from files)."""
from __future__ import annotations

import contextlib
import json
import os
import warnings

import numpy as np

from .. import compute_turns
from ..custom_objects import get_registered_name
from ..layers import sublayers
from ..layers.seeded import SeededLayer
from . import h5_format, keras_format, model_directory, outside_graph, saving_hooks, tf_checkpoint_state
from .compile_config import deserialize_metric, get_compile_config, serialize_metric  # noqa: F401 (re-exported)
from .file_format import FORMAT_VERSION, MODEL_FORMAT, WEIGHTS_FORMAT, NotAModelFileError, gpunn_version, read_file
from .file_format import write_file
from .file_kinds import H5, KERAS, KERAS_WEIGHTS, SAFETENSORS, file_kind, model_file_kind, weights_file_kind
from .file_paths import check_load_path, check_save_path
from .hdf5_io import read_checked
from .keras_attribute_paths import graph_layer_paths, is_model, is_subclassed
from .keras_format import ATTRIBUTES_LAYOUT, GRAPH_LAYOUT
from .keras_variables import (apply_optimizer_state, keras_weight_order, optimizer_state, optimizer_variable_count,
                              weight_tensors)


def _weight_tensors(model) -> dict[str, np.ndarray]:
    """What a safetensors file holds of the model's weights: its graph's layers' by position, then the layers it
    holds without calling them (``outside_graph.py``) by path."""
    return {**_graph_tensors(model), **outside_graph.tensors(model)}


def _graph_tensors(model) -> dict[str, np.ndarray]:
    tensors = {}
    for index, layer in enumerate(model._layers):
        for spec, value in zip(layer.weight_specs(), layer.get_weights()):
            # reshaped: ascontiguousarray makes a 0-d weight (Normalization's count) 1-d
            tensors[f"layers/{index:03d}.{layer.name}/{spec.name}"] = np.ascontiguousarray(value).reshape(value.shape)
    return tensors


def _save_safetensors(model, filepath, overwrite, include_optimizer, config_required: bool = True) -> None:
    try:
        config = model.get_config()
    except NotImplementedError:  # (a layer of the user's made with values its config cannot hold)
        if config_required:
            raise
        config = None  # a backup goes back into the model it was taken from, which needs no config
    metadata = {
        "format": MODEL_FORMAT, "format_version": FORMAT_VERSION, "gpunn_version": gpunn_version(),
        "model_config": json.dumps({"class_name": type(model).__name__, "config": config,
                                    "registered_name": get_registered_name(type(model))}),
    }
    # Each seeded layer's draw counter and seed (Dropout's masks, GaussianNoise's normals): they fix the draws
    # still to come, so training resumed after a load draws what it would have drawn without the save.
    # (a layer inside a layer of the user's: its path below it, '3/blocks/dropout')
    seeded = keras_format.seeded_layers_by_index(model)
    metadata["dropout_counters"] = json.dumps(keras_format.counters(seeded))  # (what gpunn wrote before)
    metadata["dropout_draws"] = json.dumps({"keys": "index", "draws": keras_format.draws(seeded)})
    tensors = _weight_tensors(model)
    if model.compiled:
        metadata["compile_config"] = json.dumps(get_compile_config(model))
        if include_optimizer and getattr(model, "_optimizer_built", False):
            metadata["optimizer_iterations"] = str(model.optimizer.step_count)
            for name, value in model.optimizer.slot_buffers().items():
                tensors[f"optimizer/{name}"] = model.ops.to_numpy(value).copy()
    write_file(filepath, tensors, metadata, overwrite)


def save_model(model, filepath, overwrite=True, zipped=None, *, include_optimizer=True, save_format=None) -> None:
    """The model in one file, written atomically: its config, weights and (if compiled) compile config and
    optimizer state. The format follows the name (.keras, .h5 / .hdf5, else safetensors) or ``save_format``.
    ``zipped=False`` (Keras 3's): the files of a .keras archive in the directory ``filepath``
    (``model_directory.py``). ``include_optimizer`` and ``save_format`` are tf.keras 2's, by keyword."""
    if zipped is not None and not isinstance(zipped, (bool, np.bool_)):
        raise ValueError(f"zipped: expected True, False or None, got {zipped!r}")
    if zipped is not None and not zipped:
        return _save_model_directory(model, filepath, overwrite, include_optimizer, save_format)
    filepath = check_save_path(filepath, overwrite)
    kind = model_file_kind(filepath, save_format)
    _check_saveable(model)
    with compute_turns.turn(model.ops):  # (the weights of whole steps: compute_turns.py)
        _warn_of_non_finite_weights(model, filepath)
        if kind == KERAS:
            keras_format.save_model(model, filepath, overwrite, include_optimizer)
        elif kind == H5:
            h5_format.save_model(model, filepath, overwrite, include_optimizer)
        else:
            _save_safetensors(model, filepath, overwrite, include_optimizer)


def _save_model_directory(model, filepath, overwrite, include_optimizer, save_format) -> None:
    path = model_directory.check_directory_path(filepath)
    if save_format not in (None, "keras"):
        raise ValueError(f"save_format: zipped=False writes Keras's format (save_format='keras' or None), got "
                         f"{save_format!r}")
    _check_saveable(model)
    with compute_turns.turn(model.ops):
        _warn_of_non_finite_weights(model, path)
        data = keras_format.model_file_bytes(model, include_optimizer)
    model_directory.write_model_directory(path, data, overwrite)


def save_backup(model, filepath) -> None:
    """``BackupAndRestore``'s backup: the model's file in gpunn's format (weights, optimizer state, draw counters),
    written as ``model.save`` writes it, but also for a model whose config cannot be written (a layer of the
    user's made with values its config cannot hold, which Keras's backup, of weights, takes too)."""
    filepath = check_save_path(filepath, True)
    _check_saveable(model)
    with compute_turns.turn(model.ops):
        _warn_of_non_finite_weights(model, filepath)
        _save_safetensors(model, filepath, True, True, config_required=False)


def _check_saveable(model) -> None:
    model._require_built("save")
    saving_hooks.refuse_own_hooks(model, "model.save")


def _warn_of_non_finite_weights(model, filepath) -> None:
    """A model whose weights hold NaN or inf (a training that diverged, a set_weights of bad values) is saved as it
    is, as Keras saves it, but not silently: the layers are named (the file's digests would not tell)."""
    bad = [layer.name for layer in model._layers for w in layer.get_weights()
           if w.dtype.kind == "f" and not np.isfinite(w).all()]
    if bad:
        warnings.warn(f"filepath: {filepath!r}: the weights of {sorted(set(bad))} hold NaN or inf values; they are "
                      "saved as they are (did training diverge?)", RuntimeWarning, stacklevel=3)


def save_weights(model, filepath, overwrite=True, save_format=None) -> None:
    """The model's weights in one file, written atomically: Keras 3's weights file for names ending in
    .weights.h5, tf.keras's HDF5 weights file for other .h5 / .hdf5 names, else safetensors."""
    filepath = check_save_path(filepath, overwrite, example="model.weights.h5")
    kind = weights_file_kind(filepath, save_format)
    model._require_built("save_weights")
    saving_hooks.refuse_own_hooks(model, "save_weights")
    with compute_turns.turn(model.ops):
        _warn_of_non_finite_weights(model, filepath)
        if kind == KERAS_WEIGHTS:
            keras_format.save_weights(model, filepath, overwrite)
        elif kind == H5:
            h5_format.save_weights(model, filepath, overwrite)
        else:
            metadata = {"format": WEIGHTS_FORMAT, "format_version": FORMAT_VERSION, "gpunn_version": gpunn_version()}
            write_file(filepath, _weight_tensors(model), metadata, overwrite)
            tf_checkpoint_state.note_latest(filepath)  # (tf.train.latest_checkpoint of tf.keras 2's tutorials)


def _load_by_name(model, weights_in_order, filepath, skip_mismatch: bool) -> None:
    """Keras's ``load_weights_from_hdf5_group_by_name``: each layer of the file into the model's layers of its
    name; layers of other names are left as they are. A count or shape that differs is refused, or with
    ``skip_mismatch`` skipped with Keras's warning; everything is checked before any weight is set."""
    layers = {}
    for layer in model.layers:
        layers.setdefault(layer.name, []).append(layer)
    loads = []
    for k, (name, values) in enumerate(weights_in_order):
        for layer in layers.get(name, []):
            shapes = [tuple(w.shape) for w in layer.get_weights()]
            if len(values) != len(shapes):
                problem = (f"Weight count mismatch for layer #{k} (named {name}). Layer expects {len(shapes)} "
                           f"weight(s). Received {len(values)} saved weight(s)")
            elif [tuple(np.shape(v)) for v in values] != shapes:
                problem = (f"Shape mismatch in layer #{k} (named {name}): the layer's weights have shapes "
                           f"{shapes}, the file's {[tuple(np.shape(v)) for v in values]} ({filepath!r})")
            else:
                loads.append((layer, values))
                continue
            if not skip_mismatch:
                raise ValueError(problem)
            warnings.warn(f"Skipping loading of weights: {problem}", stacklevel=3)
    for layer, values in loads:
        layer.set_weights([np.asarray(v) for v in values])


def _position_key(key: str) -> tuple[str, str]:
    """('000', 'kernel') from 'layers/000.dense_3/kernel': the layer's position and the weight's name (which
    may hold '/', for a weight of a layer inside it: 'layers/001.block/linear_1/w'; a layer's name never does)."""
    layer_part, weight = key[len("layers/"):].split("/", 1)
    return layer_part.split(".", 1)[0], weight


def restore_weights(model, tensors: dict, filepath, skip_mismatch: bool = False, skipped=None, outside=None,
                    kept=()) -> None:
    """``tensors`` (keyed as ``_weight_tensors`` keys them) into the model's layers. A weight missing from them,
    or of another shape, is refused by name; with ``skip_mismatch`` its layer keeps its weights instead and is
    reported, as Keras's ``load_weights(..., skip_mismatch=True)`` warns of the layers it could not load
    (``skipped``: the names of layers already found mismatched, by ``weight_tensors``). The layers the model holds
    without calling them (``outside_graph.py``) take theirs from ``tensors``, or from ``outside(path, layer)``;
    those in ``kept`` (``objects_to_skip``) keep theirs."""
    outside = outside or outside_graph.values_in_tensors(tensors)
    outside_graph.restore(model, outside, filepath, skip_mismatch, kept, check_only=True)
    expected = _graph_tensors(model)
    # Matched by layer position and weight name, not layer name: as in Keras, weights load into a model built
    # the same way even when its generated layer names ('dense_7') differ from the saved model's.
    saved = {_position_key(k): v for k, v in tensors.items() if k.startswith("layers/")}
    skipped = list(skipped or [])
    missing = sorted(key for key in expected if _position_key(key) not in saved)
    if missing and not skip_mismatch:
        raise ValueError(f"filepath: {filepath!r} lacks weights {missing[:3]} for this model's layers")
    for key, value in expected.items():
        found = saved.get(_position_key(key))
        if found is not None and found.shape != value.shape:
            if not skip_mismatch:
                raise ValueError(f"filepath: weight {key!r} in {filepath!r} has shape {found.shape}, the model "
                                 f"expects {value.shape}")
            skipped.append(key.split("/")[1].split(".", 1)[1])
    skipped += [key.split("/")[1].split(".", 1)[1] for key in missing]
    for index, layer in enumerate(model._layers):  # the files' order (set_weights takes Keras's)
        keys = [f"layers/{index:03d}.{layer.name}/{spec.name}" for spec in layer.weight_specs()]
        if keys and layer.name not in skipped:
            layer.set_weights([saved[_position_key(key)] for key in keys])
    outside_graph.restore(model, outside, filepath, skip_mismatch, kept)
    if skipped:
        names = list(dict.fromkeys(skipped))
        warnings.warn(f"A total of {len(names)} objects could not be loaded from {filepath!r} (skip_mismatch=True: "
                      f"they keep their weights). List of objects that could not be loaded: {names}", stacklevel=3)


def read_keras_weights(filepath: str, data: bytes):
    """The weights of a Keras-format file of any kind (.keras, .weights.h5, tf.keras .h5 model or weights), as
    ``keras_variables.KerasFileContents``."""
    if file_kind(data) == KERAS:
        return keras_format.read_model(filepath, data)
    contents = read_checked(filepath, data)
    if h5_format.is_legacy_file(contents):
        return h5_format.read_weights(filepath, contents)
    if keras_format.is_variables_file(contents):
        return keras_format.read_weights(filepath, contents)
    raise NotAModelFileError(f"filepath: {filepath!r} is an HDF5 file but holds no Keras weights")


def load_weights(model, filepath, skip_mismatch=False, by_name=False, objects_to_skip=None) -> None:
    """Weights from any model or weights file (the format is read from the file, whatever its name), matched
    to the model's layers by position: Keras 3 files by layer path, tf.keras HDF5 files by the order of the
    layers with weights, safetensors files by position and weight name. ``skip_mismatch``: a layer whose
    weights in the file differ in number or shape keeps its own (a new head on a loaded base), with a warning.
    ``objects_to_skip`` (Keras 3's, for weights files): layers of the model (and the model's optimizer) that keep
    their own weights (state)."""
    for argument, value in (("skip_mismatch", skip_mismatch), ("by_name", by_name)):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{argument}: expected True or False, got {value!r}")
    skipped_layers, skip_optimizer = _objects_to_skip(model, objects_to_skip, filepath)  # (Keras's first check)
    filepath = check_load_path(filepath)
    model._require_built("load_weights")  # before reading what may be a large file
    saving_hooks.refuse_own_hooks(model, "load_weights")
    with open(filepath, "rb") as handle:
        data = handle.read()
    with compute_turns.turn(model.ops), _weights_kept(skipped_layers):  # (a turn: not inside another thread's step)
        if by_name:
            contents = read_keras_weights(os.fsdecode(filepath), data) if file_kind(data) == H5 else None
            if contents is None or not contents.legacy:  # Keras's rule
                raise ValueError(f"by_name: only supports loading legacy '.h5' or '.hdf5' files (tf.keras's HDF5). "
                                 f"Received: {filepath!r}")
            weights = dict(contents.weights_in_order or [])  # (a layer the file names without weights: none)
            _load_by_name(model, [(name, weights.get(name, [])) for name in contents.layer_names or weights], filepath,
                          skip_mismatch)
            return
        if file_kind(data) == SAFETENSORS:
            _, tensors = read_file(filepath, (WEIGHTS_FORMAT, MODEL_FORMAT), data)
            restore_weights(model, _own_tensors_for(model, tensors, skipped_layers), filepath, skip_mismatch,
                            kept=skipped_layers)
            return
        contents = read_keras_weights(os.fsdecode(filepath), data)
        if contents.layout == ATTRIBUTES_LAYOUT and not is_subclassed(model):
            raise ValueError(f"filepath: {filepath!r} holds a subclassed model's weights under the attributes that "
                             f"hold its layers (save_weights of a keras.Model subclass); {type(model).__name__} "
                             f"{model.name!r} is not one: load it into an instance of that class")
        by_attributes = is_subclassed(model) and contents.layout != GRAPH_LAYOUT
        if by_attributes and contents.weights_by_path is not None:
            per_layer = contents.per_layer_at(model, graph_layer_paths(model, filepath))
        elif by_attributes:
            graph_layer_paths(model, filepath)  # refuses a layer with weights that no attribute holds
            per_layer = h5_format.per_layer_from_entries(contents, model)
        else:
            per_layer = contents.per_layer_weights(model)
        per_layer = _own_values_for(model, per_layer, skipped_layers)
        skipped = [] if skip_mismatch else None
        outside = None
        if by_attributes:
            outside = (lambda path, layer: contents.by_path(layer, path)) if contents.weights_by_path is not None \
                else h5_format.outside_values_in_entries(contents, model)
        restore_weights(model, weight_tensors(model, per_layer, filepath, skipped), filepath, skip_mismatch, skipped,
                        outside, skipped_layers)
        # Keras 3's files (not tf.keras's HDF5 ones, whose weights loader reads no optimizer); one saved from a model
        # without an optimizer has none, which Keras reports as 0 variables
        if not contents.legacy and model.compiled and not skip_optimizer:
            if _optimizer_of_another_class(model, contents.compile_config, filepath):
                return
            _restore_optimizer(model, contents.optimizer_values or [], filepath, attribute_order=by_attributes)


def _own_values_for(model, per_layer: list, skipped_layers: list) -> list:
    """``per_layer`` (a file's values per layer of the model, in Keras's order) with the skipped layers' own values
    in place of the file's, which are never matched against them, as Keras never reads them: a new head of
    another shape on a loaded base."""
    skipped = {id(layer) for layer in skipped_layers}
    return [outside_graph.keras_ordered_weights(layer) if id(layer) in skipped else values
            for layer, values in zip(model._graph_layers, per_layer)]


def _own_tensors_for(model, tensors: dict, skipped_layers: list) -> dict:
    """A safetensors file's ``tensors`` with the skipped layers' own in place of the file's (see above)."""
    skipped = {index for index, layer in enumerate(model._layers) if any(layer is s for s in skipped_layers)}
    if not skipped:
        return tensors
    kept = {key: value for key, value in tensors.items()
            if not (key.startswith("layers/") and int(_position_key(key)[0]) in skipped)}
    own = {key: value for key, value in _graph_tensors(model).items() if int(_position_key(key)[0]) in skipped}
    return {**kept, **own}


@contextlib.contextmanager
def _weights_kept(layers):
    """The weights of ``layers`` are as before once the block ends (a layer held inside another, whose values
    the file gives within its holder's)."""
    kept = [(layer, layer.get_weights()) for layer in layers]
    try:
        yield
    finally:
        for layer, values in kept:
            layer.set_weights(values)


def _objects_to_skip(model, objects, filepath) -> tuple[list, bool]:
    """(the layers, whether the optimizer) ``load_weights(objects_to_skip=...)`` leaves as they are, checked as
    Keras checks them: only for weights files."""
    if objects is None:
        return [], False
    name = os.fsdecode(os.fspath(filepath)) if isinstance(filepath, (str, bytes, os.PathLike)) else ""
    if name.endswith((".keras", ".h5", ".hdf5")) and not name.endswith(".weights.h5"):
        raise ValueError(f"objects_to_skip: only supports loading '.weights.h5' files. Received: {name!r}")
    objects = list(objects) if isinstance(objects, (list, tuple, set)) else [objects]
    outside = [layer for _, layer in outside_graph.layers_outside_graph(model)]  # (a frozen teacher's)
    held = {id(owner): owner for _, _, owner in sublayers.with_sublayers(list(model._layers) + outside)}
    optimizer = getattr(model, "optimizer", None)
    skipped = []
    for item in objects:
        # a model the model holds: its layers (a teacher)
        inside = [layer for layer in getattr(item, "_layers", ())] if is_model(item) else [item]
        if not inside or any(id(layer) not in held for layer in inside):
            if optimizer is not None and item is optimizer:
                continue
            raise ValueError(f"objects_to_skip: expected layers of model {model.name!r} or its optimizer, got "
                             f"{type(item).__name__} {getattr(item, 'name', item)!r}")
        skipped += [held[id(layer)] for layer in inside]
    return skipped, any(item is optimizer for item in objects)


def _optimizer_of_another_class(model, compile_config, filepath) -> bool:
    """Whether a ``.keras`` file's optimizer is of another class than the model's (RMSprop's velocities into an SGD's
    momentums: Keras loads them by position when they are as many), said in a warning; the state is not loaded."""
    saved = (compile_config or {}).get("optimizer") if isinstance(compile_config, dict) else None
    saved_class = saved.get("class_name") if isinstance(saved, dict) else None
    mine = type(model.optimizer).__name__
    if not isinstance(saved_class, str) or saved_class == mine:
        return False
    warnings.warn(f"filepath: {filepath!r}: its optimizer state is a {saved_class}'s, and this model is compiled with "
                  f"{mine}; the state is not loaded (the weights are). To resume training where the file left it, "
                  f"compile with {saved_class} (or load the model with load_model)", stacklevel=4)
    return True


def _restore_optimizer(model, values: list, filepath, attribute_order: bool) -> None:
    """A weights file's optimizer variables into the compiled model's optimizer, as Keras's ``load_weights`` loads
    them (base_optimizer.py ``load_own_variables``): when they are as many as the optimizer has now, else with a
    warning, leaving it as it is (one that has not run has only its step count and learning rate)."""
    optimizer = model.optimizer
    count = optimizer_variable_count(model)
    if len(values) != count:
        ran = getattr(model, "_optimizer_built", False)
        hint = ("The file was saved from a model with no optimizer, so this one keeps its own state" if not values
                else "To resume training where the file left it, load the model with load_model, or run a step "
                     "before load_weights")
        warnings.warn(
            f"filepath: {filepath!r}: the saved optimizer state has {len(values)} variables, while this model's "
            f"{type(optimizer).__name__} has {count}{'' if ran else ' (it has not run yet)'}; as Keras does, its "
            f"state is not loaded (the weights are). {hint}",
            stacklevel=4,  # the user's model.load_weights
        )
        return
    apply_optimizer_state(model, optimizer_state(model, values, filepath, attribute_order))
