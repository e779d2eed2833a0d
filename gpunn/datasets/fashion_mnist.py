"""Fashion-MNIST clothing images, as ``keras.datasets.fashion_mnist``."""
from __future__ import annotations

from ._idx import load_idx_set

__all__ = ["load_data"]

MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)

# md5 of the published .gz files, checked on download only.
MD5 = {
    "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
}


def load_data(path=None):
    """Load Fashion-MNIST: 60,000 training and 10,000 test 28x28 grayscale images of 10 kinds
    of clothing (0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
    7 Sneaker, 8 Bag, 9 Ankle boot).

    The four standard IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each plain or ``.gz``) are read from
    a directory: ``path`` if given, else ``$GPUNN_DATA_DIR/fashion_mnist`` when that variable is
    set, else ``~/.gpunn/datasets/fashion_mnist``. Missing files are downloaded there first,
    unless the environment variable ``GPUNN_OFFLINE=1`` is set.

    Args:
        path: directory holding the files; a Keras-style ``.npz`` file of the set (arrays
            ``x_train``, ``y_train``, ``x_test``, ``y_test``) is also accepted.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: ``x`` uint8 arrays of shape
        ``(num_samples, 28, 28)`` with values 0-255, ``y`` uint8 arrays of labels 0-9 of shape
        ``(num_samples,)``.

    Raises:
        FileNotFoundError: the files are missing and could not be downloaded; the message lists
            the directory and file names to provide (``gpunn.datasets.digits`` needs no download).
        ValueError: a file is not a valid IDX file.
    """
    return load_idx_set("fashion_mnist", path, MIRRORS, MD5)
