"""Subclassed models: ``class WideAndDeep(keras.Model)`` with layers made in ``__init__`` and a ``call()`` of
their own, as Keras's guides and "Hands-On Machine Learning" (chapter 10) write them.

gpunn learns such a model's graph by running its ``call()`` once on symbolic inputs shaped like the first data it
sees (``fit``, ``evaluate``, ``predict``, a call, or ``build(input_shape)``): the layers it calls, on what, and
what it returns. The model is from then on the functional model of that graph (``functional.py``), so it trains,
replays, captures and shards as any functional model. Keras runs ``call()`` on every step instead; the two agree
when ``call()`` is made of layer calls (and ``+``, ``-``, ``*`` between them, merge layers in gpunn), which is what
an MLP's ``call()`` is. A ``call()`` that takes ``training`` is run with ``training=True``, ``False`` and ``None``:
if it calls other layers depending on the mode (Python ``if training:``), it is refused by name, since gpunn's
graph is one for both modes (layers such as Dropout take the mode themselves).

``model.layers`` lists the tracked layers (attributes, in the order they were set), as Keras's does; the traced
graph's layers are ``model._graph_layers``. Its config and ``.keras`` file are Keras's (``subclassed_config.py``:
the class made again from its constructor's arguments), ``to_json`` holds the traced graph. Outputs returned as a
tuple or list are named ``output_1``, ``output_2``... (``output_names``), and logged as Keras 3 logs them: each
loss by the name it was given, each metric by its own (``trainer/compiled_outputs.log_names``).
"""
from __future__ import annotations

import inspect

import numpy as np

from .. import overrides
from ..layers import user_layer
from ..layers.base import Layer
from ..layers.input_layer import InputLayer
from ..tree import found_in
from ..user_stacklevel import user_stacklevel


# Attributes gpunn sets on a subclassed model after its __init__ (those set before are its _internal_attributes),
# and the one where it notes the order its layers were tracked in (Model.__setattr__).
TRACKING_ORDER = "_tracking_order"
SET_LATER = frozenset({"_tracked", "_outside_graph", "_building", "_user_built", "_losses_of_trace",
                       "_warned_of_inference",
                       "_call_read_shapes", "_own_weights_body", "_input_gradients", "_held_calls", "_held_models",
                       "_unnamed_outputs",
                       "_held_training", "_compiled_run_eagerly",
                       TRACKING_ORDER, TRACKING_ORDER + "_held", "_compile_arguments", "_labels_as_column"})


def tracked_layers(model) -> list:
    """The layers (and models) the subclass set as attributes, in the order it set them, lists and dicts of
    them included (Keras's tracking)."""
    internal = model._internal_attributes | SET_LATER
    kinds = (Layer, _model_types())
    found = found_in([value for name, value in vars(model).items() if name not in internal],
                     lambda value: isinstance(value, kinds) and not isinstance(value, InputLayer))
    order = vars(model).get(TRACKING_ORDER, {})
    if all(id(layer) in order for layer in found):  # (a layer put in a dict or nested list later: as found)
        found.sort(key=lambda layer: order[id(layer)])
    return found


def _model_types():
    from .sequential import Sequential

    return Sequential


def _input_for(argument: str, value):
    """An Input shaped like the samples of ``value``, in the model's dtype whatever the data's (integer data for
    a Dense model is numbers, and an Embedding takes its ids in the model's dtype, as Keras casts them)."""
    from ..layers import numeric_arguments
    from ..layers.input_layer import Input
    from ..layers.symbolic import is_symbolic, sample_shape_of

    if is_symbolic(value):  # the model called on a graph's values: Inputs like them (strings stay strings)
        dtype = getattr(value, "dtype", None)
        return Input(shape=tuple(sample_shape_of(value)), dtype="string" if dtype == "string" else None)
    shape = getattr(value, "shape", None)
    if shape is None:
        value = np.asarray(value)
        shape = value.shape
    if len(shape) < 1:  # (one value per sample, shape (samples,), is Input(shape=()), as Keras takes it)
        raise ValueError(f"{argument}: expected an array of samples, (samples, features...), got shape "
                         f"{tuple(shape)}")
    # columns of strings (read by a StringLookup in call()) stay strings
    strings = numeric_arguments.is_text(value) or getattr(getattr(value, "dtype", None), "kind", "") in "US"
    return Input(shape=tuple(int(d) for d in shape[1:]), dtype="string" if strings else None)


