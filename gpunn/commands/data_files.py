"""``gpunn train --dataset PATH``: a user's own data to classify or regress, from a ``.npz`` or ``.csv`` file.

- ``.npz``: the arrays ``x_train`` and ``y_train``, with ``x_test`` and ``y_test`` when the file has them
  (the layout of Keras's own ``mnist.npz``), or ``x`` and ``y``. Read without pickle.
- ``.csv``: one sample a row, numeric feature columns and one label column: ``--target`` (a header name or a
  0-based column number), else the last column. The first row is a header when it has a field that is not a
  number (a header of numbers reads as a row of data). A column without name or values (the field after a
  delimiter ending every line) is left out; one with values but no name (a pandas index) is refused. Labels may
  be words (the classes are then their sorted values), whole numbers >= 0 (the classes are
  those numbers), or, for regression, any numbers.

The task follows the labels unless ``--task`` says it: words and whole numbers >= 0 are classes, other numbers
a regression target (whole numbers of 1000 and more must be told which). A file without test data gives up a
seeded, random ``test_split`` of its rows as the test set. Missing or non-numeric values and arrays of different
lengths are refused with the line, column or key at fault, before any training.
"""
from __future__ import annotations

import csv
import os
import zipfile

import numpy as np

SUFFIXES = (".npz", ".csv")


def is_data_file(name: str) -> bool:
    return name.lower().endswith(SUFFIXES)


TASKS = ("auto", "classification", "regression")
# Whole-number labels up to this many are taken for classes; beyond it they look like a quantity (a price, a
# count), and --task must say which.
MOST_CLASSES_GUESSED = 1000


class LabelledData:
    """Train and test arrays of one file, the task they are for, and the class names of word labels (else None)."""

    def __init__(self, train, test, task, class_names=None):
        self.train, self.test, self.task, self.class_names = train, test, task, class_names


DEFAULT_TEST_SPLIT = 0.2


def load(path: str, *, target: str | None = None, test_split: float | None = None, seed: int = 0,
         task: str = "auto") -> LabelledData:
    """``test_split``: the fraction of a file without test arrays held out as its test set (None: 0.2); given
    for a file with them, it is refused (it would hold nothing out)."""
    if task not in TASKS:
        raise ValueError(f"--task: expected one of {TASKS}, got {task!r}")
    if test_split is not None and not 0.0 < test_split < 1.0:
        raise ValueError(f"--test-split: expected a fraction in (0, 1), got {test_split}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--dataset: no such file: {path!r}")
    if path.lower().endswith(".npz"):
        if target is not None:
            raise ValueError(f"--target: names a column of a .csv file; {path!r} is a .npz file, whose labels are "
                             f"its y_train (or y) array")
        return _from_npz(path, test_split, seed, task)
    return _from_csv(path, target, test_split, seed, task)


def _from_npz(path, test_split, seed, task):
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"--dataset: {path!r} is not a readable .npz file ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):  # one array saved by np.save
        raise ValueError(f"--dataset: {path!r} is a single array (np.save); save x_train and y_train (or x and y) "
                         f"with np.savez")
    with archive:
        keys = set(archive.files)
        if {"x_train", "y_train"} <= keys:
            pairs = [("x_train", "y_train")] + ([("x_test", "y_test")] if {"x_test", "y_test"} <= keys else [])
        elif {"x", "y"} <= keys:
            pairs = [("x", "y")]
        else:
            raise ValueError(f"--dataset: {path!r} should hold the arrays x_train and y_train (and x_test, y_test), "
                             f"or x and y; it holds {sorted(keys)}")
        try:
            arrays = [(_features(archive[x], f"{path}: {x}"), archive[y], x, y) for x, y in pairs]
        except ValueError as exc:
            if "allow_pickle" in str(exc):
                raise ValueError(f"--dataset: {path!r} holds object arrays, which need pickle to read; save numbers "
                                 f"or strings") from None
            raise
    for x, y, x_key, y_key in arrays:
        if len(x) != len(y):
            raise ValueError(f"--dataset: {path!r}: {x_key} has {len(x)} rows but {y_key} has {len(y)}")
        if x.shape[1:] != arrays[0][0].shape[1:]:
            raise ValueError(f"--dataset: {path!r}: {x_key} has samples of shape {x.shape[1:]}, "
                             f"{arrays[0][2]} of shape {arrays[0][0].shape[1:]}")
    labels, task, class_names = targets(np.concatenate([_label_column(y, f"{path}: {k}") for _, y, _, k in arrays]),
                                        task, f"{path}: {arrays[0][3]}")
    if len(arrays) == 2:
        if test_split is not None:
            raise ValueError(f"--test-split: {path!r} holds its own x_test and y_test, which are the test set")
        n = len(arrays[0][0])
        return LabelledData((arrays[0][0], labels[:n]), (arrays[1][0], labels[n:]), task, class_names)
    return _split(arrays[0][0], labels, task, class_names, test_split, seed)


