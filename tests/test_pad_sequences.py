"""gpunn.utils.pad_sequences against keras.utils.pad_sequences (Keras 3, in a subprocess): the same arrays for
every padding/truncating/maxlen/dtype/value combination, and Keras's errors."""
from __future__ import annotations

import numpy as np
import pytest

from gpunn.utils import pad_sequences
from helpers import run_keras

SEQUENCES = [[1, 2, 3], [4], [], [5, 6, 7, 8, 9], [10, 11]]
CASES = [{}, {"maxlen": 3}, {"maxlen": 3, "truncating": "post"}, {"maxlen": 4, "padding": "post"},
         {"maxlen": 2, "padding": "post", "truncating": "post", "value": -1}, {"maxlen": 7, "dtype": "float32",
                                                                                "value": 0.5}]

KERAS_SIDE = """
import json, sys
import keras
task = json.loads(sys.stdin.read())
out = [keras.utils.pad_sequences(task["sequences"], **case) for case in task["cases"]]
out.append(keras.utils.pad_sequences(task["items"], maxlen=3))
print(json.dumps([[a.tolist(), str(a.dtype)] for a in out]))
"""


def test_the_same_arrays_as_keras():
    items = [[[1, 2], [3, 4]], [[5, 6]], []]  # sequences of 2-vectors
    theirs = run_keras(KERAS_SIDE, {"sequences": SEQUENCES, "cases": CASES, "items": items})
    ours = [pad_sequences(SEQUENCES, **case) for case in CASES] + [pad_sequences(items, maxlen=3)]
    for (values, dtype), mine, case in zip(theirs, ours, CASES + ["items"]):
        assert str(mine.dtype) == dtype, case
        np.testing.assert_array_equal(mine, np.array(values, dtype=dtype), err_msg=str(case))


def test_keras_examples_and_the_imdb_use():
    np.testing.assert_array_equal(pad_sequences([[1], [2, 3], [4, 5, 6]]), [[0, 0, 1], [0, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(pad_sequences([[1], [2, 3], [4, 5, 6]], value=-1),
                                  [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(pad_sequences([[1], [2, 3], [4, 5, 6]], padding="post"),
                                  [[1, 0, 0], [2, 3, 0], [4, 5, 6]])
    np.testing.assert_array_equal(pad_sequences([[1], [2, 3], [4, 5, 6]], maxlen=2), [[0, 1], [2, 3], [5, 6]])
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = [1, 14, 22], [1, 5]  # as datasets.imdb returns its sequences
    assert pad_sequences(ragged, maxlen=4).tolist() == [[0, 1, 14, 22], [0, 0, 1, 5]]


@pytest.mark.parametrize("kwargs, message", [
    ({"sequences": 5}, "`sequences` must be iterable"),
    ({"sequences": [[1], 2]}, "must be a list of iterables. Found non-iterable: 2"),
    ({"sequences": [[1]], "padding": "middle"}, 'Padding type "middle" not understood'),
    ({"sequences": [[1]], "truncating": "middle"}, 'Truncating type "middle" not understood'),
    ({"sequences": [[1]], "value": "x"}, "is not compatible with `value`'s type"),
    ({"sequences": [[[1, 2]], [[1, 2, 3]]]}, r"Shape of sample \(3,\) of sequence at position 1"),
])
def test_keras_s_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pad_sequences(**kwargs)
