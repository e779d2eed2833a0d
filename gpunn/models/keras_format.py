"""Keras 3's ``.keras`` format: a zip of ``config.json`` (the model's config, with its ``compile_config``),
``metadata.json`` and ``model.weights.h5`` (the variables); and Keras 3's ``.weights.h5`` files, which are that
HDF5 file alone.

Followed: keras/src/saving/saving_lib.py (``_save_model_to_fileobj``, ``H5IOStore``, ``_save_state``). In the
HDF5 file each saveable keeps its variables under '<path>/vars/<i>': the model's own under 'vars', each layer's
under 'layers/<snake-case class>[_<n>]/vars' (``keras_variables.keras_layer_paths``), the optimizer's under
'optimizer/vars', each 'vars' group with the object's name as attribute 'name'. Members are stored
uncompressed, as Keras stores them.

What gpunn adds, which Keras ignores: ``metadata.json`` key "gpunn" (gpunn's version and each Dropout layer's
seed and mask counter, "dropout_draws", so that training resumed after a load draws the masks it would have drawn;
"dropout_counters", the counters alone, is what gpunn wrote before), and in the HDF5 file the SHA-256 record of
``hdf5_io.py``.

Integrity on read: every member is read whole, so zipfile checks each one's CRC-32; a damaged member is
reported by name. The HDF5 member's SHA-256 record is checked when present (files written by Keras have none).
"""
from __future__ import annotations

import datetime
import io
import json
import re
import zipfile
import zlib

from .. import overrides
from ..layers import sublayers
from ..layers.seeded import SeededLayer
from .atomic_write import atomic_write_bytes
from .file_format import NotAModelFileError, gpunn_version
from .hdf5_io import GPUNN_MARKER, HDF5Writer, read_checked
from . import outside_graph, own_weights, subclassed_config
from .keras_attribute_paths import graph_layer_paths, is_model, is_subclassed, saveable_paths
from .keras_file_config import held_models_as_written_by_keras, keras_compile_config, keras_model_config
from ..custom_objects import user_class_entry
from ..serialization import serialize_keras_object
from .keras_variables import KerasFileContents, keras_layer_paths, layer_weights, optimizer_variables, owner_paths

CONFIG_MEMBER = "config.json"
METADATA_MEMBER = "metadata.json"
WEIGHTS_MEMBER = "model.weights.h5"
# The Keras release whose layout this writes (and against which the tests check it), for metadata.json.
KERAS_LAYOUT_VERSION = "3.15.1"
# The version of what gpunn adds to the HDF5 files it writes (the digest record, the Dropout counters).
GPUNN_H5_VERSION = "1"
# A member declaring more than this and expanding more than 100x is refused unread (saving_lib.py
# ``_reject_zip_bomb``).
_BOMB_FLOOR_BYTES = 1 << 32
# The root attribute naming the layout of the variables in the files gpunn writes (Keras ignores it): a file
# without it follows the model's kind (Keras's files), or is a graph's (gpunn's files before the attribute).
LAYOUT_ATTRIBUTE = "gpunn_weights_layout"
GRAPH_LAYOUT = "graph"
ATTRIBUTES_LAYOUT = "attributes"
_VARS_PATH = re.compile(r"(?:(?P<owner>.+)/)?vars/(?P<index>\d+)")
# A variable Keras stores by name (an IntegerLookup / StringLookup's 'idf_weights')
_NAMED_VAR_PATH = re.compile(r"(?P<owner>.+)/vars/(?P<name>[A-Za-z_]\w*)")


# ---- writing ----------------------------------------------------------------------------------------------


