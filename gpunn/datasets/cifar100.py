"""CIFAR-100 small colour images, as ``keras.datasets.cifar100`` (keras/src/datasets/cifar100.py): the same
archive, hash, arguments, results and errors."""
from __future__ import annotations

from ._cifar import CifarArchive, batch_files, load_batch, stack_channels_last

__all__ = ["load_data"]

# Keras's published archive and its sha256.
ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
FILE_HASH = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"
TRAIN_BATCH = "train"
TEST_BATCH = "test"
ARCHIVE = CifarArchive(name="cifar100", fname="cifar-100-python.tar.gz", origin=ORIGIN, file_hash=FILE_HASH,
                       folder="cifar-100-python", batches=(TRAIN_BATCH, TEST_BATCH),
                       keras_fname="cifar-100-python-target")
LABEL_MODES = ("fine", "coarse")


def load_data(label_mode="fine"):
    """Load CIFAR-100: 50,000 training and 10,000 test 32x32 colour images, each of one of 100 fine classes,
    grouped into 20 coarse superclasses.

    The archive is Keras's (``cifar-100-python.tar.gz``), read from ``$GPUNN_DATA_DIR/cifar100/`` when that
    variable is set, else ``~/.gpunn/datasets/cifar100/``, and downloaded there when missing (unless
    ``GPUNN_OFFLINE=1``). Its two batch files are extracted once, into ``cifar-100-python/`` beside it; a load
    that finds them there reads them and nothing else (that folder may also be put there by hand).

    Args:
        label_mode: ``"fine"`` (labels 0-99) or ``"coarse"`` (the superclasses, 0-19).

    Returns:
        ``((x_train, y_train), (x_test, y_test))``, as ``keras.datasets.cifar100.load_data`` returns them: ``x``
        uint8 arrays of shape ``(num_samples, 32, 32, 3)`` (channels last, Keras's default
        ``image_data_format``) with values 0-255, ``y`` int64 arrays of labels of shape ``(num_samples, 1)``
        (Keras keeps the dtype NumPy gives the file's lists, unlike CIFAR-10's uint8).

    Raises:
        ValueError: ``label_mode`` is neither ``"fine"`` nor ``"coarse"`` (Keras's message; checked before any
            file is touched), or the archive or a batch file is damaged.
        FileNotFoundError: the files are missing and could not be downloaded; the message says what to put where.
        RefusedGlobalError (a pickle.UnpicklingError): a batch file's pickle asks for anything but builtin
            values and NumPy arrays.
    """
    if label_mode not in LABEL_MODES:
        raise ValueError(f'`label_mode` must be one of `"fine"`, `"coarse"`. Received: label_mode={label_mode}.')
    paths = batch_files(ARCHIVE)
    label_key = f"{label_mode}_labels"
    x_train, labels_train = load_batch(paths[TRAIN_BATCH], label_key=label_key)
    x_test, labels_test = load_batch(paths[TEST_BATCH], label_key=label_key)
    return ((stack_channels_last([x_train]), labels_train.reshape(len(labels_train), 1)),
            (stack_channels_last([x_test]), labels_test.reshape(len(labels_test), 1)))
