"""model.save / save_weights / load_weights: a model's config, weights and optimizer state in the file format
of ``file_format.py``. Imports no model class (``load.py`` builds models from files)."""
from __future__ import annotations

import json

import numpy as np

from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from ..layers.dropout import Dropout
from .file_format import FORMAT_VERSION, MODEL_FORMAT, WEIGHTS_FORMAT, gpunn_version, read_file, write_file
from .file_paths import check_load_path, check_save_path


def _weight_tensors(model) -> dict[str, np.ndarray]:
    tensors = {}
    for index, layer in enumerate(model.layers):
        for spec, value in zip(layer.weight_specs(), layer.get_weights()):
            tensors[f"layers/{index:03d}.{layer.name}/{spec.name}"] = np.ascontiguousarray(value)
    return tensors


def serialize_metric(identifier):
    if isinstance(identifier, str):
        return identifier
    if isinstance(identifier, metrics_module.Metric):
        return {"class_name": type(identifier).__name__, "config": identifier.get_config()}
    return getattr(identifier, "__name__", str(identifier))


def deserialize_metric(item):
    if isinstance(item, dict):
        classes = {c.__name__: c for c in vars(metrics_module).values()
                   if isinstance(c, type) and issubclass(c, metrics_module.Metric)}
        return classes[item["class_name"]](**item["config"])
    return item


def save_model(model, filepath, overwrite=True, include_optimizer=True) -> None:
    filepath = check_save_path(filepath, overwrite)
    model._require_built("save")
    metadata = {
        "format": MODEL_FORMAT, "format_version": FORMAT_VERSION, "gpunn_version": gpunn_version(),
        "model_config": json.dumps({"class_name": type(model).__name__, "config": model.get_config()}),
        # Each Dropout layer's mask counter: with its seed (in the config) it fixes the masks still to come, so
        # training resumed after a load draws the masks it would have drawn without the save.
        "dropout_counters": json.dumps({str(i): layer.counter for i, layer in enumerate(model.layers)
                                        if isinstance(layer, Dropout)}),
    }
    tensors = _weight_tensors(model)
    if model.compiled:
        metadata["compile_config"] = json.dumps({
            "optimizer": optimizers_module.serialize(model.optimizer),
            "loss": None if model.loss is None else losses_module.serialize(model.loss),
            "metrics": [serialize_metric(m) for m in model.metric_identifiers],
        })
        if include_optimizer and getattr(model, "_optimizer_built", False):
            metadata["optimizer_iterations"] = str(model.optimizer.iterations)
            for name, value in model.optimizer.variables().items():
                tensors[f"optimizer/{name}"] = model.ops.to_numpy(value).copy()
    write_file(filepath, tensors, metadata, overwrite)


def save_weights(model, filepath, overwrite=True) -> None:
    filepath = check_save_path(filepath, overwrite)
    model._require_built("save_weights")
    metadata = {"format": WEIGHTS_FORMAT, "format_version": FORMAT_VERSION, "gpunn_version": gpunn_version()}
    write_file(filepath, _weight_tensors(model), metadata, overwrite)


def _position_key(key: str) -> tuple[str, str]:
    """('000', 'kernel') from 'layers/000.dense_3/kernel': the layer's position and the weight's name."""
    layer_part, weight = key[len("layers/"):].rsplit("/", 1)
    return layer_part.split(".", 1)[0], weight


def restore_weights(model, tensors: dict, filepath) -> None:
    expected = _weight_tensors(model)
    # Matched by layer position and weight name, not layer name: as in Keras, weights load into a model built
    # the same way even when its generated layer names ('dense_7') differ from the saved model's.
    saved = {_position_key(k): v for k, v in tensors.items() if k.startswith("layers/")}
    missing = sorted(key for key in expected if _position_key(key) not in saved)
    if missing:
        raise ValueError(f"filepath: {filepath!r} lacks weights {missing[:3]} for this model's layers")
    for key, value in expected.items():
        if saved[_position_key(key)].shape != value.shape:
            raise ValueError(
                f"filepath: weight {key!r} in {filepath!r} has shape {saved[_position_key(key)].shape}, the model "
                f"expects {value.shape}"
            )
    model.set_weights([saved[_position_key(key)] for key in expected])


def load_weights(model, filepath) -> None:
    check_load_path(filepath)
    model._require_built("load_weights")  # before reading what may be a large file
    _, tensors = read_file(filepath, (WEIGHTS_FORMAT, MODEL_FORMAT))
    restore_weights(model, tensors, filepath)