def _is_array_list(x) -> bool:
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(getattr(item, "ndim", 0) >= 1 for item in x)


def inputs_like(argument: str, x):
    """Symbolic inputs with the structure of the data ``x``: one Input, a tuple or list of them (several arrays),
    or a dict of them by key."""
    if isinstance(x, dict):
        return {key: _input_for(f"{argument}[{key!r}]", value) for key, value in x.items()}
    if _is_array_list(x):
        made = [_input_for(f"{argument}[{k}]", value) for k, value in enumerate(x)]
        return tuple(made) if isinstance(x, tuple) else made
    return _input_for(argument, x)


def inputs_of_shape(input_shape, dtypes=None):
    """Symbolic inputs for ``build(input_shape)``: one shape (with the batch axis), or a list or dict of them;
    ``dtypes``: each input's (a model file's: "string" for a column of strings), in that order."""
    from ..layers.input_layer import Input

    dtypes = iter(dtypes or ())

    def one(shape):
        shape = tuple(shape)
        return Input(shape=shape[1:], dtype=next(dtypes, None))

    if isinstance(input_shape, (list, tuple)) and input_shape and all(isinstance(s, (list, tuple))
                                                                       for s in input_shape):
        return [one(shape) for shape in input_shape]
    if isinstance(input_shape, dict):
        return {key: one(shape) for key, shape in input_shape.items()}
    return one(input_shape)


