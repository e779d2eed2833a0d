"""MNIST handwritten digits, as ``keras.datasets.mnist``."""
from __future__ import annotations

from ._idx import load_idx_set

__all__ = ["load_data"]

MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)

# md5 of the published .gz files, checked on download only (files you place yourself are
# trusted, and may be uncompressed).
MD5 = {
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}


def load_data(path=None):
    """Load the MNIST data set: 60,000 training and 10,000 test 28x28 grayscale digit images.

    The four standard IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each plain or ``.gz``) are read from
    a directory: ``path`` if given, else ``$GPUNN_DATA_DIR/mnist`` when that variable is set, else
    ``~/.gpunn/datasets/mnist``. Missing files are downloaded there first, unless the environment
    variable ``GPUNN_OFFLINE=1`` is set.

    Args:
        path: directory holding the files; a Keras-style ``.npz`` file of the set (arrays
            ``x_train``, ``y_train``, ``x_test``, ``y_test``) is also accepted. A bare file name
            (Keras's default, ``"mnist.npz"``) is that file in Keras's cache, ``~/.keras/datasets``,
            where Keras fetched it; else the default directory above serves.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: ``x`` uint8 arrays of shape
        ``(num_samples, 28, 28)`` with values 0-255, ``y`` uint8 arrays of digit labels 0-9
        of shape ``(num_samples,)``.

    Raises:
        FileNotFoundError: the files are missing and could not be downloaded; the message lists
            the directory and file names to provide (``gpunn.datasets.digits`` needs no download).
        ValueError: a file is not a valid IDX file.
    """
    return load_idx_set("mnist", path, MIRRORS, MD5)
