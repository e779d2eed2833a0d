"""IntegerLookup (Keras 3: ``keras/src/layers/preprocessing/integer_lookup.py`` and ``index_lookup.py``):
integer tokens to their index in a vocabulary, encoded as ``output_mode`` says ("int", "one_hot", "multi_hot",
"count", "tf_idf": ``categorical_outputs.py``), or with ``invert=True`` indices back to tokens.

The vocabulary is given (``vocabulary=`` a list or array, or the path of a file of one token a line;
``set_vocabulary``) or learned by ``adapt(data)`` (``token_counts.py``). Indices, as Keras numbers them: the
mask token's 0 ("int" mode, ``mask_token`` set), then ``num_oov_indices`` indices for tokens outside the
vocabulary, then the vocabulary's tokens. With several OOV indices a token's is ``token % num_oov_indices``
(``oov_method="floormod"``) or its FarmHash64 / SipHash64 (``oov_method="farmhash"``, ``salt``) bucket, as
Keras's (``stable_hashes.py``); with none, a token outside the vocabulary is refused. The mask token is dropped
by the other modes (a row of zeros).

Saved state: a given vocabulary is in the config as Keras keeps it. A learned one (and its IDF weights) is
written into the config too, with the special tokens first and ``has_input_vocabulary=False`` (so the loaded
layer can be adapted again, in gpunn and in Keras), where Keras writes it into the file's assets.

Where gpunn differs: tokens are integers (``vocabulary_dtype="int64"`` only; strings are refused by name: they
are StringLookup's, ``string_lookup.py``); the inputs reach the layer in the model's float dtype, so tokens are
exact up to 2**24 in float32 (gpunn refuses larger ones before any work) and floats are truncated toward zero as
Keras's cast truncates them; outputs are the model's floats (Keras: int64 indices and tokens); ``sparse=True``
is refused. An adapted layer saved by Keras keeps its vocabulary in the ``.keras`` file's assets and its IDF
weights among the file's variables: ``load_model`` reads both (``load_keras_assets``); a layer made from such a
config alone is refused when used, naming ``set_vocabulary``.
"""
from __future__ import annotations

import os

import numpy as np

from .. import dtype_policies
from . import categorical_outputs as categorical
from . import numeric_arguments as numeric
from .base import Layer
from .stable_hashes import hash_buckets
from .token_counts import TokenCounts

INT64_MAX = np.iinfo(np.int64).max


def _integer_token(argument: str, value):
    """A special token: None or an integer."""
    numeric.refuse_text(argument, value, "IntegerLookup")
    if value is None:
        return None
    return numeric.integer_argument(argument, value)


def _integer_tokens(argument: str, values) -> np.ndarray:
    """A vocabulary (or data) as a flat int64 array; strings refused."""
    numeric.refuse_text(argument, values, "IntegerLookup")
    array = np.asarray(numeric.on_host(values))
    if array.dtype.kind not in "iufb":
        raise TypeError(f"{argument}: expected integer tokens, got {array.dtype} values")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"{argument}: expected integer tokens, found NaN or inf")
    return numeric.as_int64(array)


def read_vocabulary_lines(path: str, encoding: str = "utf-8") -> list:
    """The lines of a vocabulary file, without the empty lines at its end (Keras's reading)."""
    if not os.path.exists(path):
        raise ValueError(f"vocabulary: the vocabulary file {path!r} does not exist")
    with open(path, encoding=encoding) as file:
        lines = file.read().splitlines()
    while lines and lines[-1] == "":
        lines.pop()
    return lines


def _read_integer_vocabulary(path: str) -> np.ndarray:
    lines = read_vocabulary_lines(path)
    tokens = []
    for number, line in enumerate(lines, 1):
        try:
            tokens.append(int(line))
        except ValueError:
            raise TypeError(f"vocabulary: line {number} of {path!r} is {line!r}; IntegerLookup takes integer tokens "
                            "(a vocabulary of strings is StringLookup's)") from None
    return np.array(tokens, dtype=np.int64)


