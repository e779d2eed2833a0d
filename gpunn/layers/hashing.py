"""Hashing (Keras 3: ``keras/src/layers/preprocessing/hashing.py``): each number or string to one of ``num_bins``
bins by a stable hash, then encoded as ``output_mode`` says ("int", "one_hot", "multi_hot", "count":
``categorical_outputs.py``).

The bins are Keras's, exactly: Keras hashes with TensorFlow, a float truncated to int64 first (one out of the
int64 range becomes its minimum, as TensorFlow's cast makes it), the integer's decimal text hashed with FarmHash64,
or SipHash64 keyed by ``salt``, modulo the number of bins (``stable_hashes.py``); a string's UTF-8 bytes are hashed
as they are. With ``mask_value`` set (and more than one bin) values equal to it go to bin 0 and the others to
1 + their hash modulo ``num_bins - 1``.

Strings never reach the device: on a model's string input the layer is one of those reading strings
(``text_inputs.py``): the model hashes them on the host once per array, and the layer encodes the bins on the
device. Called on its own, on strings, it does the same in one call.

Where gpunn differs: the model's numeric inputs reach the layer in its float dtype, so integers are exact up to
2**24 in float32 (gpunn refuses larger ones before any work; a float64 model takes them up to 2**53); "int" outputs
are the model's floats, not int64; ``sparse=True`` is refused. With samples of k > 1 values, "one_hot" gives (batch,
k, num_bins), what Keras's call returns (Keras's declared output shape there is (batch, num_bins)).
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import dtype_policies
from . import categorical_outputs as categorical
from . import numeric_arguments as numeric
from .base import Layer
from . import text_inputs, tf_pipeline
from .keyword_inputs import NOT_GIVEN
from .stable_hashes import hash_buckets, text_hash_buckets
from .text_data import text_array

OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count")


class Hashing(Layer):
    encodes_categories = True  # (a 1-D input is one sample in multi_hot / count modes: calling.py)
    takes_text = True  # a model's string input may be read by it (text_inputs.py)
    keras_int_dtype = "int64"  # the dtype of Keras's "int" output: int64 bins (tf_pipeline.py)

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False, **kwargs):
        # Keras's dtype is the output's: int64 in "int" mode (which it requires there), else floatx. gpunn's
        # layers compute and output in the model's float dtype: an integer dtype is kept for the files only.
        dtype = dtype_policies.dtype_name(kwargs.pop("dtype", None))  # (a policy, a Keras config's dict)
        if output_mode == "int" and dtype is not None and np.dtype(dtype).name not in ("int32", "int64"):
            raise ValueError("dtype: when `output_mode=\"int\"`, `dtype` should be an integer type, 'int32' or "
                             f"'int64'. Received: dtype={dtype!r}")  # Keras's check (hashing.py)
        self.keras_file_dtype = "int64" if output_mode == "int" else None
        if dtype is not None and np.dtype(dtype).kind in "iu":
            self.keras_file_dtype, dtype = np.dtype(dtype).name, None
        super().__init__(dtype=dtype, **kwargs)
        self.num_bins = numeric.integer_argument("num_bins", num_bins, minimum=1)
        if isinstance(mask_value, bytes):
            mask_value = mask_value.decode("utf-8")
        if mask_value is not None and not isinstance(mask_value, str) and (
                isinstance(mask_value, bool) or not isinstance(mask_value, numbers.Real)):
            raise ValueError(f"mask_value: expected a number, a string or None, got {mask_value!r}")
        self.mask_value = mask_value.item() if isinstance(mask_value, np.generic) else mask_value
        self.salt = numeric.check_salt(salt)
        self.strong_hash = self.salt is not None
        self.output_mode = categorical.check_output_mode(output_mode, OUTPUT_MODES, "Hashing")
        self.sparse = categorical.check_not_sparse(sparse)

    def output_sample_shape(self, input_shape):
        return categorical.output_shape(input_shape, self.output_mode, self.num_bins, f"Hashing {self.name!r}")

    def __call__(self, inputs=NOT_GIVEN, *more, **keywords):
        if tf_pipeline.is_pipeline_tensor(inputs):  # inside tf.data's map (tf_pipeline.py)
            return tf_pipeline.call_in_pipeline(self, inputs)
        if not numeric.is_text(inputs):
            return super().__call__(inputs, *more, **keywords)
        # On its own, on strings: their bins, made on the host, encoded as the model's string input's are
        before = self.__dict__.get("_text_columns", NOT_GIVEN)
        self.__dict__["_text_columns"] = None
        try:
            return super().__call__(self.encode_text("inputs", inputs), *more, **keywords)
        finally:
            if before is NOT_GIVEN:
                del self.__dict__["_text_columns"]
            else:
                self.__dict__["_text_columns"] = before

    def forward(self, x, training):
        ops = self.ops
        ws = self.workspace(x.shape[0])
        if text_inputs.reading_strings(self):  # the bins encode_text made of a string input
            indices = text_inputs.columns_of(self, x, ws)
        else:
            indices = ws.buffer("indices", x.shape, x.dtype)
            categorical.write_indices(ops, x, indices, self.bins_of)
        y = categorical.encode(ops, ws, indices, self.output_mode, self.num_bins, self.output_shape)
        return y, categorical.no_gradient(ops, ws, x)

    def encode_text(self, argument: str, data) -> np.ndarray:
        """The bin of each string of ``data`` (the host's work for a string input)."""
        texts = text_array(argument, data)
        return self._masked_bins(argument, texts, True, lambda bins: text_hash_buckets(texts, bins, self.salt))

    def encoded_shape(self, sample_shape: tuple) -> tuple:
        return tuple(sample_shape)

    def bins_of(self, values) -> np.ndarray:
        """The bin of each of ``values`` (a NumPy array of numbers), as Keras's ``_hash_values_to_bins``."""
        values = np.asarray(values)
        return self._masked_bins("inputs", values, False,
                                 lambda bins: hash_buckets(numeric.as_int64(values), bins, self.salt))

    def _masked_bins(self, argument: str, values: np.ndarray, strings: bool, hashed) -> np.ndarray:
        """``hashed(number of bins)``, with ``mask_value`` (where set, and more than one bin) in bin 0 and the
        others after it, as Keras's ``_hash_values_to_bins`` places them. A mask of the other kind than the values
        (a string for numbers, a number for strings) is refused, as TensorFlow's comparison refuses it."""
        if self.mask_value is None or self.num_bins == 1:
            return hashed(self.num_bins)
        if isinstance(self.mask_value, str) != strings:
            raise TypeError(f"{argument}: layer {self.name!r} has mask_value={self.mask_value!r} and is given "
                            f"{'strings' if strings else 'numbers'}; give a mask value of the inputs' kind")
        return np.where(values == self.mask_value, 0, hashed(self.num_bins - 1) + 1)

    def get_config(self):
        config = {**super().get_config(), "num_bins": self.num_bins, "salt": self.salt, "mask_value": self.mask_value,
                  "output_mode": self.output_mode, "sparse": self.sparse}
        if self.keras_file_dtype is not None:
            config["dtype"] = self.keras_file_dtype
        return config