def shapes_of(inputs):
    """The shapes (batch axis None) of symbolic inputs, in their structure: what a subclass's build() gets."""
    if isinstance(inputs, dict):
        return {key: shapes_of(value) for key, value in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return type(inputs)(shapes_of(value) for value in inputs)
    return (None,) + tuple(inputs.declared_input_shape)


def _flat(value) -> list:
    if isinstance(value, dict):
        return [item for key in sorted(value) for item in _flat(value[key])]
    if isinstance(value, (list, tuple)):
        return [item for entry in value for item in _flat(entry)]
    return [value]


def _structure(inputs, outputs, tracked: set) -> list:
    """What a trace made, comparable between traces: per call, its layer (by identity when the subclass tracks
    it, else by class: ``x + y`` makes a new Add each time) and the positions of what it read."""
    from . import functional

    input_list = _flat(inputs)
    calls = functional._calls_in_order(input_list, [o for o in _flat(outputs) if not isinstance(o, InputLayer)])
    position = {id(layer): -1 - k for k, layer in enumerate(input_list)}
    position.update({id(call): k for k, call in enumerate(calls)})
    return [(id(call.layer) if id(call.layer) in tracked else type(call.layer).__name__,
             tuple(position.get(id(parent)) for parent in call.parents), call.training) for call in calls]


def _modes_follow_training(plain: list, given: list, training: bool) -> bool:
    """Whether every call's fixed mode in a trace with ``training`` given is the plain trace's constant, or
    ``training`` itself where the plain trace fixed none (``layer(x, training=training)``)."""
    return all(a[:2] == b[:2] and (b[2] == a[2] or (a[2] is None and b[2] is training)) for a, b in zip(plain, given))


def takes_training(model) -> bool:
    """Keras's ``_call_has_training_arg``: whether the model's call() names a ``training`` parameter."""
    return "training" in inspect.signature(model.call).parameters


def _depends_on_mode(layer) -> bool:
    """Whether a layer computes otherwise in training: Dropout and the noise layers, BatchNormalization, a layer
    of the user's whose call() takes ``training``."""
    from ..layers.batch_normalization import BatchNormalization
    from ..layers.seeded import SeededLayer
    from ..layers import user_layer

    if isinstance(layer, (SeededLayer, BatchNormalization)):
        return True
    if not user_layer.runs_call(layer):
        return False
    from ..layers import sublayers
    from .own_weights import ModelBody

    # (a model's call() run as one layer: its own call() says whether it takes a mode, not the layer's)
    call = layer.__dict__["_model"].call if isinstance(layer, ModelBody) else layer.call
    return overrides.names_training(call) or any(
        _depends_on_mode(owner) for path, owner in sublayers.owners(layer) if path)


def modes_of_a_call_without_training(model, warn: bool = True) -> tuple:
    """The modes fit runs the layers of a model whose call() names no ``training`` in, when fit trains that model
    itself. Keras's trainers pass ``training`` to a model's call() only when it names one (keras/src/backend/*/
    trainer.py, ``_call_has_training_arg``): its layers then get no mode, and run in inference in fit too (Dropout
    passes its inputs, BatchNormalization normalizes with its moving statistics and keeps them). A layer given a
    mode in call() keeps it; called inside another model, the model's layers take that model's mode as any
    layer does. Warns once, naming the layers concerned."""
    from ..layers import wiring

    calls = model._calls
    modes = model._modes or (None,) * len(calls)
    concerned = [wiring.layer_of(call).name for call, mode in zip(calls, modes)
                 if mode is None and _depends_on_mode(wiring.layer_of(call))]
    if warn and concerned and not getattr(model, "_warned_of_inference", False):
        import warnings

        model._warned_of_inference = True
        warnings.warn(f"{type(model).__name__}.call takes no `training` argument: as in Keras 3, fit runs the layers it "
                      f"calls in inference mode ({concerned}: no dropout or noise, BatchNormalization on its moving "
                      "statistics). To train them, give call() a `training=None` argument and pass it on "
                      "(`self.dropout(x, training=training)`)", stacklevel=user_stacklevel())
    return tuple(False if mode is None else mode for mode in modes)


def trace(model, inputs):
    """Run ``model.call`` on the symbolic ``inputs``; what it returns (one output, or a tuple, list or dict of
    them). Refuses a call() whose layers depend on the ``training`` it is given."""
    name = type(model).__name__
    parameters = inspect.signature(model.call).parameters
    required = [p.name for p in list(parameters.values())[1:] if p.default is p.empty and p.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY) and p.name not in ("training",
                                                                                                  "mask")]
    if required:
        raise TypeError(f"{name}.call: its argument(s) {required} after the inputs have no default; gpunn learns the "
                        "model's graph by running call(inputs) once, its other arguments at their defaults: give "
                        f"them defaults (a call on data, model(x, {required[0]}=...), still passes a value on), and "
                        "take several inputs as one list or dict")

    def run(training):
        kwargs = {"training": training} if "training" in parameters else {}
        model._losses_of_trace = []  # what call() gives self.add_loss (add_loss below)
        try:
            with user_layer.tracing_model_call(model):
                return model.call(inputs, **kwargs)
        except user_layer.RefusedInTrace:  # (a metric updated in call(): the refusal names it)
            raise
        except Exception as exc:
            message = (f"{name}.call: gpunn runs call() once on symbolic inputs to learn the model's graph, and it "
                       f"failed: {exc}. call() may call layers (and add, subtract or multiply their outputs); "
                       "functions of other libraries (tf.*, np.*) cannot run on those inputs")
            try:
                wrapped = type(exc)(message)
            except Exception:  # an exception class whose constructor takes other arguments
                wrapped = RuntimeError(message)
            raise wrapped from exc

    from ..layers import symbolic

    reads = symbolic.shape_reads()
    outputs = run(None)
    model._call_read_shapes = symbolic.shape_reads() != reads  # (a variant for other shapes would be wrong)
    losses = model._losses_of_trace
    if "training" in parameters:
        tracked = {id(layer) for layer in tracked_layers(model)}
        plain = _structure(inputs, outputs, tracked)
        for training in (True, False):
            given = _structure(inputs, run(training), tracked)
            if len(model._losses_of_trace) != len(losses):
                count = len(model._losses_of_trace)
                del model._losses_of_trace
                raise ValueError(f"{name}.call: gives add_loss {count} loss(es) when training={training} and "
                                 f"{len(losses)} when training is not given; gpunn runs one graph in both modes: add "
                                 "the same losses whatever `training` is")
            if [call[:2] for call in given] != [call[:2] for call in plain]:
                raise ValueError(f"{name}.call: calls other layers when training={training} than when training is "
                                 "not given; gpunn runs one graph in both modes (Dropout, BatchNormalization and the "
                                 "noise layers take the mode themselves), so call the same layers whatever "
                                 "`training` is")
            if not _modes_follow_training(plain, given, training):
                raise ValueError(f"{name}.call: gives a layer a mode made from `training` (not `training` itself, "
                                 "nor a constant); gpunn runs one graph in both modes: pass training=training, or "
                                 "a fixed True or False")
    del model._losses_of_trace
    outputs = _inputs_passed_on(outputs)
    for value in _flat(outputs):
        if not hasattr(value, "layer"):
            raise ValueError(f"{name}.call: returned {value!r}; it must return what layers compute from the inputs "
                             "(one output, or a tuple, list or dict of them)")
    if losses:  # computed by one layer reading the first output, which it passes on (model_losses.py)
        from ..layers import model_losses

        outputs = model_losses.splice(outputs, losses)
    return outputs


