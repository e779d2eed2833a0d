"""load_model: a model built from a file written by ``model.save`` or by Keras (same layers, weights and, if it
was compiled, optimizer state). The format is read from the file's first bytes, whatever its name
(``file_kinds.py``)."""
from __future__ import annotations

import contextlib
import json
import os
import warnings

from . import (feature_space_files, h5_format, keras_format, model_directory, saving_hooks, subclassed,
               subclassed_config)
from .compile_config import compile_from_config
from .file_format import MODEL_FORMAT, NotAModelFileError, read_file
from .file_kinds import KERAS, SAFETENSORS, file_kind
from .. import overrides
from ..custom_objects import MissingCustomObjectError, custom_object_scope, loading, missing
from ..layers import sublayers
from .file_paths import check_load_path
from .hdf5_io import read_checked
from .keras_attribute_paths import graph_layer_paths
from .keras_config import check_custom_objects
from .keras_file_config import compile_config_from_keras, model_config_from_keras
from .keras_variables import apply_optimizer_state, keras_layer_paths, optimizer_state, weight_tensors
from .save import restore_weights
from .sequential import Sequential


@contextlib.contextmanager
def _from_file(filepath: str, problem: str):
    """Errors while building from the file become one NotAModelFileError stating ``problem``: a config that
    does not parse into a model (foreign, hand-edited, unknown layer class, missing keys) is a property of the
    file, not a bug to report from deep inside the layer that tripped on it."""
    try:
        yield
    except (NotAModelFileError, MissingCustomObjectError):  # the latter names what to pass to load_model
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, NotImplementedError) as exc:
        # (NotImplementedError: what gpunn refuses by name, tf.keras 2's legacy Nadam)
        detail = f"missing key {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        hint = "; load_model(..., compile=False) loads the model alone" if problem == _NOT_COMPILABLE else ""
        raise NotAModelFileError(f"filepath: {filepath!r}: {problem} ({detail}){hint}") from exc


_NOT_A_MODEL = "its model config does not describe a model gpunn can build"
_NOT_COMPILABLE = "its compile config does not describe an optimizer, loss and metrics gpunn can build"


def _build(filepath: str, config: dict):
    with _from_file(filepath, _NOT_A_MODEL):
        made_as = Sequential
        if config["class_name"] not in ("Sequential", "Functional"):
            # a subclass of the user's made from its layers (subclassed_config.names_its_class), where it is known
            made_as = subclassed_config.model_class(config)
            if made_as is None and isinstance(config.get("config"), dict) and "layers" in config["config"]:
                warnings.warn(f"filepath: {filepath!r} holds a {config['class_name']} model, loaded as the plain "
                              "model of its layers since its class was not given (custom_objects, "
                              "register_keras_serializable)", stacklevel=5)
                made_as = Sequential
            if made_as is None or overrides.user_definition(made_as, "call") is not None:
                raise NotAModelFileError(
                    f"filepath: {filepath!r} holds a {config['class_name']!r} model; gpunn builds Sequential and "
                    "functional models, and subclasses of them without a call() of their own where the class is "
                    "given (custom_objects, custom_object_scope, register_keras_serializable)")
        model = made_as.from_config(config["config"])
    if not model.built:
        raise NotAModelFileError(f"filepath: {filepath!r} holds a model that was never built")
    return model


def _set_draws(filepath: str, model, draws: dict, counters: dict, by_name: bool, seeds: bool = True) -> None:
    """The seeded layers' seeds and draw counters from the file: ``draws`` (``keras_format.model_draws``), or in a
    file written before seeds were kept, ``counters`` alone (by layer name where ``by_name``, else by index; the
    seeds were in the layers' configs). ``seeds=False``: the counters alone (a backup restored into the model it
    was taken from, whose recorded steps hold its seeds)."""
    with _from_file(filepath, "its Dropout mask counters are not readable"):
        if draws.get("draws"):
            found = keras_format.seeded_layers_keyed(model, draws["keys"])
            for key, (seed, counter) in draws["draws"].items():
                found[key].restore_draws(counter, seed if seeds else None)
            return
        found = keras_format.seeded_layers_by_name(model) if by_name else keras_format.seeded_layers_by_index(model)
        for key, counter in counters.items():
            found[key].restore_draws(counter)


def _set_draws_by_path(filepath: str, model, draws: dict, counters: dict, paths: dict) -> None:
    """``_set_draws`` of a subclassed model made again from its class, by its layers' attribute paths
    (``keras_format.seeded_layers_by_path``)."""
    found = keras_format.seeded_layers_by_path(model, paths)
    with _from_file(filepath, "its Dropout mask counters are not readable"):
        for key, saved in (draws or counters).items():
            seed, counter = saved if draws else (None, saved)
            found[key].restore_draws(counter, seed)


