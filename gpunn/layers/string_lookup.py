"""StringLookup (Keras 3: ``keras/src/layers/preprocessing/string_lookup.py`` and ``index_lookup.py``): strings
to their index in a vocabulary, encoded as ``output_mode`` says, or with ``invert=True`` indices back to strings.

It is IntegerLookup (``integer_lookup.py``: vocabulary, special tokens, ``adapt``, IDF weights, configs) with
string tokens. Tokens outside the vocabulary, with several OOV indices, go to the bucket TensorFlow's
``to_hash_bucket_fast`` (FarmHash64 of the UTF-8 bytes) gives them, or ``to_hash_bucket_strong`` (SipHash64)
with ``salt``, as Keras's do (``stable_hashes.py``).

Strings never reach the device. The layer reads a string input of the model (``keras.Input(shape=(1,),
dtype="string")``) and the model turns the strings of that input into their indices on the host, once per
array given to fit / evaluate / predict (``text_inputs.py``); on the device the layer encodes those indices as
its ``output_mode`` says, as IntegerLookup does. Called on its own, on strings, it does the same in one call.

Where gpunn differs: outputs are the model's floats (Keras: int64 indices); ``invert=True`` (indices to
strings) is for calls on the layer's own (a NumPy array of ``str``, Keras: a tensor of bytes), not inside a
model, whose outputs are numbers; ``sparse=True`` is refused.
"""
from __future__ import annotations

import numpy as np

from . import categorical_outputs as categorical
from . import numeric_arguments as numeric
from . import symbolic, text_inputs, tf_pipeline
from .integer_lookup import INT64_MAX, IntegerLookup, read_vocabulary_lines
from .keyword_inputs import NOT_GIVEN
from .stable_hashes import text_hash_buckets
from .text_data import text_array


def _string_token(argument: str, value):
    """A special token: None or a string."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8")
    raise ValueError(f"{argument}: expected a string or None, got {value!r} (of type {type(value).__name__})")


def _string_tokens(argument: str, values) -> np.ndarray:
    if isinstance(values, str):
        values = [values]
    return text_array(argument, values)


class StringLookup(IntegerLookup):
    token_dtype = str
    _special_token = staticmethod(_string_token)
    _tokens_of = staticmethod(_string_tokens)
    reads_text = True  # the model hands it its string input as indices (text_inputs.py)

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]", vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False, sparse=False,
                 encoding="utf-8", name=None, salt=None, **kwargs):
        if not isinstance(encoding, str):
            raise ValueError(f"encoding: expected the name of a text encoding, e.g. 'utf-8', got {encoding!r}")
        try:
            "".encode(encoding)
        except LookupError:
            raise ValueError(f"encoding: unknown text encoding {encoding!r}") from None
        self.encoding = encoding
        kwargs.pop("vocabulary_dtype", None)  # (a config written with it: strings are the only choice)
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices, mask_token=mask_token,
                         oov_token=oov_token, vocabulary=vocabulary, idf_weights=idf_weights, invert=invert,
                         output_mode=output_mode, pad_to_max_tokens=pad_to_max_tokens, sparse=sparse, name=name,
                         salt=salt, **kwargs)

    @staticmethod
    def _checked_vocabulary_dtype(vocabulary_dtype) -> str:
        return "string"

    def _read_vocabulary_file(self, path: str) -> np.ndarray:
        return np.array(read_vocabulary_lines(path, self.encoding), dtype=str)

    # ---- strings to indices, on the host -----------------------------------------------------------------
    def encode_text(self, argument: str, data) -> np.ndarray:
        """The indices of the strings of ``data`` (any shape) as int64, with the special indices Keras gives:
        a mask token's 0 in "int" mode, -1 (encoded as no category) in the others."""
        self._check_vocabulary_read()
        texts = text_array(argument, data, self.encoding)
        if self.invert:
            raise TypeError(f"{argument}: layer {self.name!r} (StringLookup with invert=True) maps indices to strings; "
                            "got strings")
        distinct, where = np.unique(texts.reshape(-1), return_inverse=True)
        if self.num_oov_indices == 0:
            self._refuse_oov(argument, texts)
        indices = self._lookup(distinct)[where].reshape(texts.shape)
        return np.where(indices == INT64_MAX, -1, indices)

    def encoded_shape(self, sample_shape: tuple) -> tuple:
        """The sample shape of ``encode_text``'s output for strings of ``sample_shape``: theirs."""
        return tuple(sample_shape)

    def _oov_buckets(self, keys: np.ndarray) -> np.ndarray:
        return text_hash_buckets(keys, self.num_oov_indices, self.salt)

    def check_input_values(self, argument: str, x) -> None:
        """(The model's inputs reach the layer as indices it made, ``encode_text``.)"""

    # ---- calls ------------------------------------------------------------------------------------------
    def __call__(self, inputs=NOT_GIVEN, *more, **keywords):
        if tf_pipeline.is_pipeline_tensor(inputs):  # inside tf.data's map (tf_pipeline.py)
            return tf_pipeline.call_in_pipeline(self, inputs)
        if symbolic.is_symbolic(inputs) or inputs is NOT_GIVEN:
            if self.invert:
                raise TypeError(f"layer {self.name!r}: StringLookup with invert=True outputs strings, which a gpunn "
                                "model does not compute; call the layer on the model's predictions instead")
            return super().__call__(inputs, *more, **keywords)
        if self.invert:
            return self._strings_at(numeric.on_host(inputs))
        return super().__call__(self.encode_text("inputs", inputs), *more, **keywords)

    def _strings_at(self, indices) -> np.ndarray:
        """Inverted: the string of each index (``oov_token`` outside the vocabulary, the mask token at 0)."""
        self._check_vocabulary_read()
        keys = numeric.as_int64(np.asarray(indices))
        start = self._token_start_index()
        inside = (keys >= start) & (keys < start + len(self._tokens))
        position = np.clip(keys - start, 0, max(len(self._tokens) - 1, 0))
        strings = np.where(inside, self._tokens[position] if len(self._tokens) else "", self.oov_token)
        if self.mask_token is not None:
            strings = np.where(keys == 0, self.mask_token, strings)
        return strings

    def forward(self, x, training):
        """``x``: the indices ``encode_text`` made (in the model's float dtype)."""
        self._check_vocabulary_read()
        ops = self.ops
        ws = self.workspace(x.shape[0])
        indices = text_inputs.columns_of(self, x, ws)  # (its own columns, where others read the input too)
        if self.output_mode == "int":
            y = ws.buffer("indices", indices.shape, x.dtype)
            ops.copy_into(indices, y)
            return y, categorical.no_gradient(ops, ws, x)
        idf = None
        if self.output_mode == "tf_idf":
            idf = ws.buffer("idf", (1, self.depth), x.dtype)
            ops.run_python(lambda: self._upload_idf_weights(ws, idf))  # (an adapt() after a recorded step is seen)
        y = categorical.encode(ops, ws, indices, self.output_mode, self.depth, self.output_shape, idf)
        return y, categorical.no_gradient(ops, ws, x)

    def _tokens_of_lines(self, lines: list) -> np.ndarray:
        return np.array(lines, dtype=str)

    def get_config(self):
        config = super().get_config()
        del config["vocabulary_dtype"]  # (Keras's StringLookup leaves it out: strings are the only choice)
        config["encoding"] = self.encoding
        return config
