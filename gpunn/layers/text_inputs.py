"""String inputs of a model (``keras.Input(shape=(1,), dtype="string")``): where they may go, and how their
strings become numbers before the device sees them.

A model computes on numbers, on the device. A string input is read by layers that take strings (StringLookup,
TextVectorization: ``reads_text``; Hashing: ``takes_text``), directly or through reshapes of it (``ops.expand_dims``
and the like: views, ``strings_view``), and by nothing else. Those layers turn the input's strings into numbers on
the host (``encode_text``), once per array the model is given (fit / evaluate / predict / a call), before the
inputs are checked, packed and uploaded as any numeric input. On the device each layer receives those numbers in
place of the strings (a reshape in between passes them on as they are): the model's input then has the shape of
what its layer made (``encoded_shape``: a StringLookup's indices keep the strings' shape, a TextVectorization's
output is its own), or, read by several layers (a wide model's one-hot and a deep model's embedding of one
column), their outputs flattened side by side, each layer taking its own columns (``columns_of``). The model's
``inputs`` and configs keep the strings' shape, as Keras's do.

Every check here runs when the model is wired, before any data: a string input read by a layer of numbers, or a
layer of strings reading numbers, would otherwise compute on meaningless values.
"""
from __future__ import annotations

import math

import numpy as np

from . import wiring


def is_text_input(value) -> bool:
    """Whether ``value`` is a string input of a model (an InputLayer of dtype "string")."""
    return getattr(value, "input_dtype", None) == "string"


def reads_text(layer) -> bool:
    """Whether ``layer`` reads strings only (StringLookup, TextVectorization)."""
    return bool(getattr(layer, "reads_text", False))


def takes_text(layer) -> bool:
    """Whether ``layer`` may read a string input: those reading strings only, and Hashing (strings or numbers)."""
    return reads_text(layer) or bool(getattr(layer, "takes_text", False))


def reading_strings(layer) -> bool:
    """Whether ``layer`` (one that takes strings or numbers) now receives what it made of strings."""
    return "_text_columns" in layer.__dict__


# Operations and layers that only reshape their input: on a string input they make a view of its strings, which a
# layer reading strings reads as strings of that shape (Keras's tutorials write lookup(ops.expand_dims(strings, -1)))
SHAPE_ONLY = {"expand_dims", "reshape", "squeeze", "Reshape"}


def _shape_only(layer) -> bool:
    return getattr(layer, "operation", None) in SHAPE_ONLY or type(layer).__name__ in SHAPE_ONLY


def strings_view(value):
    """(the model's string input, the sample shape of its strings as ``value`` holds them) when ``value`` is a
    string input or a reshaped view of one, else None."""
    if is_text_input(value):
        return value, tuple(value.declared_input_shape)
    return getattr(value, "__dict__", {}).get("_strings_of")


def note_strings(layer, inputs) -> None:
    """A symbolic call ``layer(inputs)`` on strings (the model's string input, or a view of it): a layer taking
    strings reads them in the view's shape (``strings_shape``); a reshape makes a view (``mark_view``), which
    passes on the device what was made of the strings as it is (``is_strings_view``)."""
    view = None if isinstance(inputs, (list, tuple)) else strings_view(inputs)
    if view is None:
        return
    if takes_text(layer):
        layer.__dict__["_strings_shape"] = view[1]
    elif _shape_only(layer):
        layer.__dict__["_strings_view_of"] = view[1]


def mark_view(layer, inputs, output) -> None:
    """``output`` of a reshape of strings: a view of them, in its shape."""
    view = None if isinstance(inputs, (list, tuple)) else strings_view(inputs)
    if view is not None and _shape_only(layer):
        output.__dict__["_strings_of"] = (view[0], tuple(output._sample_shape))


def is_strings_view(layer) -> bool:
    """Whether ``layer`` reshapes strings (a view of a string input): on the device it passes on unchanged what
    the layers reading the view made of the strings."""
    return "_strings_view_of" in layer.__dict__


def strings_shape(reader, declared: tuple) -> tuple:
    """The sample shape of the strings ``reader`` reads from a string input declared ``declared``: a view's, or
    the input's."""
    return tuple(reader.__dict__.get("_strings_shape", declared))


