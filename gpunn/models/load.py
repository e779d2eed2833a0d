"""load_model: a model built from a file written by ``model.save`` (same layers, weights and, if it was
compiled, optimizer state)."""
from __future__ import annotations

import contextlib
import json
import os

from .. import losses as losses_module
from .. import optimizers as optimizers_module
from .file_format import MODEL_FORMAT, NotAModelFileError, read_file
from .save import deserialize_metric, restore_weights
from .sequential import Sequential


@contextlib.contextmanager
def _from_file(filepath: str, problem: str):
    """Errors while building from the file become one NotAModelFileError stating ``problem``: a config that
    does not parse into a model (foreign, hand-edited, unknown layer class, missing keys) is a property of the
    file, not a bug to report from deep inside the layer that tripped on it."""
    try:
        yield
    except NotAModelFileError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        detail = f"missing key {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise NotAModelFileError(f"filepath: {filepath!r}: {problem} ({detail})") from exc


def _build(filepath: str, metadata: dict):
    with _from_file(filepath, "its model config does not describe a model gpunn can build"):
        config = json.loads(metadata["model_config"])
        if config["class_name"] != "Sequential":
            raise NotAModelFileError(
                f"filepath: {filepath!r} holds a {config['class_name']!r} model; gpunn builds Sequential models only"
            )
        model = Sequential.from_config(config["config"])
    if not model.built:
        raise NotAModelFileError(f"filepath: {filepath!r} holds a model that was never built")
    return model


def _compile(filepath: str, model, metadata: dict, tensors: dict) -> None:
    with _from_file(filepath, "its compile config does not describe an optimizer, loss and metrics gpunn can build"):
        cc = json.loads(metadata["compile_config"])
        model.compile(
            optimizer=optimizers_module.get(cc["optimizer"]),
            loss=None if cc["loss"] is None else losses_module.get(cc["loss"]),
            metrics=[deserialize_metric(m) for m in cc["metrics"]],
        )
    with _from_file(filepath, "its optimizer state does not fit the model"):
        slots = {k.split("/", 1)[1]: v for k, v in tensors.items() if k.startswith("optimizer/")}
        if "optimizer_iterations" in metadata:
            model._ensure_optimizer()
            for name, value in slots.items():
                if name in model.optimizer.slots:
                    model.optimizer.slots[name][...] = model.ops.asarray(value)
            model.optimizer.iterations = int(metadata["optimizer_iterations"])


def load_model(filepath, custom_objects=None, compile=True):
    """A model saved by ``model.save``: same layers, weights and (if compiled) optimizer state."""
    metadata, tensors = read_file(filepath, (MODEL_FORMAT,))
    filepath = os.fsdecode(os.fspath(filepath))
    model = _build(filepath, metadata)
    with _from_file(filepath, "its weights do not fit its model config"):
        restore_weights(model, tensors, filepath)
    with _from_file(filepath, "its Dropout mask counters are not readable"):
        for index, counter in json.loads(metadata.get("dropout_counters", "{}")).items():
            model.layers[int(index)].counter = int(counter)
    if compile and "compile_config" in metadata:
        _compile(filepath, model, metadata, tensors)
    return model
