"""``model.get_config()`` / ``Sequential.from_config`` / ``model.to_json()`` / ``model_from_json`` in Keras 3's
layout.

Followed: keras/src/models/sequential.py (``get_config``, ``from_config``), keras/src/models/model.py
(``to_json``, ``model_from_json``), keras/src/saving/serialization_lib.py (``serialize_keras_object``,
``deserialize_keras_object``: a ``build_config`` builds the model, a ``compile_config`` compiles it).

- ``get_config()``: ``{"name", "trainable", "dtype": <DTypePolicy>, "layers": [{"module": "keras.layers",
  "class_name", "config", "registered_name", "build_config"}, ...], "build_input_shape"}``.
- ``to_json()``: ``{"module": "keras", "class_name": "Sequential", "config": <get_config()>, "registered_name",
  "build_config", "compile_config"}`` (the last when compiled), as ``serialize_keras_object`` writes it.

The translation to and from Keras's layouts is ``keras_file_config.py``'s, shared with the ``.keras`` and
``.h5`` files. Reading takes Keras 3's layout, tf.keras 2's and the one gpunn's own model files held before
(layers as ``{"class_name", "config"}`` with gpunn's configs), so those files still load.
"""
from __future__ import annotations

import json

from .. import layers as layers_module
from .. import constraints, initializers, losses, metrics, regularizers
from ..layers import variable_paths
from ..optimizers import schedules
from . import keras_file_config, keras_nested, subclassed_config
from .compile_config import compile_from_config

__all__ = ["sequential_config", "sequential_from_config", "model_to_json", "model_from_json_string",
           "check_custom_objects"]


def check_custom_objects(custom_objects) -> None:
    """Keras's ``custom_objects`` ({name: class or function}): the user's loss and metric functions, and their
    Loss, Metric and Layer classes, are what a file may name beyond gpunn's own (``gpunn/custom_objects.py``).
    Any other class of the user's (an optimizer) would be silently ignored, since gpunn builds only its own; it
    is refused by name instead. Entries naming gpunn's own objects (as scripts written for tf.keras pass built-in
    classes) change nothing and are accepted."""
    if custom_objects is None:
        return
    if not isinstance(custom_objects, dict):
        raise TypeError(f"custom_objects: expected a dict {{name: class or function}} or None, got "
                        f"{type(custom_objects).__name__}")
    from .sequential import Sequential  # (it imports this module)

    def usable(obj) -> bool:
        if str(getattr(obj, "__module__", "")).split(".")[0] == "gpunn":
            return True
        if isinstance(obj, type):  # (a model's class: its file holds its graph, loaded as a functional model)
            return issubclass(obj, (losses.Loss, metrics.Metric, layers_module.Layer, regularizers.Regularizer,
                                    constraints.Constraint, initializers.Initializer, schedules.LearningRateSchedule,
                                    Sequential))
        return callable(obj)  # a loss or metric function

    foreign = sorted(name for name, obj in custom_objects.items() if not usable(obj))
    if foreign:
        raise ValueError(f"custom_objects: gpunn takes the user's functions and Loss / Metric / Layer / Model / "
                         f"Initializer / Regularizer / Constraint / LearningRateSchedule classes; it cannot build "
                         f"{foreign} (classes of other kinds, such as optimizers). Leave them out, or use gpunn's "
                         "built-in equivalents")


def sequential_config(model) -> dict:
    """``model.get_config()`` in Keras 3's layout (a functional model's as ``Functional.get_config`` writes it)."""
    if getattr(model, "is_functional", False):
        return keras_file_config.functional_config(model, native=True)
    return keras_file_config.sequential_config(model, native=True)


def sequential_from_config(cls, config: dict, build_config: dict | None = None):
    """A new model of class ``cls`` from a Sequential config of any layout (see the module docstring); built
    when the config (or ``build_config``, to_json's) records the input shape."""
    if not isinstance(config, dict):  # (a dict without "layers" is a KeyError, which load_model names)
        raise ValueError("config: a Sequential config must be a dict with a 'name' and a 'layers' list (as "
                         f"model.get_config() returns), got {str(config)[:200]}")
    class_name = "Functional" if "input_layers" in config else "Sequential"
    translated = keras_file_config.model_config_from_keras({"class_name": class_name, "config": config})["config"]
    extras = {key: value for key, value in config.items() if key not in subclassed_config.GRAPH_CONFIG_KEYS}
    return model_from_translated(cls, translated, build_config, extras=extras)