def _name(value) -> str:
    return getattr(getattr(value, "layer", value), "name", type(value).__name__)


def check_call(layer, inputs) -> None:
    """A symbolic call ``layer(inputs)``: strings go into a layer reading text only, which reads a string
    input of the model itself (which then takes the shape of what the layer makes of the strings)."""
    values = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    if _shape_only(layer) and len(values) == 1 and strings_view(values[0]) is not None:
        return  # a view of the strings (mark_view)
    if hasattr(layer, "_layers") and first_reader(layer) is not None and len(values) == 1:
        # a Sequential whose first layer reads strings (keras-io's ``Sequential([StringLookup(...), Embedding(...)])``
        # encoders): its layers join the model, the first one reading the strings
        check_call(first_reader(layer), values[0])
        return
    if reads_text(layer):
        if len(values) != 1 or strings_view(values[0]) is None:
            got = ", ".join(f"{_name(value)!r}" for value in values)
            raise TypeError(f"layer {layer.name!r} ({type(layer).__name__}) reads strings: call it on a string input "
                            f"of the model, keras.Input(shape=(1,), dtype='string'); got the numbers of {got}")
        return
    for value in values:
        view = strings_view(value)
        if view is not None and not (takes_text(layer) and len(values) == 1):
            raise TypeError(f"layer {layer.name!r} ({type(layer).__name__}) computes on numbers, and input "
                            f"{view[0].name!r} holds strings: turn them into numbers first, e.g. "
                            f"StringLookup(vocabulary=...)({view[0].name})")


def check_model_input(model, input_layer, value) -> None:
    """A model called inside another: its string input gets strings, its numeric one numbers."""
    view = strings_view(value)
    if is_text_input(input_layer) and view is None:
        raise TypeError(f"model {model.name!r}: its input {input_layer.name!r} holds strings, and is given the "
                        f"numbers of {_name(value)!r}")
    if view is not None and not is_text_input(input_layer):
        raise TypeError(f"model {model.name!r}: its input {input_layer.name!r} computes on numbers, and is given the "
                        f"strings of {view[0].name!r}")


def first_reader(model):
    """The first layer of a Sequential model when it reads strings only (its input is then strings), else
    None."""
    first = model._layers[0] if model._layers else None
    return first if reads_text(first) and getattr(model, "_packed", None) is None else None


def _input_layers(model) -> list:
    return list(getattr(model, "_input_layers", None) or ([model._input_layer] if model._input_layer else []))


def readers(model, calls=None, sources=None) -> dict:
    """{k: the layers reading the model's string input k, in the order they run}, each wiring checked as
    ``check_call`` checks a call (a model rebuilt from a config, or a Sequential, is wired without symbolic
    calls). ``calls`` / ``sources``: the model's (``_calls``, ``_sources``) unless given."""
    calls = model._calls if calls is None else calls
    sources = model._sources if sources is None else sources
    input_layers = _input_layers(model)
    if not input_layers:  # a Sequential started by a layer reading strings only takes strings
        for i, layer in enumerate(calls):
            if reads_text(layer) and i > 0:
                raise TypeError(f"layer {layer.name!r} ({type(layer).__name__}) reads strings and must come first, "
                                "reading the model's input; it comes after other layers")
        return {0: [calls[0]]} if calls and reads_text(calls[0]) else {}
    sources_of = (lambda i: (i - 1,)) if sources is None else (lambda i: tuple(sources[i]))

    def string_input(source):
        """The string input a source is (or is a view of), else None."""
        if wiring.is_model_input(source):
            return -1 - source if is_text_input(input_layers[-1 - source]) else None
        return string_input(sources_of(source)[0]) if is_strings_view(calls[source]) else None

    found: dict = {}
    for i, layer in enumerate(calls):
        if is_strings_view(layer):
            continue  # (checked when it was called)
        reads = sources_of(i)
        strings = [string_input(s) for s in reads]
        values = [input_layers[k] if k is not None else input_layers[-1 - s] if wiring.is_model_input(s) else calls[s]
                  for s, k in zip(reads, strings)]
        check_call(layer, values)
        for k in strings:
            if k is not None and layer not in found.setdefault(k, []):
                found[k].append(layer)
    return found


