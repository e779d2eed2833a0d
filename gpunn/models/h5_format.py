"""tf.keras's HDF5 model files (``.h5`` / ``.hdf5``), which Keras 3 still reads and writes as its legacy format;
and the HDF5 weights files of tf.keras's ``save_weights``.

Followed: keras/src/legacy/saving/legacy_h5_format.py (``save_model_to_hdf5``, ``save_weights_to_hdf5_group``,
``save_optimizer_weights_to_hdf5_group``, ``load_model_from_hdf5``). A model file holds, at its root, the
attributes ``model_config`` (JSON), ``training_config`` (JSON: loss, metrics and ``optimizer_config``; compiled
models only), ``keras_version`` and ``backend``; the group ``model_weights``, whose attribute ``layer_names``
lists the layers and where each layer's group lists its ``weight_names`` ('dense/kernel:0', ...) and holds them
as datasets ('model_weights/dense/dense/kernel:0'); and the group ``optimizer_weights`` with the optimizer's
variables in Keras's order, listed by its ``weight_names``. A weights file is the ``model_weights`` group alone,
at the root. Configs are written in the legacy layout (``keras_file_config.py``), which tf.keras 2 and
Keras 3 both read.

What gpunn adds, which Keras ignores: root attributes ``gpunn_version``, ``gpunn_h5_version`` (the version of
what gpunn adds), ``gpunn_dropout_draws`` (each Dropout layer's seed and mask counter: ``model_draws``;
``gpunn_dropout_counters``, the counters by layer name, is what gpunn wrote before) and the SHA-256 record of
``hdf5_io.py``, checked on read. Files without the record (written by Keras or tf.keras) are read unchecked; a
file that says gpunn wrote it (``gpunn_h5_version``) but lacks the record is refused as damaged.
"""
from __future__ import annotations

import json
import warnings

from .atomic_write import atomic_write_bytes
from .file_format import NotAModelFileError, gpunn_version
from .hdf5_io import GPUNN_MARKER, HDF5Writer
from .keras_file_config import keras_compile_config, keras_model_config
from . import outside_graph, subclassed_config
from .keras_attribute_paths import graph_layer_paths, is_model, is_subclassed, keras_layers
from .model_entries import held_in_files, top_level
from .keras_format import (ATTRIBUTES_LAYOUT, GPUNN_H5_VERSION, GRAPH_LAYOUT, KERAS_LAYOUT_VERSION, LAYOUT_ATTRIBUTE,
                           counters, layout_of, model_draws, seeded_layers_by_name)
from .keras_variables import (KerasFileContents, keras_trainable, keras_weight_order, legacy_weight_order,
                              optimizer_variables)

_BACKEND = "gpunn"


def _root_attributes(writer: HDF5Writer) -> None:
    writer.attribute("", "keras_version", KERAS_LAYOUT_VERSION)
    writer.attribute("", "backend", _BACKEND)
    writer.attribute("", "gpunn_version", gpunn_version())
    writer.attribute("", GPUNN_MARKER, GPUNN_H5_VERSION)


def legacy_entries(model, layout: str = GRAPH_LAYOUT) -> list[tuple[str, list[tuple[object, object]]]]:
    """(name, [(layer, weight spec)]) of each entry of a weights group, in Keras's ``model.layers`` order: the
    graph's layers (GRAPH_LAYOUT), or for a subclassed model's weights file (ATTRIBUTES_LAYOUT) the layers and
    models it holds, in the order it set them (Keras's ``model.layers`` for a subclass), a model being one entry
    of all its weights in Keras's ``trainable_weights + non_trainable_weights`` order. A held layer the graph never
    called has no weights, as in Keras, unless it was built (``outside_graph.py``)."""
    held = held_in_files(model)
    if layout != ATTRIBUTES_LAYOUT and not held:
        return [(layer.name, [(layer, spec) for spec in legacy_weight_order(layer)]) for layer in model._graph_layers]
    in_graph = {id(layer) for layer in model._layers}
    in_graph.update(id(layer) for _, layer in outside_graph.layers_outside_graph(model))
    entries = []
    for item in keras_layers(model) if layout == ATTRIBUTES_LAYOUT else top_level(model._graph_layers, held):
        if is_model(item):  # its layers in Keras's order of its weights (a subclass's: its attributes')
            held = item._weight_order() if hasattr(item, "_weight_order") else item._graph_layers
            inside = [layer for layer in held if id(layer) in in_graph]
        else:
            inside = [item] if id(item) in in_graph else []
        pairs = [(layer, spec) for layer in inside for spec in legacy_weight_order(layer)]
        if is_model(item):
            trainable_in = {id(layer): keras_trainable(layer) for layer in inside}
            trained = [item.trainable and trainable_in[id(layer)](spec) for layer, spec in pairs]
            pairs = [pair for pair, kind in zip(pairs, trained) if kind] + \
                [pair for pair, kind in zip(pairs, trained) if not kind]
        entries.append((item.name, pairs))
    return entries