def _write_layer(writer: HDF5Writer, layer, path: str, with_values: bool) -> None:
    """The variables of ``layer`` at ``path``: a layer holding layers keeps each one's own at its own path
    ('layers/block/linear_1/vars'); ``with_values`` False: the groups alone (a layer the model never built)."""
    if not with_values:  # (an unbuilt layer has no weight specs to count)
        for below, owner in sublayers.owners(layer):
            group = f"{path}/{below}/vars" if below else f"{path}/vars"
            writer.group(group)
            writer.attribute(group, "name", owner.name)
        return
    values = iter(layer_weights(layer))
    for (owner_path, count), (_, owner) in zip(owner_paths(layer, path), sublayers.owners(layer)):
        group = f"{owner_path}/vars" if owner_path else "vars"  # ('': the model's own, own_weights.py)
        writer.group(group)
        writer.attribute(group, "name", owner.name)
        for index in range(count):
            writer.dataset(f"{group}/{index}", next(values))
        # State Keras keeps by name beside the weights (IntegerLookup's "idf_weights"), which its loader requires
        for name, value in getattr(owner, "keras_named_variables", dict)().items():
            writer.dataset(f"{group}/{name}", value)
    # Keras's own parts of a layer that are not gpunn layers (TextVectorization's '_lookup_layer'), by path below it
    for below, named in getattr(layer, "keras_part_variables", dict)().items():
        writer.group(f"{path}/{below}/vars")
        for name, value in named.items():
            writer.dataset(f"{path}/{below}/vars/{name}", value)


def variables_hdf5(model, include_optimizer: bool, marked: bool = False, layout: str = GRAPH_LAYOUT) -> bytes:
    """The variables file of the model (``model.weights.h5`` in a ``.keras`` zip, or a ``.weights.h5``), in the
    layout of a functional model (GRAPH_LAYOUT: 'layers/<name>' per layer of the graph) or of a subclassed one
    (ATTRIBUTES_LAYOUT: under its attributes, ``keras_attribute_paths.py``)."""
    writer = HDF5Writer()
    if marked:  # a file of its own (not a member of a zip, which has its CRCs): its record is required
        writer.attribute("", GPUNN_MARKER, GPUNN_H5_VERSION)
    writer.attribute("", LAYOUT_ATTRIBUTE, layout)
    body = own_weights.body_of(model)
    if body is not None:  # the model's weights are its body's, its layers the body's sublayers at their paths
        _write_layer(writer, body, "", with_values=True)
        writer.attribute("vars", "name", model.name)
    else:
        writer.group("vars")
        writer.attribute("vars", "name", model.name)
    if layout == ATTRIBUTES_LAYOUT and body is None:
        graph_layer_paths(model)  # refuses a layer with weights that no attribute holds
        in_graph = {id(layer) for layer in model._layers}
        in_graph.update(id(layer) for _, layer in outside_graph.layers_outside_graph(model))  # (built, never called)
        for path, value in saveable_paths(model):
            if not path:
                continue
            if is_model(value):
                writer.group(f"{path}/vars")
                writer.attribute(f"{path}/vars", "name", value.name)
            else:
                _write_layer(writer, value, path, with_values=id(value) in in_graph)
    elif body is None:
        for path, layer in zip(keras_layer_paths(model), model._graph_layers):  # a functional model's InputLayer too
            _write_layer(writer, layer, path, with_values=True)
    if include_optimizer:
        writer.group("optimizer/vars")
        writer.attribute("optimizer/vars", "name", model.optimizer.name)
        for index, (_, value) in enumerate(optimizer_variables(model, attribute_order=layout == ATTRIBUTES_LAYOUT)):
            writer.dataset(f"optimizer/vars/{index}", value)
    return writer.to_bytes()


def seeded_layers_by_name(model) -> dict:
    """The model's seeded layers (Dropout...) by layer name (inside a layer of the user's, that layer's name and the
    path below it: 'block/blocks/dropout'). Their draw counters and seeds, saved under these keys, are what they
    draw when training resumes."""
    return {f"{model._layers[i].name}/{path}" if path else layer.name: layer
            for i, path, layer in sublayers.with_sublayers(model._layers) if isinstance(layer, SeededLayer)}


def seeded_layers_by_index(model) -> dict:
    """The model's seeded layers by their index in ``model._layers`` (inside a layer of the user's, and the path
    below it: '3/blocks/dropout'): keys a model made again from the file's config shares with the saved one,
    whatever names it gave its layers."""
    return {f"{i}/{path}" if path else str(i): layer
            for i, path, layer in sublayers.with_sublayers(model._layers) if isinstance(layer, SeededLayer)}


def counters(layers: dict) -> dict:
    """{key: draw counter} of seeded layers: what a file held of them before their seeds were kept (still written,
    for a gpunn of then to read)."""
    return {key: int(layer.counter) for key, layer in layers.items()}


