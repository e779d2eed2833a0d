"""InputLayer and Input(shape=...): declare the input shape (without the batch dimension).

An integer ``dtype`` (``Input(shape=(256,), dtype="int32")`` before an Embedding, as Keras scripts write it)
declares the inputs' dtype only: gpunn passes token ids in the model's float dtype (``layers/embedding.py``), so
it does not make the model compute in integers; it is kept (``input_dtype``) and written back to configs.
``dtype="string"`` declares an input of strings, which one layer reading text (StringLookup) turns into numbers
on the host before the device sees them (``text_inputs.py``).
"""
from __future__ import annotations

import numpy as np

from .. import dtype_policies
from .base import Layer, normalize_shape
from . import symbolic
from .symbolic import SymbolicArithmetic


# The length an axis of any length (Keras's ``Input(shape=(None,))``) takes while the model's graph is built: the
# model is built again for the first data it meets (``Sequential._take_sample_shape``), whose length it then keeps.
PROVISIONAL_LENGTH = 2


def _with_provisional_lengths(shape):
    """(the shape with each None made PROVISIONAL_LENGTH, the indices of those axes)."""
    dims = (shape,) if isinstance(shape, (int, np.integer)) or shape is None else tuple(shape)
    variable = tuple(k for k, dim in enumerate(dims) if dim is None)
    return tuple(PROVISIONAL_LENGTH if dim is None else dim for dim in dims), variable


class InputLayer(Layer, SymbolicArithmetic):
    follows_global_policy = False  # (Keras's InputLayer takes floatx(), not the dtype policy)

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, ragged=None, batch_shape=None,
                 input_tensor=None, optional=False, name=None, input_shape=None, **kwargs):
        # (Keras 3's order; ``input_shape`` is tf.keras 2's name of ``shape``)
        for argument, value in (("sparse", sparse), ("ragged", ragged)):
            if value:
                raise ValueError(f"{argument}: gpunn's inputs are dense arrays; leave it False (got {value!r})")
        if input_tensor is not None:
            raise ValueError("input_tensor: an input made from a TensorFlow tensor is TensorFlow's; gpunn's inputs "
                             "take arrays when the model is called or fit: leave it None")
        if optional:
            raise ValueError("optional: gpunn's models take every input at each call (Keras's optional inputs may "
                             "be None); leave it False")
        shape = shape if shape is not None else input_shape
        if batch_shape is not None:  # Keras's other spelling: the batch size first, then the sample shape
            if shape is not None or batch_size is not None:
                raise ValueError(f"batch_shape: give either batch_shape={batch_shape!r} or shape (with batch_size), "
                                 f"not both (got shape={shape!r}, batch_size={batch_size!r})")
            if not isinstance(batch_shape, (list, tuple)) or len(batch_shape) < 2:
                raise ValueError("batch_shape: expected the batch size (or None) and the sample shape, e.g. "
                                 f"(None, 784), got {batch_shape!r}")
            batch_size, shape = batch_shape[0], tuple(batch_shape[1:])
        if shape is None:
            raise ValueError("shape: InputLayer needs the input shape without the batch dimension, e.g. shape=(784,) "
                             "(or batch_shape=(None, 784))")
        shape, self.variable_axes = _with_provisional_lengths(shape)
        self.input_dtype = None
        dtype = dtype_policies.dtype_name(dtype)  # a DTypePolicy's name, as Keras's Input takes one
        if isinstance(dtype, str) and dtype.lower() in ("string", "str"):
            self.input_dtype, dtype = "string", None
        elif isinstance(dtype, str) and dtype.lower() == "object":
            raise ValueError("dtype: expected a numeric dtype or 'string' (for strings, read by a StringLookup "
                             "layer), got 'object'")
        elif dtype is not None and np.dtype(dtype).kind in "iub":
            self.input_dtype, dtype = np.dtype(dtype).name, None
        super().__init__(name=name, dtype=dtype, input_shape=normalize_shape("shape", shape), **kwargs)
        self.batch_size = batch_size
        self.output_shape = self.declared_input_shape  # what the layers after it receive (summary shows it)

    @property
    def dtype(self) -> str:
        """Keras's ``keras.Input(...).dtype``: the inputs' dtype ('int32', 'string', 'float64'), ``floatx()`` where none
        was given (``declared_dtype`` is the float dtype given, or None)."""
        from ..backend import floatx

        return self.input_dtype or self.__dict__.get("_float_dtype") or floatx()

    @dtype.setter
    def dtype(self, value) -> None:
        self.__dict__["_float_dtype"] = value

    @property
    def declared_dtype(self) -> str | None:
        return self.__dict__.get("_float_dtype")

    @property
    def input(self):
        """Keras's: an InputLayer's node takes no tensor."""
        return []

    @property
    def output(self):
        """The input itself (Keras's InputLayer outputs the KerasTensor it made)."""
        return self

    @property
    def shape(self) -> tuple:
        """Keras's ``keras.Input(...).shape``: the batch dimension (None unless given), then the sample shape."""
        symbolic.note_shape_read()
        return (self.batch_size,) + self._sample_shape_with_variable_axes()

    @property
    def batch_shape(self) -> tuple:
        """Keras's ``InputLayer.batch_shape``: the batch size (None unless given), then the sample shape."""
        return (self.batch_size,) + self._sample_shape_with_variable_axes()

    def _sample_shape_with_variable_axes(self) -> tuple:
        """The declared sample shape, None on the axes of any length (as Keras shows and saves them)."""
        return tuple(None if k in self.variable_axes else dim for k, dim in enumerate(self.declared_input_shape))

    def forward(self, x, training):
        return x, (lambda dy, need_dx=True: dy if need_dx else None)

    def get_config(self):
        config = super().get_config()
        config["shape"] = config.pop("input_shape")
        if self.variable_axes:
            config["shape"] = self._sample_shape_with_variable_axes()
        if self.input_dtype is not None:
            config["dtype"] = self.input_dtype
        return config


def Input(shape=None, batch_size=None, dtype=None, sparse=None, ragged=None, batch_shape=None, name=None, tensor=None,
          optional=False, **kwargs):
    """``keras.Input``: in gpunn it returns the InputLayer, which ``Sequential`` accepts as its first layer."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse, ragged=ragged,
                      batch_shape=batch_shape, input_tensor=tensor, optional=optional, name=name, **kwargs)