def _compile_safetensors(filepath: str, model, metadata: dict, tensors: dict) -> None:
    with _from_file(filepath, _NOT_COMPILABLE):
        compile_from_config(model, json.loads(metadata["compile_config"]))
    _restore_optimizer_slots(filepath, model, metadata, tensors)


def _restore_optimizer_slots(filepath: str, model, metadata: dict, tensors: dict) -> None:
    with _from_file(filepath, "its optimizer state does not fit the model"):
        slots = {k.split("/", 1)[1]: v for k, v in tensors.items() if k.startswith("optimizer/")}
        if "optimizer_iterations" in metadata:
            model._ensure_optimizer()
            for name, value in slots.items():
                if name in model.optimizer.slots:
                    model.optimizer.slots[name][...] = model.ops.asarray(value)
            model.optimizer.step_count = int(metadata["optimizer_iterations"])


def _load_safetensors(filepath: str, data: bytes, compile: bool):
    metadata, tensors = read_file(filepath, (MODEL_FORMAT,), data)
    with _from_file(filepath, _NOT_A_MODEL):
        config = json.loads(metadata["model_config"])
    model = _build(filepath, config)
    with _from_file(filepath, "its weights do not fit its model config"):
        restore_weights(model, tensors, filepath)
    _set_draws(filepath, model, json.loads(metadata.get("dropout_draws", "{}")),
               json.loads(metadata.get("dropout_counters", "{}")), by_name=False)
    if compile and "compile_config" in metadata:
        _compile_safetensors(filepath, model, metadata, tensors)
    return model


def load_training_state(model, filepath, data: bytes | None = None) -> None:
    """Into ``model``, built and compiled as the model that ``model.save`` wrote to ``filepath`` (gpunn's
    safetensors format): its weights, Dropout mask counters and optimizer state (slots, step count and learning
    rate), so that training goes on exactly as it would have from the save. ``data``: the file's bytes, when the
    caller has read them already. A damaged file, or one written by a differently built or compiled model, raises
    NotAModelFileError or ValueError."""
    filepath = os.fsdecode(check_load_path(filepath))
    metadata, tensors = read_file(filepath, (MODEL_FORMAT,), data)
    with _from_file(filepath, "its compile config is not readable"):
        saved = json.loads(metadata["compile_config"])["optimizer"] if "compile_config" in metadata else {}
    current = type(model.optimizer).__name__ if model.compiled else None
    if saved.get("class_name") != current:
        raise ValueError(f"filepath: {filepath!r} holds the state of a model compiled with optimizer "
                         f"{saved.get('class_name')!r}; this model's optimizer is {current!r}")
    with _from_file(filepath, "its weights do not fit this model"):
        restore_weights(model, tensors, filepath)
    # (the counters alone: the model keeps the seeds it was built with, which its recorded steps may hold)
    _set_draws(filepath, model, json.loads(metadata.get("dropout_draws", "{}")),
               json.loads(metadata.get("dropout_counters", "{}")), by_name=False, seeds=False)
    if current is None:
        return
    _restore_optimizer_slots(filepath, model, metadata, tensors)
    rate = saved.get("config", {}).get("learning_rate")
    # A callback (ReduceLROnPlateau, LearningRateScheduler) may have moved a plain learning rate since compile;
    # Keras keeps it in an optimizer variable, restored with the others.
    if model.optimizer.schedule is None and isinstance(rate, (int, float)) and not isinstance(rate, bool):
        model.optimizer.learning_rate = rate


def _load_assets(model, contents) -> None:
    """The assets Keras wrote for the model's layers (an adapted lookup layer's vocabulary, with the IDF weights
    it keeps among its variables) given to the layers that read them (``load_keras_assets``)."""
    if not contents.assets_by_path:
        return
    for layer, path in zip(model._graph_layers, keras_layer_paths(model)):
        files = contents.assets_by_path.get(path)
        if files and hasattr(layer, "load_keras_assets"):
            layer.load_keras_assets(files, contents.named_variables.get(path, {}))