def _weights_group(writer: HDF5Writer, group: str, model, layout: str = GRAPH_LAYOUT) -> None:
    """legacy_h5_format.py ``save_weights_to_hdf5_group``."""
    entries = legacy_entries(model, layout)
    writer.names_attribute(group, "layer_names", [name for name, _ in entries])
    writer.attribute(group, "backend", _BACKEND)
    writer.attribute(group, "keras_version", KERAS_LAYOUT_VERSION)

    def path(name):
        return f"{group}/{name}" if group else name

    held = {}
    # Sorted by name, as Keras writes them, "to ensure that group names are strictly growing".
    for name, pairs in sorted(entries, key=lambda entry: entry[0]):
        layer_group = path(name)
        writer.group(layer_group)
        names = [f"{layer.name}/{spec.name}:0" for layer, spec in pairs]
        writer.names_attribute(layer_group, "weight_names", names)
        for weight_name, (layer, spec) in zip(names, pairs):
            if id(layer) not in held:
                held[id(layer)] = dict(zip([s.name for s in layer.weight_specs()], layer.get_weights()))
            writer.dataset(f"{layer_group}/{weight_name}", held[id(layer)][spec.name])
    writer.group(path("top_level_model_weights"))
    writer.names_attribute(path("top_level_model_weights"), "weight_names", [])


def per_layer_from_entries(contents: KerasFileContents, model, layout: str = ATTRIBUTES_LAYOUT) -> list[list | None]:
    """Each of ``model``'s graph layers' weights (Keras's order) from a tf.keras weights file whose entries
    follow the layers and models it holds (``legacy_entries``: a subclassed model's attributes, or a Sequential
    holding models), matched by order as Keras matches them (legacy_h5_format.py
    ``load_weights_from_hdf5_group``)."""
    found = _found_in_entries(contents, model, layout)
    return [[found[(id(layer), spec.name)] for spec in keras_weight_order(layer)] if layer.weight_specs() else None
            for layer in model._graph_layers]


def outside_values_in_entries(contents: KerasFileContents, model):
    """``outside_graph.restore``'s ``values_at`` for such a file: the values of a layer the model holds without
    calling it, matched as ``per_layer_from_entries`` matches the others."""
    found = _found_in_entries(contents, model, ATTRIBUTES_LAYOUT)

    def values_at(path, layer):
        values = [found.get((id(layer), spec.name)) for spec in keras_weight_order(layer)]
        return None if any(value is None for value in values) else values

    return values_at


def _found_in_entries(contents: KerasFileContents, model, layout: str) -> dict:
    """{(id(layer), weight name): value} of the file's entries matched to ``legacy_entries``."""
    entries = [(name, pairs) for name, pairs in legacy_entries(model, layout) if pairs]
    saved = contents.weights_in_order or []
    if len(saved) != len(entries):
        raise ValueError(
            f"filepath: {contents.filepath!r} holds weights for {len(saved)} layers ({[n for n, _ in saved]}); "
            f"{type(model).__name__} holds {len(entries)} layers or models with weights "
            f"({[n for n, _ in entries]}), matched in the order "
            + ("it set them as attributes" if layout == ATTRIBUTES_LAYOUT else "of model.layers")
        )
    found = {}
    for (name, pairs), (saved_name, values) in zip(entries, saved):
        if len(values) != len(pairs):
            raise ValueError(f"filepath: {contents.filepath!r} holds {len(values)} weights for {saved_name!r}, "
                             f"which {type(model).__name__} reads into {name!r}, which has {len(pairs)}")
        for (layer, spec), value in zip(pairs, values):
            found[(id(layer), spec.name)] = value
    return found


