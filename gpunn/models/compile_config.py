"""A model's compile configuration (optimizer, loss, metrics) as a dict, and back: the part of every model file
that says how the model was compiled."""
from __future__ import annotations

from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module


def serialize_metric(identifier):
    if isinstance(identifier, str):
        return identifier
    if isinstance(identifier, metrics_module.Metric):
        return {"class_name": type(identifier).__name__, "config": identifier.get_config()}
    if metrics_module.registry.function_metric(identifier) is not None:
        # Keras's function objects, by name (the cosine_similarity loss and metric differ by their sign)
        return {"class_name": "function", "config": identifier.__name__}
    return getattr(identifier, "__name__", str(identifier))


def deserialize_metric(item):
    if isinstance(item, dict) and item.get("class_name") == "function":
        return metrics_module.registry.function_by_name(item.get("config"))
    if isinstance(item, dict):
        classes = {c.__name__: c for c in vars(metrics_module).values()
                   if isinstance(c, type) and issubclass(c, metrics_module.Metric)}
        return classes[item["class_name"]](**item["config"])
    return item


def get_compile_config(model) -> dict:
    """{"optimizer", "loss", "metrics", "jit_compile", "steps_per_execution"} of a compiled model, the objects as
    gpunn serializes them (Keras's ``compile_config`` keeps the last two as well)."""
    return {
        "optimizer": optimizers_module.serialize(model.optimizer),
        "loss": None if model.loss is None else losses_module.serialize(model.loss),
        "metrics": [serialize_metric(m) for m in model.metric_identifiers],
        "jit_compile": model._jit_compile,  # as asked: "auto" resolves again for the backend that loads it
        "steps_per_execution": int(model.steps_per_execution),
    }


def compile_from_config(model, config: dict) -> None:
    """``model.compile`` with a ``get_compile_config`` dict: new optimizer, loss and metric objects (Keras's
    ``compile_from_config``). Configs written before ``jit_compile`` and ``steps_per_execution`` were kept get
    compile's defaults for them."""
    model.compile(
        optimizer=optimizers_module.get(config["optimizer"]),
        loss=None if config["loss"] is None else losses_module.get(config["loss"]),
        metrics=[deserialize_metric(m) for m in config["metrics"]],
        jit_compile=config.get("jit_compile", "auto"),
        steps_per_execution=config.get("steps_per_execution", 1),
    )
