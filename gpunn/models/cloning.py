"""``keras.models.clone_model`` and ``keras.models.model_from_json``.

Followed: keras/src/models/cloning.py (``clone_model``, ``_clone_sequential_model``, ``_wrap_clone_function``)
and keras/src/models/model.py (``model_from_json``).
"""
from __future__ import annotations

import types
import warnings

from .. import custom_objects, overrides
from ..constraints import Constraint
from ..initializers import Initializer
from ..layers.base import Layer
from ..layers.input_layer import InputLayer
from ..regularizers import Regularizer
from ..user_stacklevel import user_stacklevel
from . import keras_config, own_weights, subclassed_config
from .keras_attribute_paths import is_subclassed
from ..layers.shared_call import is_shared_call
from ..custom_objects import MissingCustomObjectError, custom_object_scope
from .compile_config import compile_like
from .model_entries import held_in_files
from .sequential import Sequential

__all__ = ["clone_model", "model_from_json"]


def model_from_json(json_string, custom_objects=None) -> Sequential:
    """The newly initialised model that ``json_string`` describes: ``model.to_json()``'s output, from gpunn or
    from Keras 3 / tf.keras 2 for the layers gpunn has. As Keras's ``deserialize_keras_object``, it is built
    when the JSON records an input shape and compiled when it holds a ``compile_config``. ``custom_objects``:
    see ``keras_config.check_custom_objects``."""
    keras_config.check_custom_objects(custom_objects)
    with custom_object_scope(custom_objects):
        return keras_config.model_from_json_string(Sequential, json_string)


def _clone_layer(layer):
    """Keras's default ``clone_function``: ``layer.__class__.from_config(layer.get_config())``: same config,
    new weights."""
    return layer.__class__.from_config(layer.get_config())


def _own_classes(model) -> dict:
    """{name: class} of the user's regularizers, constraints and schedule that ``model``'s layers and optimizer
    hold. Keras's clone finds them again through the module its config names; gpunn, which never imports what a
    config names, puts them in scope for the clone instead."""
    found: dict = {}
    seen: set = set()

    def visit(layer) -> None:
        if id(layer) in seen:
            return
        seen.add(id(layer))
        for value in vars(layer).values():
            items = value if isinstance(value, (list, tuple)) else value.values() if isinstance(value, dict) \
                else [value]
            for item in items:
                if isinstance(item, Layer):
                    visit(item)  # a layer of the user's holding layers
                elif isinstance(item, (Initializer, Regularizer, Constraint)) and not overrides.is_gpunn_class(
                        type(item)):
                    found[type(item).__name__] = type(item)
                elif isinstance(getattr(item, "function", None), types.FunctionType):  # a function initializer,
                    found[custom_objects.get_registered_name(item.function)] = item.function  # or regularizer

    for call in model._calls:
        visit(call.layer if is_shared_call(call) else call)
    schedule = getattr(model.optimizer, "schedule", None) if getattr(model, "optimizer", None) else None
    if schedule is not None and not overrides.is_gpunn_class(type(schedule)):
        found[type(schedule).__name__] = type(schedule)
    return found


def clone_model(model, input_tensors=None, clone_function=None, call_function=None, recursive=False, **kwargs):
    """A new model with ``model``'s architecture and new, freshly initialised weights (nothing shared).

    As Keras's ``clone_model`` for a Sequential model: each layer becomes ``clone_function(layer)`` (default: a
    new layer from ``layer.get_config()``; return ``layer`` itself to share it), the Input is made again with the
    same shape, dtype and name, the model keeps its name and ``trainable`` flag (a functional model's clone
    only its layers' flags, as Keras's makes it without the model's own), and a compiled model's clone is
    compiled the same way (optimizer, loss and metrics made anew from their configs, so no optimizer state is
    shared). Layers with a seeded initializer get the same weights again, as in Keras.

    ``input_tensors``: the clone's inputs, ``keras.Input`` objects in the structure of ``model.input`` (one, in a
    list of one or not, for a Sequential), which a layer's output cannot be in gpunn. ``call_function``
    (Functional models only, in Keras) has no gpunn equivalent: passing it is an error, saying what to do.
    """
    kwargs.pop("cache", None)  # Keras's internal argument for recursive clones
    if kwargs:
        raise ValueError(f"clone_model: unexpected keyword argument(s) {tuple(kwargs)}")
    if not isinstance(model, Sequential):
        raise ValueError(f"model: expected a gpunn Sequential model, got {type(model).__name__} {model!r}")
    if call_function is not None:
        if getattr(model, "is_functional", False):
            raise ValueError("call_function: gpunn's clone_model does not run a function in place of each layer "
                             "call of a functional model; clone it, then build a new keras.Model calling the "
                             "clone's layers (model.layers) and the layers to add on keras.Input(...)")
        raise ValueError("call_function: is not supported with Sequential models (Keras: 'In a Sequential "
                         "model, layers aren't called at model-construction time (they're merely listed)')")
    given = None if input_tensors is None else _given_inputs(model, input_tensors)
    if clone_function is None:
        clone_function = _clone_layer
    elif not callable(clone_function):
        raise ValueError(f"clone_function: expected a callable taking a layer, got {clone_function!r}")
    with custom_object_scope(_own_classes(model)):
        if given is None and clone_function is _clone_layer and is_subclassed(model):
            clone = _clone_subclassed(model)
            if clone is not None:
                return clone
        return _clone_checked(model, clone_function, recursive, given_inputs=given)


