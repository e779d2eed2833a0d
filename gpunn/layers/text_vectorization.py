"""TextVectorization (Keras 3: ``keras/src/layers/preprocessing/text_vectorization.py``): documents (strings) to
token indices or to one row of counts per document, as Keras's does with TensorFlow:

1. standardize: "lower_and_strip_punctuation" (default), "lower", "strip_punctuation", None, or a callable
   (given a NumPy array of ``str``, as Keras gives it on its non-TensorFlow backends). TensorFlow's lowering
   (``tf.strings.lower``) changes ASCII letters only, and the punctuation stripped is Keras's regular expression;
   both are copied so (``"ÉCOLE"`` stays ``"École"``).
2. split: "whitespace" (runs of the six ASCII whitespace characters, as ``tf.strings.split``), "character"
   (code points), None (the document is one token; samples of k strings are k tokens), or a callable (given the
   NumPy array of the batch's standardized ``str``, returning one list of tokens per document).
3. ngrams: None, n (widths 1..n) or a tuple of widths, joined by a space, all of one width before the next.
4. lookup: the vocabulary of a StringLookup with the mask token "" (``string_lookup.py``), learned by ``adapt``
   or given; output_mode "int" (indices padded with 0 or cut to ``output_sequence_length``; without it, padded to
   the longest document of the call), "multi_hot", "count", "tf_idf" (one row of the vocabulary's size, or
   ``max_tokens`` with ``pad_to_max_tokens``), or "one_hot" with ``split=None``.

All of it is host work: the layer computes its whole output on the host (``encode_text``), in a model once per
array given to fit / evaluate / predict (``text_inputs.py``), and the device receives that output in place of
the strings. In a model, the output has one fixed shape: "int" needs ``output_sequence_length`` there.

Where gpunn differs: outputs are the model's floats (Keras: int64 indices); ``ragged=True`` and ``sparse=True`` are
refused (outputs are dense arrays); "one_hot" with a split, which Keras returns ragged, is refused.
"""
from __future__ import annotations

import re

import numpy as np

from .. import dtype_policies
from . import categorical_outputs as categorical
from . import symbolic, text_inputs, tf_pipeline
from .calling import call_result, compute_dtype
from .base import Layer
from .keyword_inputs import NOT_GIVEN
from .numeric_arguments import adapt_batches, integer_argument, is_one_array
from .string_lookup import StringLookup
from .text_data import text_array

STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
SPLIT = ("whitespace", "character")
OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
# Keras's punctuation (text_vectorization.py), as TensorFlow's RE2 reads it: ",-\." is the range ',' to '.'
PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
ASCII_WHITESPACE = " \t\n\v\f\r"
WHITESPACE_RUNS = re.compile(f"[{re.escape(ASCII_WHITESPACE)}]+")
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _choice(argument: str, value, allowed: tuple):
    if value is None or callable(value) or value in allowed:
        return value
    raise ValueError(f"{argument}: expected one of {allowed}, None or a callable, got {value!r}")


def _ngram_widths(ngrams):
    if ngrams is None:
        return None
    if isinstance(ngrams, (int, np.integer)) and not isinstance(ngrams, bool) and ngrams >= 1:
        return tuple(range(1, int(ngrams) + 1))
    if isinstance(ngrams, (tuple, list)) and ngrams and all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1 for n in ngrams):
        return tuple(int(n) for n in ngrams)
    raise ValueError(f"ngrams: expected None, an integer >= 1 or a tuple of them, got {ngrams!r}")


