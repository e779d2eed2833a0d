"""Hashing (Keras 3: ``keras/src/layers/preprocessing/hashing.py``): each number to one of ``num_bins`` bins by
a stable hash, then encoded as ``output_mode`` says ("int", "one_hot", "multi_hot", "count":
``categorical_outputs.py``).

The bins are Keras's, exactly: Keras hashes with TensorFlow, a float truncated to int64 first (one out of the
int64 range becomes its minimum, as TensorFlow's cast makes it), the integer's decimal text hashed with FarmHash64,
or SipHash64 keyed by ``salt``, modulo the number of bins (``stable_hashes.py``). With ``mask_value`` set (and
more than one bin) values equal to it go to bin 0 and the others to 1 + their hash modulo ``num_bins - 1``.

Where gpunn differs: only numbers are hashed (Keras also hashes strings: they are refused by name here); the
model's inputs reach the layer in its float dtype, so integers are exact up to 2**24 in float32 (gpunn refuses
larger ones before any work; a float64 model takes them up to 2**53); "int" outputs are the model's floats, not
int64; ``sparse=True`` is refused. With samples of k > 1 values, "one_hot" gives (batch, k, num_bins), what
Keras's call returns (Keras's declared output shape there is (batch, num_bins)).
"""
from __future__ import annotations

import numbers

import numpy as np

from . import categorical_outputs as categorical
from . import numeric_arguments as numeric
from .base import Layer
from .stable_hashes import hash_buckets

OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count")


class Hashing(numeric.TakesNumbers, Layer):
    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False, **kwargs):
        # Keras's dtype is the output's: int64 in "int" mode (which it requires there), else floatx. gpunn's
        # layers compute and output in the model's float dtype: an integer dtype is kept for the files only.
        dtype = kwargs.pop("dtype", None)
        if output_mode == "int" and dtype is not None and np.dtype(dtype).name not in ("int32", "int64"):
            raise ValueError("dtype: when `output_mode=\"int\"`, `dtype` should be an integer type, 'int32' or "
                             f"'int64'. Received: dtype={dtype!r}")  # Keras's check (hashing.py)
        self.keras_file_dtype = "int64" if output_mode == "int" else None
        if dtype is not None and np.dtype(dtype).kind in "iu":
            self.keras_file_dtype, dtype = np.dtype(dtype).name, None
        super().__init__(dtype=dtype, **kwargs)
        self.num_bins = numeric.integer_argument("num_bins", num_bins, minimum=1)
        numeric.refuse_text("mask_value", mask_value, "Hashing")
        if mask_value is not None and (isinstance(mask_value, bool) or not isinstance(mask_value, numbers.Real)):
            raise ValueError(f"mask_value: expected a number or None, got {mask_value!r}")
        self.mask_value = mask_value.item() if isinstance(mask_value, np.generic) else mask_value
        self.salt = numeric.check_salt(salt)
        self.strong_hash = self.salt is not None
        self.output_mode = categorical.check_output_mode(output_mode, OUTPUT_MODES, "Hashing")
        self.sparse = categorical.check_not_sparse(sparse)

    def compute_output_shape(self, input_shape):
        return categorical.output_shape(input_shape, self.output_mode, self.num_bins, f"Hashing {self.name!r}")

    def forward(self, x, training):
        ops = self.ops
        ws = self.workspace(x.shape[0])
        indices = ws.buffer("indices", x.shape, x.dtype)
        categorical.write_indices(ops, x, indices, self.bins_of)
        y = categorical.encode(ops, ws, indices, self.output_mode, self.num_bins, self.output_shape)
        return y, categorical.no_gradient(ops, ws, x)

    def bins_of(self, values) -> np.ndarray:
        """The bin of each of ``values`` (a NumPy array of numbers), as Keras's ``_hash_values_to_bins``."""
        values = np.asarray(values)
        hash_bins = self.num_bins
        masked = None
        if self.mask_value is not None and hash_bins > 1:  # bin 0 is the mask's
            hash_bins -= 1
            masked = values == self.mask_value
        bins = hash_buckets(numeric.as_int64(values), hash_bins, self.salt)
        if masked is not None:
            bins = np.where(masked, 0, bins + 1)
        return bins

    def get_config(self):
        config = {**super().get_config(), "num_bins": self.num_bins, "salt": self.salt, "mask_value": self.mask_value,
                  "output_mode": self.output_mode, "sparse": self.sparse}
        if self.keras_file_dtype is not None:
            config["dtype"] = self.keras_file_dtype
        return config
