"""Embedding (Keras 3: ``keras/src/layers/core/embedding.py``): token ids in, rows of a trained table out.

Inputs of shape (batch, *S) hold token ids in [0, input_dim); outputs have shape (batch, *S, output_dim),
``out[..., :] = embeddings[id]``. The ids reach the layer in the model's float dtype (gpunn's data path
converts every input to it, exactly for ids below 2**24 in float32, 2**53 in float64) and are cast to int64 in
the step, as Keras casts its inputs to int32. ``check_input_values`` refuses ids that are not integers in range
before any work, where TensorFlow raises at the lookup and JAX silently clamps.

``mask_zero=True`` makes id 0 padding: the layer's output carries a mask of the ids that are not 0, for
the layers after it (``masking.py``: ``GlobalAveragePooling1D`` averages over the unmasked steps only).

Backward writes the table's whole gradient (``ops.embedding_grad``: zero, then each row of dy added at its
id); the ids themselves have no gradient (a zero dx when an earlier layer asks for one).

Not supported from Keras: LoRA (``lora_rank``) and quantization; ``input_length`` is accepted with Keras's
deprecation warning and ignored, as Keras 3 does.
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import constraints, initializers, regularizers
from . import unused_keras_arguments
from .base import Layer, WeightSpec, weight_property
from .token_ids import check_ids



def _positive_int(argument: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{argument}: expected a positive integer, got {value!r} (of type {type(value).__name__})")
    return int(value)


class _GivenTable(initializers.Initializer):
    """Embedding(weights=...): the table a script passes in, as the layer's first value."""

    def __init__(self, table: np.ndarray):
        self.table = table

    def __call__(self, shape, dtype="float32"):
        return self.table.astype(dtype)


class Embedding(Layer):
    has_weights = True
    embeddings = weight_property("embeddings")

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, weights=None, lora_rank=None, lora_alpha=None,
                 quantization_config=None, **kwargs):
        self.input_dim = _positive_int("input_dim", input_dim)
        self.output_dim = _positive_int("output_dim", output_dim)
        if kwargs.pop("input_length", None) is not None:
            warnings.warn("Argument `input_length` is deprecated. Just remove it.", stacklevel=2)  # Keras's words
        unused_keras_arguments.refuse_used("Embedding", unused_keras_arguments.FULL_PRECISION, lora_rank=lora_rank,
                                           quantization_config=quantization_config)
        super().__init__(**kwargs)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.resolve("embeddings_constraint", embeddings_constraint)
        if not isinstance(mask_zero, (bool, np.bool_)):
            raise ValueError(f"mask_zero: expected True or False, got {mask_zero!r}")
        self.mask_zero = bool(mask_zero)
        if weights is not None:
            self._given = self._given_table(weights)

    def _given_table(self, weights):
        if isinstance(weights, (list, tuple)) and len(weights) == 1:
            weights = weights[0]
        table = np.asarray(weights)
        shape = (self.input_dim, self.output_dim)
        if table.shape != shape or table.dtype.kind not in "fiu":
            raise ValueError(f"weights: expected a numeric matrix of shape {shape} (input_dim, output_dim), got "
                             f"{'dtype ' + str(table.dtype) + ' ' if table.dtype.kind not in 'fiu' else ''}"
                             f"shape {table.shape}")
        return _GivenTable(table)

    def build(self, input_shape=None):
        """Keras's ``build(input_shape=None)``: the table does not depend on the ids' shape, so ``build()`` alone
        makes it (for one id per sample until a call says otherwise)."""
        super().build(() if input_shape is None else input_shape)

    def output_sample_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def weight_specs(self):
        initializer = getattr(self, "_given", None) or self.embeddings_initializer
        return [WeightSpec("embeddings", (self.input_dim, self.output_dim), initializer,
                           self.embeddings_regularizer, self.embeddings_constraint)]

    def output_mask_source(self, source):
        return self if self.mask_zero else None  # Keras's compute_mask: ids != 0, whatever came in

    def compute_mask(self, inputs, mask=None):
        """Keras's: where the ids are not 0 (booleans), None without ``mask_zero``."""
        if not self.mask_zero:
            return None
        from .. import ops

        return _value(ops.not_equal(inputs, 0))

    def mask_for(self, rows: int):
        """The mask of this layer's last output for batches of ``rows`` samples: 1 where the id is not 0."""
        return self.workspace(rows).buffer("mask", (rows,) + tuple(self.input_shape), self._dtype())

    def _dtype(self):
        return self.bound.weights["embeddings"].dtype

    def check_input_values(self, argument: str, x) -> None:
        """Token ids: integers in [0, input_dim), exact in the model's dtype (``token_ids.py``)."""
        check_ids(argument, x, self.input_dim, self.name, f"input_dim={self.input_dim}",
                  self._dtype() if self.bound.weights else "float32", noun="token ids")

    def forward(self, x, training):
        ops = self.ops
        table = self.bound.weights["embeddings"]
        rows = x.shape[0]
        ws = self.workspace(rows)
        ids = ops.cast_into(x, ws.buffer("ids", x.shape, np.int64))
        ops.check_ids_in_range(ids, self.input_dim, self.name, ws.buffer("id_range", (2,), np.int64))
        y = ops.embedding_lookup(table, ids, ws.buffer("y", x.shape + (self.output_dim,), table.dtype))
        if self.mask_zero:
            ops.greater(ids, ws.constant("no_token", 0, np.int64), self.mask_for(rows))

        def backprop(dy, need_dx=True):
            grads = self.bound.grads
            if grads:  # a frozen layer has no gradient views
                ops.embedding_grad(dy, ids, grads["embeddings"])
            if not need_dx:
                return None
            return ops.fill(0, ws.buffer("dx", x.shape, x.dtype))  # ids are not differentiable

        return y, backprop

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
        }


def _value(result):
    """A gpunn.ops result as Keras's eager calls give it: the array (a symbolic value stays as it is)."""
    return getattr(result, "value", result)
