"""Boston housing prices, as ``keras.datasets.boston_housing``: the same file, arguments and results.

The set carries a variable ("B") built on an assumption about race; like Keras, prefer
``california_housing`` (``version="small"`` is its stand-in of similar size) outside discussions of that.
"""
from __future__ import annotations

from ._cache import cached_file
from ._housing import check_test_split, read_xy, shuffle_and_split

__all__ = ["load_data"]

# Keras's published file and its sha256.
ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/boston_housing.npz"
FILE_HASH = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def load_data(path="boston_housing.npz", test_split=0.2, seed=113):
    """Load the Boston housing data: 506 suburbs of the late 1970s, 13 attributes each, and the median home
    price there in k$.

    The file is Keras's ``boston_housing.npz``, read from ``$GPUNN_DATA_DIR/boston_housing/`` when that
    variable is set, else ``~/.gpunn/datasets/boston_housing/``, and downloaded there when missing (unless
    ``GPUNN_OFFLINE=1``).

    Args:
        path: the file's name in that directory; an absolute path is used as it is.
        test_split: fraction of the (shuffled) rows that form the test set, in [0, 1).
        seed: seed of the shuffle (``np.random.RandomState(seed)``).

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: ``x`` arrays of shape ``(num_samples, 13)``, ``y``
        prices of shape ``(num_samples,)``, in the file's float dtype, as
        ``keras.datasets.boston_housing.load_data`` returns them (404 training and 102 test rows by default).

    Raises:
        ValueError: ``test_split`` is outside [0, 1).
        FileNotFoundError: the file is missing and could not be downloaded.
    """
    check_test_split(test_split)
    x, y = read_xy(cached_file("boston_housing", path, ORIGIN, FILE_HASH))
    return shuffle_and_split(x, y, test_split, seed)