def save_model(model, filepath: str, overwrite: bool, include_optimizer: bool) -> None:
    outside = outside_graph.layers_outside_graph(model)
    if outside:  # (Keras writes no .h5 model file of a subclassed model at all)
        raise ValueError(f"filepath: {filepath!r}: a .h5 model file holds the graph traced from "
                         f"{type(model).__name__}.call(), which has no place for the layers the model holds without "
                         f"calling them ({[layer.name for _, layer in outside]}); save to a .keras file, or the "
                         "weights to a .weights.h5 file")
    if subclassed_config.names_its_class(model) or is_subclassed(model):
        # (gpunn's .h5 model files hold a graph of built-in layers; its .keras and .safetensors files the class)
        warnings.warn(f"filepath: {filepath!r}: a .h5 model file holds the model's graph of layers alone, which "
                      f"loads as a plain model, not as {type(model).__name__} (its methods and compute_loss "
                      "left behind); save to a .keras or .safetensors file to keep the class", stacklevel=4)
    writer = HDF5Writer()
    _root_attributes(writer)
    writer.attribute("", "model_config", json.dumps(keras_model_config(model, native=False)))
    writer.attribute("", "gpunn_dropout_counters", json.dumps(counters(seeded_layers_by_name(model))))
    writer.attribute("", "gpunn_dropout_draws", json.dumps(model_draws(model)))
    if model.compiled:
        # Keras 3 writes the training config only with the optimizer; gpunn keeps the compile arguments either
        # way (a model saved with include_optimizer=False loads compiled, with a fresh optimizer), and so does
        # Keras when it reads such a file.
        writer.attribute("", "training_config", json.dumps(keras_compile_config(model, native=False)))
    _weights_group(writer, "model_weights", model)
    if model.compiled and include_optimizer:
        variables = optimizer_variables(model)
        names = [name for name, _ in variables]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:  # (Keras's h5py fails on the second one: "name already exists")
            raise ValueError(
                f"filepath: {filepath!r}: {type(model.optimizer).__name__}'s variables {repeated} share names, "
                "and the .h5 layout keeps optimizer variables by name, so its state could not be read back; save "
                "to a .keras file, or with include_optimizer=False")
        writer.names_attribute("optimizer_weights", "weight_names", names)
        for name, value in variables:
            writer.dataset(f"optimizer_weights/{name}", value)
    atomic_write_bytes(filepath, writer.to_bytes(), overwrite)


def save_weights(model, filepath: str, overwrite: bool) -> None:
    # A subclassed model's in the order of what it holds, which Keras matches the file's entries to
    layout = ATTRIBUTES_LAYOUT if is_subclassed(model) else GRAPH_LAYOUT
    if layout == ATTRIBUTES_LAYOUT:
        graph_layer_paths(model)  # refuses a layer with weights that no attribute holds
    writer = HDF5Writer()
    _weights_group(writer, "", model, layout)
    writer.attribute("", "gpunn_version", gpunn_version())
    writer.attribute("", GPUNN_MARKER, GPUNN_H5_VERSION)
    writer.attribute("", LAYOUT_ATTRIBUTE, layout)
    atomic_write_bytes(filepath, writer.to_bytes(), overwrite)


def _json_attribute(filepath: str, contents, name: str):
    text = contents.attribute("", name)
    if text is None:
        return None
    try:
        return json.loads(text if isinstance(text, str) else "".join(text))
    except (ValueError, TypeError) as exc:
        raise NotAModelFileError(f"filepath: {filepath!r} is damaged: its {name} is not JSON ({exc})") from None


