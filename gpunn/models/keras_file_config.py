"""Model and compile configurations in Keras's layouts, from gpunn's and back: for the ``.keras`` and ``.h5``
model files, and for ``Sequential.get_config`` / ``from_config`` / ``to_json`` (``keras_config.py``).

gpunn's layer, optimizer, loss and metric configs already use Keras's class and argument names (each layer's
``get_config``, ``optimizers.serialize``...), so most of the work is Keras's wrapping, in two flavours:

- native, the ``.keras`` format (keras/src/saving/serialization_lib.py ``serialize_keras_object``): every object
  is ``{"module", "class_name", "config", "registered_name"}``, dtypes are ``DTypePolicy`` objects, layers carry
  a ``build_config``, and the model's ``compile_config`` sits next to its config;
- legacy, the HDF5 format of tf.keras (keras/src/legacy/saving/legacy_h5_format.py, under
  ``use_legacy_config``): ``{"class_name", "config"}`` only, dtypes as names, and the input as an ``InputLayer``
  with ``batch_input_shape``, which tf.keras 2 and Keras 3 both read; the compile arguments go to a separate
  ``training_config`` with the optimizer under ``optimizer_config``.

Reading takes either flavour and tf.keras 2's variants (``batch_input_shape`` on the first layer, positive
``axis`` lists, ``Policy`` dtypes). Keras arguments gpunn has no counterpart for are dropped when they hold
the value that leaves them unused (``UNUSED_KERAS_ARGUMENTS``, e.g. ``activity_regularizer=None``), and refused
otherwise: gpunn would compute something else than the file's model. A class gpunn does not have is refused
by gpunn's own lookup, with the names it has.
"""
from __future__ import annotations

import contextlib
import contextvars
import inspect
import warnings

from .. import constraints, custom_objects, initializers, losses, metrics, optimizers, overrides, regularizers
from .. import layers as layers_module
from ..layers import operation, text_inputs, user_layer, wiring
from ..layers.base import keras_build_shape
from ..layers.operation import is_operation
from ..optimizers import legacy as legacy_optimizers, schedules
from . import keras_nested
from .compile_config import get_compile_config, map_nested
from .model_entries import held_in_files, owners, top_level

_ANY = object()

# Keras arguments without a gpunn counterpart, and the values that leave them unused (``_ANY``: those that only
# matter together with another argument, e.g. ``renorm_momentum`` without ``renorm``). The table is by argument
# name, for every kind of object; it is consulted only for arguments the gpunn class does not take.
UNUSED_KERAS_ARGUMENTS = {
    # layers (keras/src/layers/...)
    "activity_regularizer": (None,), "quantization_config": (None,),
    "lora_rank": (None,), "lora_alpha": _ANY, "synchronized": (False,), "renorm": (False,),
    "renorm_clipping": (None,), "renorm_momentum": _ANY, "virtual_batch_size": (None,), "adjustment": (None,),
    "fused": _ANY, "rms_scaling": (False,), "sparse": (False, None), "ragged": (False, None),
    "input_length": _ANY,  # tf.keras 2's Embedding: the sequence length, which the model's input shape holds
    "optional": (False,), "input_tensor": (None,), "autocast": _ANY,
    # initializers
    "input_axes": (None,), "output_axes": (None,),
    # losses and metrics (Keras computes them in a dtype of their own; gpunn's are float64 sums)
    "dtype": _ANY, "label_smoothing": (0,), "axis": (-1,), "ignore_class": (None,),
    # optimizers
    "use_ema": (False,), "ema_momentum": _ANY, "ema_overwrite_frequency": (None,), "loss_scale_factor": (None,),
    "is_legacy_optimizer": (False,), "jit_compile": _ANY,
    "decay": (0,),
}

# tf.keras 2's names of arguments Keras 3 renamed, per layer class, as Keras 3's constructors still take them.
_RENAMED_ARGUMENTS = {"LeakyReLU": {"alpha": "negative_slope"}}

# Where Keras finds each kind of object (the native flavour's "module").
_MODULES = {"layer": "keras.layers", "initializer": "keras.initializers", "regularizer": "keras.regularizers",
            "constraint": "keras.constraints",
            "optimizer": "keras.optimizers", "schedule": "keras.optimizers.schedules", "loss": "keras.losses",
            "metric": "keras.metrics", "distillation": "keras.distillation"}


def _classes(module, base) -> dict[str, type]:
    """The classes of ``module`` derived from ``base``, by lower-case class name: what gpunn can build."""
    return {obj.__name__.lower(): obj for obj in vars(module).values() if isinstance(obj, type) and issubclass(obj, base)}


def kind_of_module(module) -> str | None:
    """The kind of object Keras's ``module`` holds ("keras.layers": "layer"), None for another module."""
    return next((kind for kind, name in _MODULES.items() if name == module), None)


def registries() -> dict[str, dict[str, type]]:
    """gpunn's classes of each kind, by lower-case class name."""
    return _registries()


def _registries() -> dict[str, dict[str, type]]:
    # Made on each use: others add classes to these modules.
    return {
        "layer": {name.lower(): cls for name, cls in layers_module.LAYER_CLASSES.items()},
        "initializer": _classes(initializers, initializers.Initializer),
        "regularizer": _classes(regularizers, regularizers.Regularizer),
        "constraint": _classes(constraints, constraints.Constraint),
        "optimizer": _classes(optimizers, optimizers.Optimizer),
        "schedule": _classes(schedules, schedules.LearningRateSchedule),
        "loss": _classes(losses, losses.Loss),
        "metric": _classes(metrics, metrics.Metric),
    }