def encoded_shapes(model, calls=None, sources=None) -> list:
    """The sample shape of the numbers the model runs on for each of its inputs: a string input's readers'
    outputs (one reader's, or the columns of several side by side), else the declared shape."""
    by_input = readers(model, calls, sources)
    shapes = []
    for k, layer in enumerate(_input_layers(model)):
        declared = tuple(layer.declared_input_shape)
        made = [tuple(reader.encoded_shape(strings_shape(reader, declared))) for reader in by_input.get(k, [])]
        shapes.append(made[0] if len(made) == 1 else (sum(math.prod(shape) for shape in made),) if made else declared)
    return shapes


def build_readers_for_strings(model, build_layer):
    """``build_layer(layer, shape)`` where a layer reading a string input of ``model`` is built for the shape of
    the strings it reads (a view's), whatever shape the model passes it."""
    reading = {id(reader) for layers in readers(model).values() for reader in layers}

    def build(layer, shape):
        if is_strings_view(layer):
            return build_layer(layer, layer.__dict__["_strings_view_of"])
        return build_layer(layer, strings_shape(layer, shape) if id(layer) in reading else shape)

    return build


def strings_shapes(model, shapes: list, sample_shape=None) -> list:
    """``shapes`` (those of the numbers the model runs on, per input) with each string input's own shape in place
    (``sample_shape``: a Sequential's without an InputLayer, started by a layer reading text)."""
    input_layers = _input_layers(model)
    if not input_layers:
        return [tuple(sample_shape)] if sample_shape is not None and first_reader(model) is not None else shapes
    return [tuple(layer.declared_input_shape) if is_text_input(layer) else shape
            for layer, shape in zip(input_layers, shapes)]


def place_columns(model) -> None:
    """Tell each layer reading a string input that others read too which columns of it are its own
    (``columns_of``); the others read the whole input. A layer that takes strings or numbers and reads none
    here computes on numbers again."""
    by_input = readers(model)
    reading = {id(layer) for layers in by_input.values() for layer in layers}
    for layer in model._calls:
        if takes_text(layer) and id(layer) not in reading:
            layer.__dict__.pop("_text_columns", None)
    for k, layers in by_input.items():
        declared = tuple(_input_layers(model)[k].declared_input_shape) if _input_layers(model) else None
        offset = 0
        for reader in layers:
            if len(layers) == 1:
                reader.__dict__["_text_columns"] = None
                continue
            shape = tuple(reader.encoded_shape(strings_shape(reader, declared)))
            reader.__dict__["_text_columns"] = (offset, math.prod(shape), shape)
            offset += math.prod(shape)


def columns_of(reader, x, ws):
    """The part of the model's input ``x`` (rows, ...) that ``reader`` made (see ``place_columns``), copied into
    a buffer of the workspace ``ws`` (as packed inputs are split: a recorded step replays the copy)."""
    columns = reader.__dict__.get("_text_columns")
    if columns is None:
        return x
    offset, width, shape = columns
    rows = x.shape[0]
    part = ws.buffer("text_columns", (rows,) + shape, x.dtype)
    reader.ops.copy_into(x.reshape(rows, -1)[:, offset:offset + width], part.reshape(rows, width))
    return part


def encode(model, k: int, argument: str, data) -> np.ndarray:
    """The numbers the model runs on for its string input k: its reader's output for ``data``, or, for several
    readers, their outputs flattened side by side (in the order ``place_columns`` gives them)."""
    layers = readers(model)[k]
    input_layers = _input_layers(model)
    declared = tuple(input_layers[k].declared_input_shape) if input_layers else None

    def strings_for(reader):  # (a reader of a reshaped view takes the strings so reshaped)
        shape = strings_shape(reader, declared) if declared is not None else None
        if shape is None or shape == declared:
            return data
        array = np.asarray(data, dtype=object)
        return array.reshape((len(array),) + shape)

    if len(layers) == 1:
        return layers[0].encode_text(argument, strings_for(layers[0]))
    parts = [np.asarray(reader.encode_text(argument, strings_for(reader))) for reader in layers]
    return np.concatenate([part.reshape(len(part), -1).astype(np.float64) for part in parts], axis=1)
