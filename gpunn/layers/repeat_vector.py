"""RepeatVector (Keras 3: ``keras/src/layers/reshaping/repeat_vector.py``): each sample of ``features`` values
repeated ``n`` times, (batch, features) -> (batch, n, features); backward sums the gradient over the repeats."""
from __future__ import annotations

from .base import Layer


class RepeatVector(Layer):
    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(n, int) or isinstance(n, bool):  # Keras's checks and messages
            raise TypeError(f"Expected an integer value for `n`, got {type(n)}.")
        if n <= 0:
            raise ValueError(f"Argument `n` should be a positive integer. Received: n={n}")
        self.n = n

    def output_sample_shape(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(f"layer {self.name!r}: RepeatVector takes samples of one axis (batch, features), got "
                             f"samples of shape {tuple(input_shape)}")
        return (self.n,) + tuple(input_shape)

    def forward(self, x, training):
        ops, rows = self.ops, x.shape[0]
        ws = self.workspace(rows)
        y = ws.buffer("y", (rows, self.n, x.shape[1]), x.dtype)
        ops.copy_into(x.reshape(rows, 1, x.shape[1]), y)  # broadcast over the repeats

        def backprop(dy, need_dx=True):
            if not need_dx:
                return None
            return ops.sum(dy, 1, ws.buffer("dx", x.shape, x.dtype))

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "n": self.n}
