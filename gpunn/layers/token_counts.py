"""What ``IntegerLookup.adapt`` and ``StringLookup.adapt`` count over the batches they are given, and the
vocabulary they make of them, as Keras's ``IndexLookup`` (``update_state``, ``finalize_state``) does.

Each batch is a 2-D array of documents (rows) of tokens (int64, or strings for StringLookup). Counted: every token's
occurrences and, for "tf_idf", the number of documents holding it and the number of documents. The vocabulary is the
tokens by count, most frequent first, ties broken by the larger token first (strings: by code points, the order of
their UTF-8 bytes, which Keras sorts); its IDF weights are log(1 + documents / (1 + documents holding the token)),
in float64 and then rounded to float32.
"""
from __future__ import annotations

import collections

import numpy as np


class TokenCounts:
    def __init__(self, count_documents: bool, token_dtype=np.int64):
        self.count_documents = count_documents
        self.token_dtype = token_dtype
        self.tokens: collections.Counter = collections.Counter()
        self.documents_holding: collections.Counter = collections.Counter()
        self.documents = 0

    def update(self, batch: np.ndarray) -> None:
        """Count a 2-D array of documents."""
        values, counts = np.unique(batch.reshape(-1), return_counts=True)
        self.tokens.update(dict(zip(values.tolist(), counts.tolist())))
        if self.count_documents:
            for row in batch:
                self.documents_holding.update(np.unique(row).tolist())
            self.documents += len(batch)

    def update_rows(self, rows: list) -> None:
        """Count documents of any lengths (``rows``: a list of token lists, TextVectorization's split text)."""
        self.tokens.update(token for row in rows for token in row)
        if self.count_documents:
            for row in rows:
                self.documents_holding.update(set(row))
            self.documents += len(rows)

    def __len__(self) -> int:
        return len(self.tokens)

    def vocabulary(self, leave_out: tuple, max_learned) -> np.ndarray:
        """The counted tokens, most frequent first (ties: the larger token first), without ``leave_out`` (the
        mask and OOV tokens), the first ``max_learned`` when it is not None (Keras's slice, so a negative
        ``max_learned`` leaves that many out)."""
        kept = {token: count for token, count in self.tokens.items() if token not in leave_out}
        tokens = np.array(list(kept), dtype=self.token_dtype)
        counts = np.array(list(kept.values()), dtype=np.int64)
        order = np.lexsort((tokens, counts))[::-1]
        if max_learned is not None:
            order = order[:max_learned]
        return tokens[order]

    def idf_weights(self, tokens: np.ndarray) -> np.ndarray:
        """Each token's inverse document frequency, float32."""
        holding = np.array([self.documents_holding.get(t, 0) for t in tokens.tolist()], dtype=np.int64)
        return np.log(1 + self.documents / (1 + holding)).astype(np.float32)
