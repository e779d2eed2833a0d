"""A model's compile configuration (optimizer, loss, metrics) as a dict, and back: the part of every model file
that says how the model was compiled."""
from __future__ import annotations

from .. import custom_objects, overrides
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module


def serialize_metric(identifier):
    if isinstance(identifier, str):
        return identifier
    if isinstance(identifier, metrics_module.Metric):
        cls = type(identifier)
        if cls.__module__.split(".")[0] != "gpunn":  # a Metric class of the user's, found again by these
            return {"module": cls.__module__, "class_name": cls.__name__, "config": identifier.get_config(),
                    "registered_name": custom_objects.get_registered_name(cls)}
        return {"class_name": cls.__name__, "config": identifier.get_config()}
    if metrics_module.registry.function_metric(identifier) is not None:
        # Keras's function objects, by name (the cosine_similarity loss and metric differ by their sign)
        return {"class_name": "function", "config": identifier.__name__}
    if callable(identifier):  # a function of the user's, by the name it is registered or known under
        return {"class_name": "function", "config": custom_objects.get_registered_name(identifier)}
    return getattr(identifier, "__name__", str(identifier))


def deserialize_metric(item):
    if isinstance(item, str) and not metrics_module.registry.knows_name(item):
        custom = custom_objects.lookup(item)  # the user's, found while load_model's custom objects are known
        if custom is not None:
            return custom
    if isinstance(item, dict) and item.get("class_name") == "function":
        return metrics_module.registry.function_by_name(item.get("config"))
    if isinstance(item, dict):
        # the user's class first, by its registered name, even when named like a built-in one (the book's own
        # RootMeanSquaredError), as Keras's _retrieve_class_or_fn finds it
        users = custom_objects.user_class(item, metrics_module.Metric) if item.get("registered_name") else None
        if users is not None and not overrides.is_gpunn_class(users):
            return users.from_config(item["config"])
        classes = {c.__name__: c for c in vars(metrics_module).values()
                   if isinstance(c, type) and issubclass(c, metrics_module.Metric)}
        if item["class_name"] in classes and item["class_name"] != "MeanMetricWrapper":
            return classes[item["class_name"]](**item["config"])
        return metrics_module.deserialize(item)  # a wrapped function, or a Metric class of the user's
    return item


def map_nested(function, value):
    """``function`` applied to each item of a list, tuple or dict of them (nested), or to ``value`` itself (a
    serialized object, a dict with a "class_name", is one item)."""
    if isinstance(value, dict) and "class_name" not in value:
        return {key: map_nested(function, item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [map_nested(function, item) for item in value]
    return None if value is None else function(value)


def compile_like(model, other) -> None:
    """Compile ``model`` as ``other`` was compiled (``clone_model``): a new optimizer from its config, new loss and
    metric objects, the user's functions and classes taken as they are (never looked up by name, where two may
    share one, such as two lambdas)."""
    config = get_compile_config(other)

    def loss(value):
        value = losses_module.as_compiled(value)  # a compute_loss of the model's own wraps it again at compile
        if isinstance(value, losses_module.FunctionLoss) and not value.serialized_as_class:
            return losses_module.FunctionLoss(value.fn, name=value.name)
        if isinstance(value, losses_module.Loss) and type(value).__module__.split(".")[0] != "gpunn":
            return type(value).from_config(value.get_config())
        return None if value is None else losses_module.as_loss(losses_module.serialize(value))

    def metric(value):
        return value.copy() if isinstance(value, metrics_module.Metric) else value

    model.compile(
        optimizer=optimizers_module.get(config["optimizer"]),
        loss=other.loss if isinstance(other.loss, str) else map_nested(loss, other._resolved_loss),
        loss_weights=config.get("loss_weights"),
        metrics=map_nested(metric, other.metric_identifiers),
        weighted_metrics=map_nested(metric, other.weighted_metric_identifiers) or None,
        jit_compile=config.get("jit_compile", "auto"),
        run_eagerly=bool(config.get("run_eagerly", False)),
        steps_per_execution=config.get("steps_per_execution", 1),
    )


def get_compile_config(model, loss_name_as_given: bool = True) -> dict:
    """{"optimizer", "loss", "loss_weights", "metrics", "weighted_metrics", "jit_compile", "run_eagerly",
    "steps_per_execution"} of a compiled
    model, the objects as gpunn serializes them (Keras's ``compile_config`` keeps the last two as well); for
    several outputs, ``loss`` and ``metrics`` keep the list or dict they were given in. A loss given by its name
    is written as that name (as Keras writes it: a model loaded has ``model.loss == "mse"`` again), unless
    ``loss_name_as_given`` is False (the HDF5 flavour, whose Keras reader takes no loss names)."""
    # (a variable given: its value of now)
    weights = [None if spec.weight is None else float(spec.weight) for spec in model._output_specs]
    given_name = loss_name_as_given and isinstance(model.loss, str)
    return {
        "optimizer": optimizers_module.serialize(model.optimizer),
        "loss": model.loss if given_name else map_nested(losses_module.serialize, model._resolved_loss),
        "loss_weights": None if all(w is None for w in weights) else
        (weights if model._several_outputs else weights[0]),
        "metrics": map_nested(serialize_metric, model.metric_identifiers),
        "weighted_metrics": map_nested(serialize_metric, model.weighted_metric_identifiers),
        "jit_compile": model._jit_compile,  # as asked: "auto" resolves again for the backend that loads it
        "run_eagerly": getattr(model, "_compiled_run_eagerly", False),  # as compile was given it, as in Keras
        "steps_per_execution": int(model.steps_per_execution),
    }


def _users_function(name: str):
    """The function of the user's that a loss name is registered for ('demo>my_loss'), else the name."""
    found = custom_objects.lookup(name)
    return found if callable(found) and not isinstance(found, type) else name


def compile_from_config(model, config: dict) -> None:
    """``model.compile`` with a ``get_compile_config`` dict: new optimizer, loss and metric objects (Keras's
    ``compile_from_config``). Configs written before ``jit_compile`` and ``steps_per_execution`` were kept get
    compile's defaults for them."""
    model.compile(
        optimizer=optimizers_module.get(config["optimizer"]),
        # (a name compiles as given: model.loss is the name again, as in Keras; a function of the user's, by its
        # registered name, is the function again, as Keras deserializes it)
        loss=_users_function(config["loss"]) if isinstance(config["loss"], str)
        else map_nested(losses_module.as_loss, config["loss"]),
        loss_weights=config.get("loss_weights"),
        metrics=map_nested(deserialize_metric, config["metrics"]),
        weighted_metrics=map_nested(deserialize_metric, config.get("weighted_metrics") or []),
        jit_compile=config.get("jit_compile", "auto"),
        run_eagerly=bool(config.get("run_eagerly", False)),
        steps_per_execution=config.get("steps_per_execution", 1),
    )