def draws(layers: dict) -> dict:
    """{key: [seed, draw counter]} of seeded layers (keyed as given: ``model_draws``, ``seeded_layers_by_path``):
    what they draw when training resumes."""
    return {key: [layer.seed, int(layer.counter)] for key, layer in layers.items()}


def model_draws(model) -> dict:
    """``draws`` of a model as a file of its config holds them: by index among its layers (a model made again
    from the config lists them in that order, whatever names a layer of the user's that keeps none is given), or
    for a subclassed model's graph, whose order its class decides, by layer name; the keying said in "keys"."""
    by_name = is_subclassed(model)
    layers = seeded_layers_by_name(model) if by_name else seeded_layers_by_index(model)
    return {"keys": "name" if by_name else "index", "draws": draws(layers)}


def seeded_layers_keyed(model, keys: str) -> dict:
    """The model's seeded layers keyed as ``model_draws`` said ("index" or "name")."""
    return seeded_layers_by_index(model) if keys == "index" else seeded_layers_by_name(model)


def seeded_layers_by_path(model, paths: dict) -> dict:
    """A subclassed model's seeded layers (Dropout...) by their layers' attribute paths (``paths``: by layer id),
    and the path below a layer of the user's."""
    return {f"{paths[id(model._layers[i])]}/{path}" if path else paths[id(layer)]: layer
            for i, path, layer in sublayers.with_sublayers(model._layers)
            if isinstance(layer, SeededLayer) and id(model._layers[i]) in paths}





def save_model(model, filepath: str, overwrite: bool, include_optimizer: bool) -> None:
    atomic_write_bytes(filepath, model_file_bytes(model, include_optimizer), overwrite)


def _compile_config(model) -> dict | None:
    """A subclassed model's ``compile_config``: its class's own ``get_compile_config()`` where it has one (its
    objects serialized, as Keras's ``serialize_dict``), else how it was compiled."""
    if overrides.user_definition(type(model), "get_compile_config") is None:
        return keras_compile_config(model, native=True)
    config = model.get_compile_config()
    return None if config is None else {key: serialize_keras_object(value) for key, value in config.items()}


def model_file_bytes(model, include_optimizer: bool) -> bytes:
    """The bytes of ``model``'s ``.keras`` file. A subclassed model's as Keras writes one (``subclassed_config.py``:
    its class, config and build shape, its weights under its attributes), with its traced graph and where each of
    the graph's layers keeps its weights in the metadata, for a load that is not given the class."""
    own = {"version": gpunn_version(), "dropout_counters": counters(seeded_layers_by_name(model)),
           "dropout_draws": model_draws(model)}
    layout = GRAPH_LAYOUT
    if is_subclassed(model):
        if own_weights.body_of(model) is None:  # (a model with weights of its own has no graph of layers alone)
            paths = graph_layer_paths(model)
            own["graph"] = {"config": keras_model_config(model, native=True, include_compile=False),
                            "paths": {layer.name: paths[id(layer)] for layer in model._layers if id(layer) in paths}}
            by_path = seeded_layers_by_path(model, paths)
            own["dropout_counters_by_path"], own["dropout_draws_by_path"] = counters(by_path), draws(by_path)
        own["input_dtypes"] = [layer.input_dtype for layer in subclassed_config.input_layers(model)]  # (Keras's
        # build shape says none)
        compiled = _compile_config(model) if model.compiled else None
        config = subclassed_config.model_entry(model, compiled)
        layout = ATTRIBUTES_LAYOUT
    elif subclassed_config.is_functional_subclass(model):
        # written as Keras writes it (its class and the arguments it was made with), the graph kept for a load
        # that is not given the class
        own["functional"] = keras_model_config(model, native=True, include_compile=False)
        config = subclassed_config.model_entry(model, _compile_config(model) if model.compiled else None)
    elif subclassed_config.names_its_class(model):
        # a subclass made from its graph, or of Sequential: written as Keras writes it (its class and get_config()),
        # the plain model kept for a load that is not given the class
        with held_models_as_written_by_keras():
            own["functional"] = keras_model_config(model, native=True, include_compile=False)
            config = {**keras_model_config(model, native=True, include_compile=False),
                      **user_class_entry(type(model), model.get_config())}
        if model.compiled:
            config["compile_config"] = _compile_config(model)
    else:
        with held_models_as_written_by_keras():
            config = keras_model_config(model, native=True)
    metadata = {
        "keras_version": KERAS_LAYOUT_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "gpunn": own,
    }
    weights = variables_hdf5(model, include_optimizer and model.compiled, layout=layout)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(METADATA_MEMBER, json.dumps(metadata))
        archive.writestr(CONFIG_MEMBER, json.dumps(config))
        archive.writestr(WEIGHTS_MEMBER, weights)
    return buffer.getvalue()