def _clone_subclassed(model):
    """Keras's clone of a subclassed model: its class made again from its config (new weights), built for the
    model's inputs (unbuilt where the model is), compiled as the model is; None (with a warning) where the class
    cannot be made from its config, whose model is then cloned as the functional model of its graph."""
    from . import subclassed, subclassed_config

    awaits_data = getattr(model, "_awaits_trace", False)
    try:
        clone = type(model).from_config(model.get_config())
    except MissingCustomObjectError:  # (a class its config names, unknown here: not a config that cannot be made)
        raise
    except (TypeError, NotImplementedError) as exc:
        if own_weights.body_of(model) is not None:
            raise
        if awaits_data:
            raise ValueError(f"model: {type(model).__name__} cannot be made again from its get_config() ({exc}), "
                             "and has no graph yet to clone (it learns its layers from call() on its first data); "
                             "call fit/predict on data or build(input_shape) before cloning it") from exc
        warnings.warn(f"clone_model: {type(model).__name__} cannot be made again from its get_config() ({exc}); "
                      "the clone is the functional model of its graph", stacklevel=user_stacklevel())
        return None
    if not awaits_data:  # a model not yet run clones to one not yet run, as in Keras, built on its first data
        dtypes = [layer.input_dtype for layer in subclassed_config.input_layers(model)]
        clone._trace(subclassed.inputs_of_shape(subclassed_config.build_shape(model), dtypes))
    if model.compiled:
        compile_like(clone, model)
    return clone


def _given_inputs(model, input_tensors) -> list:
    """``clone_model``'s ``input_tensors`` as the list of InputLayers standing for the model's inputs, in order;
    anything else is refused by name, as Keras refuses what is no KerasTensor or differs from ``model.input``."""
    if not getattr(model, "is_functional", False):
        if isinstance(input_tensors, (list, tuple)):
            if len(input_tensors) != 1:
                raise ValueError("Argument `input_tensors` must contain a single tensor.")
            input_tensors = input_tensors[0]
        given = [input_tensors]
    elif isinstance(input_tensors, dict):
        structure = model._input_structure
        if not isinstance(structure, dict) or set(structure) != set(input_tensors):
            raise ValueError("`input_tensors` must have the same structure as model.input"
                             f"\nReceived structure: {input_tensors}")
        by_source = {id(source): input_tensors[key] for key, source in structure.items()}
        given = [by_source[id(source)] for source in model.inputs]
    else:
        given = list(input_tensors) if isinstance(input_tensors, (list, tuple)) else [input_tensors]
        as_list = isinstance(model._input_structure, (list, tuple))  # (Keras: the structure of model.input)
        if len(given) != len(model.inputs) or as_list != isinstance(input_tensors, (list, tuple)):
            raise ValueError("`input_tensors` must have the same structure as model.input"
                             f"\nReceived structure: {input_tensors}")
    for value in given:
        if not isinstance(value, InputLayer):
            raise ValueError("input_tensors: gpunn clones a model onto new inputs made by keras.Input(...); got "
                             f"{type(value).__name__} {value!r} (a layer's output cannot start a gpunn model)")
    return given


