"""``keras.Variable(initializer, shape=None, dtype=None, trainable=True, name=None)``: a variable made on its own.

Keras 3 tracks a Variable set as a layer's attribute as one of the layer's weights (``self.total =
keras.Variable(0.0, trainable=False)`` in a layer's ``__init__``). gpunn keeps weights in the model's flat
buffers, so such a variable becomes the layer's ``add_weight`` of its shape, dtype and flag, starting from its
value (``Layer.__setattr__`` asks ``as_layer_weight``), and the attribute is then that weight's Variable. A
``keras.Model`` subclass's own weights are refused by name there (its weights live in layers). Elsewhere it is a
host array with the Variable API (``assign``, ``numpy()``, arithmetic, ``np.asarray``).

``isinstance(layer.kernel, keras.Variable)`` holds, as in Keras: every gpunn Variable is one.
"""
from __future__ import annotations

import numpy as np

from . import initializers as initializers_module
from .autodiff.default_float import floatx
from .layers.base import Bound, WeightSpec
from .layers.variable import Variable as _LayerVariable

_count = [0]
_MISSING = object()


class _Holder:
    """What a variable made on its own lives in: a layer-like owner of one host array."""

    standalone_variable = True
    ops = None
    _traced_weights = None
    trainable = True

    def __init__(self, name: str, value: np.ndarray, trainable: bool, named: bool):
        self.name, self.named = name, named
        self.bound = Bound(weights={name: value})
        self.specs = [WeightSpec(name, tuple(value.shape), initializers_module.Constant(0.0), None, None,
                                 bool(trainable))]

    def weight_specs(self) -> list:
        return self.specs

    trained_weight_specs = weight_specs

    def _standalone_weights(self) -> None:
        pass


class _VariableType(type):
    def __instancecheck__(cls, instance) -> bool:
        return isinstance(instance, _LayerVariable)

    def __call__(cls, initializer=_MISSING, shape=None, dtype=None, trainable=True, autocast=True,
                 aggregation="none", synchronization="auto", name=None, layout=None, **kwargs):
        """Keras's constructor: ``initializer`` a value (array, number, list) or an initializer (a name, or one
        called with ``shape``); ``layout`` (a distribution's) None."""
        if layout is not None:
            raise ValueError(f"layout: gpunn's variables are whole on each rank (data parallelism copies every "
                             f"weight), so a layout of a keras.distribution has no counterpart; got {layout!r}")
        if kwargs:
            spelled = " (tf.Variable's initial_value is keras.Variable's initializer=)" if "initial_value" in kwargs \
                else ""
            raise TypeError(f"Variable.__init__() got unexpected keyword argument(s) {sorted(kwargs)}{spelled}")
        if initializer is _MISSING:
            raise TypeError("Variable.__init__() missing 1 required positional argument: 'initializer'")
        aggregation = "none" if aggregation is None else aggregation
        if aggregation not in ("none", "mean", "sum", "only_first_replica"):  # as add_weight checks it
            raise ValueError(f"aggregation: expected 'none', 'mean', 'sum' or 'only_first_replica', got "
                             f"{aggregation!r}")
        synchronization = "none" if synchronization is None else synchronization
        if synchronization not in ("none", "on_read", "on_write", "auto"):
            raise ValueError("Invalid value for argument `synchronization`. Expected one of `None`, `'none'`, "
                             f"`'on_read'`, `'on_write'`, `'auto'`. Received: synchronization={synchronization}")
        if name is not None and not isinstance(name, str):
            raise ValueError(f"Argument `name` must be a string and cannot contain character `/`. Received: "
                             f"name={name}")  # Keras's message
        # autocast, aggregation and synchronization change nothing here: gpunn has no mixed precision, and
        # data-parallel ranks average every weight's gradient and keep identical weights (as for add_weight)
        if isinstance(name, str) and "/" in name:
            raise ValueError(f"Argument `name` must be a string and cannot contain character `/`. Received: "
                             f"name={name}")  # Keras's message
        named = name is not None
        if name is None:
            name = "variable" if _count[0] == 0 else f"variable_{_count[0]}"
            _count[0] += 1
        if dtype is not None:
            try:
                np.dtype(dtype)
            except TypeError:
                raise ValueError(f"Invalid dtype: {dtype}") from None  # Keras's message
        value = _initial_value(initializer, shape, dtype)
        holder = _Holder(name, value, trainable, named)
        holder.aggregation, holder.synchronization = aggregation, synchronization
        return _LayerVariable(holder, name)


class Variable(metaclass=_VariableType):
    """See the module docstring."""


def _initial_value(initializer, shape, dtype) -> np.ndarray:
    if isinstance(initializer, _LayerVariable):
        initializer = initializer.numpy()
    if isinstance(initializer, str) or isinstance(initializer, initializers_module.Initializer) or (
            callable(initializer) and not hasattr(initializer, "shape")):
        if shape is None:
            raise ValueError(f"shape: a Variable made by the initializer {initializer!r} needs its shape; got None")
        value = np.asarray(initializers_module.get(initializer)(tuple(shape), dtype or floatx()))
    else:
        value = np.array(getattr(initializer, "numpy", lambda: initializer)(), copy=True)
        if shape is not None and tuple(shape) != value.shape:
            raise ValueError(f"shape: the initial value has shape {value.shape}, got shape={tuple(shape)!r}")
        if dtype is None and value.dtype.kind == "f":
            dtype = floatx()  # a float value given without a dtype: floatx(), as Keras's jax backend makes it
        elif dtype is None and value.dtype.kind == "i" and not hasattr(initializer, "dtype"):
            dtype = "int32"  # Python ints (a number, a list of them): Keras's int32 on every backend
    return value.astype(dtype) if dtype is not None else value


def is_standalone(value) -> bool:
    return isinstance(value, _LayerVariable) and getattr(value._layer, "standalone_variable", False)


def as_layer_weight(layer, name: str, variable):
    """``variable`` (one made on its own, set as the layer's attribute ``name``) made the layer's weight: a weight
    of its shape and flag starting from its value (float: the layer's weights are the model's floats), named as
    it was named (a name it was given; else the layer's next free one), and the object itself now that weight's
    Variable, so that what the script holds reads and writes the layer's weight."""
    value = variable.numpy()
    if value.dtype.kind != "f":
        raise ValueError(f"{name}: layer {layer.name!r} keeps its weights in the model's float buffers; "
                         f"keras.Variable of dtype {value.dtype} cannot be one of them (make it a float, or keep the "
                         "number as a plain attribute)")
    holder = variable._layer
    weight = layer.add_weight(shape=value.shape, initializer=_Values(value), trainable=variable.trainable,
                              name=variable.name if holder.named else None)
    variable._layer, variable._name = weight._layer, weight._name
    return variable


def reset_names() -> None:
    """``clear_session()``: the next variable made on its own is named 'variable' again, as in Keras."""
    _count[0] = 0


class _Values(initializers_module.Initializer):
    """An initializer giving one fixed array (a standalone Variable's value, taken into a layer)."""

    def __init__(self, value):
        self.value = np.asarray(value)

    def __call__(self, shape, dtype=None):
        return self.value.astype(dtype or self.value.dtype).reshape(shape)

    def get_config(self) -> dict:
        return {"value": self.value.tolist()}