def _subclassed_model(entry: dict, taken: list):
    """A keras.Model subclass held by a functional model, made again from its class and config and built for the
    entry's input shape, as Keras's ``deserialize_keras_object`` and ``build_from_config`` do; the layers it makes
    are named apart from the ``taken`` names of the config's layers."""
    from ..naming import pass_over
    from .subclassed_config import model_class

    pass_over(taken)
    model = model_class(entry).from_config(dict(entry.get("config") or {}))
    shape = (entry.get("build_config") or {}).get("input_shape")
    if shape is not None:
        model.build(shape)
    return model


def layers_of(translated: dict) -> list:
    """The layers of a translated config, made anew. Keras writes the model's dtype on every layer; gpunn records
    it once, on the model, and a layer keeps a dtype of its own only when it declares another (so a config read
    back equals the one written)."""
    from .sequential import Sequential

    model_dtype = translated.get("dtype")
    made = []
    for entry in translated["layers"]:
        if entry["class_name"] in keras_nested.MODEL_CLASSES:  # a model added to a Sequential
            made.append(sequential_from_config(Sequential, entry["config"], entry.get("build_config")))
            continue
        if keras_nested.is_model_entry(entry):  # a subclassed model called as a layer, as Keras writes it
            made.append(_subclassed_model(entry, [str(e["config"].get("name")) for e in translated["layers"]
                                                  if isinstance(e.get("config"), dict) and e["config"].get("name")]))
            continue
        layer_config = dict(entry["config"])
        if model_dtype is not None and layer_config.get("dtype") == model_dtype:
            layer_config.pop("dtype")
        layer = layers_module.deserialize({"class_name": entry["class_name"], "config": layer_config,
                                           "registered_name": entry.get("registered_name")})
        if entry.get("build_config"):  # a layer's own build_from_config (keras_file_config), which Keras calls
            layer.build_from_config(entry["build_config"])
        made.append(layer)
    return made


def model_from_translated(cls, translated: dict, build_config: dict | None = None, made: list | None = None,
                          extras: dict | None = None):
    """A new model from a config translated by ``keras_file_config.model_config_from_keras``: a functional one
    (``keras.Model``, or ``cls`` where the user's class is made from its graph, called with the config's
    ``extras`` too: ``subclassed_config.graph_maker``) when the config was a functional model's, else of class
    ``cls``; built when the config (or ``build_config``, to_json's) records the input shape. ``made``: its layers
    (and held models), in the order of the config's entries, where the caller made them (a clone's), else made
    anew from the config."""
    from .functional import Functional
    from .sequential import Sequential

    made = layers_of(translated) if made is None else made
    trainable = translated.get("trainable", True)
    if translated.get("functional"):
        count, keys = translated.get("inputs", 1), translated.get("input_keys")
        inputs = made[0] if count == 1 else dict(zip(keys, made[:count])) if keys else made[:count]
        if keys and count > 1:  # (the dict in the order it was written, its keys as the InputLayers take them)
            inputs = {key: inputs[key] for key in translated.get("input_key_order") or keys}
        calls = translated.get("calls")  # a shared layer: the same object at each of its calls
        layers = made[count:] if calls is None else [made[count + c] for c in calls]
        for layer in made[count:]:  # a layer of the user's called on a dict takes the dict again
            keys = (translated.get("call_keys") or {}).get(layer.name)
            if keys is not None:
                layer.__dict__["_input_keys"] = keys
            if layer.name in (translated.get("spread_calls") or ()):  # called as layer(a, b): spread again
                layer.__dict__["_spread_call"] = True
        model = Functional.from_layers(inputs, layers, name=translated.get("name"), trainable=trainable,
                                       sources=translated.get("sources"), modes=translated.get("modes"),
                                       outputs=translated.get("outputs"), output_keys=translated.get("output_keys"),
                                       nodes=translated.get("nodes"),
                                       make=subclassed_config.graph_maker(cls, extras))
        model._config_dtype = translated.get("dtype")
        given_back = translated.get("gives_back") or {}
        by_name = {layer.name: layer for layer in made}
        for identity, input_name in given_back.items():  # (``keras_file_config._given_back_inputs``)
            by_name[identity]._gives_back = by_name[input_name]
        return model
    # Keras's Sequential.from_config makes cls(name=...) and leaves the model's own flag out (its layers keep
    # theirs): a frozen Sequential loads with trainable=True over frozen layers, and unfreezing one trains it
    model = cls(name=translated.get("name"))
    model._config_dtype = translated.get("dtype")
    for layer in made:
        # Keras builds each layer from its own build config as it deserializes it, before the model: under no
        # model's name (their variables' paths: 'dense/kernel', variable_paths.py); a model's are under its own
        if not isinstance(layer, Sequential):
            variable_paths.fix_prefix(layer)
        model.add(layer)
    build_input_shape = translated.get("build_input_shape") or (build_config or {}).get("input_shape")
    if build_input_shape and not model.built and model._layers:
        model.build(tuple(build_input_shape))
    return model


