"""Keras's ``floatx()``: the float dtype of layers made without one and of values made without one
(``ops.ones``, ``ops.full``...), "float32" unless ``keras.backend.set_floatx`` changed it."""
from __future__ import annotations

_FLOATX = ["float32"]


def floatx() -> str:
    return _FLOATX[0]


def set_floatx(value) -> None:
    """Keras's ``set_floatx``: layers and values made from now on without a dtype take ``value`` ("float32" or
    "float64"; gpunn has no half precision)."""
    name = str(value)
    if name not in ("float16", "bfloat16", "float32", "float64"):
        raise ValueError(f"Unknown `floatx` value: {value}. Expected one of {{'float16', 'bfloat16', 'float32', "
                         "'float64'}")  # Keras's message
    if name not in ("float32", "float64"):
        raise ValueError(f"set_floatx: gpunn computes in float32 or float64; {name} is not supported")
    _FLOATX[0] = name
