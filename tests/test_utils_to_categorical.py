"""to_categorical: Keras's shapes and dtypes, and clear errors for bad labels."""
import numpy as np
import pytest

from gpunn.utils import to_categorical


def test_basic_one_hot():
    out = to_categorical([0, 2, 1])
    np.testing.assert_array_equal(out, [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    assert out.dtype == np.float64  # Keras 3's np.zeros((n, num_classes)) for NumPy labels


def test_num_classes_and_dtype():
    out = to_categorical(np.array([1, 3], dtype=np.uint8), num_classes=5, dtype="int8")
    assert out.shape == (2, 5) and out.dtype == np.int8
    np.testing.assert_array_equal(out.argmax(axis=1), [1, 3])
    assert out.sum() == 2


def test_trailing_unit_axis_is_squeezed_like_keras():
    assert to_categorical(np.array([[1], [0], [2]])).shape == (3, 3)
    assert to_categorical(np.array([[0, 1], [2, 3]])).shape == (2, 2, 4)
    assert to_categorical(2, num_classes=4).tolist() == [0, 0, 1, 0]  # a scalar label


def test_integer_valued_floats_and_bools_accepted():
    np.testing.assert_array_equal(to_categorical(np.array([2.0, 0.0])), [[0, 0, 1], [1, 0, 0]])
    assert to_categorical(np.array([True, False])).shape == (2, 2)


@pytest.mark.parametrize(
    "y, kwargs, pattern",
    [
        ([0, -1, 2], {}, r"x: expected class labels >= 0, got -1"),
        ([0, 5], {"num_classes": 3}, r"x: expected labels in \[0, num_classes - 1\] = \[0, 2\], got label 5"),
        ([0.5, 1.0], {}, r"x: expected integer class labels, got non-integer value 0.5"),
        ([np.nan], {}, r"x: expected integer class labels"),
        (["a", "b"], {}, r"x: expected integer class labels, got an array of dtype"),
        ([], {}, r"x: expected at least one label \(or num_classes, to count the classes\), got an empty array"),
        ([0, 1], {"num_classes": -1}, r"num_classes: expected a positive integer or None, got -1"),
        ([0, 1], {"num_classes": 2.5}, r"num_classes: expected a positive integer or None, got 2.5"),
    ],
)
def test_errors_name_the_argument(y, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        to_categorical(y, **kwargs)


def test_empty_labels_with_num_classes_and_num_classes_zero_as_keras():
    """Keras: ``np.array([], int)`` with num_classes gives (0, num_classes); ``num_classes=0`` counts them."""
    assert to_categorical(np.array([], dtype=int), 3).shape == (0, 3)
    np.testing.assert_array_equal(to_categorical([0, 2], num_classes=0), [[1, 0, 0], [0, 0, 1]])