def serialized_model(model) -> dict:
    """What Keras's ``serialize_keras_object(model)`` gives: a class of the user's named, with its
    ``get_config()``: a subclass with a call() of its own as its ``.keras`` file names it, one without
    (``subclassed_config.names_its_class``) with its graph's config as well."""
    from ..custom_objects import user_class_entry
    from .keras_attribute_paths import is_subclassed

    if is_subclassed(model):
        entry = subclassed_config.model_entry(model, keras_file_config.keras_compile_config(model, native=True)
                                              if model.compiled else None)
    else:
        entry = keras_file_config.keras_model_config(model, native=True, include_compile=True)
        if subclassed_config.names_its_class(model):
            entry.update(user_class_entry(type(model), model.get_config()))
    entry.setdefault("compile_config", {})  # (Keras's get_compile_config of a model not compiled)
    return entry


def model_to_json(model, **kwargs) -> str:
    """``model.to_json()``: ``serialized_model(model)`` as JSON."""
    return json.dumps(serialized_model(model), **kwargs)


def model_from_json_string(cls, json_string):
    """The model ``json_string`` describes (``to_json()``'s output, gpunn's or Keras's): built when it records
    an input shape, compiled when it holds a ``compile_config``, as Keras's ``deserialize_keras_object`` does."""
    if isinstance(json_string, (bytes, bytearray)):
        json_string = json_string.decode("utf-8")
    if not isinstance(json_string, str):
        raise TypeError(f"json_string: expected a JSON string (as model.to_json() returns), got "
                        f"{type(json_string).__name__}")
    try:
        entry = json.loads(json_string)
    except json.JSONDecodeError as exc:
        raise ValueError(f"json_string: not valid JSON ({exc})") from None
    if not isinstance(entry, dict) or "class_name" not in entry or "config" not in entry:
        raise ValueError("json_string: expected a serialized model {'class_name': 'Sequential', 'config': {...}}, "
                         f"got {json_string[:200]!r}")
    return model_from_entry(cls, entry, "json_string")


def model_from_entry(cls, entry: dict, argument: str = "config"):
    """The model a serialized model ({"class_name", "config", "build_config", "compile_config"}) describes, as
    Keras's ``deserialize_keras_object`` makes it."""
    if entry["class_name"] in ("Sequential", "Functional", "Model"):
        model = sequential_from_config(cls, entry["config"], entry.get("build_config"))
    else:  # a class of the user's, made again from its config where the user made it known, as Keras does
        from ..custom_objects import missing

        named = subclassed_config.model_class(entry)
        if named is None:
            raise missing("model", entry.get("registered_name") or entry["class_name"], in_model=True)
        model = named.from_config(dict(entry["config"]))
        shape = (entry.get("build_config") or {}).get("input_shape")
        if shape is not None and not model.built:
            model.build(shape)
    if entry.get("compile_config"):
        compile_from_config(model, keras_file_config.compile_config_from_keras(
            entry["compile_config"], legacy=False, outputs=len(model._output_layer_indices())))
    return model