class IntegerLookup(numeric.TakesNumbers, Layer):
    encodes_categories = True  # (a 1-D input is one sample in multi_hot / count modes: calling.py)
    # What makes this layer's tokens integers (StringLookup, string_lookup.py, replaces them by strings)
    token_dtype = np.int64
    keras_int_dtype = "int64"  # the dtype of Keras's "int" output: int64 indices (tf_pipeline.py)
    keras_counts_dtype = "int64"  # and of its "one_hot", "multi_hot" and "count" outputs (its table's values)
    takes_scalars = True  # ``lookup(7)``: one value's encoding (numeric_arguments.TakesNumbers)
    _special_token = staticmethod(_integer_token)
    _tokens_of = staticmethod(_integer_tokens)
    _read_vocabulary_file = staticmethod(_read_integer_vocabulary)

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1, vocabulary=None,
                 vocabulary_dtype="int64", idf_weights=None, invert=False, output_mode="int", sparse=False,
                 pad_to_max_tokens=False, oov_method="floormod", salt=None, name=None, vocabulary_size=None,
                 has_input_vocabulary=None, **kwargs):
        # Keras's layer takes no dtype of its own (its config names floatx); gpunn's computes in the model's.
        dtype = dtype_policies.dtype_name(kwargs.pop("dtype", None))  # (a policy, a Keras config's dict)
        super().__init__(name=name, dtype=dtype if dtype is not None and np.dtype(dtype).kind == "f" else None,
                         **kwargs)
        self.max_tokens = numeric.integer_argument("max_tokens", max_tokens, allow_none=True)
        if self.max_tokens is not None and self.max_tokens <= 1:
            raise ValueError(f"max_tokens: if set, must be greater than 1, got max_tokens={max_tokens}")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError("pad_to_max_tokens: True needs max_tokens to be set")
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.num_oov_indices = numeric.integer_argument("num_oov_indices", num_oov_indices, minimum=0)
        self.vocabulary_dtype = self._checked_vocabulary_dtype(vocabulary_dtype)
        if oov_method not in ("floormod", "farmhash"):
            raise ValueError(f"oov_method: expected 'floormod' or 'farmhash', got {oov_method!r}")
        self.oov_method = oov_method
        if salt is not None and oov_method != "farmhash" and self.token_dtype is np.int64:
            raise ValueError(f"salt: can only be used with oov_method='farmhash', got oov_method={oov_method!r}")
        self.salt = numeric.check_salt(salt)
        self.output_mode = categorical.check_output_mode(output_mode, categorical.ALL_MODES, "IntegerLookup")
        if not isinstance(invert, (bool, np.bool_)):
            raise ValueError(f"invert: expected True or False, got {invert!r}")
        self.invert = bool(invert)
        if self.invert and self.output_mode != "int":
            raise ValueError(f"output_mode: must be 'int' when invert is True, got {self.output_mode!r}")
        self.sparse = categorical.check_not_sparse(sparse)
        if idf_weights is not None and self.output_mode != "tf_idf":
            raise ValueError(f"idf_weights: only used with output_mode='tf_idf', got output_mode={self.output_mode!r}")
        self.mask_token = self._special_token("mask_token", mask_token)
        self.oov_token = self._special_token("oov_token", oov_token)
        if self.invert and self.oov_token is None:
            raise ValueError("oov_token: invert=True outputs oov_token for indices outside the vocabulary; give an "
                             "integer")
        self._frozen_vocab_size = numeric.integer_argument("vocabulary_size", vocabulary_size, allow_none=True)
        self._has_input_vocabulary = (vocabulary is not None) if has_input_vocabulary is None \
            else bool(has_input_vocabulary)
        # What the config gives back as given (Keras's); a learned vocabulary read back from a config is written
        # as learned again (get_config)
        learned = vocabulary is not None and not self._has_input_vocabulary
        self.input_vocabulary = None if isinstance(vocabulary, str) or learned else vocabulary
        self.input_idf_weights = None if learned else idf_weights
        if self.output_mode == "tf_idf" and self._has_input_vocabulary and idf_weights is None:
            raise ValueError("idf_weights: when the vocabulary is given with output_mode='tf_idf', give its "
                             "idf_weights too")
        self._tokens = np.zeros(0, dtype=self.token_dtype)  # the vocabulary without its special tokens
        self._sorted_tokens = (self._tokens, np.zeros(0, dtype=np.int64))  # (sorted tokens, their positions)
        self.idf_weights = None  # float32, one per index (tf_idf)
        self._vocabulary_version = 0  # counts the vocabularies set: a step's buffers follow it
        self._counts = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        # A Keras file's adapted layer: the vocabulary is in the file's assets (``load_keras_assets``).
        self._vocabulary_not_read = (vocabulary is None and self._frozen_vocab_size is not None
                                     and self._frozen_vocab_size > self._token_start_index())

    @staticmethod
    def _checked_vocabulary_dtype(vocabulary_dtype) -> str:
        if vocabulary_dtype != "int64":
            raise ValueError(f"vocabulary_dtype: only 'int64' is supported (as in Keras's IntegerLookup), got "
                             f"{vocabulary_dtype!r}")
        return "int64"

    # ---- indices of the special tokens (Keras's) --------------------------------------------------------
    def _oov_start_index(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start_index(self) -> int:
        return self._oov_start_index() + self.num_oov_indices

    def _special_tokens(self) -> list:
        return [self.mask_token] * self._oov_start_index() + [self.oov_token] * self.num_oov_indices

    # ---- the vocabulary ---------------------------------------------------------------------------------
    def vocabulary_size(self) -> int:
        """The number of indices: the special ones and the vocabulary's."""
        return len(self._tokens) + self._token_start_index()

    def vocab_size(self) -> int:
        """tf.keras 2.3-2.5's name of ``vocabulary_size()``, which scripts of its era call."""
        return self.vocabulary_size()

    def get_vocabulary(self, include_special_tokens=True) -> list:
        """The token of each index (mask and OOV tokens first), or the vocabulary alone."""
        tokens = self._tokens.tolist()
        return self._special_tokens() + tokens if include_special_tokens else tokens

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Use ``vocabulary`` (a list or array of integer tokens, optionally with the special tokens first in
        Keras's order, or the path of a file of one token a line) and, for "tf_idf", its ``idf_weights``."""
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise ValueError("idf_weights: must be set when output_mode is 'tf_idf'")
        elif idf_weights is not None:
            raise ValueError(f"idf_weights: only used with output_mode='tf_idf', got output_mode={self.output_mode!r}")
        if isinstance(vocabulary, str):
            if self.output_mode == "tf_idf":
                raise ValueError("vocabulary: output_mode 'tf_idf' does not take a vocabulary file")
            vocabulary = self._read_vocabulary_file(vocabulary)
        vocabulary = self._tokens_of("vocabulary", vocabulary).reshape(-1)
        if vocabulary.size == 0:
            raise ValueError("vocabulary: cannot set an empty vocabulary")
        token_start = self._token_start_index()
        special = self._special_tokens()
        found_special = len(vocabulary) >= token_start and vocabulary[:token_start].tolist() == special
        tokens = vocabulary[token_start:] if found_special else vocabulary
        distinct, counts = np.unique(tokens, return_counts=True)
        if (counts > 1).any():
            raise ValueError(f"vocabulary: has repeated tokens {distinct[counts > 1].tolist()}; give each once")
        for argument, token, reserved in (("mask_token", self.mask_token, True),
                                          ("oov_token", self.oov_token, self.invert)):
            if reserved and token is not None and token in tokens:
                raise ValueError(f"vocabulary: holds {argument}={token} after the start; leave the mask and OOV "
                                 f"tokens out, or give them only at the start, in this order: {special}")
        if self.max_tokens is not None and token_start + len(tokens) > self.max_tokens:
            raise ValueError(f"vocabulary: {token_start + len(tokens)} indices with the special tokens, more than "
                             f"max_tokens={self.max_tokens}")
        if self.output_mode == "tf_idf":
            weights = np.asarray(idf_weights, dtype=np.float64)
            if weights.ndim != 1 or len(weights) != len(vocabulary):
                raise ValueError(f"idf_weights: expected one weight per vocabulary entry ({len(vocabulary)}), got "
                                 f"shape {weights.shape}")
            # Keras's padding: the special tokens get the mean weight unless given, max_tokens pads with zeros
            front = np.full(0 if found_special else token_start, np.average(weights))
            self._set(tokens, np.concatenate([front, weights]).astype(np.float32))
        else:
            self._set(tokens, None)

    def _set(self, tokens: np.ndarray, idf_weights) -> None:
        """Take ``tokens`` (and the IDF weights of every index but the padding) as the vocabulary."""
        self._record_vocabulary_size(len(tokens) + self._token_start_index())
        self._tokens = np.asarray(tokens, dtype=self.token_dtype)
        order = np.argsort(self._tokens, kind="stable")
        self._sorted_tokens = (self._tokens[order], order)
        if idf_weights is not None:
            padding = self.max_tokens - len(idf_weights) if self.pad_to_max_tokens else 0
            self.idf_weights = np.concatenate([idf_weights, np.zeros(max(padding, 0), np.float32)])
        self._vocabulary_not_read = False
        self._vocabulary_version += 1

    def _record_vocabulary_size(self, size: int) -> None:
        """Keras's: the size is fixed by the first vocabulary where it sets the encoded outputs' width."""
        if self.output_mode != "int" and not self.pad_to_max_tokens and self._frozen_vocab_size not in (None, size):
            raise RuntimeError(f"vocabulary: with output_mode={self.output_mode!r} and pad_to_max_tokens=False the "
                               f"vocabulary size cannot change once set: it was {self._frozen_vocab_size}, got {size}")
        self._frozen_vocab_size = size

    # ---- adapt (Keras's adapt, update_state, finalize_state, reset_state) -----------------------------
    def adapt(self, data, steps=None):
        """Learn the vocabulary (and the IDF weights for "tf_idf") from ``data``: an array or a list (one array of
        tokens: a 1-D one is one token per sample), or an iterable of batches (``steps`` batches at most)."""
        steps = numeric.integer_argument("steps", steps, minimum=1, allow_none=True)
        if self.token_dtype is np.int64:
            numeric.refuse_text("data", data, "IntegerLookup")
        self.reset_state()
        if numeric.is_one_array(data) or isinstance(data, (list, tuple)):
            tokens = self._tokens_of("data", data)
            self.update_state(tokens.reshape(-1, 1) if tokens.ndim == 1 else tokens)
        else:
            for batch in numeric.adapt_batches(data, steps):
                self.update_state(batch)
        self.finalize_state()

    def _check_adaptable(self) -> None:
        if self._has_input_vocabulary:
            raise ValueError(f"adapt: layer {self.name!r} was given its vocabulary (the vocabulary argument); make it "
                             "without one to learn it from data")

    def update_rows(self, rows: list) -> None:
        """``update_state`` for documents of different lengths (a list of token lists: TextVectorization's)."""
        self._check_adaptable()
        if self._counts is None:
            self.reset_state()
        self._counts.update_rows(rows)

    def update_state(self, data):
        self._check_adaptable()
        tokens = self._tokens_of("data", data)
        if tokens.ndim < 2:
            tokens = tokens.reshape(1, -1)  # a 1-D batch is one document, as Keras takes it
        elif tokens.ndim > 2 and self.output_mode == "tf_idf":
            raise ValueError(f"data: output_mode='tf_idf' counts documents, rows of a 2-D batch; got shape "
                             f"{tokens.shape}")
        if self._counts is None:
            self.reset_state()
        self._counts.update(tokens)

    def finalize_state(self):
        if self._has_input_vocabulary or self._counts is None or not len(self._counts):
            self._record_vocabulary_size(self.vocabulary_size())  # as Keras does, learning nothing
            return
        token_start = self._token_start_index()
        max_learned = self.max_tokens - token_start if self.max_tokens else None
        tokens = self._counts.vocabulary((self.mask_token, self.oov_token), max_learned)
        idf_weights = None
        if self.output_mode == "tf_idf":
            learned = self._counts.idf_weights(tokens)
            mean = np.mean(learned, dtype=np.float32) if learned.size else np.float32(np.nan)
            idf_weights = np.concatenate([np.full(token_start, mean, np.float32), learned])
        self._set(tokens, idf_weights)
        self.reset_state()

    def reset_state(self):
        if not self._has_input_vocabulary:
            self._counts = TokenCounts(count_documents=self.output_mode == "tf_idf", token_dtype=self.token_dtype)

    # ---- shapes and computation -----------------------------------------------------------------------
    @property
    def depth(self):
        """The encoded outputs' number of indices (None before the vocabulary is known)."""
        return self.max_tokens if self.pad_to_max_tokens else self._frozen_vocab_size

    def output_sample_shape(self, input_shape):
        if self.output_mode != "int" and self.depth is None:
            raise ValueError(f"layer {self.name!r}: with output_mode={self.output_mode!r} and pad_to_max_tokens=False, "
                             "IntegerLookup needs its vocabulary before it is used: pass vocabulary=..., or call "
                             "adapt(data) before building the model")
        return categorical.output_shape(input_shape, self.output_mode, self.depth, f"IntegerLookup {self.name!r}")

    def compute_output_shape(self, input_shape):
        return categorical.keras_output_shape(input_shape, self.output_mode, self.depth)

    def check_input_values(self, argument: str, x) -> None:
        if self.num_oov_indices == 0 and not self.invert:
            self._refuse_oov(argument, numeric.as_int64(np.asarray(x)))

    def _check_vocabulary_read(self) -> None:
        if self._vocabulary_not_read:
            raise ValueError(f"layer {self.name!r}: its vocabulary of {self._frozen_vocab_size} indices is kept in the "
                             "assets of the Keras file its config came from: load the model with load_model (which "
                             "reads them), or give it with layer.set_vocabulary(...)")

    def _upload_idf_weights(self, ws, idf) -> None:
        """The IDF weights written to the device buffer ``idf`` when the vocabulary changed since the last step."""
        if ws.objects.get("idf_version") != (id(idf), self._vocabulary_version):
            self.ops.upload(self.idf_weights.reshape(idf.shape), idf)
            ws.objects["idf_version"] = (id(idf), self._vocabulary_version)

    def forward(self, x, training):
        self._check_vocabulary_read()
        ops = self.ops
        ws = self.workspace(x.shape[0])
        indices = ws.buffer("indices", x.shape, x.dtype)
        idf = ws.buffer("idf", (1, self.depth), x.dtype) if self.output_mode == "tf_idf" else None
        categorical.write_indices(ops, x, indices, lambda values: self._indices_and_weights(values, ws, idf))
        if self.output_mode == "int":
            return indices, categorical.no_gradient(ops, ws, x)
        y = categorical.encode(ops, ws, indices, self.output_mode, self.depth, self.output_shape, idf)
        return y, categorical.no_gradient(ops, ws, x)

    def _indices_and_weights(self, values: np.ndarray, ws, idf) -> np.ndarray:
        """The step's host call: the indices (or, inverted, tokens) of ``values``, and the IDF weights written
        to the device when the vocabulary changed since the last step."""
        if idf is not None:
            self._upload_idf_weights(ws, idf)
        keys = numeric.as_int64(values)
        return self._tokens_at(keys, values.dtype) if self.invert else self._lookup(keys)

    def _lookup(self, keys: np.ndarray) -> np.ndarray:
        """Keras's ``_lookup_dense``: the index of each int64 token of ``keys``."""
        sorted_tokens, positions = self._sorted_tokens
        found_at = np.searchsorted(sorted_tokens, keys)
        clipped = np.minimum(found_at, max(len(sorted_tokens) - 1, 0))
        found = (found_at < len(sorted_tokens)) & (sorted_tokens[clipped] == keys) if len(sorted_tokens) else \
            np.zeros(keys.shape, bool)
        default = self._oov_start_index() if self.num_oov_indices == 1 else -1
        at = positions[clipped] if len(sorted_tokens) else np.zeros(keys.shape, np.int64)  # (no tokens: all OOV)
        lookups = np.where(found, self._token_start_index() + at, default)
        if self.mask_token is not None:  # index 0 in "int" mode; dropped (past every index) by the others
            lookups = np.where(keys == self.mask_token, 0 if self.output_mode == "int" else INT64_MAX, lookups)
        if self.num_oov_indices == 0:
            self._refuse_oov("inputs", keys)
        elif self.num_oov_indices > 1:
            lookups = np.where(lookups == -1, self._oov_buckets(keys) + self._oov_start_index(), lookups)
        return lookups

    def _oov_buckets(self, keys: np.ndarray) -> np.ndarray:
        """The OOV index (from 0) each key would take (Keras's ``_lookup_dense`` with several OOV indices)."""
        if self.oov_method == "floormod":
            return np.mod(keys, self.num_oov_indices)
        return hash_buckets(keys, self.num_oov_indices, self.salt)

    def _refuse_oov(self, argument: str, keys: np.ndarray) -> None:
        outside = ~np.isin(keys, self._tokens)
        if self.mask_token is not None:
            outside &= keys != self.mask_token
        if outside.any():
            index = tuple(int(i) for i in np.argwhere(outside)[0])
            raise ValueError(f"{argument}: layer {self.name!r} ({type(self).__name__} with num_oov_indices=0) takes "
                             f"tokens of its vocabulary only, got {keys[index].item()!r} at index {index}; set "
                             "num_oov_indices=1 to map other tokens to an OOV index")

    def _tokens_at(self, keys: np.ndarray, dtype) -> np.ndarray:
        """Inverted: the token of each index of ``keys`` (``oov_token`` outside the vocabulary, the mask token at 0),
        refused where the model's dtype would not hold it exactly."""
        start = self._token_start_index()
        inside = (keys >= start) & (keys < start + len(self._tokens))
        tokens = np.where(inside, self._tokens[np.clip(keys - start, 0, max(len(self._tokens) - 1, 0))]
                          if len(self._tokens) else 0, self.oov_token)
        if self.mask_token is not None:
            tokens = np.where(keys == 0, self.mask_token, tokens)
        exact = 2 ** (np.finfo(dtype).nmant + 1)
        if tokens.size and np.abs(tokens).max() > exact:
            raise ValueError(f"layer {self.name!r}: invert=True outputs tokens in the model's dtype "
                             f"{np.dtype(dtype).name}, exact up to {exact:,}; the vocabulary holds "
                             f"{int(np.abs(tokens).max())}: build the model in float64")
        return tokens

    def keras_named_variables(self) -> dict:
        """What Keras's ``save_own_variables`` writes into a model file for this layer, and its loader requires."""
        if self.output_mode != "tf_idf" or self.idf_weights is None:
            return {}
        return {"idf_weights": self.idf_weights}

    def load_keras_assets(self, files: dict, variables: dict) -> None:
        """A Keras file's vocabulary for this layer (its ``vocabulary.txt`` asset, the special tokens first), with
        the IDF weights Keras keeps among the layer's variables ("tf_idf")."""
        if "vocabulary.txt" not in files or self.input_vocabulary is not None:
            return  # (a given vocabulary is in the config, as Keras's load_assets skips it)
        try:
            lines = files["vocabulary.txt"].decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise ValueError(f"layer {self.name!r}: its vocabulary asset is not UTF-8 text ({exc})") from None
        while lines and lines[-1] == "":
            lines.pop()
        idf_weights = np.asarray(variables["idf_weights"], dtype=np.float32).reshape(-1) \
            if self.output_mode == "tf_idf" and "idf_weights" in variables else None
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError(f"layer {self.name!r}: its file holds a vocabulary but no IDF weights")
        self.set_vocabulary(self._tokens_of_lines(lines), idf_weights[:len(lines)] if idf_weights is not None else None)

    def _tokens_of_lines(self, lines: list) -> np.ndarray:
        try:
            return np.array([int(line) for line in lines], dtype=np.int64)
        except ValueError:
            raise ValueError(f"layer {self.name!r}: its vocabulary asset holds a line that is not an integer") from None

    # ---- config ---------------------------------------------------------------------------------------
    def get_config(self):
        config = {**super().get_config(), "invert": self.invert, "max_tokens": self.max_tokens,
                  "num_oov_indices": self.num_oov_indices, "oov_token": self.oov_token, "mask_token": self.mask_token,
                  "output_mode": self.output_mode, "sparse": self.sparse, "pad_to_max_tokens": self.pad_to_max_tokens,
                  "vocabulary_dtype": self.vocabulary_dtype, "idf_weights": _listed(self.input_idf_weights),
                  "vocabulary": _listed(self.input_vocabulary), "vocabulary_size": self._frozen_vocab_size,
                  "oov_method": self.oov_method, "salt": self.salt}
        if self.input_vocabulary is None and len(self._tokens):
            # Learned (or read from a file): kept here, special tokens first, so that Keras and gpunn read it back
            # as it is (Keras keeps it in the file's assets instead).
            config["vocabulary"] = self.get_vocabulary(include_special_tokens=True)
            config["has_input_vocabulary"] = self._has_input_vocabulary
            if self.output_mode == "tf_idf":
                config["idf_weights"] = self.idf_weights[:self.vocabulary_size()].tolist()
        return config


def _listed(value):
    """A vocabulary or weights as the config's list (Keras's ``listify_tensors``)."""
    if value is None:
        return None
    return np.asarray(numeric.on_host(value)).tolist()
