"""Model files: one safetensors file holding the config (JSON in its metadata), the weights and the optimizer
state. No pickle: any safetensors reader can open the weights. The file name is the user's ('model.h5' too).

Writes are atomic: the bytes go to a temporary file in the same directory, which then replaces the target,
so a crash mid-save leaves the previous file intact.
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from ..layers.dropout import Dropout

MODEL_FORMAT = "gpunn.model"
WEIGHTS_FORMAT = "gpunn.weights"
FORMAT_VERSION = "1"


class NotAModelFileError(ValueError):
    """The file exists but was not written by gpunn's ``save`` / ``save_weights``."""


def _version() -> str:
    from .. import __version__

    return __version__


def atomic_write_bytes(filepath: str, data: bytes, overwrite: bool = True) -> None:
    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"filepath: {filepath!r} exists and overwrite=False")
    directory = os.path.dirname(os.path.abspath(filepath))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".gpunn-", suffix=".tmp", dir=directory)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a saved model gets the usual permissions
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _weight_tensors(model) -> dict[str, np.ndarray]:
    tensors = {}
    for index, layer in enumerate(model.layers):
        for spec, value in zip(layer.weight_specs(), layer.get_weights()):
            tensors[f"layers/{index:03d}.{layer.name}/{spec.name}"] = np.ascontiguousarray(value)
    return tensors


def _serialize_metric(identifier):
    if isinstance(identifier, str):
        return identifier
    if isinstance(identifier, metrics_module.Metric):
        return {"class_name": type(identifier).__name__, "config": identifier.get_config()}
    return getattr(identifier, "__name__", str(identifier))


def _deserialize_metric(item):
    if isinstance(item, dict):
        classes = {c.__name__: c for c in vars(metrics_module).values()
                   if isinstance(c, type) and issubclass(c, metrics_module.Metric)}
        return classes[item["class_name"]](**item["config"])
    return item


def save_model(model, filepath, overwrite=True, include_optimizer=True) -> None:
    from safetensors.numpy import save

    model._require_built("save")
    metadata = {
        "format": MODEL_FORMAT, "format_version": FORMAT_VERSION, "gpunn_version": _version(),
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
            "metrics": [_serialize_metric(m) for m in model.metric_identifiers],
        })
        if include_optimizer and getattr(model, "_optimizer_built", False):
            metadata["optimizer_iterations"] = str(model.optimizer.iterations)
            for name, value in model.optimizer.variables().items():
                tensors[f"optimizer/{name}"] = model.ops.to_numpy(value).copy()
    atomic_write_bytes(filepath, save(tensors, metadata=metadata), overwrite)


def save_weights(model, filepath, overwrite=True) -> None:
    from safetensors.numpy import save

    model._require_built("save_weights")
    metadata = {"format": WEIGHTS_FORMAT, "format_version": FORMAT_VERSION, "gpunn_version": _version()}
    atomic_write_bytes(filepath, save(_weight_tensors(model), metadata=metadata), overwrite)


def _read(filepath, expected_formats) -> tuple[dict, dict]:
    from safetensors import SafetensorError
    from safetensors.numpy import load

    filepath = os.fspath(filepath)
    if not os.path.isfile(filepath):
        raise FileNotFoundError(f"filepath: no such file {filepath!r}")
    with open(filepath, "rb") as handle:
        data = handle.read()
    what = "a gpunn model file (written by model.save)"
    if data[:4] == b"\x89HDF":
        raise NotAModelFileError(f"filepath: {filepath!r} is an HDF5 file (written by Keras?), not {what}")
    try:
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + header_len])
        tensors = load(data)
    except (SafetensorError, ValueError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotAModelFileError(f"filepath: {filepath!r} is not {what}: {exc}") from None
    metadata = header.get("__metadata__") or {}
    if metadata.get("format") not in expected_formats:
        raise NotAModelFileError(
            f"filepath: {filepath!r} is a safetensors file but not {what} (format {metadata.get('format')!r})"
        )
    return metadata, tensors


def _position_key(key: str) -> tuple[str, str]:
    """('000', 'kernel') from 'layers/000.dense_3/kernel': the layer's position and the weight's name."""
    layer_part, weight = key[len("layers/"):].rsplit("/", 1)
    return layer_part.split(".", 1)[0], weight


def _restore_weights(model, tensors: dict, filepath) -> None:
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


def load_model(filepath, custom_objects=None, compile=True):
    """A model saved by ``model.save``: same layers, weights and (if compiled) optimizer state."""
    from .sequential import Sequential

    metadata, tensors = _read(filepath, (MODEL_FORMAT,))
    config = json.loads(metadata["model_config"])
    model = Sequential.from_config(config["config"])
    if not model.built:
        raise NotAModelFileError(f"filepath: {filepath!r} holds a model that was never built")
    _restore_weights(model, tensors, filepath)
    for index, counter in json.loads(metadata.get("dropout_counters", "{}")).items():
        model.layers[int(index)].counter = int(counter)
    if compile and "compile_config" in metadata:
        cc = json.loads(metadata["compile_config"])
        model.compile(
            optimizer=optimizers_module.get(cc["optimizer"]),
            loss=None if cc["loss"] is None else losses_module.get(cc["loss"]),
            metrics=[_deserialize_metric(m) for m in cc["metrics"]],
        )
        slots = {k.split("/", 1)[1]: v for k, v in tensors.items() if k.startswith("optimizer/")}
        if "optimizer_iterations" in metadata:
            model._ensure_optimizer()
            for name, value in slots.items():
                if name in model.optimizer.slots:
                    model.optimizer.slots[name][...] = model.ops.asarray(value)
            model.optimizer.iterations = int(metadata["optimizer_iterations"])
    return model


def load_weights(model, filepath) -> None:
    _, tensors = _read(filepath, (WEIGHTS_FORMAT, MODEL_FORMAT))
    model._require_built("load_weights")
    _restore_weights(model, tensors, filepath)
