"""Permute (Keras 3: ``keras/src/layers/reshaping/permute.py``): the sample axes reordered by ``dims`` (1-based,
the batch axis stays first), copied into a contiguous buffer; backward permutes the gradient back."""
from __future__ import annotations

from .base import Layer


class Permute(Layer):
    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):  # Keras's message
            raise ValueError("Invalid permutation argument `dims` for Permute Layer. The set of indices in `dims` must "
                             f"be consecutive and start from 1. Received dims={dims}")
        self.dims = dims

    def output_sample_shape(self, input_shape):
        if len(input_shape) != len(self.dims):
            raise ValueError(f"layer {self.name!r}: dims={self.dims} permutes samples of {len(self.dims)} axes, got "
                             f"samples of shape {tuple(input_shape)}")
        return tuple(input_shape[d - 1] for d in self.dims)

    def forward(self, x, training):
        ops, rows = self.ops, x.shape[0]
        ws = self.workspace(rows)
        axes = (0,) + self.dims
        y = ops.copy_into(x.transpose(axes), ws.buffer("y", (rows,) + tuple(self.output_shape), x.dtype))
        back = tuple(sorted(range(len(axes)), key=axes.__getitem__))  # the inverse permutation

        def backprop(dy, need_dx=True):
            if not need_dx:
                return None
            return ops.copy_into(dy.transpose(back), ws.buffer("dx", x.shape, x.dtype))

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}
