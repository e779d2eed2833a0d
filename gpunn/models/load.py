"""load_model: a model built from a file written by ``model.save`` (same layers, weights and, if it was
compiled, optimizer state)."""
from __future__ import annotations

import json

from .. import losses as losses_module
from .. import optimizers as optimizers_module
from .file_format import MODEL_FORMAT, NotAModelFileError, read_file
from .save import deserialize_metric, restore_weights
from .sequential import Sequential


def load_model(filepath, custom_objects=None, compile=True):
    """A model saved by ``model.save``: same layers, weights and (if compiled) optimizer state."""
    metadata, tensors = read_file(filepath, (MODEL_FORMAT,))
    config = json.loads(metadata["model_config"])
    model = Sequential.from_config(config["config"])
    if not model.built:
        raise NotAModelFileError(f"filepath: {filepath!r} holds a model that was never built")
    restore_weights(model, tensors, filepath)
    for index, counter in json.loads(metadata.get("dropout_counters", "{}")).items():
        model.layers[int(index)].counter = int(counter)
    if compile and "compile_config" in metadata:
        cc = json.loads(metadata["compile_config"])
        model.compile(
            optimizer=optimizers_module.get(cc["optimizer"]),
            loss=None if cc["loss"] is None else losses_module.get(cc["loss"]),
            metrics=[deserialize_metric(m) for m in cc["metrics"]],
        )
        slots = {k.split("/", 1)[1]: v for k, v in tensors.items() if k.startswith("optimizer/")}
        if "optimizer_iterations" in metadata:
            model._ensure_optimizer()
            for name, value in slots.items():
                if name in model.optimizer.slots:
                    model.optimizer.slots[name][...] = model.ops.asarray(value)
            model.optimizer.iterations = int(metadata["optimizer_iterations"])
    return model