def _text_attribute(contents, name: str) -> str | None:
    text = contents.attribute("", name)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return text if isinstance(text, str) else None


def _weights_in_order(filepath: str, contents, group: str) -> list[tuple[str, list]]:
    """(layer name, its weights) of each layer with weights, in the order of ``layer_names``
    (legacy_h5_format.py ``load_weights_from_hdf5_group``)."""
    found = []
    for name in contents.names_attribute(group, "layer_names"):
        layer_group = f"{group}/{name}" if group else name
        weight_names = contents.names_attribute(layer_group, "weight_names")
        if not weight_names:
            continue
        values = []
        for weight_name in weight_names:
            path = f"{layer_group}/{weight_name}"
            if path not in contents.datasets:
                raise NotAModelFileError(f"filepath: {filepath!r} is damaged: weight {path!r}, listed in "
                                         f"{layer_group!r}, is missing")
            values.append(contents.datasets[path])
        found.append((name, values))
    return found


def _optimizer_values(filepath: str, contents) -> list | None:
    if "optimizer_weights" not in contents.groups:
        return None
    values = []
    for name in contents.names_attribute("optimizer_weights", "weight_names"):
        path = f"optimizer_weights/{name}"
        if path not in contents.datasets:
            raise NotAModelFileError(f"filepath: {filepath!r} is damaged: optimizer weight {path!r} is missing")
        values.append(contents.datasets[path])
    return values


def is_legacy_file(contents) -> bool:
    """Whether an HDF5 file has tf.keras's layout (a model file, or a weights file)."""
    return (contents.attribute("", "model_config") is not None or "model_weights" in contents.groups
            or is_weights_file(contents))


def read_model(filepath: str, contents) -> KerasFileContents:
    """A tf.keras HDF5 model file's contents (NotAModelFileError if it is a weights file); the file read with
    ``hdf5_io.read_checked``."""
    model_config = _json_attribute(filepath, contents, "model_config")
    if model_config is None:
        raise NotAModelFileError(
            f"filepath: {filepath!r} is an HDF5 file without a model config: a weights file (written by "
            "save_weights), not a gpunn model file (written by model.save); build the model and call "
            "model.load_weights(...)"
        )
    saved_counters = _json_attribute(filepath, contents, "gpunn_dropout_counters") or {}
    saved_draws = _json_attribute(filepath, contents, "gpunn_dropout_draws") or {}
    return KerasFileContents(
        filepath=filepath, legacy=True, model_config=model_config, layout=GRAPH_LAYOUT,
        compile_config=_json_attribute(filepath, contents, "training_config"),
        weights_in_order=_weights_in_order(filepath, contents, "model_weights"),
        optimizer_values=_optimizer_values(filepath, contents), dropout_counters=saved_counters,
        dropout_draws=saved_draws,
        keras_version=_text_attribute(contents, "keras_version"),
    )


def is_weights_file(contents) -> bool:
    return contents.attribute("", "layer_names") is not None or contents.attribute("", "layer_names0") is not None


def read_weights(filepath: str, contents) -> KerasFileContents:
    """The weights of a tf.keras HDF5 weights file, or of a model file's ``model_weights`` (the file read with
    ``hdf5_io.read_checked``)."""
    group = "" if is_weights_file(contents) else "model_weights"
    if group and group not in contents.groups:
        raise NotAModelFileError(f"filepath: {filepath!r} is an HDF5 file but holds no Keras weights (no "
                                 "'layer_names' attribute nor 'model_weights' group)")
    # gpunn's files before the layout attribute: the graph's; tf.keras's: the model's own (None: follow the model)
    unnamed = GRAPH_LAYOUT if contents.attribute("", GPUNN_MARKER) is not None else None
    return KerasFileContents(filepath=filepath, legacy=True, layout=layout_of(contents, unnamed),
                             weights_in_order=_weights_in_order(filepath, contents, group),
                             layer_names=list(contents.names_attribute(group, "layer_names") or []))
