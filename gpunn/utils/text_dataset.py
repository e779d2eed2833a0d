"""``keras.utils.text_dataset_from_directory``: the ``.txt`` files of a directory as batches of (texts, labels), a
class per subdirectory (the TF text-classification tutorials' IMDB and Stack Overflow folders).

Followed: keras/src/utils/text_dataset_utils.py and dataset_utils.py (``index_directory``,
``get_training_or_validation_split``): the same files in the same order (sorted, then shuffled by
``np.random.RandomState(seed)``), the same splits, labels and messages. Where the script has imported TensorFlow
(the tutorials go on with ``dataset.map``, ``cache``, ``prefetch``), the result is Keras's ``tf.data.Dataset``, made
as Keras makes it (its shuffle buffer of 8 batches included); elsewhere it is a ``PyDataset`` of NumPy batches
(texts as ``str``, decoded from UTF-8), which ``fit``, ``evaluate``, ``predict`` and ``TextVectorization.adapt``
read, shuffled anew at each epoch from the whole set; ``format="grain"`` (Keras's TensorFlow-free format) gives
that PyDataset too, not a Grain dataset. TensorFlow is looked up, never imported.
"""
from __future__ import annotations

import math
import os
import sys

import numpy as np

from ..io_utils import print_msg
from .py_dataset import PyDataset

LABEL_MODES = ("int", "categorical", "binary", None)


def text_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, batch_size=32,
                                max_length=None, shuffle=True, seed=None, validation_split=None, subset=None,
                                follow_links=False, format="tf", verbose=True):
    """See the module docstring; the arguments are Keras's. ``subset="both"`` gives [training, validation]."""
    if labels not in ("inferred", None) and not isinstance(labels, (list, tuple)):
        raise ValueError("labels: should be a list/tuple of integer labels, of the same size as the number of text "
                         "files in the target directory, or 'inferred' (from the subdirectory names), or None (no "
                         f"labels); got labels={labels!r}")
    if labels not in ("inferred", None) and class_names:
        raise ValueError(f"class_names: only with labels='inferred'; got labels={labels!r} and "
                         f"class_names={class_names!r}")
    if label_mode not in LABEL_MODES:
        raise ValueError(f"label_mode: expected one of 'int', 'categorical', 'binary' or None, got {label_mode!r}")
    if format not in ("tf", "grain"):
        raise ValueError(f"format: expected 'tf' or 'grain', got {format!r}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    _check_split(validation_split, subset, shuffle, seed)
    if not os.path.isdir(directory):
        raise ValueError(f"directory: {directory!r} is not a directory")
    if seed is None:
        seed = np.random.randint(1e6)
    file_paths, labels, class_names = _index_directory(os.fspath(directory), labels, class_names, shuffle, seed,
                                                      follow_links, verbose)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(f"label_mode: 'binary' needs exactly 2 classes, got class_names={class_names}")
    make = _tf_dataset if "tensorflow" in sys.modules and format == "tf" else TextFiles
    options = dict(label_mode=label_mode, num_classes=len(class_names) if class_names else 0,
                   max_length=max_length, batch_size=batch_size)
    subsets = ["training", "validation"] if subset == "both" else [subset]
    datasets = []
    for part in subsets:
        paths, part_labels = _split(file_paths, labels, validation_split, part)
        if not paths:
            raise ValueError(f"No {part + ' ' if subset == 'both' else ''}text files found in directory "
                             f"{directory}. Allowed format: .txt")
        # (both subsets: the validation one in its order; one subset alone, shuffled as asked)
        dataset = make(paths, part_labels, shuffle=shuffle and not (subset == "both" and part == "validation"),
                       seed=seed, **options)
        dataset.class_names = class_names
        datasets.append(dataset)
    return datasets if subset == "both" else datasets[0]


def _check_split(validation_split, subset, shuffle, seed) -> None:
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"validation_split: must be between 0 and 1, got {validation_split!r}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError("subset, validation_split: if subset is set, validation_split must be set, and inversely")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f"subset: expected 'training', 'validation' or 'both', got {subset!r}")
    if validation_split and shuffle and seed is None:
        raise ValueError("seed: with validation_split and shuffling, give a seed, so that the training and "
                         "validation subsets do not overlap")


def _valid_files(directory: str, follow_links: bool):
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links), key=lambda walked: walked[0]):
        for name in sorted(files):
            if name.lower().endswith(".txt"):
                yield root, name