def _load_keras(contents, compile: bool):
    """A model from a Keras-format file's contents (``keras_variables.KerasFileContents``): a subclassed model's
    as its class where the class is known, else its traced graph where gpunn wrote the file."""
    filepath = contents.filepath
    entry = contents.model_config
    named = isinstance(entry, dict) and entry.get("class_name") not in ("Sequential", "Functional", "Model")
    if named and not feature_space_files.is_feature_space_config(entry):
        cls = subclassed_config.model_class(entry)
        if cls is not None and overrides.user_definition(cls, "call") is None:
            return _load_functional_subclass(contents, cls, compile)
        if cls is not None:
            return _load_subclassed(contents, cls, compile)
        if contents.functional_graph is not None:  # gpunn's file of a functional subclass, its class not given
            plain = "Sequential" if contents.functional_graph.get("class_name") == "Sequential" else "functional"
            warnings.warn(f"filepath: {filepath!r} holds a {entry.get('class_name')} model, loaded as the {plain} "
                          "model of its layers since its class was not given (custom_objects, "
                          "register_keras_serializable)", stacklevel=4)
            return _load_graph(contents, contents.functional_graph, compile)
        if contents.traced_graph is None:
            raise missing("model", entry.get("registered_name") or entry.get("class_name"), in_model=True)
        return _load_traced_graph(contents, compile)
    return _load_graph(contents, entry, compile)


def _load_graph(contents, entry: dict, compile: bool):
    """A Sequential or functional model from the Keras config ``entry`` of its graph, its weights from the file."""
    filepath = contents.filepath
    with _from_file(filepath, _NOT_A_MODEL):
        config = model_config_from_keras(entry, contents.keras_version)
    model = _build(filepath, config)
    return _restored(contents, model, compile)


def _restored(contents, model, compile: bool):
    """``model`` (made from the file's config) with the file's weights, assets, counters and compile state."""
    filepath = contents.filepath
    with _from_file(filepath, "its weights do not fit its model config"):
        per_layer = contents.per_layer_weights(model)
        restore_weights(model, weight_tensors(model, per_layer, filepath), filepath)
        _load_assets(model, contents)
    _set_draws(filepath, model, contents.dropout_draws, contents.dropout_counters, by_name=True)
    if compile:
        _compile(contents, model)
    return model


def _load_functional_subclass(contents, cls, compile: bool):
    """A keras.Model subclass whose ``__init__`` builds a functional model, as Keras loads it: the class called
    with the file's config (the arguments it was made with), then the weights of its graph's layers."""
    try:
        model = cls.from_config(dict(contents.model_config.get("config") or {}))
    except MissingCustomObjectError:
        raise
    except TypeError as exc:  # (a class its config cannot make: Keras's own files of one taking arguments)
        if contents.functional_graph is None:
            raise NotAModelFileError(f"filepath: {contents.filepath!r}: {exc}") from None
        warnings.warn(f"filepath: {contents.filepath!r}: {cls.__name__} could not be made again from its config "
                      f"({exc}); loaded as the functional model of its graph", stacklevel=4)
        return _load_graph(contents, contents.functional_graph, compile)
    made_as_named = isinstance(model, cls) and subclassed_config.names_its_class(model)  # (a Sequential subclass)
    if not getattr(model, "is_functional", False) and not made_as_named:
        raise NotAModelFileError(f"filepath: {contents.filepath!r}: {cls.__name__}(**config) made no functional "
                                 "model (its __init__ calls super().__init__(inputs=..., outputs=...) in the file)")
    return _restored(contents, model, compile)


def _compile(contents, model, optimizer_state_in_attribute_order: bool = False) -> None:
    """Compile ``model`` as the file's compile config says, with its optimizer state where it has one."""
    filepath = contents.filepath
    if not contents.compile_config:
        return
    with _from_file(filepath, _NOT_COMPILABLE):
        if contents.legacy:
            compile_from_config(model, compile_config_from_keras(contents.compile_config, contents.legacy,
                                                                    len(model._output_layer_indices())))
        else:  # as Keras: the model's compile_from_config, a subclass's own where it has one
            model.compile_from_config(contents.compile_config)
    if not model.compiled:  # a compile() of the model's own without a compile_from_config (Keras warns)
        return
    if contents.optimizer_values:
        with _from_file(filepath, "its optimizer state does not fit the model"):
            apply_optimizer_state(model, optimizer_state(model, contents.optimizer_values, filepath,
                                                         optimizer_state_in_attribute_order))


