"""CategoryEncoding (Keras 3: ``keras/src/layers/preprocessing/category_encoding.py``): integer categories in
[0, num_tokens) to one-hot rows, or per sample to a multi-hot or count row, as a model's first layer after an
integer input (``Input(shape=(k,), dtype="int32")``).

Output shapes as Keras's ``compute_output_shape``: "one_hot" of samples of one id (shape (1,)) gives
(num_tokens,), of k ids (k, num_tokens); "multi_hot" and "count" give (num_tokens,). Ids outside [0,
num_tokens) are refused before any work (``token_ids.py``), where Keras's JAX backend would silently drop them.
``layer(ids, count_weights=w)`` in "count" mode sums a weight per id (Keras's docs example) on data; in a functional
model it would be a second input, and is refused. Not supported: ``sparse=True``. The categories have no gradient.
"""
from __future__ import annotations

import numpy as np

from . import categorical_outputs as categorical
from . import keyword_inputs
from .base import Layer
from .token_ids import check_ids

OUTPUT_MODES = ("one_hot", "multi_hot", "count")


class CategoryEncoding(Layer):
    encodes_categories = True  # (a 1-D input is one sample in multi_hot / count modes: calling.py)

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if output_mode == "binary":  # Keras's deprecated name
            output_mode = "multi_hot"
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode: expected one of {OUTPUT_MODES}, got {output_mode!r}")
        if num_tokens is None:
            raise ValueError("num_tokens: must be set to use this layer (to learn the categories from data, use "
                             "IntegerLookup(output_mode=...) and its adapt() instead)")
        if isinstance(num_tokens, bool) or not isinstance(num_tokens, (int, np.integer)) or num_tokens < 1:
            raise ValueError(f"num_tokens: expected an integer >= 1, got {num_tokens!r}")
        if sparse:
            raise ValueError("sparse: gpunn's layers output dense arrays; leave sparse=False")
        self.num_tokens, self.output_mode, self.sparse = int(num_tokens), output_mode, False

    def __call__(self, inputs=keyword_inputs.NOT_GIVEN, *more, count_weights=None, **keywords):
        if count_weights is None:
            return super().__call__(inputs, *more, **keywords)
        return self._weighted_counts(inputs, count_weights)

    def _weighted_counts(self, inputs, count_weights):
        """Keras's ``call(inputs, count_weights)``: per sample, the sum of the weights of the ids of each token."""
        from . import symbolic
        from .call_result import call_result
        from ..ops import get_ops

        if self.output_mode != "count":  # Keras's words
            raise ValueError("`count_weights` is not used when `output_mode` is not `'count'`. Received "
                             f"`count_weights={count_weights}`.")
        if symbolic.is_symbolic(inputs) or symbolic.is_symbolic(count_weights):
            raise TypeError(f"count_weights: layer {self.name!r} takes them in a call on data; in a functional "
                            "model, multiply the one-hot rows of output_mode='one_hot' by the weights and sum them "
                            "over the ids (gpunn.ops.sum(..., axis=1))")
        ops = self.ops or get_ops()
        ids, weights = ops.to_numpy(inputs), ops.to_numpy(count_weights)
        if weights.shape != ids.shape:
            raise ValueError(f"count_weights: expected the shape of the ids, {ids.shape}, got {weights.shape}")
        if ids.ndim not in (1, 2):
            raise ValueError(f"inputs: layer {self.name!r} takes ids of shape (batch, k) or (k,), got shape "
                             f"{ids.shape}")
        check_ids("inputs", ids, self.num_tokens, self.name, f"num_tokens={self.num_tokens}", np.float64,
                  noun="categories")
        dtype = np.dtype(self.dtype or "float32")
        rows, weights = np.atleast_2d(ids).astype(np.int64), np.atleast_2d(weights).astype(dtype)
        counts = np.zeros((rows.shape[0], self.num_tokens), dtype)
        np.add.at(counts, (np.arange(rows.shape[0])[:, None], rows), weights)
        return call_result(ops, ops.asarray(counts[0] if ids.ndim == 1 else counts))

    def output_sample_shape(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(f"layer {self.name!r}: CategoryEncoding takes samples of ids of one axis (batch, k), "
                             f"got samples of shape {tuple(input_shape)}")
        if self.output_mode == "one_hot" and input_shape[0] != 1:
            return (input_shape[0], self.num_tokens)
        return (self.num_tokens,)

    def compute_output_shape(self, input_shape):
        return categorical.keras_output_shape(input_shape, self.output_mode, self.num_tokens)

    def check_input_values(self, argument: str, x) -> None:
        check_ids(argument, x, self.num_tokens, self.name, f"num_tokens={self.num_tokens}", np.float32,
                  noun="categories")

    def forward(self, x, training):
        ops, rows = self.ops, x.shape[0]
        ws = self.workspace(rows)
        tokens = ws.buffer("tokens", (1, 1, self.num_tokens), x.dtype)
        if ws.objects.get("tokens") is not tokens:  # written once into each buffer made
            ops.upload(np.arange(self.num_tokens, dtype=x.dtype).reshape(tokens.shape), tokens)
            ws.objects["tokens"] = tokens
        hot = ws.buffer("one_hot", (rows, x.shape[1], self.num_tokens), x.dtype)
        ops.equal(x.reshape(rows, x.shape[1], 1), tokens, hot)  # 1.0 where an id is the token, else 0.0
        if self.output_mode == "one_hot":
            y = hot.reshape((rows,) + tuple(self.output_shape))
        elif self.output_mode == "multi_hot":
            y = ops.max(hot, 1, ws.buffer("y", (rows, self.num_tokens), x.dtype))
        else:
            y = ops.sum(hot, 1, ws.buffer("y", (rows, self.num_tokens), x.dtype))

        def backprop(dy, need_dx=True):
            if not need_dx:
                return None
            dx = ws.buffer("dx", x.shape, x.dtype)
            ops.fill(0, dx)  # categories have no gradient
            return dx

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens, "output_mode": self.output_mode,
                "sparse": self.sparse}