def _inputs_passed_on(outputs):
    """``outputs`` with each input returned as it came (the TF time-series tutorial's ``RepeatBaseline``:
    ``return inputs``) taken through an Identity layer, since a graph's output is a layer's."""
    from ..layers.identity import Identity

    if isinstance(outputs, InputLayer):
        return Identity()(outputs)
    if isinstance(outputs, dict):
        return {key: _inputs_passed_on(value) for key, value in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return type(outputs)(_inputs_passed_on(value) for value in outputs)
    return outputs


def add_loss(model, loss) -> None:
    """Keras's ``self.add_loss(loss)`` in a subclassed model's call(): a loss computed from the model's symbolic
    values (``model_losses.py``), or a list of them."""
    from ..layers import model_losses
    from ..layers.symbolic import is_symbolic

    if not hasattr(model, "_losses_of_trace"):
        raise ValueError(f"{type(model).__name__}.add_loss: gpunn takes a model's add_loss inside its call(), on "
                         "values computed from its inputs; a loss of its own elsewhere goes in a layer's call()")
    for value in (loss if isinstance(loss, (list, tuple)) else [loss]):
        if not (is_symbolic(value) or model_losses.is_batch_reduced(value)):
            raise ValueError("`add_loss()` can only be called from inside `build()` or `call()`, on a tensor input. "
                             f"Received invalid value: {value!r}")  # Keras's message
        model._losses_of_trace.append(value)


def runs_call_with_keywords(model, inputs, keywords: dict) -> bool:
    """Whether ``model(x, key=value)`` runs the model's own call() with those arguments: a subclassed model whose
    call() names them (or takes ``**kwargs``), called on data. Keras passes such arguments on to call() (a
    ``return_features=True``, a ``scale``); gpunn's traced graph is call() with its defaults, so a call with other
    values runs call() itself, its layers one after the other, as ``model.call(x, ...)`` would. In a functional
    model, or inside a layer's call(), the graph is all there is, and the caller refuses them."""
    from ..layers import symbolic, tf_pipeline, user_layer
    from .keras_attribute_paths import is_subclassed

    if not keywords or not is_subclassed(model) or user_layer.tracing() or tf_pipeline.is_pipeline_tensor(inputs):
        return False
    values = inputs.values() if isinstance(inputs, dict) else inputs if isinstance(inputs, (list, tuple)) else [
        inputs]
    if any(symbolic.is_symbolic(value) for value in values):
        return False
    parameters = inspect.signature(model.call).parameters
    takes_any = any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values())
    return takes_any or all(name in parameters for name in keywords)


def call_with_keywords(model, inputs, training, mask, keywords: dict):
    """``model(x, key=value)`` (``runs_call_with_keywords``), in the caller's compute turn: the graph is traced
    first (its weights made, as a plain call makes them), then call() runs on the arrays. ``training`` goes to
    call() when given and call() names it; else call()'s own default holds, as in Keras outside ``fit``."""
    if mask is not None:
        raise ValueError("mask: gpunn models take no mask; leave mask=None")
    from ..layers.calling import check_training, training_of_the_outer_call

    model._trace_for(inputs, "inputs")
    arguments = dict(keywords)
    if training is None:
        return model.call(inputs, **arguments)
    if takes_training(model):
        arguments["training"] = check_training(training)
    with training_of_the_outer_call(check_training(training)):  # (its layers take it, as in Keras)
        return model.call(inputs, **arguments)