def _load_subclassed(contents, cls, compile: bool):
    """A subclassed model's file, as Keras loads it: the class made from the config, built for the file's input
    shape, its weights read under its attributes."""
    filepath = contents.filepath
    with _from_file(filepath, _NOT_A_MODEL):
        model = cls.from_config(dict(contents.model_config.get("config") or {}))
        shape = (contents.model_config.get("build_config") or {}).get("input_shape")
        if shape is None:
            raise NotAModelFileError(f"filepath: {filepath!r} holds a {cls.__name__} that was never built")
        model._trace(subclassed.inputs_of_shape(shape, contents.input_dtypes))  # (model.build(shape), typed)
    with _from_file(filepath, "its weights do not fit its model"):
        paths = graph_layer_paths(model, filepath)
        per_layer = contents.per_layer_at(model, paths)
        restore_weights(model, weight_tensors(model, per_layer, filepath), filepath,
                        outside=lambda path, layer: contents.by_path(layer, path))
    if contents.dropout_counters_by_path:  # (the layers made again have other generated names)
        _set_draws_by_path(filepath, model, contents.dropout_draws_by_path, contents.dropout_counters_by_path, paths)
    else:
        _set_draws(filepath, model, contents.dropout_draws, contents.dropout_counters, by_name=True)
    if compile:
        _compile(contents, model, optimizer_state_in_attribute_order=True)
    return model


def _load_traced_graph(contents, compile: bool):
    """gpunn's file of a subclassed model whose class is not known here: its traced graph, as a functional model
    with the same layers and weights (the optimizer starts afresh: its state follows the class's attributes)."""
    filepath = contents.filepath
    graph = contents.traced_graph
    with _from_file(filepath, _NOT_A_MODEL):
        model = _build(filepath, model_config_from_keras(graph["config"], contents.keras_version))
        paths = dict(graph["paths"])
    with _from_file(filepath, "its weights do not fit its model"):
        per_layer = contents.per_layer_at(model, {id(layer): paths[layer.name] for layer in model._graph_layers
                                                  if layer.name in paths})
        restore_weights(model, weight_tensors(model, per_layer, filepath), filepath)
    _set_draws(filepath, model, contents.dropout_draws, contents.dropout_counters, by_name=True)
    if compile and contents.compile_config:
        optimizer_values, contents.optimizer_values = contents.optimizer_values, None
        _compile(contents, model)
        if optimizer_values and len(optimizer_values) > 1:
            warnings.warn(f"filepath: {filepath!r} holds a {contents.model_config.get('class_name')} model, loaded "
                          "as the functional model of its graph since its class was not given (custom_objects, "
                          "register_keras_serializable); its optimizer starts afresh", stacklevel=4)
    return model


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A model saved by ``model.save`` (any format) or by Keras (``.keras``, or tf.keras's ``.h5``): same layers,
    weights and (if compiled) optimizer state. Nothing in any format is unpickled and no code is deserialized
    (``safe_mode`` holds whatever its value): ``custom_objects`` ({name: function or class}) gives the user's
    loss and metric functions and Loss / Metric classes a file names (``keras_config.check_custom_objects``)."""
    check_custom_objects(custom_objects)
    path = os.fsdecode(os.fspath(filepath)) if isinstance(filepath, (str, bytes, os.PathLike)) else None
    if path is not None and model_directory.is_model_directory(path):  # Keras 3's unzipped model
        filepath, data = path, model_directory.model_directory_bytes(path)
    else:
        filepath = os.fsdecode(check_load_path(filepath))
        with open(filepath, "rb") as handle:
            data = handle.read()
    # the user's loss and metric functions and classes, by name (an unknown one may be the writer's: loading())
    with custom_object_scope(custom_objects), loading():
        model = load_model_bytes(filepath, data, compile)
    saving_hooks.refuse_own_hooks(model, "load_model")
    return model


def load_model_bytes(filepath: str, data: bytes, compile: bool):
    """``load_model`` of a file's contents, ``data``; ``filepath`` names it in errors."""
    kind = file_kind(data)
    if kind == SAFETENSORS:
        return _load_safetensors(filepath, data, compile)
    if kind == KERAS:
        contents = keras_format.read_model(filepath, data)
        if feature_space_files.is_feature_space_config(contents.model_config):
            return feature_space_files.load_feature_space(contents)
        return _load_keras(contents, compile)
    contents = read_checked(filepath, data)
    if h5_format.is_legacy_file(contents):
        return _load_keras(h5_format.read_model(filepath, contents), compile)
    if keras_format.is_variables_file(contents):
        raise NotAModelFileError(
            f"filepath: {filepath!r} is a Keras weights file (written by save_weights), not a gpunn model file "
            "(written by model.save); build the model and call model.load_weights(...)"
        )
    raise NotAModelFileError(f"filepath: {filepath!r} is an HDF5 file but not a Keras model file (no "
                             "'model_config' attribute)")
