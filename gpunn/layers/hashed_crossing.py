"""HashedCrossing (Keras 3: ``keras/src/layers/preprocessing/hashed_crossing.py``): the cross of two or more
categorical features, each sample's combination hashed into one of ``num_bins`` bins, as an index ("int") or a
one-hot row ("one_hot").

The bins are TensorFlow's ``tf.sparse.cross_hashed``, exactly: a 64-bit state starting at the key 0xDECAFCAFFE,
combined with each feature's value by ``FingerprintCat64`` (``sparse_cross_op.cc``): a string's FarmHash64
fingerprint (``stable_hashes.py``), an integer itself (its two's-complement bits), modulo ``num_bins``. Each
input is one value per sample (shape ``()``, ``(batch,)`` or ``(batch, 1)``, all alike), of integers or strings.

On its own, and inside a tf.data pipeline (``tf_pipeline.py``), it crosses integers and strings; in a model it
crosses the model's integer inputs (they reach it in the model's float dtype, exact up to 2**24 in float32), as a
host call of the step, and encodes the bins on the device. Where gpunn differs: crossing a model's string inputs
inside the model is refused by name (cross them in the data pipeline, or look them up first); outputs are floats
(Keras: int64 bins); ``sparse=True`` is refused.
"""
from __future__ import annotations

import functools

import numpy as np

from . import categorical_outputs as categorical
from . import numeric_arguments as numeric
from . import symbolic, text_inputs, tf_pipeline
from .base import Layer
from .calling import call_result, compute_dtype
from .keyword_inputs import NOT_GIVEN
from .stable_hashes import fingerprint64
from .text_data import text_array

CROSS_KEY = np.uint64(0xDECAFCAFFE)  # TensorFlow's hash_key of tf.sparse.cross_hashed (sparse_ops.py)
_MUL = np.uint64(0xC6A4A7935BD1E995)


def _shift_mix(value):
    return value ^ (value >> np.uint64(47))


def fingerprint_cat64(first, second):
    """TensorFlow's ``FingerprintCat64`` of two uint64 arrays."""
    with np.errstate(over="ignore"):
        result = first ^ _MUL
        result ^= _shift_mix(second * _MUL) * _MUL
        result *= _MUL
        result = _shift_mix(result) * _MUL
        return _shift_mix(result)


def _feature_hashes(argument: str, values) -> np.ndarray:
    """Each value's uint64 as the cross combines it: a string's FarmHash64, an integer's bits."""
    if numeric.is_text(values):
        texts = text_array(argument, values).reshape(-1)
        distinct, where = np.unique(texts, return_inverse=True)
        return fingerprint64([text.encode("utf-8") for text in distinct.tolist()])[where]
    array = np.asarray(numeric.on_host(values))
    if array.dtype.kind == "f" and not np.array_equal(array, np.trunc(array)):
        raise ValueError(f"{argument}: HashedCrossing crosses integers or strings, got the non-integer "
                         f"{array[array != np.trunc(array)].reshape(-1)[0]}")
    if array.dtype.kind not in "iufb":
        raise TypeError(f"{argument}: HashedCrossing crosses integers or strings, got {array.dtype} values")
    return numeric.as_int64(array).reshape(-1).view(np.uint64)


def cross_bins(values: list, num_bins: int) -> np.ndarray:
    """The bin of each sample's cross of ``values`` (one array per feature, one value per sample), int64."""
    state = np.full(len(np.reshape(values[0], -1)), CROSS_KEY, dtype=np.uint64)
    for k, feature in enumerate(values):
        state = fingerprint_cat64(state, _feature_hashes(f"inputs[{k}]", feature))
    return (state % np.uint64(num_bins)).astype(np.int64)