def save_weights(model, filepath: str, overwrite: bool) -> None:
    # A subclassed model's as Keras saves it, under its attributes: Keras loads them into an instance of the class.
    # (Its .keras file holds the functional graph, which Keras loads as a functional model: the graph's layout.)
    # A compiled model's optimizer too, as Keras's walk reaches it ('optimizer/vars').
    layout = ATTRIBUTES_LAYOUT if is_subclassed(model) else GRAPH_LAYOUT
    data = variables_hdf5(model, include_optimizer=model.compiled, marked=True, layout=layout)
    atomic_write_bytes(filepath, data, overwrite)


# ---- reading ----------------------------------------------------------------------------------------------


def _members(filepath: str, data: bytes) -> dict[str, bytes]:
    """Every file in the zip, read whole (which checks its CRC-32)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise NotAModelFileError(f"filepath: {filepath!r} is damaged: not a readable zip archive ({exc})") from None
    members = {}
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            if info.file_size > _BOMB_FLOOR_BYTES and info.file_size > 100 * info.compress_size:
                raise NotAModelFileError(f"filepath: {filepath!r}: zip member {info.filename!r} declares "
                                         f"{info.file_size} bytes but stores {info.compress_size}")
            try:
                with archive.open(info) as handle:
                    members[info.filename] = handle.read()
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError,
                    ValueError) as exc:
                raise NotAModelFileError(
                    f"filepath: {filepath!r} is damaged: zip member {info.filename!r} cannot be read ({exc})"
                ) from None
    return members


def is_variables_file(contents) -> bool:
    """Whether an HDF5 file has Keras 3's variables layout (a 'layers' or 'vars' group)."""
    return "layers" in contents.groups or "vars" in contents.groups or "_layer_checkpoint_dependencies" in \
        contents.groups


def variables(filepath: str, contents, where: str = "") -> dict[str, list]:
    """{owner path: its variables in order} of a Keras 3 variables file ('' is the model itself)."""
    found: dict[str, dict[int, object]] = {}
    for path, value in contents.datasets.items():
        match = _VARS_PATH.fullmatch(path)
        if match is None:
            continue
        owner = (match["owner"] or "").replace("_layer_checkpoint_dependencies", "layers")  # Keras 2.13's name
        found.setdefault(owner, {})[int(match["index"])] = value
    by_owner = {}
    for owner, indexed in found.items():
        if sorted(indexed) != list(range(len(indexed))):
            raise NotAModelFileError(f"filepath: {filepath!r} is damaged{where}: the variables of {owner!r} are "
                                     f"numbered {sorted(indexed)}")
        by_owner[owner] = [indexed[i] for i in range(len(indexed))]
    if not by_owner and not is_variables_file(contents):
        raise NotAModelFileError(f"filepath: {filepath!r}{where} is an HDF5 file but not a Keras variables file "
                                 "(no 'layers' or 'vars' group)")
    return by_owner


def _json_member(filepath: str, members: dict, name: str):
    try:
        return json.loads(members[name])
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotAModelFileError(f"filepath: {filepath!r} is damaged: zip member {name!r} is not JSON ({exc})") \
            from None