def _index_directory(directory, labels, class_names, shuffle, seed, follow_links, verbose):
    """Keras's ``index_directory``: (file paths, labels, class names)."""
    if labels == "inferred":
        subdirs = [name for name in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, name)) and not name.startswith(".")]
        if class_names is not None:
            if not set(class_names) <= set(subdirs):
                raise ValueError(f"class_names: should name subdirectories of the directory; expected {subdirs} "
                                 f"(or a subset of it), got class_names={class_names}")
            subdirs = list(class_names)
    else:
        subdirs = [""]
        if class_names is not None:
            raise ValueError("class_names: cannot be given with labels=None (no labels) or with labels given (the "
                             "class names are then the sorted labels)")
    class_names = subdirs
    filenames, inferred = [], []
    for k, subdir in enumerate(subdirs):
        path = os.path.join(directory, subdir)
        dirname = os.path.basename(path)
        for root, name in _valid_files(path, follow_links):
            filenames.append(os.path.join(dirname, os.path.relpath(os.path.join(root, name), path)))
            inferred.append(k)
    if labels == "inferred":
        labels = np.asarray(inferred, dtype="int32")
    elif labels is None:
        class_names = None
    else:
        if len(labels) != len(filenames):
            raise ValueError(f"labels: expected as many as the files in the target directory; len(labels) is "
                             f"{len(labels)} while we found {len(filenames)} files in directory {directory}")
        class_names = [str(label) for label in sorted(set(labels))]
    if verbose:
        print_msg(f"Found {len(filenames)} files." if labels is None else
                  f"Found {len(filenames)} files belonging to {len(class_names)} classes.")
    file_paths = [os.path.join(directory, name) for name in filenames]
    if shuffle:
        np.random.RandomState(seed).shuffle(file_paths)
        if labels is not None:
            np.random.RandomState(seed).shuffle(labels)
    return file_paths, labels, class_names


def _split(paths, labels, validation_split, subset):
    """Keras's ``get_training_or_validation_split``: the last ``validation_split`` of the files for validation."""
    if not validation_split:
        return paths, labels
    count = int(validation_split * len(paths))
    if subset == "training":
        print_msg(f"Using {len(paths) - count} files for training.")
        return paths[:-count], None if labels is None else labels[:-count]
    print_msg(f"Using {count} files for validation.")
    return paths[-count:], None if labels is None else labels[-count:]


def _encoded_labels(labels, label_mode, num_classes):
    labels = np.asarray(labels)
    if label_mode == "binary":
        return labels.astype("float32").reshape(-1, 1)
    if label_mode == "categorical":
        return np.eye(num_classes, dtype="float32")[labels]
    return labels.astype("int32")


def _tf_dataset(paths, labels, label_mode, num_classes, max_length, batch_size, shuffle, seed):
    """Keras's ``tf.data`` pipeline of the files (TensorFlow already imported by the script)."""
    tf = sys.modules["tensorflow"]

    def read(path):
        text = tf.io.read_file(path)
        return text if max_length is None else tf.strings.substr(text, 0, max_length)

    dataset = tf.data.Dataset.from_tensor_slices(paths)
    if label_mode:
        label_dataset = tf.data.Dataset.from_tensor_slices(np.asarray(labels))
        if label_mode == "binary":
            label_dataset = label_dataset.map(lambda x: tf.expand_dims(tf.cast(x, "float32"), axis=-1),
                                              num_parallel_calls=tf.data.AUTOTUNE)
        elif label_mode == "categorical":
            label_dataset = label_dataset.map(lambda x: tf.one_hot(x, num_classes),
                                              num_parallel_calls=tf.data.AUTOTUNE)
        dataset = tf.data.Dataset.zip((dataset, label_dataset))
    if shuffle:
        dataset = dataset.shuffle(buffer_size=batch_size * 8 if batch_size is not None else 1024, seed=seed)
    if label_mode:
        dataset = dataset.map(lambda x, y: (read(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        dataset = dataset.map(read, num_parallel_calls=tf.data.AUTOTUNE)
    if batch_size is not None:
        dataset = dataset.batch(batch_size)
    return dataset.prefetch(tf.data.AUTOTUNE)


class TextFiles(PyDataset):
    """The files' texts (``str``) and labels, in batches of ``batch_size`` (one sample at a time for None);
    with ``shuffle``, in a new order at each epoch and each new iteration, drawn from ``seed``."""

    def __init__(self, paths, labels, label_mode, num_classes, max_length, batch_size, shuffle, seed):
        super().__init__()
        self.paths, self.max_length, self.batch_size = list(paths), max_length, batch_size
        self.labels = None if label_mode is None else _encoded_labels(labels, label_mode, num_classes)
        self.shuffle, self._rng = shuffle, np.random.RandomState(seed)
        self._order = np.arange(len(self.paths))
        self._reorder()
        self.class_names = None

    def _reorder(self) -> None:
        if self.shuffle:
            self._order = self._rng.permutation(len(self.paths))

    def _text(self, path: str) -> str:
        with open(path, "rb") as handle:
            data = handle.read()
        if self.max_length is not None:  # (bytes, as tf.strings.substr counts)
            data = data[:self.max_length]
        return data.decode("utf-8", errors="replace")

    def __len__(self) -> int:
        return len(self.paths) if self.batch_size is None else math.ceil(len(self.paths) / self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"index: batch {index} of {len(self)}")
        rows = [self._order[index]] if self.batch_size is None else \
            self._order[index * self.batch_size:(index + 1) * self.batch_size]
        texts = np.array([self._text(self.paths[i]) for i in rows], dtype=object).astype(str)
        if self.batch_size is None:
            texts = texts[0]
        if self.labels is None:
            return texts
        labels = self.labels[rows]
        return texts, labels[0] if self.batch_size is None else labels

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]
        self._reorder()

    def on_epoch_end(self) -> None:
        self._reorder()
