"""What ``text_dataset_from_directory`` and ``image_dataset_from_directory`` share, as Keras's
``keras/src/utils/dataset_utils.py`` does: the checks of the arguments they have in common, the files of a
directory (a class per subdirectory) in Keras's order (sorted, then shuffled by ``np.random.RandomState(seed)``),
the training / validation split, the encoded labels, and the batches of them read on the host (``FileBatches``)
where no TensorFlow is in use."""
from __future__ import annotations

import math
import os

import numpy as np

from ..io_utils import print_msg
from .py_dataset import NoTfDataMethods, PyDataset

LABEL_MODES = ("int", "categorical", "binary", None)


def check_labels(labels, label_mode, class_names, what: str) -> None:
    """``labels`` ("inferred", None or a list), ``class_names`` (with "inferred" only) and ``label_mode``;
    ``what`` names the files ("text", "image")."""
    if labels not in ("inferred", None) and not isinstance(labels, (list, tuple)):
        raise ValueError(f"labels: should be a list/tuple of integer labels, of the same size as the number of {what} "
                         "files in the target directory, or 'inferred' (from the subdirectory names), or None (no "
                         f"labels); got labels={labels!r}")
    if labels not in ("inferred", None) and class_names:
        raise ValueError(f"class_names: only with labels='inferred'; got labels={labels!r} and "
                         f"class_names={class_names!r}")
    if label_mode not in LABEL_MODES:
        raise ValueError(f"label_mode: expected one of 'int', 'categorical', 'binary' or None, got {label_mode!r}")


def check_split(validation_split, subset, shuffle, seed) -> None:
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"validation_split: must be between 0 and 1, got {validation_split!r}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError("subset, validation_split: if subset is set, validation_split must be set, and inversely")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f"subset: expected 'training', 'validation' or 'both', got {subset!r}")
    if validation_split and shuffle and seed is None:
        raise ValueError("seed: with validation_split and shuffling, give a seed, so that the training and "
                         "validation subsets do not overlap")


def _valid_files(directory: str, formats: tuple, follow_links: bool):
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links), key=lambda walked: walked[0]):
        for name in sorted(files):
            if name.lower().endswith(formats):
                yield root, name


def index_directory(directory, labels, formats: tuple, class_names, shuffle, seed, follow_links, verbose):
    """Keras's ``index_directory``: (file paths, labels, class names) of the files whose names end with one of
    ``formats`` (lowercase extensions)."""
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
        for root, name in _valid_files(path, formats, follow_links):
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


def split(paths, labels, validation_split, subset):
    """Keras's ``get_training_or_validation_split``: the last ``validation_split`` of the files for validation."""
    if not validation_split:
        return paths, labels
    count = int(validation_split * len(paths))
    if subset == "training":
        print_msg(f"Using {len(paths) - count} files for training.")
        return paths[:-count], None if labels is None else labels[:-count]
    print_msg(f"Using {count} files for validation.")
    return paths[-count:], None if labels is None else labels[-count:]


def subsets(make, file_paths, labels, class_names, validation_split, subset, shuffle, seed, nothing_found):
    """The dataset (``subset`` None, "training" or "validation") or [training, validation] ("both") made by
    ``make(paths, labels, shuffle, seed)`` from the split files; ``nothing_found(part)`` is the message where a
    subset would hold none (``part`` "training " or "validation " for "both", else "")."""
    datasets = []
    for part in (["training", "validation"] if subset == "both" else [subset]):
        paths, part_labels = split(file_paths, labels, validation_split, part)
        if not paths:
            raise ValueError(nothing_found(part + " " if subset == "both" else ""))
        # (both subsets: the validation one in its order; one subset alone, shuffled as asked)
        dataset = make(paths, part_labels, shuffle=shuffle and not (subset == "both" and part == "validation"),
                       seed=seed)
        dataset.class_names = class_names
        datasets.append(dataset)
    return datasets if subset == "both" else datasets[0]


def encoded_labels(labels, label_mode, num_classes):
    labels = np.asarray(labels)
    if label_mode == "binary":
        return labels.astype("float32").reshape(-1, 1)
    if label_mode == "categorical":
        return np.eye(num_classes, dtype="float32")[labels]
    return labels.astype("int32")


class FileBatches(NoTfDataMethods, PyDataset):
    """The files' contents (``load(path)``, the batch's made one array by ``stack``) and labels, in batches of
    ``batch_size`` (one sample at a time for None); with ``shuffle``, in a new order at each epoch and each new
    iteration, drawn from ``seed``."""

    # (NoTfDataMethods: Keras returns a tf.data dataset here, whose order fit keeps)

    def __init__(self, paths, labels, label_mode, num_classes, batch_size, shuffle, seed):
        super().__init__()
        self.paths, self.batch_size = list(paths), batch_size
        self.labels = None if label_mode is None else encoded_labels(labels, label_mode, num_classes)
        self.shuffle, self._rng = shuffle, np.random.RandomState(seed)
        self._order = np.arange(len(self.paths))
        self._reorder()
        self.class_names = None
        self.file_paths = list(paths)

    def load(self, path: str):
        raise NotImplementedError

    def stack(self, values: list):
        raise NotImplementedError

    def _reorder(self) -> None:
        if self.shuffle:
            self._order = self._rng.permutation(len(self.paths))

    def __len__(self) -> int:
        return len(self.paths) if self.batch_size is None else math.ceil(len(self.paths) / self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"index: batch {index} of {len(self)}")
        rows = [self._order[index]] if self.batch_size is None else \
            self._order[index * self.batch_size:(index + 1) * self.batch_size]
        values = self.stack([self.load(self.paths[i]) for i in rows])
        if self.batch_size is None:
            values = values[0]
        if self.labels is None:
            return values
        labels = self.labels[rows]
        return values, labels[0] if self.batch_size is None else labels

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]
        self._reorder()

    def on_epoch_end(self) -> None:
        self._reorder()