def _features(x, where):
    if x.dtype.kind not in "biuf":
        raise ValueError(f"--dataset: {where}: expected numbers, got an array of {x.dtype}")
    if x.ndim == 1:
        x = x[:, None]
    if len(x) == 0:
        raise ValueError(f"--dataset: {where}: has no rows")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        row = int(np.argwhere(~np.isfinite(x.reshape(len(x), -1)))[0, 0])
        raise ValueError(f"--dataset: {where}: row {row} holds NaN or infinity; drop or fill it first")
    return x


def _label_column(y, where):
    """Labels as one value a row: (n,) or (n, 1) as they are, one-hot rows (n, k) as their class index."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2 and y.dtype.kind in "biuf":
        if not (np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()):
            raise ValueError(f"--dataset: {where}: expected one label a row, or one-hot rows; got shape {y.shape} "
                             f"with rows that are not one-hot")
        return y.argmax(axis=1)
    if y.ndim != 1:
        raise ValueError(f"--dataset: {where}: expected one label a row, got shape {y.shape}")
    return y


def targets(labels, task, where):
    """What the model learns from ``labels`` for ``task`` ('auto' guessed), the task, and the class names of words.

    Regression: the numbers as float32. Classification: class indices; words become the indices of their sorted
    values (the names), whole numbers >= 0 stay as they are.
    """
    if task == "auto":
        task = _guess_task(labels, where)
    if task == "classification":
        indices, class_names = _classes(labels, where)
        return indices, task, class_names
    if labels.dtype.kind not in "biuf":
        raise ValueError(f"--task regression: {where}: expected numbers, got {labels.dtype} values such as "
                         f"{labels[0]!r}")
    if not np.isfinite(labels).all():
        raise ValueError(f"--dataset: {where}: row {int(np.argmax(~np.isfinite(labels)))} holds NaN or infinity; "
                         f"drop or fill it first")
    return labels.astype("float32"), task, None


def _guess_task(labels, where):
    if labels.dtype.kind not in "iuf":
        return "classification"
    if not (np.isfinite(labels).all() and (labels >= 0).all() and (labels == np.round(labels)).all()):
        return "regression"
    if labels.max() >= MOST_CLASSES_GUESSED:
        raise ValueError(f"--task: {where}: the labels are whole numbers up to {labels.max():g}: a quantity to "
                         f"predict, or {labels.max() + 1:g} classes? Say which with --task regression or --task "
                         f"classification")
    return "classification"


def _classes(labels, where):
    if labels.dtype.kind in "US":
        names, indices = np.unique(labels, return_inverse=True)
        return indices.astype("int64"), [str(n) for n in names]
    if labels.dtype.kind == "b":
        return labels.astype("int64"), None
    if labels.dtype.kind not in "iuf":
        raise ValueError(f"--dataset: {where}: expected class labels (whole numbers >= 0 or words), got {labels.dtype}")
    bad = ~np.isfinite(labels) | (labels < 0) | (labels != np.round(labels)) if labels.dtype.kind == "f" \
        else labels < 0
    if bad.any():
        value = labels[np.argmax(bad)].item()
        raise ValueError(f"--task classification: {where}: expected class labels, whole numbers >= 0 or words; "
                         f"got {value!r} (--task regression predicts a number)")
    return labels.astype("int64"), None


def _split(x, labels, task, class_names, test_split, seed):
    test_split = DEFAULT_TEST_SPLIT if test_split is None else test_split
    n_test = int(round(len(x) * test_split))
    if n_test < 1 or n_test >= len(x):
        raise ValueError(f"--test-split: {test_split} of {len(x)} rows leaves no test or no training rows")
    order = np.random.default_rng(seed).permutation(len(x))
    test, train = order[:n_test], order[n_test:]
    return LabelledData((x[train], labels[train]), (x[test], labels[test]), task, class_names)


def _from_csv(path, target, test_split, seed, task):
    header, lines, body = _csv_rows(path)
    width = len(header) if header else len(body[0]) if body else 0
    for line, row in zip(lines, body):
        if len(row) != width:
            raise ValueError(f"--dataset: {path!r} line {line}: {len(row)} fields, the first line has {width}")
    if not body:
        raise ValueError(f"--dataset: {path!r} has a header and no rows")
    table = np.array(body, dtype=str)
    names = header or [f"column {j}" for j in range(width)]
    # a column with neither a name nor values: the empty field after a trailing delimiter on every line
    kept = [j for j in range(width) if (header and names[j]) or np.char.strip(table[:, j]).any()]
    for j in kept:
        if not names[j]:
            raise ValueError(f"--dataset: {path!r}: column {j} has values but no name in the header (a row index "
                             "written by pandas' DataFrame.to_csv? write the file with index=False, or name it)")
    table, names = table[:, kept], [names[j] for j in kept]
    width = len(kept)
    if width < 2:
        raise ValueError(f"--dataset: {path!r}: expected feature columns and a label column, got {width} column")
    label_at = _target_column(target, header and names, width, path)
    feature_columns = [j for j in range(width) if j != label_at]
    x = np.empty((len(body), len(feature_columns)), dtype="float32")
    for k, j in enumerate(feature_columns):
        x[:, k] = _numeric_column(table[:, j], names[j], path, lines)
    words = np.char.strip(table[:, label_at])
    where = f"{path} column {names[label_at]!r}"
    blank = np.flatnonzero(words == "")
    if blank.size:
        raise ValueError(f"--dataset: {where}: line {lines[blank[0]]} has no label; drop or fill it first")
    if all(_is_number(w) for w in np.unique(words)):
        numbers = words.astype("float64")
        if not np.isfinite(numbers).all():
            line = lines[int(np.argmax(~np.isfinite(numbers)))]
            raise ValueError(f"--dataset: {where}: line {line} holds a label of NaN or infinity; drop or fill it")
        words = numbers
    labels, task, class_names = targets(words, task, where)
    return _split(x, labels, task, class_names, test_split, seed)


def _csv_rows(path):
    """(the header's fields or None, the file line of each row, the rows of fields) of a CSV file; blank lines
    left out. The first row is a header when it has a field that is not a number and not empty."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        sample = f.read(65536)
        f.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(f, dialect)
        rows, lines, read_to = [], [], 0
        for row in reader:
            line, read_to = read_to + 1, reader.line_num  # (a quoted field may span lines: the row's first)
            if any(field.strip() for field in row):
                rows.append(row)
                lines.append(line)
    if not rows:
        raise ValueError(f"--dataset: {path!r} is empty")
    if all(_is_number(field) for field in rows[0] if field.strip()):  # (a trailing delimiter's empty field aside)
        return None, lines, rows
    return [field.strip() for field in rows[0]], lines[1:], rows[1:]


def _target_column(target, header, width, path):
    if target is None:
        return width - 1
    if header and target in header:
        return header.index(target)
    if target.isdigit() and int(target) < width:
        return int(target)
    columns = f"one of {header}" if header else f"a column number below {width} (the file has no header)"
    raise ValueError(f"--target: expected {columns}, got {target!r}")


def _numeric_column(values, name, path, lines):
    try:
        column = values.astype("float64")
    except ValueError:
        column = None
    if column is None or not np.isfinite(column).all():
        for line, value in zip(lines, values):
            if not _is_number(value) or not np.isfinite(float(value)):
                raise ValueError(f"--dataset: {path!r} line {line}, column {name!r}: expected a number, got "
                                 f"{str(value)!r} (gpunn train takes numeric features: encode or drop the column, "
                                 f"fill or drop missing values)")
        column = np.array([float(value) for value in values])
    return column


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
