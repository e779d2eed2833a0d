"""Lambda: a function of the inputs as a layer (Keras's ``keras.layers.Lambda``), such as
``Lambda(lambda x: x / 255.0)`` or ``Lambda(lambda x: ops.expand_dims(x, -1))``.

The function computes with ``gpunn.ops`` and the array operators; it runs as a layer of the user's does
(``user_layer.py``): its output shape found by one call when built, each step's call a host call, its gradient
from ``gpunn/autodiff``.

Files: a named function is written by name (``{"class_name": "function", "config": name}``) and found again
through ``custom_objects``; a ``lambda`` is written as Keras writes it (its bytecode, which Keras loads with
``safe_mode=False``), and gpunn, which never loads code, refuses it with an error saying what to do instead.
"""
from __future__ import annotations

import codecs
import marshal
import types

from .. import custom_objects
from ..custom_objects import custom_object_scope
from . import user_layer
from .base import Layer


def _is_lambda(function) -> bool:
    return isinstance(function, types.LambdaType) and function.__name__ == "<lambda>"


def _serialize_function(function):
    if _is_lambda(function):  # Keras's python_utils.func_dump
        code = codecs.encode(marshal.dumps(function.__code__), "base64").decode("ascii")
        closure = None if function.__closure__ is None else [cell.cell_contents for cell in function.__closure__]
        if closure is not None and not all(isinstance(c, (int, float, str, bool, type(None))) for c in closure):
            raise ValueError(f"function: a lambda capturing {[type(c).__name__ for c in closure]} cannot be written "
                             "to a file; define the function with def (files name it, custom_objects finds it)")
        return {"class_name": "__lambda__", "config": {"code": code, "defaults": function.__defaults__,
                                                        "closure": closure}}
    return {"module": getattr(function, "__module__", None), "class_name": "function",
            "config": custom_objects.get_registered_name(function),
            "registered_name": custom_objects.get_registered_name(function)}


def _deserialize_function(value, layer_name: str):
    if callable(value):
        return value
    if isinstance(value, dict) and value.get("class_name") == "__lambda__":
        raise ValueError(f"layer {layer_name!r} (Lambda): its function is a lambda, saved as Python bytecode, which "
                         "gpunn never loads; define the function with def and pass it in custom_objects, or build "
                         "the model in code and load its weights")
    name = value.get("config") if isinstance(value, dict) else value
    found = custom_objects.lookup(value.get("registered_name") if isinstance(value, dict) else None, name)
    if not callable(found):
        raise custom_objects.missing(f"layer {layer_name!r} (Lambda)", str(name), in_model=True)
    return found


class Lambda(Layer):
    """``Lambda(function, output_shape=None, mask=None, arguments=None)``: ``function(inputs, **arguments)``."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        self.function = _deserialize_function(function, self.name)
        if mask is not None:
            raise ValueError(f"mask: gpunn's Lambda layer takes no mask (layer {self.name!r}); leave mask=None")
        if arguments is not None and not isinstance(arguments, dict):
            raise TypeError(f"arguments: expected a dict of keyword arguments for the function, got "
                            f"{type(arguments).__name__}")
        self.arguments = dict(arguments or {})
        self._output_shape_argument = output_shape

    def call(self, inputs):
        return self.function(inputs, **self.arguments)

    def build(self, input_shape):
        user_layer.build_user_layer(self, input_shape)
        self._check_output_shape()

    def _check_output_shape(self) -> None:
        """gpunn learns the output shape from one call; an ``output_shape`` given (a sample's shape, or Keras's
        function of the batch shape) that disagrees with it is refused rather than kept unused."""
        given = self._output_shape_argument
        if given is None or self.output_shape is None:
            return
        if callable(given):
            given = tuple(given(_batch_shapes(self.input_shape)))[1:]
        given = tuple(None if size is None else int(size) for size in given)
        found = tuple(self.output_shape)
        if len(given) != len(found) or any(g is not None and g != f for g, f in zip(given, found)):
            raise ValueError(f"output_shape: layer {self.name!r} (Lambda) was given output_shape={given} (a sample's "
                             f"shape), but its function returns samples of shape {found} for inputs of shape "
                             f"{tuple(self.input_shape)}")

    def output_sample_shape(self, sample_shape):
        """Keras's ``compute_output_shape`` of a Lambda (per sample): the shape its function returns, as found by
        the build for that shape, or by a call on ones; else the ``output_shape`` given."""
        if self.built and self.output_shape is not None and _same_shapes(self.input_shape, sample_shape):
            return tuple(self.output_shape)
        given = self._output_shape_argument
        if callable(given):
            return tuple(given(_batch_shapes(sample_shape)))[1:]
        if given is not None:
            return tuple(given)
        return user_layer.output_sample_shape_of_call(self, sample_shape)

    def forward(self, x, training):
        return user_layer.forward(self, x, training)

    @classmethod
    def from_config(cls, config: dict, custom_objects=None, safe_mode=None):
        """Keras's: the function named in ``config`` found among ``custom_objects`` too. ``safe_mode`` is taken
        and changes nothing: gpunn never loads a function's bytecode (see the module docstring)."""
        with custom_object_scope(custom_objects):
            return cls(**config)

    def get_config(self):
        config = {**super().get_config(), "function": _serialize_function(self.function),
                  "arguments": dict(self.arguments)}
        if self._output_shape_argument is not None and not callable(self._output_shape_argument):
            config["output_shape"] = list(self._output_shape_argument)
        return config


def _batch_shapes(sample_shape):
    """Keras's batch shape (a list of them for several inputs) of gpunn's sample shape(s), as Keras hands an
    ``output_shape`` function its input shape: the siamese example's ``shape1, shape2 = shapes``."""
    if isinstance(sample_shape, list):
        return [(None,) + tuple(shape) for shape in sample_shape]
    return (None,) + tuple(sample_shape)


def _same_shapes(a, b) -> bool:
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and [tuple(s) for s in a] == [tuple(s) for s in b]
    return tuple(a) == tuple(b)
