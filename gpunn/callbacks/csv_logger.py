"""CSVLogger: one CSV row of logs per epoch."""
from __future__ import annotations

import numpy as np

import collections
import collections.abc
import csv
import os

from ._common import _check_path, _is_chief
from .base import Callback


class CSVLogger(Callback):
    """Stream every epoch's logs to a CSV file: an ``epoch`` column (0-based), then the metrics.

    Args:
        filename: the CSV file.
        separator: the field separator.
        append: append to an existing file (no second header) instead of overwriting it.

    Writes nothing on non-chief ranks (``model.is_chief`` False).
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = _check_path("CSVLogger", "filename", filename)
        if not isinstance(separator, str) or len(separator) != 1:  # (the csv module's rule, told before training)
            raise ValueError(f"CSVLogger: separator must be one character, got {separator!r}")
        self.sep = separator
        self.append = append
        self.keys = None
        self.writer = None
        self.csv_file = None
        self.append_header = True

    def on_train_begin(self, logs=None):
        self._close()
        if not _is_chief(self.model):
            return
        mode = "w"
        self.append_header = True
        if self.append:
            mode = "a"
            if os.path.exists(self.filename):
                with open(self.filename, encoding="utf-8") as f:
                    self.append_header = not f.readline()
        self.csv_file = open(self.filename, mode, newline="", encoding="utf-8")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        if self.csv_file is None:
            return
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            # As Keras: a first epoch without val_ values (validation every few epochs, or none) gets a val_
            # column for each of its keys, "NA" where an epoch has none
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys += [f"val_{key}" for key in self.keys]
        if self.writer is None:
            dialect = type("_Dialect", (csv.excel,), {"delimiter": self.sep})
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch", *self.keys], dialect=dialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, self._cell(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        self._close()

    def _close(self):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = None
        self.writer = None

    @staticmethod
    def _cell(value):
        if isinstance(value, str):
            return value
        if isinstance(value, collections.abc.Iterable) and not (isinstance(value, np.ndarray) and value.ndim == 0):
            return f"[{', '.join(map(str, value))}]"
        return value
