"""CIFAR-10 small colour images, as ``keras.datasets.cifar10`` (keras/src/datasets/cifar10.py): the same archive,
hash, arguments and results."""
from __future__ import annotations

import numpy as np

from ._cifar import CifarArchive, batch_files, load_batch, stack_channels_last

__all__ = ["load_data"]

# Keras's published archive and its sha256.
ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
FILE_HASH = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
ARCHIVE = CifarArchive(name="cifar10", fname="cifar-10-python.tar.gz", origin=ORIGIN, file_hash=FILE_HASH,
                       folder="cifar-10-batches-py", batches=TRAIN_BATCHES + (TEST_BATCH,),
                       keras_fname="cifar-10-batches-py-target")


def _uint8_labels(labels: np.ndarray, paths) -> np.ndarray:
    # Keras stores the labels in uint8 arrays; a label that does not fit is a damaged file, not a value to wrap.
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError(f"{', '.join(map(str, paths))}: labels must be 0-255 (CIFAR-10's are 0-9), got "
                         f"{labels.min()}..{labels.max()}")
    return labels.astype(np.uint8).reshape(len(labels), 1)


def load_data():
    """Load CIFAR-10: 50,000 training and 10,000 test 32x32 colour images, each of one of 10 classes
    (0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog, 6 frog, 7 horse, 8 ship, 9 truck).

    The archive is Keras's (``cifar-10-python.tar.gz``), read from ``$GPUNN_DATA_DIR/cifar10/`` when that
    variable is set, else ``~/.gpunn/datasets/cifar10/``, and downloaded there when missing (unless
    ``GPUNN_OFFLINE=1``). Its batch files are extracted once, into ``cifar-10-batches-py/`` beside it; a load
    that finds them there reads them and nothing else (that folder may also be put there by hand).

    Returns:
        ``((x_train, y_train), (x_test, y_test))``, as ``keras.datasets.cifar10.load_data`` returns them: ``x``
        uint8 arrays of shape ``(num_samples, 32, 32, 3)`` (channels last, Keras's default
        ``image_data_format``) with values 0-255, ``y`` uint8 arrays of labels 0-9 of shape ``(num_samples, 1)``.

    Raises:
        FileNotFoundError: the files are missing and could not be downloaded; the message says what to put where.
        ValueError: the archive or a batch file is damaged.
        RefusedGlobalError (a pickle.UnpicklingError): a batch file's pickle asks for anything but builtin
            values and NumPy arrays.
    """
    paths = batch_files(ARCHIVE)
    train = [load_batch(paths[name]) for name in TRAIN_BATCHES]
    x_test, labels_test = load_batch(paths[TEST_BATCH])
    train_paths = [paths[name] for name in TRAIN_BATCHES]
    y_train = _uint8_labels(np.concatenate([labels for _, labels in train]), train_paths)
    y_test = _uint8_labels(labels_test, [paths[TEST_BATCH]])
    return (stack_channels_last([images for images, _ in train]), y_train), (stack_channels_last([x_test]), y_test)