def _clone_checked(model, clone_function, recursive, sample_shape=None, given_inputs=None):
    """``clone_model`` of checked arguments; ``sample_shape``: the clone's input takes samples of that shape
    (a model of one input: ``shape_variants.py``), else the model's; ``given_inputs``: the InputLayers the
    clone starts from, one per input of the model, in order (``clone_model``'s ``input_tensors``)."""
    cache: dict = {}  # Keras's _wrap_clone_function: a layer listed twice is cloned once

    def clone(layer):
        if id(layer) not in cache:
            if hasattr(layer, "_gives_back"):  # an input given back as an output: gpunn's, not the user's layer
                from ..layers.identity import Identity

                cache[id(layer)] = Identity()
            elif recursive and isinstance(layer, Sequential):
                cache[id(layer)] = clone_model(layer, clone_function=clone_function, recursive=True)
            else:
                cache[id(layer)] = clone_function(layer)
        return cache[id(layer)]

    # per call: a layer called again is the same clone called again (so the clone shares it as the model does)
    if getattr(model, "_awaits_trace", False):
        raise ValueError(f"model: {type(model).__name__} learns its layers from call() on its first data; call "
                         "fit/predict on data or build(input_shape) before cloning it")
    functional = getattr(model, "is_functional", False)
    holding = functional and held_in_files(model)
    # a Sequential's entries as Keras lists them (a model added to it cloned whole); a functional model's calls
    # (one holding models: _clone_holding_models)
    new_layers = [] if holding else [clone(layer.layer if is_shared_call(layer) else layer)
                                     for layer in (model._calls if functional else model.layers)]

    given = {} if given_inputs is None else {id(source): value for source, value in zip(
        model.inputs if functional else [model._input_layer], given_inputs)}

    def new_input_for(source):
        if id(source) in given:
            return given[id(source)]
        return InputLayer(shape=sample_shape or source.declared_input_shape, batch_size=source.batch_size,
                          dtype=source.input_dtype or source.declared_dtype, name=source.name)

    new_input = None if model._input_layer is None else new_input_for(model._input_layer)
    if new_input is None and given_inputs is not None:
        new_input = given_inputs[0]
    if new_input is None and sample_shape is not None:
        new_input = InputLayer(shape=sample_shape)
    if holding:  # the graph of its entries, a held model cloned whole and called
        cloned = _clone_holding_models(model, clone, [new_input_for(source) for source in model.inputs])
    elif functional:  # Keras clones a functional model as one: the calls made again
        from .functional import Functional

        inputs = new_input
        if len(model.inputs) > 1:  # in the structure they were given in (a dict keeps its keys)
            structure = model._input_structure
            made = {id(source): new_input_for(source) for source in model.inputs}
            inputs = ({key: made[id(value)] for key, value in structure.items()} if isinstance(structure, dict)
                      else [made[id(source)] for source in structure])
        # a class of the user's made from its graph: Keras's clone is model.__class__(inputs, outputs, name=...)
        make = (lambda inputs, outputs, name=None, trainable=True: type(model)(inputs, outputs, name=name)) \
            if subclassed_config.made_from_its_graph(type(model)) else None
        # (Keras makes the clone from its inputs and outputs alone: the model's own trainable flag is not passed)
        cloned = Functional.from_layers(inputs, new_layers, name=model.name, sources=model._sources,
                                        modes=model._modes_in_fit(warn=False), outputs=model._output_indices,
                                        output_keys=model._output_keys, nodes=model._nodes, make=make)
        for call in model._calls:  # (the clone's Identity gives back the clone's input at the same place)
            given_back = getattr(call, "_gives_back", None)
            if given_back is not None:
                cache[id(call)]._gives_back = cloned.inputs[[id(i) for i in model.inputs].index(id(given_back))]
    else:
        cloned = Sequential(name=model.name, trainable=model.trainable)
        if new_input is None and "_implied_input_layer_name" in model.__dict__:
            # Keras's clone takes the InputLayer its Sequential.build made under that layer's name
            cloned.__dict__["_implied_input_layer_name"] = model._implied_input_name()
        for layer in ([new_input] if new_input is not None else []) + new_layers:
            cloned.add(layer)
    if model.compiled:
        # Keras: "If model compiled already then set same to cloned model" (compile_from_config): a new
        # optimizer, loss and metric objects from their configs (so no optimizer state or metric sums are shared).
        compile_like(cloned, model)
    return cloned


def _clone_holding_models(model, clone, new_inputs: list):
    """A functional model holding models (``model_entries.py``) cloned as Keras clones it: each entry of
    ``model.layers`` (a held model whole) through ``clone``, called as its config's graph of those entries says,
    on ``new_inputs`` (one per input of the model, in order)."""
    from . import keras_file_config

    translated = keras_file_config.model_config_from_keras(
        {"class_name": "Functional", "config": keras_file_config.functional_config(model)})["config"]
    translated = {**translated, "trainable": True}  # (as Keras's clone: the layers' own flags, not the model's)
    by_name = {entry.name: entry for entry in model.operations}  # (keras.ops operations among the layers)
    inputs = translated.get("inputs", 1)  # (the config's InputLayers come first, in the model's order)
    made = list(new_inputs)
    made += [clone(by_name[entry["config"]["name"]]) for entry in translated["layers"][inputs:]]
    return keras_config.model_from_translated(Sequential, translated, made=made)


def model_from_yaml(yaml_string, custom_objects=None):
    """tf.keras 2's: removed there too (TensorFlow 2.6), with this message."""
    raise RuntimeError("Method `model_from_yaml()` has been removed due to security risk of arbitrary code "
                       "execution. Please use `Model.to_json()` and `model_from_json()` instead.")
