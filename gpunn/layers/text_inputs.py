"""String inputs of a model (``keras.Input(shape=(1,), dtype="string")``): where they may go, and how their
strings become numbers before the device sees them.

A model computes on numbers, on the device. A string input is read by one layer that reads text (StringLookup,
TextVectorization: ``reads_text``), and by nothing else; that layer turns the input's strings into numbers on
the host (``encode_text``), once per array the model is given (fit / evaluate / predict / a call), before the
inputs are checked, packed and uploaded as any numeric input. On the device the layer receives those numbers in
place of the strings: the model's input then has the shape of what the layer made (``encoded_shape``: a
StringLookup's indices keep the strings' shape, a TextVectorization's output is its own), while the model's
``inputs`` and configs keep the strings' shape, as Keras's do. So every check here runs when the model is wired, before any data: a string input read
by a layer of numbers, or a text layer reading numbers, would otherwise compute on meaningless values.
"""
from __future__ import annotations

from . import wiring


def is_text_input(value) -> bool:
    """Whether ``value`` is a string input of a model (an InputLayer of dtype "string")."""
    return getattr(value, "input_dtype", None) == "string"


def reads_text(layer) -> bool:
    return bool(getattr(layer, "reads_text", False))


def _name(value) -> str:
    return getattr(getattr(value, "layer", value), "name", type(value).__name__)


def encoded_shape(input_layer, reader=None) -> tuple:
    """The sample shape of the numbers a model receives for ``input_layer``: for a string input, what the layer
    reading it makes of its strings (``reader``, or the one last called on it), else its declared shape."""
    declared = tuple(input_layer.declared_input_shape)
    if not is_text_input(input_layer):
        return declared
    if reader is not None and reads_text(reader):
        return tuple(reader.encoded_shape(declared))
    return input_layer.__dict__.get("_encoded_shape", declared)


def check_call(layer, inputs) -> None:
    """A symbolic call ``layer(inputs)``: strings go into a layer reading text only, which reads a string
    input of the model itself (which then takes the shape of what the layer makes of the strings)."""
    values = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    if reads_text(layer):
        if len(values) != 1 or not is_text_input(values[0]):
            got = ", ".join(f"{_name(value)!r}" for value in values)
            raise TypeError(f"layer {layer.name!r} ({type(layer).__name__}) reads strings: call it on a string input "
                            f"of the model, keras.Input(shape=(1,), dtype='string'); got the numbers of {got}")
        values[0].__dict__["_encoded_shape"] = encoded_shape(values[0], layer)
        return
    for value in values:
        if is_text_input(value):
            raise TypeError(f"layer {layer.name!r} ({type(layer).__name__}) computes on numbers, and input "
                            f"{value.name!r} holds strings: turn them into numbers first, e.g. "
                            f"StringLookup(vocabulary=...)({value.name})")


def first_reader(model):
    """The first layer of a Sequential model when it reads text (its input is then strings), else None."""
    first = model._layers[0] if model._layers else None
    return first if reads_text(first) and getattr(model, "_packed", None) is None else None


def encoders(model) -> dict:
    """{k: the layer reading the model's string input k}, each wiring checked as ``check_call`` checks a call
    (a model rebuilt from a config, or a Sequential, is wired without symbolic calls)."""
    calls, sources = model._calls, model._sources
    input_layers = list(getattr(model, "_input_layers", None) or ([model._input_layer] if model._input_layer else []))
    if not input_layers:  # a Sequential started by a layer reading text takes strings
        for i, layer in enumerate(calls):
            if reads_text(layer) and i > 0:
                raise TypeError(f"layer {layer.name!r} ({type(layer).__name__}) reads strings and must come first, "
                                "reading the model's input; it comes after other layers")
        return {0: calls[0]} if calls and reads_text(calls[0]) else {}
    found = {}
    for i, layer in enumerate(calls):
        reads = (i - 1,) if sources is None else tuple(sources[i])
        values = [input_layers[-1 - s] if wiring.is_model_input(s) else calls[s] for s in reads]
        check_call(layer, values)
        for s in reads:
            if wiring.is_model_input(s) and is_text_input(input_layers[-1 - s]):
                k = -1 - s
                if k in found and found[k] is not layer:
                    raise TypeError(f"input {input_layers[k].name!r} holds strings and is read by layers "
                                    f"{found[k].name!r} and {layer.name!r}; gpunn turns a string input into numbers "
                                    "with one layer: give each its own input (of the same data)")
                found[k] = layer
    return found