def read_model(filepath: str, data: bytes) -> KerasFileContents:
    """A ``.keras`` file's contents; NotAModelFileError if it is not one or is damaged."""
    members = _members(filepath, data)
    if CONFIG_MEMBER not in members:
        raise NotAModelFileError(f"filepath: {filepath!r} is a zip archive but not a Keras model file (no "
                                 f"{CONFIG_MEMBER!r}; it holds {sorted(members)[:5]})")
    if WEIGHTS_MEMBER not in members:
        found = "model.weights.npz: Keras's npz weights, which gpunn does not read" \
            if "model.weights.npz" in members else f"no {WEIGHTS_MEMBER!r}"
        raise NotAModelFileError(f"filepath: {filepath!r}: a Keras model file without its weights ({found})")
    config = _json_member(filepath, members, CONFIG_MEMBER)
    metadata = _json_member(filepath, members, METADATA_MEMBER) if METADATA_MEMBER in members else {}
    if not isinstance(config, dict):
        raise NotAModelFileError(f"filepath: {filepath!r}: {CONFIG_MEMBER!r} holds no model config")
    where = f" (zip member {WEIGHTS_MEMBER!r})"
    gpunn_part = metadata.get("gpunn") if isinstance(metadata, dict) else None
    gpunn_part = gpunn_part if isinstance(gpunn_part, dict) else {}
    saved_counters = gpunn_part.get("dropout_counters") or {}
    by_path = gpunn_part.get("dropout_counters_by_path") or {}
    graph, functional = gpunn_part.get("graph"), gpunn_part.get("functional")
    input_dtypes = gpunn_part.get("input_dtypes")
    contents = read_checked(filepath, members[WEIGHTS_MEMBER], where)
    found = variables(filepath, contents, where)
    # Keras's file of a subclassed model (its class in the config) keeps the weights under its attributes
    by_graph = config.get("class_name") in ("Sequential", "Functional", "Model") or isinstance(functional, dict)
    return KerasFileContents(
        filepath=filepath, legacy=False, model_config=config, compile_config=config.get("compile_config"),
        weights_by_path=_layer_weights(found), traced_graph=graph if isinstance(graph, dict) else None,
        functional_graph=functional if isinstance(functional, dict) else None,
        input_dtypes=input_dtypes if isinstance(input_dtypes, list) else None,
        layout=layout_of(contents, GRAPH_LAYOUT if by_graph else ATTRIBUTES_LAYOUT),
        optimizer_values=found.get("optimizer"), dropout_counters=saved_counters,
        dropout_counters_by_path=by_path if isinstance(by_path, dict) else {},
        dropout_draws=gpunn_part.get("dropout_draws") or {},
        dropout_draws_by_path=gpunn_part.get("dropout_draws_by_path") or {},
        keras_version=metadata.get("keras_version") if isinstance(metadata, dict) else None,
        assets_by_path=_assets(members), named_variables=_named_variables(contents),
    )


def _named_variables(contents) -> dict:
    """{owner path: {name: value}} of the variables Keras stores by name."""
    found: dict = {}
    for path, value in contents.datasets.items():
        match = _NAMED_VAR_PATH.fullmatch(path)
        if match is not None:
            found.setdefault(match["owner"], {})[match["name"]] = value
    return found


def _assets(members: dict) -> dict:
    """{layer path: {file name: bytes}} of the zip's 'assets/<layer path>/<file name>' members."""
    by_path: dict = {}
    for name, data in members.items():
        if name.startswith("assets/") and not name.endswith("/") and name.count("/") >= 2:
            path, file_name = name[len("assets/"):].rsplit("/", 1)
            by_path.setdefault(path, {})[file_name] = data
    return by_path


def read_weights(filepath: str, contents) -> KerasFileContents:
    """The weights of a Keras 3 ``.weights.h5`` file (read with ``hdf5_io.read_checked``)."""
    found = variables(filepath, contents)
    # gpunn's files before the layout attribute: the graph's; Keras's: the model's own (None: follow the model)
    unnamed = GRAPH_LAYOUT if contents.attributes.get(GPUNN_MARKER) is not None else None
    return KerasFileContents(filepath=filepath, legacy=False, weights_by_path=_layer_weights(found),
                             optimizer_values=found.get("optimizer"), layout=layout_of(contents, unnamed))


def _layer_weights(found: dict) -> dict:
    """The layers' variables by path: all but the optimizer's, and the model's own ('') where it has none (a model
    holding weights of its own reads them there, own_weights.py)."""
    return {path: values for path, values in found.items() if path != "optimizer" and (path or values)}


def layout_of(contents, unnamed: str | None) -> str | None:
    """The layout a file of gpunn's names (LAYOUT_ATTRIBUTE), else ``unnamed``."""
    layout = contents.attributes.get(LAYOUT_ATTRIBUTE)
    if isinstance(layout, bytes):
        layout = layout.decode("utf-8", "replace")
    return layout if layout in (GRAPH_LAYOUT, ATTRIBUTES_LAYOUT) else unnamed
