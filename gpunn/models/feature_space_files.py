"""A FeatureSpace's ``.keras`` file (``feature_space.save(path)``; ``keras.models.load_model(path)`` reads it),
in Keras's layout, so that Keras and gpunn read each other's.

Followed: keras/src/saving/saving_lib.py, as it saves a FeatureSpace: ``config.json`` holds the FeatureSpace's
config (each feature's preprocessing layer inside it) and the build config of its layers; ``model.weights.h5``
holds the layers' variables under the attributes holding them, each dict's layers named by their snake-case class,
numbered from the second of a class on: 'preprocessors/normalization_1/vars', 'crossers/hashed_crossing/vars',
'one_hot_encoders/category_encoding_2/vars', 'concat/vars'; Keras's lookups keep their vocabulary in the assets
('assets/preprocessors/string_lookup/vocabulary.txt'), gpunn's in their config (as in its model files).
"""
from __future__ import annotations

import datetime
import io
import json
import zipfile

from ..naming import snake_case
from .atomic_write import atomic_write_bytes
from .file_format import NotAModelFileError, gpunn_version
from .file_paths import check_save_path
from .hdf5_io import HDF5Writer
from .keras_format import CONFIG_MEMBER, KERAS_LAYOUT_VERSION, METADATA_MEMBER, WEIGHTS_MEMBER, _write_layer

CLASS_NAME = "FeatureSpace"


def is_feature_space_config(config) -> bool:
    return isinstance(config, dict) and config.get("class_name") == CLASS_NAME


def config_entry(feature_space) -> dict:
    """The FeatureSpace as Keras's ``serialize_keras_object`` writes it (its file's ``config.json``)."""
    return {"module": "keras.utils", "class_name": CLASS_NAME, "config": feature_space.get_config(),
            "registered_name": None, "build_config": feature_space.get_build_config()}


def from_config_entry(entry: dict):
    """A FeatureSpace made from its serialized config (``config_entry``'s, or Keras's): its layers as their
    configs say (gpunn's lookups keep their vocabulary there, Keras's in the file's assets)."""
    from ..layers.feature_space import FeatureSpace

    feature_space = FeatureSpace.from_config(entry["config"])
    feature_space.build_from_config(entry.get("build_config") or {})
    return feature_space


def _container_paths(attribute: str, layers) -> list:
    """(path, layer) of the layers of a dict, as Keras's saving_lib names them."""
    used: dict = {}
    paths = []
    for layer in layers:
        name = snake_case(getattr(type(layer), "keras_class", type(layer).__name__))
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        else:
            used[name] = 0
        paths.append((f"{attribute}/{name}", layer))
    return paths


def layer_paths(feature_space) -> list:
    """(path, layer) of each layer of ``feature_space`` in its variables file."""
    paths = [] if feature_space.concat is None else [("concat", feature_space.concat)]
    paths += _container_paths("crossers", feature_space.crossers.values())
    paths += _container_paths("one_hot_encoders", feature_space.one_hot_encoders.values())
    paths += _container_paths("preprocessors", feature_space.preprocessors.values())
    return paths


def save_feature_space(feature_space, filepath) -> None:
    if not str(filepath).endswith(".keras"):
        raise ValueError(f"filepath: a FeatureSpace is saved to a .keras file, got {str(filepath)!r}")
    filepath = check_save_path(filepath)
    feature_space._check_if_built()
    config = config_entry(feature_space)
    metadata = {"keras_version": KERAS_LAYOUT_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "gpunn": {"version": gpunn_version()}}
    writer = HDF5Writer()
    writer.group("vars")
    writer.attribute("vars", "name", feature_space.name)
    for path, layer in layer_paths(feature_space):
        _write_layer(writer, layer, path, with_values=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(METADATA_MEMBER, json.dumps(metadata))
        archive.writestr(CONFIG_MEMBER, json.dumps(config))
        archive.writestr(WEIGHTS_MEMBER, writer.to_bytes())
    atomic_write_bytes(filepath, buffer.getvalue())


def load_feature_space(contents):
    """The FeatureSpace of a ``.keras`` file's contents (``keras_format.read_model``): made from its config,
    its layers given their variables and assets."""
    from ..layers.feature_space import FeatureSpace

    filepath = contents.filepath
    try:
        feature_space = FeatureSpace.from_config(contents.model_config["config"])
    except (TypeError, ValueError, KeyError) as exc:
        raise NotAModelFileError(f"filepath: {filepath!r}: its FeatureSpace config cannot be read ({exc})") from None
    for path, layer in layer_paths(feature_space):
        values = contents.weights_by_path.get(path)
        if values:
            if not layer.built:
                layer.build((1,))
            try:
                layer.set_weights(values)
            except (TypeError, ValueError) as exc:
                raise NotAModelFileError(f"filepath: {filepath!r}: the variables at {path!r} do not fit its "
                                         f"{type(layer).__name__} ({exc})") from None
        files = contents.assets_by_path.get(path)
        if files and hasattr(layer, "load_keras_assets"):
            layer.load_keras_assets(files, contents.named_variables.get(path, {}))
    feature_space.build_from_config(contents.model_config.get("build_config") or {})
    feature_space.get_encoded_features()
    return feature_space