def _arguments(cls) -> set[str]:
    """The keyword arguments ``cls(...)`` takes, following ``**kwargs`` up the class hierarchy."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        parameters = inspect.signature(init).parameters.values()
        names |= {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self"}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return names


def _keep_supported(cls, config: dict, what: str) -> dict:
    accepted = _arguments(cls)
    kept = {}
    for key, value in config.items():
        if key in accepted:
            kept[key] = value
            continue
        unused = UNUSED_KERAS_ARGUMENTS.get(key)
        if unused is _ANY or (unused is not None and value in unused):
            continue
        if cls.__name__ == "Lambda" and key == "function_type":
            # tf.keras 2 stored every Lambda's function as Python bytecode, even a def's, which gpunn does not run
            raise ValueError(f"{what}: a Lambda whose function tf.keras 2 stored as Python bytecode "
                             f"(function_type={value!r}), which gpunn does not load; build the model in code (its "
                             "Lambda given the function) and load the file's weights into it with load_weights")
        raise ValueError(f"{what}: {key}={value!r} has no counterpart in gpunn's {cls.__name__}")
    return kept


def _object_kind(key: str) -> str | None:
    """The kind of object a layer argument holds, by Keras's naming ("kernel_initializer", "beta_constraint"...),
    or None for a plain value."""
    for kind in ("initializer", "regularizer", "constraint"):
        if key.endswith("_" + kind):
            return kind
    return None


# ---- from Keras --------------------------------------------------------------------------------------------


def _object_from_keras(value, kind: str, what: str):
    """A serialized Keras object (initializer, loss, optimizer...) as gpunn serializes it; names pass as they
    are (gpunn's ``get`` functions take Keras's names)."""
    if not isinstance(value, dict):
        return value
    class_name = value.get("class_name")
    if not isinstance(class_name, str):
        raise ValueError(f"{what}: {value!r} names no class")
    if class_name == "function":  # a Keras function (loss=keras.losses.mse): its name
        return value.get("config")
    registered = value.get("registered_name")
    class_name = class_name.removeprefix("Custom>")  # tf.keras 2.11+ wrote built-in optimizers this way
    config = {key: _array_entry_values(item) for key, item in (value.get("config") or {}).items()}
    builtins = _registries()[kind]
    cls = builtins.get(class_name.lower())
    users = custom_objects.user_class(value, None, builtins)
    if cls is not None and users in (None, cls):
        custom_objects.check_registered(value, what)
        config = _keep_supported(cls, config, f"{what} {class_name}")
    elif users is not None or (isinstance(registered, str) and registered != class_name):
        # a class of the user's, registered by name, or known by a name a built-in one has too (found first)
        return {"class_name": class_name, "config": config, "registered_name": registered or class_name}
    return {"class_name": class_name, "config": config}


def _array_entry_values(item):
    """A config value Keras wrote as an array entry (``{"class_name": "__tensor__" or "__numpy__", "config":
    {"value": [...], "dtype": ...}}``: AUC's label_weights) as its values; anything else as it is."""
    if isinstance(item, dict) and item.get("class_name") in ("__tensor__", "__numpy__"):
        return (item.get("config") or {}).get("value")
    return item


def object_from_keras(value: dict, kind: str):
    """gpunn's serialized object (optimizer, loss, initializer...) for a Keras one."""
    return _optimizer_from_keras(value) if kind == "optimizer" else _object_from_keras(value, kind, kind)


def dtype_name(value) -> str | None:
    """A Keras dtype entry ('float32', a DTypePolicy or tf.keras Policy object) as a dtype name."""
    name = (value.get("config") or {}).get("name") if isinstance(value, dict) else value
    if isinstance(name, str) and name.startswith("mixed_"):
        raise ValueError(f"dtype: the mixed-precision policy {name!r} has no gpunn counterpart; gpunn computes in "
                         "one floating dtype (float32 or float64)")
    return name


def _last_axis(config: dict, rank: int | None) -> dict:
    """BatchNormalization / LayerNormalization over the last axis, which Keras may write as [-1], or (tf.keras 2,
    after building) as the positive index [rank - 1]."""
    axis = config.get("axis", -1)
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise ValueError(f"axis: gpunn normalizes over the last axis only, the file's layer uses {axis!r}")
        axis = axis[0]
    if isinstance(axis, int) and axis >= 0 and rank is not None and axis == rank - 1:
        axis = -1
    return {**config, "axis": axis}


def _input_from_keras(config: dict) -> dict:
    config = dict(config)
    batch_shape = config.pop("batch_shape", None)
    legacy = config.pop("batch_input_shape", None)
    batch_shape = batch_shape if batch_shape is not None else legacy
    if batch_shape is not None:
        config["shape"] = list(batch_shape[1:])
        if batch_shape[0] is not None:
            config["batch_size"] = batch_shape[0]
    return config


def layer_from_keras(entry: dict) -> dict:
    """gpunn's serialized layer for one Keras serialized (``layers.serialize``, ``serialize_keras_object``)."""
    return _layer_from_keras(entry, None)[0]


def _layer_from_keras(entry: dict, rank: int | None) -> tuple[dict, int | None]:
    """(gpunn's serialized layer, the rank of its output) for a Keras layer entry whose input has ``rank``."""
    class_name = entry.get("class_name")
    classes = _registries()["layer"]
    cls = classes.get(str(class_name).lower())
    custom = custom_objects.user_class(entry, layers_module.Layer, classes)
    if custom is not None and custom is not cls:  # a layer class of the user's (found as load_model finds it)
        config = dict(entry.get("config") or {})
        if "dtype" in config:
            config["dtype"] = dtype_name(config["dtype"])
        config.pop("batch_input_shape", None)
        own = _arguments(custom)
        for key, value in list(config.items()):  # what Keras's Layer writes and gpunn's Layer does not take
            unused = UNUSED_KERAS_ARGUMENTS.get(key)
            if key not in own and (unused is _ANY or unused is not None and value in unused):
                del config[key]
        out = {"class_name": class_name, "config": config, "registered_name": entry.get("registered_name")}
        if entry.get("build_config") and overrides.user_definition(custom, "build_from_config") is not None:
            out["build_config"] = entry["build_config"]  # (for its own build_from_config, as Keras calls it)
        return out, None
    custom_objects.check_registered(entry, "layer class_name")
    if cls is None:
        if "module" in entry and not str(entry["module"] or "").startswith(("keras", "tf_keras", "tensorflow")):
            # a class of the program that wrote the file: Keras 3 writes its own with their module (tf.keras 2's
            # configs have no module, and may name a Keras layer gpunn lacks)
            raise custom_objects.missing("layer class_name", str(class_name), in_model=True)
        raise ValueError(
            f"layer class {class_name!r}: gpunn has no such layer (a layer class of the user's goes in "
            f"load_model(..., custom_objects={{name: class}})); it has {sorted(c.__name__ for c in classes.values())}")
    config = dict(entry.get("config") or {})
    what = f"layer {config.get('name', class_name)!r} ({class_name})"
    if "dtype" in config:
        config["dtype"] = dtype_name(config["dtype"])
    if cls.__name__ == "InputLayer":
        config = _input_from_keras(config)
    elif "batch_input_shape" in config:  # tf.keras 2: the first layer of a model built without an InputLayer
        config.setdefault("input_shape", list(config.pop("batch_input_shape")[1:]))
    for key, value in list(config.items()):
        kind = _object_kind(key)
        if kind is not None:
            config[key] = _object_from_keras(value, kind, f"{what} {key}")
    if "input_shape" in config or "shape" in config:
        rank = len(config["shape"] if config.get("shape") is not None else config["input_shape"]) + 1
    if cls.__name__ in ("BatchNormalization", "LayerNormalization"):
        config = _last_axis(config, rank)
    for old, new in _RENAMED_ARGUMENTS.get(cls.__name__, {}).items():
        if old in config and new not in config:
            config[new] = config.pop(old)
    config = _keep_supported(cls, config, what)
    if cls.__name__ == "Flatten":
        rank = 2
    elif cls.__name__ == "Embedding" and rank is not None:
        rank += 1
    elif cls.__name__ in ("GlobalAveragePooling1D", "GlobalMaxPooling1D"):
        rank = 3 if config.get("keepdims") else 2
    return {"class_name": cls.__name__, "config": config}, rank


def model_config_from_keras(config: dict, keras_version: str | None = None) -> dict:
    """gpunn's serialized Sequential ({"class_name", "config"}) for a Keras model config of either flavour (a
    functional model as its InputLayers and layers, marked ``"functional": True`` with their connections:
    ``functional_graph``; ``keras_version``: the Keras that wrote it, where known). A model of another class is
    returned with its class name, for the caller to refuse."""
    functional = config.get("class_name") in ("Functional", "Model")
    if config.get("class_name") != "Sequential" and not functional:
        return {"class_name": config.get("class_name"), "config": {}}
    _warn_of_renamed_meanings(config, keras_version)
    inner = functional_graph(config["config"], keras_version) if functional else config["config"]
    if isinstance(inner, list):  # Keras 1 and early Keras 2 wrote a Sequential's config as its layer list
        inner = {"layers": inner}
    build_input_shape = inner.get("build_input_shape")
    rank = len(build_input_shape) if build_input_shape else None
    sources, inputs, calls = inner.get("sources"), inner.get("inputs", 1), inner.get("calls")
    # the index of the layer each call runs (the inputs first), and each layer's first call
    layer_of_call = [inputs + c for c in calls] if calls is not None else None
    first_call = {} if calls is None else {layer: i for i, layer in reversed(list(enumerate(layer_of_call)))}
    layers, ranks = [], {}
    for i, entry in enumerate(inner["layers"]):
        if sources is not None and i >= inputs:  # a graph: the rank of what the layer reads (the inputs first)
            source = sources[first_call.get(i, i - inputs)][0]
            if source >= 0 and layer_of_call is not None:
                source = layer_of_call[source] - inputs
            rank = ranks[source + inputs] if source >= 0 else ranks[-1 - source]
        if keras_nested.is_model_entry(entry):
            # a model added to a Sequential or called as a layer: kept as Keras wrote it, made whole and added or
            # called (model_entries.py)
            layer, rank = entry, None
        else:
            layer, rank = _layer_from_keras(entry, rank)
        layers.append(layer)
        ranks[i] = rank
    out = {"name": inner.get("name"), "layers": layers}
    if inner.get("trainable") is not None:
        out["trainable"] = inner["trainable"]
    if inner.get("dtype") is not None:
        out["dtype"] = dtype_name(inner["dtype"])
    if build_input_shape:
        out["build_input_shape"] = list(build_input_shape)
    if inner.get("functional"):
        out["functional"] = True
        out["sources"] = sources
        out["modes"] = inner.get("modes")
        out["inputs"], out["input_keys"] = inputs, inner.get("input_keys")
        out["input_key_order"] = inner.get("input_key_order")
        out["outputs"], out["output_keys"] = inner.get("outputs"), inner.get("output_keys")
        out["calls"], out["nodes"] = calls, inner.get("nodes")
        out["call_keys"] = inner.get("call_keys")
        out["spread_calls"] = inner.get("spread_calls")
        out["gives_back"] = inner.get("gives_back")
    return {"class_name": "Sequential", "config": out}


def _single(value, what: str):
    """A Sequential model's one loss: Keras may write it as a list or dict of one."""
    if isinstance(value, dict) and "class_name" not in value and len(value) == 1:
        value = next(iter(value.values()))
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise ValueError(f"{what}: gpunn's Sequential has one output, the file's model has {len(value)} losses")
        value = value[0]
    return value


def _metrics_from_keras(value, one_output: bool = True):
    if value is None:
        return []
    if not one_output and isinstance(value, dict) and "class_name" not in value:  # by output name
        return {key: _metrics_from_keras(per_output) for key, per_output in value.items()}
    if not one_output and isinstance(value, (list, tuple)) and any(isinstance(m, (list, tuple)) for m in value):
        return [_metrics_from_keras(per_output) for per_output in value]  # one entry per output
    if isinstance(value, dict) and "class_name" not in value:  # by output name
        value = [m for per_output in value.values() for m in (per_output or [])]
    if isinstance(value, (list, tuple)) and len(value) == 1 and isinstance(value[0], (list, tuple)):
        value = value[0]  # one list per output, and one output
    return [_metric_from_keras(m) for m in (value if isinstance(value, (list, tuple)) else [value])]


def _metric_from_keras(value):
    # tf.keras 2 wrote every metric given by name or function as a MeanMetricWrapper of that function
    # ({"name": "accuracy", "fn": "sparse_categorical_accuracy"}): back to the name, which gpunn resolves as
    # tf.keras did ('accuracy' from the loss), or to the function's name.
    if isinstance(value, dict) and value.get("class_name") == "MeanMetricWrapper":
        config = dict(value.get("config") or {})
        name, function = config.get("name"), config.get("fn")
        if isinstance(function, dict) and function.get("class_name") == "function":  # Keras 3's form
            function = config["fn"] = function.get("config")
        extra = set(config) - {"name", "dtype", "fn"}
        if isinstance(function, str) and (extra or not metrics.registry.name_means_function(function)):
            # a function of the user's, or one given arguments: the wrapper itself, its function found by name
            return {"class_name": "MeanMetricWrapper", "config": config}
        if name in ("accuracy", "acc") or not isinstance(function, str) or _same_metric(name, function):
            return name  # (a short name, 'mae': logged under it, as tf.keras logged it)
        # tf.keras 2 named a metric of one of several outputs after the output ('cls_accuracy', 'reg_mae'): the
        # short name, which gpunn prefixes with the output's name again when it logs it
        short = _short_name_after_output(name, function)
        return function if short is None else short
    if isinstance(value, dict) and value.get("class_name") == "function":  # keras.metrics.mse, keras.losses.huber
        return {"class_name": "function", "config": value.get("config")}  # resolved as Keras resolves it
    return _object_from_keras(value, "metric", "metric")


def _short_name_after_output(name, function: str) -> str | None:
    """The metric name after an output's name in ``name`` ('accuracy' of 'cls_accuracy') that gives the metric of
    ``function``, or None."""
    if not isinstance(name, str):
        return None
    parts = name.split("_")
    for k in range(1, len(parts)):
        short = "_".join(parts[k:])
        if short in ("accuracy", "acc") or _same_metric(short, function):
            return short
    return None


def _same_metric(name, function: str) -> bool:
    """Whether the metric name ``name`` ('mae') gives the metric of the function ``function``
    ('mean_absolute_error')."""
    try:
        return isinstance(name, str) and type(metrics.get(name)) is type(metrics.get(function))
    except ValueError:
        return False


def _optimizer_from_keras(value):
    if isinstance(value, dict) and legacy_optimizers.is_legacy_config(value):  # Keras 2's: gpunn's legacy classes
        optimizer = {"module": legacy_optimizers.MODULE,
                     "class_name": str(value.get("class_name")).removeprefix("Custom>"),
                     "config": dict(value.get("config") or {})}
    else:
        optimizer = _object_from_keras(value, "optimizer", "optimizer")
    if isinstance(optimizer, dict) and isinstance(optimizer["config"].get("learning_rate"), dict):
        optimizer["config"]["learning_rate"] = _object_from_keras(
            optimizer["config"]["learning_rate"], "schedule", "learning_rate schedule")
    return optimizer


def compile_config_from_keras(config: dict, legacy: bool, outputs: int = 1) -> dict:
    """gpunn's compile config for Keras's ``compile_config`` (native) or ``training_config`` (legacy), for a
    model of ``outputs`` outputs."""
    loss = config.get("loss")
    one = outputs == 1
    return {
        # Keras's to_json() leaves the optimizer out; compile_from_config then compiles with compile's default
        "optimizer": _optimizer_from_keras(config["optimizer_config"] if legacy
                                           else config.get("optimizer", "rmsprop")),
        "loss": _object_from_keras(_single(loss, "loss"), "loss", "loss") if one else
        map_nested(lambda value: _object_from_keras(value, "loss", "loss"), loss),  # one loss, or one per output
        "loss_weights": config.get("loss_weights"),
        "metrics": _metrics_from_keras(config.get("metrics"), one),
        "weighted_metrics": _metrics_from_keras(config.get("weighted_metrics"), one),
        # Keras 3 keeps these in compile_config (tf.keras 2's training_config has neither); anything but a bool
        # reads as compile's default, "auto".
        "jit_compile": config.get("jit_compile") if isinstance(config.get("jit_compile"), bool) else "auto",
        "run_eagerly": config.get("run_eagerly") is True,
        "steps_per_execution": _positive_int_or_default(config.get("steps_per_execution")),
    }


def _positive_int_or_default(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else 1


# ---- to Keras ----------------------------------------------------------------------------------------------


def _wrap(value, kind: str, native: bool):
    """gpunn's serialized object in the flavour's layout."""
    if isinstance(value, dict) and value.get("class_name") == "function":
        # A function metric as Keras 3 writes it; in the HDF5 flavour its name where the name means the same metric
        # (as tf.keras wrote names), else Keras 3's form, which its HDF5 reader also takes
        if not native and metrics.registry.name_means_function(value["config"]):
            return value["config"]
        return {"module": "builtins", "class_name": "function", "config": value["config"],
                "registered_name": "function"}
    if not native and kind == "loss" and isinstance(value, dict) and value.get("class_name") == \
            "SparseCategoricalCrossentropy" and value.get("config", {}).get("axis") == -1:
        # tf.keras 2's SparseCategoricalCrossentropy takes no axis (its last one): left out where it is the default,
        # so that tf.keras 2 reads the file (Keras 3 reads it as -1)
        value = {**value, "config": {k: v for k, v in value["config"].items() if k != "axis"}}
    if not native or not isinstance(value, dict):
        return value
    config = value["config"]
    if kind == "metric" and value["class_name"] == "MeanMetricWrapper" and isinstance(config.get("fn"), str):
        # Keras's MeanMetricWrapper.from_config deserializes its function: a function entry, not a bare name
        config = {**config, "fn": _wrap({"class_name": "function", "config": config["fn"]}, kind, native)}
    # a class of the user's keeps its module and registered name (Keras finds it by them)
    return {"module": value.get("module", _MODULES[kind]), "class_name": value["class_name"],
            "config": config, "registered_name": value.get("registered_name")}


def _dtype(name: str, native: bool):
    if not native:
        return name
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}


def _input_to_keras(shape, batch_size, dtype: str, name: str, native: bool) -> dict:
    batch_shape = [batch_size] + list(shape)
    if native:
        return {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                "config": {"batch_shape": batch_shape, "dtype": dtype, "sparse": False, "name": name}}
    return {"class_name": "InputLayer",
            "config": {"batch_input_shape": batch_shape, "dtype": dtype, "sparse": False, "name": name}}


def class_entry(cls, kind: str, config) -> dict:
    """Keras's ``module``, ``class_name`` and ``registered_name`` of a class (serialization_lib.py
    ``serialize_keras_object``): gpunn's own under Keras's public module for its kind, with no registered name;
    the user's under its module (None for ``__main__``, as Keras writes it) and its registered name."""
    if cls.__module__.split(".")[0] == "gpunn":
        return {"module": _MODULES.get(kind, cls.__module__), "class_name": cls.__name__, "config": config, "registered_name": None}
    return custom_objects.user_class_entry(cls, config)


def layer_to_keras(layer) -> dict:
    """A standalone layer as Keras's ``serialize_keras_object`` writes it, in the dtype it computes in."""
    from ..layers.calling import compute_dtype

    return _layer_to_keras(layer, compute_dtype(layer), native=True)


def _layer_to_keras(layer, dtype: str, native: bool) -> dict:
    from ..serialization import serialize_keras_object

    config = dict(layer.get_config())
    config.pop("input_shape", None)  # Keras 3 declares the input with an InputLayer, written before
    # Every layer gets the model's dtype: a Keras layer computes in floatx (float32) unless told otherwise. A layer
    # naming the dtype Keras requires of it (Hashing: int64 in its "int" mode) gets that one.
    # (Keras's Pipeline writes its layers and name alone; Keras writes a user's get_config() that did not call
    # super().get_config() as it is: its __init__ may take no dtype)
    mine = type(layer).__module__.split(".")[0] == "gpunn"
    if getattr(layer, "keras_config_has_dtype", True) and (mine or "name" in config):
        config["dtype"] = _dtype(getattr(layer, "keras_file_dtype", None) or dtype,
                                 native and not getattr(layer, "keras_dtype_by_name", False))
    for key, value in config.items():
        kind = _object_kind(key)
        if kind is not None and (value is None or isinstance(value, (str, dict))):
            config[key] = _wrap(value, kind, native)
        elif key != "dtype" and not isinstance(value, dict):
            # a layer, regularizer... held by a layer of the user's: its config, as Keras writes it (gpunn's own
            # layers hold configs already)
            config[key] = serialize_keras_object(value)
    entry = class_entry(type(layer), "layer", config)
    if not native and entry["registered_name"] is None:  # tf.keras's HDF5 layout names gpunn's classes only
        entry = {"class_name": entry["class_name"], "config": config}
    own_build_config = overrides.user_definition(type(layer), "get_build_config") is not None
    if native and own_build_config and layer.built:
        # the layer's own (Keras's customizing-saving guide: the arguments of its build() beside the shape)
        built = layer.get_build_config()
        if built is not None:
            entry["build_config"] = {key: serialize_keras_object(value) for key, value in built.items()}
    elif native and layer.input_shape is not None and layer.has_weights:  # (an unbuilt sublayer has no specs yet)
        entry["build_config"] = {"input_shape": keras_build_shape(layer)}
    return entry


def _operation_to_keras(operation) -> dict:
    """A keras.ops operation of a functional model, as Keras writes one (in both flavours: Keras reads an
    operation by its module)."""
    return {"module": operation.keras_module, "class_name": operation.keras_class,
            "config": operation.keras_config(), "registered_name": operation.keras_class}


def built_input_shape(model) -> list | None:
    """The model's input shape without the batch dimension: built, declared, or None (not known yet)."""
    if model.built:
        return list(model.input_shape[1:])
    declared = model.declared_input_shape
    return None if declared is None else list(declared)


def sequential_config(model, native: bool = True) -> dict:
    """The ``config`` part of the model's Keras config (keras/src/models/sequential.py ``get_config``): name,
    trainable, dtype, the layers (an InputLayer first, once the input shape is known: Keras's ``Sequential.build``
    makes one) and ``build_input_shape``."""
    model._refuse_repeated_calls("get_config")
    dtype = model.dtype
    input_shape = built_input_shape(model)
    source = model._input_layer
    layers = []
    if source is not None:
        layers.append(_input_to_keras(source._sample_shape_with_variable_axes(), source.batch_size,
                                      source.input_dtype or dtype, source.name, native))
    elif input_shape is not None:  # (a Sequential started by a layer reading text takes strings)
        strings = text_inputs.first_reader(model) is not None
        layers.append(_input_to_keras(input_shape, None, "string" if strings else dtype,
                                      model._implied_input_name(), native))
    held = held_in_files(model)
    layers += [_held_model_to_keras(entry, native) if entry in held else _layer_to_keras(entry, dtype, native)
               for entry in top_level(model._layers, held)]
    return {
        "name": model.name,
        "trainable": model.trainable,
        "dtype": _dtype(dtype, native),
        "layers": layers,
        "build_input_shape": None if input_shape is None else [None] + input_shape,
    }


def _held_model_to_keras(model, native: bool) -> dict:
    """A model added to a Sequential or called as a layer, as Keras's configs hold it: its own serialized entry; in
    a ``.keras`` file (``held_models_as_written_by_keras``) a subclassed one as Keras writes it, its class and
    ``get_config()``, whose weights the file keeps under its attributes."""
    from .keras_attribute_paths import is_subclassed

    if native and _HELD_AS_KERAS.get() and is_subclassed(model):
        from . import subclassed_config

        return subclassed_config.model_entry(model, None)
    return keras_model_config(model, native, include_compile=False)


_HELD_AS_KERAS = contextvars.ContextVar("held_models_as_written_by_keras", default=False)  # (per thread)


@contextlib.contextmanager
def held_models_as_written_by_keras():
    """While a ``.keras`` file's config is written: a subclassed model held by the model as its class (gpunn's own
    configs, ``get_config`` and ``to_json``, hold its traced graph, which loads without the class)."""
    token = _HELD_AS_KERAS.set(True)
    try:
        yield
    finally:
        _HELD_AS_KERAS.reset(token)


# Layers whose Keras call() defaults to training=False. Keras up to 3.15 recorded that default in the call's node
# (``"kwargs": {"training": false}``) for every plain call, so in a config from such a Keras (or of no known
# version: a config or JSON string) it does not say that the script fixed the mode: it is read as a plain call.
# Keras 3.16 records only what the script passed. gpunn marks the calls it did fix (``FIXED_MARK`` in the node,
# which Keras ignores), so that its own configs and files keep them.
TRAINING_FALSE_BY_DEFAULT = {"Dropout", "AlphaDropout", "GaussianDropout", "GaussianNoise", "SpatialDropout1D"}
# And those whose call() defaults to training=True (the image preprocessing layers: a random one transforms when
# called on its own), recorded as ``"training": true`` the same way.
TRAINING_TRUE_BY_DEFAULT = {name for name, cls in layers_module.LAYER_CLASSES.items()
                            if getattr(cls, "training_by_default", False)}
FIXED_MARK = "gpunn_fixed_training"


def functional_config(model, native: bool = True) -> dict:
    """The ``config`` of a functional model as Keras's ``Functional.get_config`` writes it: every layer, in
    Keras's order, with its ``name`` and the ``inbound_nodes`` of its one call (the Keras tensors it read: one, or
    a merge layer's list), the InputLayers among them, and the ``input_layers`` (one, or a list or dict of them)
    and ``output_layers`` it runs between. A ``training`` fixed in a call is in its node's ``kwargs``."""
    dtype = model.dtype
    names, shapes, dtypes, entries = {}, {}, {}, {}  # names: by source index, (layer name, node index)
    for k, source in enumerate(model.inputs):
        key = wiring.input_source(k)
        names[key], dtypes[key] = (source.name, 0), source.input_dtype or dtype
        shapes[key] = [source.batch_size] + list(source._sample_shape_with_variable_axes())
        entry = _input_to_keras(source._sample_shape_with_variable_axes(), source.batch_size, dtypes[key],
                                source.name, native)
        entries[id(source)] = {**entry, "name": source.name, "inbound_nodes": []}
    calls = model._calls
    sources = model._sources or wiring.chain(len(calls))
    modes = model._modes_in_fit(warn=False) or (None,) * len(calls)
    held = held_in_files(model)
    owner = owners(held)  # a held model is one entry, called on what its layers read from outside it
    nodes: dict = {}  # per layer, its calls' nodes by node index (a shared layer has several)
    for i, (call, node_index) in enumerate(zip(calls, model._nodes)):
        layer = wiring.layer_of(call)
        inside = owner.get(id(layer))  # (a held model's layer reading another of its layers reads inside it)
        reads = [s for s in sources[i] if inside is None or wiring.is_model_input(s)
                 or owner.get(id(wiring.layer_of(calls[s]))) is not inside]
        tensors = [{"class_name": "__keras_tensor__",
                    "config": {"shape": shapes[s], "dtype": dtypes.get(s, dtype),
                               "keras_history": [names[s][0], names[s][1], 0]}}
                   for s in reads]
        if inside is not None:
            _held_model_call(inside, tensors, model, entries, nodes, native)
            names[i], shapes[i] = (inside.name, 0), [None] + list(layer.output_shape)
            continue
        if is_operation(layer):  # keras.ops on symbolic values: the call's constants with its tensors
            node = layer.keras_node(tensors)
        else:
            # a list for a layer taking one (a merge layer's); each its own argument for a layer of the user's whose
            # call() takes several (``layer(targets, logits)``)
            args = [user_layer.as_called(layer, tensors)] if wiring.takes_list(layer) and not \
                user_layer.spreads_inputs(layer) else tensors
            node = {"args": args, "kwargs": {} if modes[i] is None else {"training": modes[i]}}
        if _records_default(modes[i], type(layer).__name__):
            node[FIXED_MARK] = True
        nodes.setdefault(id(layer), {})[node_index] = node
        if id(layer) not in entries:
            entry = _operation_to_keras(layer) if is_operation(layer) else _layer_to_keras(layer, dtype, native)
            entries[id(layer)] = {**entry, "name": layer.name}
        names[i], shapes[i] = (layer.name, node_index), [None] + list(layer.output_shape)
    for layer_id, by_index in nodes.items():
        entries[layer_id]["inbound_nodes"] = [by_index[k] for k in sorted(by_index)]
    structure = getattr(model, "_input_structure", None)
    if len(model.inputs) == 1:
        input_layers = [model.inputs[0].name, 0, 0]
    elif isinstance(structure, dict):
        input_layers = {str(key): [value.name, 0, 0] for key, value in structure.items()}
    else:
        input_layers = [[source.name, 0, 0] for source in model.inputs]
    # an input given back as an output is written as Keras writes it: the InputLayer itself, without the Identity
    # layer that gpunn's graph gives it (``functional._output_list``)
    given_back = {id(layer): layer._gives_back for layer in model._keras_layers if hasattr(layer, "_gives_back")}
    ends = [[given_back[id(wiring.layer_of(calls[i]))].name, 0, 0] if id(wiring.layer_of(calls[i])) in given_back
            else [names[i][0], names[i][1], 0] for i in model._output_layer_indices()]
    if model._output_keys is not None:
        output_layers = {key: end for key, end in zip(model._output_keys, ends)}
    elif not model._several_outputs:
        output_layers = ends[0]
    else:
        output_layers = ends
    return {"name": model.name, "trainable": model.trainable,
            "layers": [entries[id(l)] for l in top_level(model._keras_layers, held) if id(l) not in given_back],
            "input_layers": input_layers, "output_layers": output_layers}


def _held_model_call(held, tensors: list, model, entries: dict, nodes: dict, native: bool) -> None:
    """The entry of a model called as a layer, made at its first layer's call: its node reads what that layer
    reads (the tensors of its later layers' outside reads are the same one: a held model takes one input)."""
    if id(held) in entries:
        return
    training = model.__dict__.get("_held_training", {}).get(id(held))
    entries[id(held)] = {**_held_model_to_keras(held, native), "name": held.name}
    nodes[id(held)] = {0: {"args": tensors[:1], "kwargs": {} if training is None else {"training": training}}}


def _endpoint_names(value, argument: str) -> tuple[list, list | None]:
    """(the layer names, the dict keys or None) of ``input_layers`` / ``output_layers``: Keras 3 writes one as
    ``[name, 0, 0]``, several as a list of those or a dict of them; tf.keras 2 always a list."""
    calls, keys = _endpoint_calls(value, argument)
    return [name for name, _ in calls], keys


def _endpoint_calls(value, argument: str) -> tuple[list, list | None]:
    """(the (layer name, node index) of each endpoint, the dict keys or None)."""
    if isinstance(value, dict):
        keys = sorted(value)
        return [_endpoint_calls(value[key], argument)[0][0] for key in keys], [str(key) for key in keys]
    if isinstance(value, list) and value and isinstance(value[0], str):
        return [(value[0], int(value[1]) if len(value) > 1 else 0)], None
    if isinstance(value, list) and value and all(isinstance(item, list) for item in value):
        return [_endpoint_calls(item, argument)[0][0] for item in value], None
    raise ValueError(f"{argument}: expected [name, 0, 0] or a list or dict of them, got {value!r}")


def _written_by_keras_2(keras_version: str | None) -> bool:
    try:
        return int(str(keras_version).split(".")[0]) < 3
    except ValueError:
        return False


def _warn_of_renamed_meanings(config: dict, keras_version: str | None) -> None:
    """A warning where a tf.keras 2 file names an activation whose formula Keras 3 changed under the same name:
    its model then predicts otherwise than it did (under Keras 3 as under gpunn), and nothing else would say so."""
    if not _written_by_keras_2(keras_version):
        return
    found: set = set()

    def visit(value) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "activation" and item == "hard_sigmoid":
                    found.add(value.get("name", "?"))
                visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    visit(config)
    if found:
        warnings.warn(
            f"layer(s) {sorted(found)}: this file, written by Keras {keras_version}, uses 'hard_sigmoid', which "
            "tf.keras 2 computes as clip(0.2 * x + 0.5, 0, 1) and Keras 3 (and gpunn) as clip(x / 6 + 0.5, 0, 1): "
            "the loaded model predicts otherwise than where it was saved, as under Keras 3", stacklevel=4)


def _records_training_default(keras_version: str | None) -> bool:
    """Whether the Keras that wrote a config recorded Dropout's ``training=False`` default in every call
    (releases before 3.16, and an unknown one)."""
    try:
        return tuple(int(part) for part in str(keras_version).split(".")[:2]) < (3, 16)
    except ValueError:
        return True


_MODEL_CLASSES = ("Sequential", "Functional", "Model")


def _nested_model_nodes(entries: dict, reads: dict, outputs: list) -> tuple:
    """(``reads``, ``outputs``) with tf.keras 2's node indices of a model held as a layer made Keras 3's: a model
    made on an Input of its own has that first node in the live graph, which tf.keras 2's config leaves out of its
    ``inbound_nodes`` while the calls reading it still count it (``['inner', 1, 0, {}]`` for its one call)."""
    shifted = set()
    for name, entry in entries.items():
        count = len(entry.get("inbound_nodes") or [])
        referenced = {node for parents in reads.values() for parent, node in parents if parent == name}
        referenced |= {node for parent, node in outputs if parent == name}
        if (entry.get("class_name") in _MODEL_CLASSES and count and referenced and min(referenced) >= 1
                and max(referenced) == count):
            shifted.add(name)
    if not shifted:
        return reads, outputs

    def fix(call):
        return (call[0], call[1] - 1) if call[0] in shifted else call

    return ({call: [fix(parent) for parent in parents] for call, parents in reads.items()},
            [fix(call) for call in outputs])


def functional_graph(config: dict, keras_version: str | None = None) -> dict:
    """A Keras functional config (``Functional.get_config``, Keras 3's or tf.keras 2's) as gpunn's: the InputLayers
    (``"inputs"`` of them, and ``"input_keys"`` when they were a dict), then the layers from them to the outputs,
    in the order of their first calls, each call after those it reads, with ``"functional": True`` and
    ``"sources"``: per call, the indices (among the calls; ``-1 - k``: input k) of the calls it reads
    (``layers/wiring.py``), None for a chain; ``"modes"``: per call the ``training`` it fixed, None when none did;
    ``"outputs"`` / ``"output_keys"``: the calls making the outputs and their dict keys; for a shared layer,
    ``"calls"`` (per call, its layer among those after the InputLayers) and ``"nodes"`` (per call, its Keras node
    index). What gpunn's functional models cannot be is refused by name."""
    def inbound(entry, node, with_nodes=False):
        return _resolved_inbound(entry, node, keras_version, with_nodes)

    config = _without_recorded_masks(config)
    keras_nested.check_called_once(config)
    entries = {entry.get("name") or entry["config"].get("name"): entry for entry in config["layers"]}
    inputs, input_keys = _endpoint_names(config["input_layers"], "input_layers")
    outputs, output_keys = _endpoint_calls(config["output_layers"], "output_layers")
    several = len(outputs) > 1
    reads, fixed = {}, {}  # by call, (layer name, node index): the calls it reads, the training it fixed
    for name, entry in entries.items():
        for node_index, node in enumerate(entry.get("inbound_nodes") or []):
            reads[name, node_index], fixed[name, node_index] = inbound(entry, node, True)
    reads, outputs = _nested_model_nodes(entries, reads, outputs)
    order, placed = [], {(name, 0) for name in inputs}  # every call after those it reads (walks from the outputs)

    def place(call, path=()):
        if call in placed:
            return
        if call in path:
            raise ValueError(f"layer {call[0]!r}: its inbound nodes form a cycle")
        if call not in reads:
            raise ValueError(f"layer {call[0]!r}: not called on the inputs {inputs}" if call[1] == 0 else
                             f"layer {call[0]!r}: has no call {call[1]}")
        for parent in reads[call]:
            place(parent, path + (call,))
        placed.add(call)
        order.append(call)

    gives_back = _given_back_inputs(entries, reads, fixed, inputs, outputs)
    for output in outputs:
        place(output)
    index = {(name, 0): wiring.input_source(k) for k, name in enumerate(inputs)}
    index.update({call: i for i, call in enumerate(order)})
    sources = tuple(tuple(index[parent] for parent in reads[call]) for call in order)
    # the keys of a layer called on a dict of tensors (Keras's node {"args": [{key: tensor}]})
    call_keys = {name: [str(key) for key in entry["inbound_nodes"][0]["args"][0]]
                 for name, entry in entries.items() if _called_on_dict(entry)}
    # a layer of the user's called on several tensors as arguments (``Pair()(a, b)``: {"args": [a, b]})
    spread = [name for name, entry in entries.items() if _called_with_several_arguments(entry)]
    names = list(dict.fromkeys(name for name, _ in order))  # each layer once, in the order of its first call
    layers = [_entry_without_nodes(entries[name]) for name in inputs + names]
    modes = [fixed[call] for call in order]
    shared = len(names) < len(order)
    return {"name": config.get("name"), "trainable": config.get("trainable", True), "layers": layers,
            "functional": True, "inputs": len(inputs), "input_keys": input_keys,
            # a dict of inputs in its written order, which a list given for it is checked against (packed_inputs.py)
            "input_key_order": [str(key) for key in config["input_layers"]] if input_keys else None,
            "sources": None if wiring.is_chain(sources) and not several and not shared else [list(s) for s in sources],
            "modes": None if all(mode is None for mode in modes) else modes,
            "outputs": [index[call] for call in outputs] if several or output_keys else None,
            "output_keys": output_keys,
            # a shared layer's calls: per call, its layer (among those after the InputLayers) and node index
            "calls": [names.index(name) for name, _ in order] if shared else None,
            "nodes": [node for _, node in order] if shared else None, "call_keys": call_keys or None,
            "spread_calls": spread or None, "gives_back": gives_back or None}


def _given_back_inputs(entries: dict, reads: dict, fixed: dict, inputs: list, outputs: list) -> dict:
    """An output that is an input (Keras's ``keras.Model(inp, [inp, out])``, a feature extractor of
    ``[layer.output for layer in model.layers]``) read through an Identity layer, as ``keras.Model`` makes it in
    gpunn (``functional._output_list``): its entry, its call, the output renamed to it. Identity name -> the
    input's name."""
    gives_back = {}
    for k, (name, node) in enumerate(outputs):
        if name not in inputs:
            continue
        identity, suffix = f"{name}_given_back", 1
        while identity in entries:
            identity, suffix = f"{name}_given_back_{suffix}", suffix + 1
        entries[identity] = {"class_name": "Identity", "config": {"name": identity}, "name": identity,
                             "inbound_nodes": []}
        reads[identity, 0], fixed[identity, 0] = [(name, node)], None
        outputs[k], gives_back[identity] = (identity, 0), name
    return gives_back


def _called_with_several_arguments(entry: dict) -> bool:
    if operation.is_keras_operation(entry):
        return False
    nodes = entry.get("inbound_nodes") or []
    args = nodes[0].get("args") if nodes and isinstance(nodes[0], dict) else None
    return bool(args) and len(args) > 1 and all(
        isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__" for arg in args)


def _called_on_dict(entry: dict) -> bool:
    nodes = entry.get("inbound_nodes") or []
    args = nodes[0].get("args") if nodes and isinstance(nodes[0], dict) else None
    return bool(args) and len(args) == 1 and isinstance(args[0], dict) and \
        args[0].get("class_name") != "__keras_tensor__"


def _entry_without_nodes(entry: dict) -> dict:
    """A layer entry of a functional config, as a Sequential's config holds it; a keras.ops operation as gpunn's
    Operation, with the constants of its one call."""
    if operation.is_keras_operation(entry):
        # Keras calls an operation once; gpunn's model calling another model twice calls its operations twice,
        # with the same constants each time (a shared layer's calls)
        calls = [operation.from_keras(entry, node) for node in entry.get("inbound_nodes") or []]
        if not calls or any(call != calls[0] for call in calls):
            raise ValueError(f"operation {entry.get('name')!r}: called {len(calls)} times"
                             + (", with other arguments each time" if calls else ""))
        return calls[0]
    return {key: value for key, value in entry.items() if key not in ("inbound_nodes", "name")}


def _resolved_inbound(entry: dict, node, keras_version, with_nodes: bool = False) -> tuple[list, bool | None]:
    """``_inbound`` of a layer entry's node, a Dropout's ``training=False`` or a RandomFlip's ``training=True``
    that Keras recorded as its default (``TRAINING_FALSE_BY_DEFAULT``, ``TRAINING_TRUE_BY_DEFAULT``) read as no
    fixed mode."""
    name = entry.get("name") or entry["config"].get("name")
    if operation.is_keras_operation(entry):  # its tensors among the constants of its arguments
        histories = [tensor["config"]["keras_history"] for tensor in operation.keras_tensors_of(node)]
        _check_histories(name, histories, with_nodes)
        return [(h[0], int(h[1])) if with_nodes else h[0] for h in histories], None
    arguments = node.get("args") or [] if isinstance(node, dict) else []
    if len(arguments) > 1 and str(entry.get("class_name")).lower() in _registries()["layer"]:
        raise ValueError(f"layer {name!r}: called on {len(arguments)} arguments; gpunn's layers are called on one "
                         "input or one list of inputs (only a layer of the user's takes several arguments)")
    parents, training = _inbound(name, node, with_nodes)
    if _records_default(training, entry.get("class_name")) and not (
            isinstance(node, dict) and node.get(FIXED_MARK)) and _records_training_default(keras_version):
        training = None  # Keras's recorded default, not a mode the script fixed
    return parents, training


def _without_recorded_masks(config: dict) -> dict:
    """``config`` without the padding masks Keras 3 records in its call nodes (``"kwargs": {"mask": tensor}``, the
    tensor an operation of the graph: ``NotEqual(ids, 0)`` for ``Embedding(mask_zero=True)``, ``Any(NotEqual(x,
    mask_value))`` for ``Masking``), which gpunn's layers make again themselves (``layers/masking.py``). A mask
    computed otherwise (given by the script) is refused by name: gpunn would not apply it."""
    entries = {entry.get("name") or entry["config"].get("name"): entry for entry in config.get("layers", [])}
    makers = {}  # the tensor (its history) a layer making masks reads, and the value it compares with
    for entry in entries.values():
        inner = entry.get("config", {})
        node = (entry.get("inbound_nodes") or [None])[0]
        if isinstance(node, dict) and node.get("args") and isinstance(node["args"][0], dict):
            history = node["args"][0].get("config", {}).get("keras_history")
            if entry.get("class_name") == "Embedding" and inner.get("mask_zero"):
                makers[tuple(history[:1])] = 0
            elif entry.get("class_name") == "Masking":
                makers[tuple(history[:1])] = inner.get("mask_value", 0.0)

    def recorded(tensor) -> bool:
        name = (tensor.get("config", {}).get("keras_history") or [None])[0]
        entry = entries.get(name)
        node = (entry or {}).get("inbound_nodes") or [None]
        if entry is None or not isinstance(node[0], dict):
            return False
        args = node[0].get("args") or []
        if entry.get("class_name") == "Any" and args and isinstance(args[0], dict):
            return recorded(args[0])
        if entry.get("class_name") == "NotEqual" and len(args) == 2 and isinstance(args[0], dict):
            reads = tuple(args[0].get("config", {}).get("keras_history", [])[:1])
            return reads in makers and args[1] == makers[reads]
        return False

    found = False
    layers = []
    for entry in config.get("layers", []):
        nodes = []
        for node in entry.get("inbound_nodes") or []:
            mask = node.get("kwargs", {}).get("mask") if isinstance(node, dict) else None
            if isinstance(mask, dict) and mask.get("class_name") == "__keras_tensor__":
                if not recorded(mask):
                    raise ValueError(f"layer {entry.get('name')!r}: called with a mask the script gave it "
                                     f"({mask['config'].get('keras_history')}), which gpunn's functional models do "
                                     "not take: their masks come from Embedding(mask_zero=True) and Masking")
                node = {**node, "kwargs": {k: v for k, v in node["kwargs"].items() if k != "mask"}}
                found = True
            nodes.append(node)
        layers.append({**entry, "inbound_nodes": nodes} if "inbound_nodes" in entry else entry)
    return {**config, "layers": layers} if found else config


def _records_default(training, class_name) -> bool:
    """Whether ``training`` is the default of the call() of the layer class ``class_name``, which Keras up to 3.15
    wrote in the call's node."""
    return (training is False and class_name in TRAINING_FALSE_BY_DEFAULT) or (
        training is True and class_name in TRAINING_TRUE_BY_DEFAULT)


def _inbound(name: str, node, with_nodes: bool = False) -> tuple[list, bool | None]:
    """(the layers a call node reads from, the ``training`` the call fixed or None): Keras 3's ``{"args": [keras
    tensor] or [[keras tensors]], "kwargs"}`` or tf.keras 2's ``[[parent, 0, 0, kwargs], ...]``. ``with_nodes``:
    each parent as (layer name, node index), the call of a shared layer it reads; else its name, and only first
    calls are read."""
    if isinstance(node, dict):
        args = node.get("args") or []
        if len(args) == 1 and isinstance(args[0], dict) and args[0].get("class_name") != "__keras_tensor__":
            args = [list(args[0].values())]  # a dict of tensors (a layer of the user's called on a dict: call_keys)
        flat = args[0] if len(args) == 1 and isinstance(args[0], list) else args
        tensors = [a for a in flat if isinstance(a, dict) and a.get("class_name") == "__keras_tensor__"]
        if not tensors or len(tensors) != len(flat):
            raise ValueError(f"layer {name!r}: called on {len(args)} arguments, not all tensors; gpunn's functional "
                             "models call layers on tensors: one, a list of them, or several (a layer of the "
                             "user's taking them as arguments)")
        training = _call_training(name, node.get("kwargs"))
        histories = [tensor["config"]["keras_history"] for tensor in tensors]
    elif isinstance(node, list) and node and all(isinstance(t, list) for t in node):
        trainings = {_call_training(name, tensor[3] if len(tensor) > 3 else None) for tensor in node}
        training = trainings.pop() if len(trainings) == 1 else None
        histories = [tensor[:3] for tensor in node]
    else:
        raise ValueError(f"layer {name!r}: an inbound node gpunn cannot read ({node!r})")
    _check_histories(name, histories, with_nodes)
    if with_nodes:
        return [(history[0], int(history[1])) for history in histories], training
    return [history[0] for history in histories], training


def _check_histories(name: str, histories: list, with_nodes: bool) -> None:
    for history in histories:
        if list(history[2:3]) != [0] or (not with_nodes and history[1] != 0):
            raise ValueError(f"layer {name!r}: reads output {list(history[1:3])} of layer {history[0]!r}; gpunn's "
                             "layers have one output" + ("" if with_nodes else ", and a model called inside "
                                                         "another calls each of its layers once"))


def _call_training(name: str, kwargs) -> bool | None:
    """The ``training`` a call node's kwargs fix (None: none); other keyword arguments are refused by name."""
    kwargs = {k: v for k, v in (kwargs or {}).items() if v is not None}
    training = kwargs.pop("training", None)
    if kwargs or not (training is None or isinstance(training, bool)):
        raise ValueError(f"layer {name!r}: called with {kwargs or {'training': training}}, which gpunn's functional "
                         "models do not take")
    return training


def keras_model_config(model, native: bool, include_compile: bool = True) -> dict:
    """The model's serialized config as Keras writes it (``serialize_keras_object`` for the native flavour,
    with the ``compile_config`` of a compiled model unless ``include_compile`` is False)."""
    functional = getattr(model, "is_functional", False)
    config = functional_config(model, native) if functional else sequential_config(model, native)
    class_name = "Functional" if functional else "Sequential"
    if not native:
        return {"class_name": class_name, "config": config}
    out = {"module": "keras", "class_name": class_name, "config": config, "registered_name": None}
    if functional:
        out["module"] = "keras.src.models.functional"
        out["build_config"] = {"input_shape": None}
    elif config["build_input_shape"] is not None:
        out["build_config"] = {"input_shape": config["build_input_shape"]}
    if include_compile and model.compiled:
        out["compile_config"] = keras_compile_config(model, native=True)
    return out


def keras_compile_config(model, native: bool) -> dict:
    """A compiled model's ``compile_config`` (native) or ``training_config`` (legacy)."""
    config = get_compile_config(model, loss_name_as_given=native)
    optimizer = dict(config["optimizer"])
    optimizer["config"] = dict(optimizer["config"])
    schedule = optimizer["config"].get("learning_rate")
    if isinstance(schedule, dict):
        schedule = {**schedule, "config": dict(schedule["config"])}
        if schedule["config"].get("name", "") is None:  # Keras takes its default name, never None
            del schedule["config"]["name"]
        # in both flavours: Keras 3's optimizer config holds its schedule whole (module and registered name),
        # in .h5 files too, and its Optimizer.from_config finds the class by them
        optimizer["config"]["learning_rate"] = _wrap(schedule, "schedule", True)
    loss = map_nested(lambda value: _wrap(value, "loss", native), config["loss"])
    metric_list = map_nested(lambda value: _wrap(value, "metric", native), config["metrics"])
    weighted = map_nested(lambda value: _wrap(value, "metric", native), config["weighted_metrics"]) or None
    weights = config["loss_weights"]
    if native:
        return {"optimizer": _wrap(optimizer, "optimizer", native), "loss": loss, "loss_weights": weights,
                "metrics": metric_list, "weighted_metrics": weighted,
                "run_eagerly": bool(config.get("run_eagerly", False)),
                "steps_per_execution": config["steps_per_execution"], "jit_compile": config["jit_compile"]}
    return {"loss": loss, "metrics": metric_list, "weighted_metrics": weighted, "loss_weights": weights,
            "optimizer_config": optimizer}
