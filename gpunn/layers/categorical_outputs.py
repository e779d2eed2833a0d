"""What Keras's preprocessing layers of categories (Discretization, Hashing, IntegerLookup) share: their output
modes, the output shapes Keras gives them, the encoding of category indices, and their argument checks.

Each layer finds the index of every input value on the host (``write_indices``: binning, hashing, a
vocabulary lookup are NumPy work, as Keras runs them on the CPU in TensorFlow), as one host call of the step
(``Ops.run_python``, which a recorded step replays, so an ``adapt()`` after the model was built is seen), and
the indices are encoded on the device (``encode``), as CategoryEncoding encodes its categories:

- "int": the indices themselves, in the model's float dtype (Keras outputs int32 / int64 tensors).
- "one_hot": a row of ``depth`` per value; the last axis of samples is replaced when it is 1 (a column of one
  value per sample gives (batch, depth)), else a new axis is added (keras ``encode_categorical_inputs``).
- "multi_hot" / "count" / "tf_idf": per sample of k values, a row of ``depth``: 1 where an index occurs, the
  number of times it occurs, or that count times the index's IDF weight.

Indices outside [0, depth) (IntegerLookup's mask token outside "int" mode) encode as zeros, as TensorFlow's
``one_hot`` and ``bincount`` drop them. The categories have no gradient: backprop gives zeros.
"""
from __future__ import annotations

import functools

import numpy as np

ALL_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
# Keras's older names, which its layers still take
MODE_ALIASES = {"binary": "multi_hot", "tf-idf": "tf_idf"}


def check_output_mode(output_mode, allowed: tuple, layer: str) -> str:
    output_mode = MODE_ALIASES.get(output_mode, output_mode) if isinstance(output_mode, str) else output_mode
    if output_mode not in allowed:
        raise ValueError(f"output_mode: {layer} takes one of {allowed}, got {output_mode!r}")
    return output_mode


def check_not_sparse(sparse) -> bool:
    if sparse:
        raise ValueError("sparse: gpunn's layers output dense arrays; leave sparse=False (Keras's sparse outputs "
                         "need its TensorFlow backend)")
    return False


def output_shape(sample_shape: tuple, output_mode: str, depth: int, layer: str) -> tuple:
    """The sample shape of the encoded output (Keras's ``compute_output_shape`` without the batch axis)."""
    sample_shape = tuple(sample_shape)
    if output_mode == "int":
        return sample_shape
    if output_mode == "one_hot":
        return (sample_shape[:-1] if sample_shape and sample_shape[-1] == 1 else sample_shape) + (depth,)
    if len(sample_shape) != 1:
        raise ValueError(f"inputs: {layer} with output_mode={output_mode!r} encodes samples of one axis (batch, k), "
                         f"got samples of shape {sample_shape}")
    return (depth,)


def keras_output_shape(input_shape, output_mode: str, depth) -> tuple:
    """Keras's ``compute_output_shape`` of its encoding layers (CategoryEncoding, Discretization, the lookups), batch
    axis first: one-hot replaces a last axis of 1 or adds one; the others encode the last axis, a shape of one axis
    being one sample's values (``(None,)`` gives ``(depth,)``, as Keras's)."""
    shape = tuple(input_shape)
    if output_mode == "int":
        return shape
    if not shape:
        return (depth,)
    if output_mode == "one_hot":
        return (shape[:-1] if len(shape) > 1 and shape[-1] == 1 else shape) + (depth,)
    return shape[:-1] + (depth,)


def one_row_per_call(layer) -> bool:
    """Whether a 1-D input is one sample of several values for ``layer`` whatever it was built for: an encoding
    of all the values of a sample into one row (Keras's ``encode_categorical_inputs`` on a rank-1 input)."""
    return getattr(layer, "output_mode", None) in ("multi_hot", "count", "tf_idf") and \
        getattr(layer, "encodes_categories", False)


def write_indices(ops, x, out, indices_of) -> None:
    """``out`` (a device buffer shaped like ``x``) = ``indices_of(x on the host)``, as one host call of the step
    (replayed by a recorded step). ``indices_of`` returns an integer array; it may update other buffers too."""
    ops.run_python(functools.partial(_write_indices, ops, x, out, indices_of))


def _write_indices(ops, x, out, indices_of) -> None:
    indices = indices_of(np.asarray(ops.to_numpy(x)))
    ops.upload(np.asarray(indices).astype(out.dtype, copy=False), out)


def encode(ops, ws, indices, output_mode: str, depth: int, output_sample_shape: tuple, idf=None):
    """The layer's output for ``indices`` (rows, *S) in the workspace ``ws`` (see the module docstring);
    ``idf``: a (1, depth) device buffer of weights for "tf_idf"."""
    if output_mode == "int":
        return indices
    rows = indices.shape[0]
    tokens = ws.buffer("tokens", (1, 1, depth), indices.dtype)
    if ws.objects.get("tokens") is not tokens:  # written once into each buffer made
        ops.upload(np.arange(depth, dtype=indices.dtype).reshape(tokens.shape), tokens)
        ws.objects["tokens"] = tokens
    flat = indices.reshape(rows, -1, 1)
    hot = ws.buffer("one_hot", (rows, flat.shape[1], depth), indices.dtype)
    ops.equal(flat, tokens, hot)  # 1.0 where an index is the category, else 0.0
    if output_mode == "one_hot":
        return hot.reshape((rows,) + tuple(output_sample_shape))
    y = ws.buffer("y", (rows, depth), indices.dtype)
    if output_mode == "multi_hot":
        return ops.max(hot, 1, y)
    ops.sum(hot, 1, y)
    if output_mode == "tf_idf":
        ops.multiply(y, idf, y)
    return y


def no_gradient(ops, ws, x):
    """The backprop of a layer of categories: zeros for an earlier layer that asks for its gradient."""

    def backprop(dy, need_dx=True):
        if not need_dx:
            return None
        dx = ws.buffer("dx", x.shape, x.dtype)
        ops.fill(0, dx)
        return dx

    return backprop
