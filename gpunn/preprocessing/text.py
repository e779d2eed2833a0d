"""tf.keras 2's ``keras.preprocessing.text``: ``Tokenizer`` (words to indices, texts to bag-of-words rows), as the text
MLPs of those years use it (Keras's reuters_mlp example: ``Tokenizer(num_words=1000).sequences_to_matrix(x, mode=
"binary")``), with ``text_to_word_sequence``, ``one_hot``, ``hashing_trick`` and ``tokenizer_from_json``.

Keras 3 keeps them, deprecated, as keras/src/legacy/preprocessing/text.py (not exported); this is that code's
behaviour: the same indices (1 for the most frequent word, 0 never used, the ``oov_token`` at 1 when given), the same
matrices (``binary``, ``count``, ``freq``, ``tfidf``) and the same JSON. Keras 3's own way is the TextVectorization
layer, which gpunn has too. ``one_hot`` and ``hashing_trick`` hash with Python's ``hash`` by default, which changes
between processes (as in Keras); ``hash_function="md5"`` does not.
"""
from __future__ import annotations

import collections
import hashlib
import json
import warnings

import numpy as np

FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
MODES = ("binary", "count", "freq", "tfidf")


def text_to_word_sequence(input_text, filters=FILTERS, lower=True, split=" "):
    """The words of ``input_text``: lower-cased, ``filters`` characters made separators, split on ``split``."""
    if lower:
        input_text = input_text.lower()
    input_text = input_text.translate(str.maketrans({c: split for c in filters}))
    return [word for word in input_text.split(split) if word]


def one_hot(input_text, n, filters=FILTERS, lower=True, split=" ", analyzer=None):
    """Each word's index in [1, n): ``hashing_trick`` with Python's ``hash``."""
    return hashing_trick(input_text, n, hash_function=hash, filters=filters, lower=lower, split=split,
                         analyzer=analyzer)


def hashing_trick(text, n, hash_function=None, filters=FILTERS, lower=True, split=" ", analyzer=None):
    """Each word's ``hash_function(word) % (n - 1) + 1`` (``hash_function``: Python's ``hash`` by default, or "md5")."""
    if hash_function is None:
        hash_function = hash
    elif hash_function == "md5":
        def hash_function(word):
            return int(hashlib.md5(word.encode()).hexdigest(), 16)
    words = text_to_word_sequence(text, filters=filters, lower=lower, split=split) if analyzer is None \
        else analyzer(text)
    return [hash_function(word) % (n - 1) + 1 for word in words]