class TextVectorization(Layer):
    reads_text = True  # the model hands it its string input as the output it made (text_inputs.py)
    keras_int_dtype = "int64"  # the dtype of Keras's "int" output: int64 indices (tf_pipeline.py)
    keras_counts_dtype = "int64"  # and of its "multi_hot" and "count" outputs (its table's values)

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace", ngrams=None,
                 output_mode="int", output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", name=None, vocabulary_size=None,
                 has_input_vocabulary=None, **kwargs):
        has_input_vocabulary = vocabulary is not None if has_input_vocabulary is None else bool(has_input_vocabulary)
        # (Keras's config names floatx, as a policy's dict; the layer outputs its model's floats)
        dtype = dtype_policies.dtype_name(kwargs.pop("dtype", None))
        super().__init__(name=name, dtype=dtype if dtype is not None and np.dtype(dtype).kind == "f" else None,
                         **kwargs)
        self.standardize = _choice("standardize", standardize, STANDARDIZE)
        self.split = _choice("split", split, SPLIT)
        self.ngrams = list(ngrams) if isinstance(ngrams, tuple) else ngrams  # (as the config gives it back)
        self._ngram_widths = _ngram_widths(ngrams)
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode: expected one of {OUTPUT_MODES}, got {output_mode!r}")
        if output_mode == "one_hot" and split is not None:
            raise ValueError("output_mode: 'one_hot' encodes one token per document (split=None): with a split, "
                             "Keras's output is ragged; use 'multi_hot' or 'count'")
        self.output_mode = output_mode
        self.output_sequence_length = integer_argument("output_sequence_length", output_sequence_length, minimum=1,
                                                       allow_none=True)
        if output_mode != "int" and output_sequence_length is not None:
            raise ValueError(f"output_sequence_length: must not be set if output_mode is not 'int', got "
                             f"output_sequence_length={output_sequence_length}")
        if ragged:
            raise ValueError("ragged: gpunn's layers output dense arrays; leave ragged=False (give "
                             "output_sequence_length to fix the number of indices)")
        self.ragged = False
        self.encoding = encoding
        # (held untracked: it is this layer's part, not a sublayer with weights or a config of its own)
        lookup = StringLookup(max_tokens=max_tokens, vocabulary=vocabulary, idf_weights=idf_weights,
                              pad_to_max_tokens=pad_to_max_tokens, mask_token="", output_mode=output_mode,
                              sparse=sparse, has_input_vocabulary=has_input_vocabulary, encoding=encoding,
                              vocabulary_size=vocabulary_size, name=f"{self.name}_lookup")
        object.__setattr__(self, "_lookup", lookup)

    # ---- the vocabulary (the lookup's) ------------------------------------------------------------------
    def get_vocabulary(self, include_special_tokens=True) -> list:
        return self._lookup.get_vocabulary(include_special_tokens)

    def vocabulary_size(self) -> int:
        return self._lookup.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None):
        self._lookup.set_vocabulary(vocabulary, idf_weights=idf_weights)

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary (and the IDF weights for "tf_idf") from documents: an array or list of strings, or
        an iterable of batches of them (``steps`` batches at most)."""
        steps = integer_argument("steps", steps, minimum=1, allow_none=True)
        self.reset_state()
        if is_one_array(data) or isinstance(data, (list, tuple, str, bytes)):
            texts = text_array("data", data, self.encoding)
            self.update_state(texts.reshape(-1, 1) if texts.ndim == 1 else texts)
        else:
            for batch in adapt_batches(data, steps):
                self.update_state(batch)
        self.finalize_state()

    def update_state(self, data):
        self._lookup.update_rows(self._token_rows("data", data))

    def finalize_state(self):
        self._lookup.finalize_state()

    def reset_state(self):
        self._lookup.reset_state()

    # ---- documents to tokens, on the host -----------------------------------------------------------------
    def _standardized(self, texts: np.ndarray) -> np.ndarray:
        if callable(self.standardize):
            result = text_array("standardize", self.standardize(texts), self.encoding)
            if result.shape != texts.shape:
                raise ValueError(f"standardize: the callable returned shape {result.shape} for strings of shape "
                                 f"{texts.shape}; it must keep the shape")
            return result
        if self.standardize is None:
            return texts
        flat = texts.reshape(-1).tolist()
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            flat = [text.translate(ASCII_LOWER) for text in flat]
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            flat = [PUNCTUATION.sub("", text) for text in flat]
        return np.array(flat, dtype=str).reshape(texts.shape) if flat else texts

    def _token_rows(self, argument: str, data) -> list:
        """Each document's tokens (ngrams made), a list of lists of ``str``."""
        texts = self._standardized(text_array(argument, data, self.encoding))
        if texts.ndim == 0:
            texts = texts.reshape(1)
        if self.split is None:
            rows = texts.reshape(len(texts), -1).tolist()
        else:
            if texts.ndim > 1:
                if texts.shape[-1] != 1 or texts.ndim > 2:
                    raise ValueError(f"{argument}: TextVectorization splits one document per sample: the samples "
                                     f"must be single strings (shape (batch,) or (batch, 1)), got shape {texts.shape}")
                texts = texts.reshape(-1)
            rows = self._split_documents(texts)
        if self._ngram_widths is None:
            return rows
        return [[" ".join(row[i:i + width]) for width in self._ngram_widths for i in range(len(row) - width + 1)]
                for row in rows]

    def _split_documents(self, texts: np.ndarray) -> list:
        if self.split == "whitespace":
            return [WHITESPACE_RUNS.split(text.strip(ASCII_WHITESPACE)) if text.strip(ASCII_WHITESPACE) else []
                    for text in texts.tolist()]
        if self.split == "character":
            return [list(text) for text in texts.tolist()]
        rows = self.split(texts)
        if len(rows) != len(texts):
            raise ValueError(f"split: the callable returned {len(rows)} token lists for {len(texts)} documents")
        return [text_array("split", list(row), self.encoding).reshape(-1).tolist() for row in rows]

    def encode_text(self, argument: str, data) -> np.ndarray:
        """The layer's output for the documents of ``data``, computed on the host: int64 indices ("int"), float32
        rows (the other modes)."""
        rows = self._token_rows(argument, data)
        lengths = [len(row) for row in rows]
        flat = [token for row in rows for token in row]
        indices = self._lookup.encode_text(argument, np.array(flat, dtype=str)) if flat else np.zeros(0, np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        if self.output_mode == "int":
            width = self.output_sequence_length if self.output_sequence_length is not None else max(lengths, default=0)
            out = np.zeros((len(rows), width), dtype=np.int64)
            for r, (start, length) in enumerate(zip(starts, lengths)):
                kept = min(length, width)
                out[r, :kept] = indices[start:start + kept]
            return out
        depth = self._lookup.depth
        counts = np.zeros((len(rows), depth), dtype=np.float32)
        row_of = np.repeat(np.arange(len(rows)), lengths)
        inside = (indices >= 0) & (indices < depth)
        np.add.at(counts, (row_of[inside], indices[inside]), 1.0)
        if self.output_mode in ("multi_hot", "one_hot"):
            return (counts > 0).astype(np.float32)
        if self.output_mode == "tf_idf":
            return counts * self._lookup.idf_weights[:depth].astype(np.float32)
        return counts

    # ---- shapes and calls ----------------------------------------------------------------------------------
    def build(self, input_shape=None):
        """Keras's ``build(input_shape=None)``: nothing here depends on the strings' shape (one per sample)."""
        super().build(() if input_shape is None else input_shape)

    def output_sample_shape(self, input_shape):
        """Keras's output shape, whatever the input's: (output_sequence_length,), or a row of the vocabulary's
        size (the model builds this layer for the output it already made on the host, too)."""
        if self.output_mode == "int":  # a row of tokens per text (of unknown length without output_sequence_length)
            return (self.output_sequence_length,)
        if self._lookup.depth is None:
            raise ValueError(f"layer {self.name!r}: with output_mode={self.output_mode!r} and pad_to_max_tokens=False, "
                             "TextVectorization needs its vocabulary before it is used: pass vocabulary=..., or call "
                             "adapt(data) before building the model")
        return (self._lookup.depth,)

    def encoded_shape(self, sample_shape: tuple) -> tuple:
        """The sample shape of ``encode_text``'s output in a model (one fixed shape)."""
        if self.output_mode == "int" and self.output_sequence_length is None:
            raise ValueError(f"layer {self.name!r}: in a model, TextVectorization's 'int' output needs "
                             "output_sequence_length (gpunn's samples have one fixed shape; Keras pads each batch "
                             "to its longest document)")
        return self.output_sample_shape(sample_shape)

    def __call__(self, inputs=NOT_GIVEN, *more, **keywords):
        if tf_pipeline.is_pipeline_tensor(inputs):  # inside tf.data's map (tf_pipeline.py)
            return tf_pipeline.call_in_pipeline(self, inputs)
        if symbolic.is_symbolic(inputs):
            self.encoded_shape(symbolic.sample_shape_of(inputs))  # (refused here when a model cannot take it)
        if symbolic.is_symbolic(inputs) or inputs is NOT_GIVEN:
            return super().__call__(inputs, *more, **keywords)
        # On its own: the output is the host's work, handed over as a backend array of Keras's dtype (int64
        # indices in "int" mode, else the layer's floats; the layer may be built in a model, for strings)
        from ..ops import get_ops

        ops = self.ops or get_ops()
        dtype = tf_pipeline.keras_output_dtype(self)
        dtype = dtype if dtype != "string" and np.dtype(dtype).kind in "iu" else compute_dtype(self)
        return call_result(ops, ops.asarray(self.encode_text("inputs", inputs).astype(dtype)))

    def check_input_values(self, argument: str, x) -> None:
        """(The model's inputs reach the layer as the output it made, ``encode_text``.)"""

    def forward(self, x, training):
        """``x``: the output ``encode_text`` made (in the model's float dtype)."""
        ops = self.ops
        ws = self.workspace(x.shape[0])
        made = text_inputs.columns_of(self, x, ws)  # (its own columns, where others read the input too)
        y = ws.buffer("y", made.shape, x.dtype)
        ops.copy_into(made, y)
        return y, categorical.no_gradient(ops, ws, x)

    # ---- files and config -------------------------------------------------------------------------------------
    def load_keras_assets(self, files: dict, variables: dict) -> None:
        self._lookup.load_keras_assets(files, variables)

    def keras_named_variables(self) -> dict:
        """What Keras's file holds for this layer (its lookup's IDF weights, "tf_idf"), here and below."""
        return self._lookup.keras_named_variables()

    def keras_part_variables(self) -> dict:
        return {"_lookup_layer": self._lookup.keras_named_variables()} if self.keras_named_variables() else {}

    def get_config(self):
        lookup = self._lookup.get_config()
        config = {**super().get_config(), "max_tokens": lookup["max_tokens"], "standardize": self.standardize,
                  "split": self.split, "ngrams": self.ngrams, "output_mode": self.output_mode,
                  "output_sequence_length": self.output_sequence_length,
                  "pad_to_max_tokens": lookup["pad_to_max_tokens"], "sparse": lookup["sparse"], "ragged": self.ragged,
                  "vocabulary": lookup["vocabulary"], "idf_weights": lookup["idf_weights"], "encoding": self.encoding,
                  "vocabulary_size": self.vocabulary_size()}
        if "has_input_vocabulary" in lookup:  # a learned vocabulary, kept in the config (string_lookup.py)
            config["has_input_vocabulary"] = lookup["has_input_vocabulary"]
        return config