class HashedCrossing(Layer):
    takes_inputs_list = True  # the model hands it the list of its inputs (wiring.py)
    keras_int_dtype = "int64"  # the dtype of Keras's "int" output: int64 bins (tf_pipeline.py)

    def __init__(self, num_bins, output_mode="int", sparse=False, name=None, dtype=None, **kwargs):
        # Keras's dtype is the output's (int64 in "int" mode): kept for the files; gpunn outputs its model's floats
        self.keras_file_dtype = "int64" if output_mode == "int" and dtype is None else None
        if dtype is not None and np.dtype(dtype).kind in "iu":
            self.keras_file_dtype, dtype = np.dtype(dtype).name, None
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.num_bins = numeric.integer_argument("num_bins", num_bins, minimum=1)
        self.output_mode = categorical.check_output_mode(output_mode, ("int", "one_hot"), "HashedCrossing")
        self.sparse = categorical.check_not_sparse(sparse)

    # ---- shapes -------------------------------------------------------------------------------------------
    def output_sample_shape(self, input_shape):
        several = isinstance(input_shape, (list, tuple)) and all(isinstance(s, (list, tuple)) for s in input_shape)
        shapes = [tuple(shape) for shape in input_shape] if several else None
        if shapes is None or len(shapes) < 2:
            raise ValueError(f"inputs: HashedCrossing crosses a list or tuple of two inputs or more, got samples of "
                             f"shape {input_shape}")
        if any(shape != shapes[0] for shape in shapes) or shapes[0] not in ((), (1,)):
            raise ValueError(f"inputs: all HashedCrossing inputs should have shape (), (batch_size,) or "
                             f"(batch_size, 1), alike; got samples of shapes {shapes}")
        if self.output_mode == "int":
            return shapes[0]
        return (self.num_bins,)

    # ---- calls ----------------------------------------------------------------------------------------------
    def __call__(self, inputs=NOT_GIVEN, *more, **keywords):
        if isinstance(inputs, (list, tuple)) and any(map(tf_pipeline.is_pipeline_tensor, inputs)):
            return tf_pipeline.call_in_pipeline(self, inputs)  # inside tf.data's map (tf_pipeline.py)
        if isinstance(inputs, (list, tuple)) and inputs and all(map(symbolic.is_symbolic, inputs)):
            for value in inputs:
                view = text_inputs.strings_view(value)
                if view is not None:
                    raise TypeError(f"layer {self.name!r} (HashedCrossing): input {view[0].name!r} holds strings, "
                                    "which gpunn crosses on their own or inside a tf.data pipeline, not inside a "
                                    "model: cross them before the model, or turn them into integers first "
                                    "(StringLookup)")
            return symbolic.call_symbolic(self, list(inputs), keywords.get("training"), keywords.get("mask"))
        return self._call_on_arrays(inputs)

    def _call_on_arrays(self, inputs):
        """On its own: Keras's output for arrays of one value per sample, computed on the host."""
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError("inputs: HashedCrossing should be called on a list or tuple of at least two inputs, got "
                             f"{type(inputs).__name__}")
        shapes = [np.shape(numeric.on_host(value)) for value in inputs]
        if any(shape != shapes[0] for shape in shapes) or len(shapes[0]) > 2 or (
                len(shapes[0]) == 2 and shapes[0][-1] != 1):
            raise ValueError(f"inputs: all HashedCrossing inputs should have shape (), (batch_size,) or (batch_size, "
                             f"1), alike; got shapes {shapes}")
        bins = cross_bins(list(inputs), self.num_bins).reshape(shapes[0])
        out = bins if self.output_mode == "int" else np.eye(self.num_bins, dtype=np.float32)[
            bins.reshape(shapes[0][:1]) if shapes[0] else bins]
        from ..ops import get_ops

        ops = self.ops or get_ops()
        dtype = self.keras_int_dtype if self.output_mode == "int" else compute_dtype(self)  # (Keras's int64 bins)
        return call_result(ops, ops.asarray(np.asarray(out).astype(dtype)))

    def forward(self, x, training):
        """``x``: the list of the model's integer inputs (in its float dtype), one value per sample each."""
        ops = self.ops
        rows = x[0].shape[0]
        ws = self.workspace(rows)
        indices = ws.buffer("indices", (rows, 1), x[0].dtype)
        ops.run_python(functools.partial(self._write_bins, list(x), indices))  # (replayed by a recorded step)
        if self.output_mode == "int":
            y = indices.reshape((rows,) + tuple(self.output_shape))
        else:
            y = categorical.encode(ops, ws, indices, "one_hot", self.num_bins, self.output_shape)

        def backprop(dy, need_dx=True):
            if not need_dx:
                return None
            dxs = [ws.buffer(f"dx{k}", part.shape, part.dtype) for k, part in enumerate(x)]
            for dx in dxs:
                ops.fill(0, dx)
            return dxs

        return y, backprop

    def _write_bins(self, x: list, indices) -> None:
        values = [np.asarray(self.ops.to_numpy(part)) for part in x]
        self.ops.upload(cross_bins(values, self.num_bins).astype(indices.dtype).reshape(indices.shape), indices)

    def get_config(self):
        config = {**super().get_config(), "num_bins": self.num_bins, "output_mode": self.output_mode,
                  "sparse": self.sparse}
        if self.keras_file_dtype is not None:
            config["dtype"] = self.keras_file_dtype
        return config