class Tokenizer:
    """Words to indices by frequency (1 the most frequent; 0 is never a word's), and texts or index sequences to
    rows of ``num_words`` columns. ``num_words``: only the words of index below it are kept (the others dropped,
    or made ``oov_token``'s index when there is one); ``char_level``: characters instead of words."""

    def __init__(self, num_words=None, filters=FILTERS, lower=True, split=" ", char_level=False, oov_token=None,
                 analyzer=None, **kwargs):
        if "nb_words" in kwargs:  # Keras 1's name
            warnings.warn("The `nb_words` argument in `Tokenizer` has been renamed `num_words`.", stacklevel=2)
            num_words = kwargs.pop("nb_words")
        document_count = kwargs.pop("document_count", 0)
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments: {str(kwargs)}")
        self.word_counts = collections.OrderedDict()
        self.word_docs = collections.defaultdict(int)
        self.filters, self.split, self.lower = filters, split, lower
        self.num_words = num_words
        self.document_count = document_count
        self.char_level = char_level
        self.oov_token = oov_token
        self.index_docs = collections.defaultdict(int)
        self.word_index = {}
        self.index_word = {}
        self.analyzer = analyzer

    def _words(self, text) -> list:
        if self.char_level or isinstance(text, list):
            if self.lower:
                text = [element.lower() for element in text] if isinstance(text, list) else text.lower()
            return text
        if self.analyzer is None:
            return text_to_word_sequence(text, filters=self.filters, lower=self.lower, split=self.split)
        return self.analyzer(text)

    def fit_on_texts(self, texts) -> None:
        """Count the words of ``texts`` (strings, or lists of words) and index them by frequency."""
        for text in texts:
            self.document_count += 1
            words = self._words(text)
            for word in words:
                self.word_counts[word] = self.word_counts.get(word, 0) + 1
            for word in set(words):
                self.word_docs[word] += 1  # in how many documents each word occurs
        counts = sorted(self.word_counts.items(), key=lambda item: item[1], reverse=True)  # (stable: ties in order)
        vocabulary = ([] if self.oov_token is None else [self.oov_token]) + [word for word, _ in counts]
        self.word_index = dict(zip(vocabulary, range(1, len(vocabulary) + 1)))
        self.index_word = {index: word for word, index in self.word_index.items()}
        for word, count in list(self.word_docs.items()):
            self.index_docs[self.word_index[word]] = count

    def fit_on_sequences(self, sequences) -> None:
        """Count in how many sequences each index occurs (what ``tfidf`` rows need), for sequences already indexed."""
        self.document_count += len(sequences)
        for sequence in sequences:
            for index in set(sequence):
                self.index_docs[index] += 1

    def texts_to_sequences(self, texts) -> list:
        return list(self.texts_to_sequences_generator(texts))

    def texts_to_sequences_generator(self, texts):
        """Each text as its words' indices (words beyond ``num_words`` or unknown: dropped, or ``oov_token``'s)."""
        for text in texts:
            kept = (self._kept(self.word_index.get(word)) for word in self._words(text))
            yield [index for index in kept if index is not None]

    def sequences_to_texts(self, sequences) -> list:
        return list(self.sequences_to_texts_generator(sequences))

    def sequences_to_texts_generator(self, sequences):
        """Each sequence of indices as its words joined by spaces (indices as ``texts_to_sequences`` keeps them)."""
        for sequence in sequences:
            kept = (self._kept(index if index in self.index_word else None) for index in sequence)
            yield " ".join(self.index_word[index] for index in kept if index is not None)

    def _kept(self, index):
        """The index a word of index ``index`` (None: not in the vocabulary) keeps: itself below ``num_words``,
        else ``oov_token``'s, or None (dropped) without one."""
        if index is not None and not (self.num_words and index >= self.num_words):
            return index
        return self.word_index.get(self.oov_token) if self.oov_token is not None else None

    def texts_to_matrix(self, texts, mode="binary") -> np.ndarray:
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(self, sequences, mode="binary") -> np.ndarray:
        """One row of ``num_words`` columns (float64) per sequence: 1 where an index occurs (``binary``), its count
        (``count``), its share of the sequence (``freq``) or (1 + ln count) ln(1 + documents / (1 + documents with
        it)) (``tfidf``); indices of ``num_words`` or more are left out."""
        if not self.num_words:
            if not self.word_index:
                raise ValueError("Specify a dimension (`num_words` argument), or fit on some text data first.")
            num_words = len(self.word_index) + 1
        else:
            num_words = self.num_words
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
        if mode == "tfidf" and not self.document_count:
            raise ValueError("Fit the Tokenizer on some data before using tfidf mode.")
        x = np.zeros((len(sequences), num_words))
        for row, sequence in enumerate(sequences):
            if not sequence:
                continue
            counts = collections.defaultdict(int)
            for index in sequence:
                if index < num_words:
                    counts[index] += 1
            for index, count in list(counts.items()):
                if mode == "count":
                    x[row][index] = count
                elif mode == "freq":
                    x[row][index] = count / len(sequence)
                elif mode == "binary":
                    x[row][index] = 1
                else:  # weighting scheme 2 of https://en.wikipedia.org/wiki/Tf%E2%80%93idf, as Keras
                    x[row][index] = (1 + np.log(count)) * np.log(
                        1 + self.document_count / (1 + self.index_docs.get(index, 0)))
        return x

    def get_config(self) -> dict:
        return {
            "num_words": self.num_words, "filters": self.filters, "lower": self.lower, "split": self.split,
            "char_level": self.char_level, "oov_token": self.oov_token, "document_count": self.document_count,
            "word_counts": json.dumps(self.word_counts), "word_docs": json.dumps(self.word_docs),
            "index_docs": json.dumps(self.index_docs), "index_word": json.dumps(self.index_word),
            "word_index": json.dumps(self.word_index),
        }

    def to_json(self, **kwargs) -> str:
        return json.dumps({"class_name": type(self).__name__, "config": self.get_config()}, **kwargs)


def tokenizer_from_json(json_string) -> Tokenizer:
    """The Tokenizer ``Tokenizer.to_json()`` wrote (Keras's files of it too)."""
    config = json.loads(json_string).get("config")
    word_counts = json.loads(config.pop("word_counts"))
    word_docs = json.loads(config.pop("word_docs"))
    index_docs = {int(k): v for k, v in json.loads(config.pop("index_docs")).items()}  # (JSON keys are strings)
    index_word = {int(k): v for k, v in json.loads(config.pop("index_word")).items()}
    word_index = json.loads(config.pop("word_index"))
    tokenizer = Tokenizer(**config)
    tokenizer.word_counts, tokenizer.word_docs, tokenizer.index_docs = word_counts, word_docs, index_docs
    tokenizer.word_index, tokenizer.index_word = word_index, index_word
    return tokenizer


__all__ = ["Tokenizer", "hashing_trick", "one_hot", "text_to_word_sequence", "tokenizer_from_json"]
