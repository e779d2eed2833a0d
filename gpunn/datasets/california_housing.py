"""California housing prices, as ``keras.datasets.california_housing``: the same file, arguments and
results."""
from __future__ import annotations

from ._cache import cached_file
from ._housing import check_test_split, read_xy, shuffle_and_split

__all__ = ["load_data"]

# Keras's published file and its sha256.
ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/california_housing.npz"
FILE_HASH = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"

# The rows of the "small" version: the file's first 600, a stand-in for boston_housing's size.
SMALL_ROWS = 600


def load_data(version="large", path="california_housing.npz", test_split=0.2, seed=113):
    """Load the California housing data: 20,640 block groups of the 1990 census, 8 features each (median
    income, house age, average rooms, average bedrooms, population, average occupancy, latitude,
    longitude), and the median house value there in dollars.

    The file is Keras's ``california_housing.npz``, read from ``$GPUNN_DATA_DIR/california_housing/`` when
    that variable is set, else ``~/.gpunn/datasets/california_housing/``, and downloaded there when missing
    (unless ``GPUNN_OFFLINE=1``).

    Args:
        version: ``"large"`` (all 20,640 rows) or ``"small"`` (the first 600).
        path: the file's name in that directory; an absolute path is used as it is.
        test_split: fraction of the (shuffled) rows that form the test set, in [0, 1).
        seed: seed of the shuffle (``np.random.RandomState(seed)``).

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: ``x`` arrays of shape ``(num_samples, 8)``, ``y`` of
        shape ``(num_samples,)``, in the file's float dtype, as ``keras.datasets.california_housing.load_data``
        returns them.

    Raises:
        ValueError: ``test_split`` is outside [0, 1), or ``version`` is neither ``"small"`` nor ``"large"``.
        FileNotFoundError: the file is missing and could not be downloaded.
    """
    check_test_split(test_split)
    # Checked before any download (Keras checks after it): a typo should not wait on the network.
    if version not in ("small", "large"):
        raise ValueError(f"Argument `version` must be one of 'small', 'large'. Received: version={version}")
    x, y = read_xy(cached_file("california_housing", path, ORIGIN, FILE_HASH))
    if version == "small":
        x, y = x[:SMALL_ROWS], y[:SMALL_ROWS]
    return shuffle_and_split(x, y, test_split, seed)
