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

import functools
import os
import sys

import numpy as np

from .directory_index import FileBatches, check_labels, check_split, index_directory, subsets

def text_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, batch_size=32,
                                max_length=None, shuffle=True, seed=None, validation_split=None, subset=None,
                                follow_links=False, format="tf", verbose=True):
    """See the module docstring; the arguments are Keras's. ``subset="both"`` gives [training, validation]."""
    check_labels(labels, label_mode, class_names, "text")
    if format not in ("tf", "grain"):
        raise ValueError(f"format: expected 'tf' or 'grain', got {format!r}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    check_split(validation_split, subset, shuffle, seed)
    if not os.path.isdir(directory):
        raise ValueError(f"directory: {directory!r} is not a directory")
    if seed is None:
        seed = np.random.randint(1e6)
    file_paths, labels, class_names = index_directory(os.fspath(directory), labels, (".txt",), class_names, shuffle,
                                                     seed, follow_links, verbose)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(f"label_mode: 'binary' needs exactly 2 classes, got class_names={class_names}")
    make = _tf_dataset if "tensorflow" in sys.modules and format == "tf" else TextFiles
    options = dict(label_mode=label_mode, num_classes=len(class_names) if class_names else 0,
                   max_length=max_length, batch_size=batch_size)
    return subsets(functools.partial(make, **options), file_paths, labels, class_names, validation_split, subset,
                   shuffle, seed, lambda part: f"No {part}text files found in directory {directory}. Allowed format: .txt")


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


class TextFiles(FileBatches):
    """The files' texts (``str``, decoded from UTF-8, cut to ``max_length`` bytes) and labels."""

    def __init__(self, paths, labels, label_mode, num_classes, max_length, batch_size, shuffle, seed):
        super().__init__(paths, labels, label_mode, num_classes, batch_size, shuffle, seed)
        self.max_length = max_length

    def load(self, path: str) -> str:
        with open(path, "rb") as handle:
            data = handle.read()
        if self.max_length is not None:  # (bytes, as tf.strings.substr counts)
            data = data[:self.max_length]
        return data.decode("utf-8", errors="replace")

    def stack(self, values: list):
        return np.array(values, dtype=object).astype(str)
