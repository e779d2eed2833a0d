"""Keras's utilities on a model's symbolic values: ``is_keras_tensor`` and ``get_source_inputs``
(keras/src/backend/common/keras_tensor.py, keras/src/ops/operation_utils.py)."""
from __future__ import annotations


def is_keras_tensor(x) -> bool:
    """Whether ``x`` is a symbolic value of a functional graph (what ``keras.Input`` or a layer called on one
    returns), as Keras's KerasTensor is."""
    from ..layers.symbolic import is_symbolic

    return is_symbolic(x)


class _SymbolicKind(type):
    def __instancecheck__(cls, instance) -> bool:
        return is_keras_tensor(instance)


class KerasTensor(metaclass=_SymbolicKind):
    """``keras.KerasTensor`` for ``isinstance(x, keras.KerasTensor)``: true of a functional graph's symbolic values
    (gpunn's Input and layer outputs, of their own classes), as of Keras's."""

    def __new__(cls, *args, **kwargs):
        raise TypeError("KerasTensor: gpunn makes symbolic values itself (keras.Input, a layer called on one); "
                        "make one with keras.Input(shape=...)")


def get_source_inputs(tensor) -> list:
    """The Inputs that ``tensor`` is computed from, each once, in the order a depth-first walk meets them."""
    from ..layers.input_layer import InputLayer

    if not is_keras_tensor(tensor):
        raise ValueError(f"tensor: expected a symbolic value (of keras.Input or a layer called on one), got "
                         f"{type(tensor).__name__}")
    found, seen, stack = [], set(), [tensor]
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, InputLayer):
            found.append(value)
        else:
            stack.extend(reversed(value.parents))
    return found
