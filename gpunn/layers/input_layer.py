"""InputLayer and Input(shape=...): declare the input shape (without the batch dimension).

An integer ``dtype`` (``Input(shape=(256,), dtype="int32")`` before an Embedding, as Keras scripts write it)
declares the inputs' dtype only: gpunn passes token ids in the model's float dtype (``layers/embedding.py``), so
it does not make the model compute in integers; it is kept (``input_dtype``) and written back to configs.
"""
from __future__ import annotations

import numpy as np

from .base import Layer, normalize_shape
from .symbolic import SymbolicArithmetic


class InputLayer(Layer, SymbolicArithmetic):
    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, input_shape=None, **kwargs):
        shape = shape if shape is not None else input_shape
        if shape is None:
            raise ValueError("shape: InputLayer needs the input shape without the batch dimension, e.g. shape=(784,)")
        self.input_dtype = None
        if dtype is not None and np.dtype(dtype).kind in "iub":
            self.input_dtype, dtype = np.dtype(dtype).name, None
        super().__init__(name=name, dtype=dtype, input_shape=normalize_shape("shape", shape), **kwargs)
        self.batch_size = batch_size
        self.output_shape = self.declared_input_shape  # what the layers after it receive (summary shows it)

    @property
    def shape(self) -> tuple:
        """Keras's ``keras.Input(...).shape``: the batch dimension (None unless given), then the sample shape."""
        return (self.batch_size,) + tuple(self.declared_input_shape)

    def forward(self, x, training):
        return x, (lambda dy, need_dx=True: dy if need_dx else None)

    def get_config(self):
        config = super().get_config()
        config["shape"] = config.pop("input_shape")
        if self.input_dtype is not None:
            config["dtype"] = self.input_dtype
        return config


def Input(shape=None, batch_size=None, dtype=None, name=None, **kwargs):
    """``keras.Input``: in gpunn it returns the InputLayer, which ``Sequential`` accepts as its first layer."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, **kwargs)
