"""Normalization.adapt over batches: (x, y) tuples are learnt from x, as Keras's ``_extract_batch`` takes them;
a batch that is a list of arrays (a torch DataLoader of ``TensorDataset(x, y)`` yields ``[x, y]``) is refused, as
Keras refuses it, where stacking x and y would learn the statistics of both."""
import numpy as np
import pytest

import gpunn
from helpers import numpy_backend  # noqa: F401  (fixture)

RNG = np.random.default_rng(1)
X = RNG.normal(2, 3, (40, 3)).astype("float32")
Y = RNG.normal(-5, 1, (40, 3)).astype("float32")


def test_a_list_of_x_y_tuples_is_learnt_from_x(numpy_backend):
    layer = gpunn.layers.Normalization()
    layer.adapt([(X[:24], Y[:24]), (X[24:], Y[24:])])
    np.testing.assert_allclose(np.asarray(layer.mean).ravel(), X.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(layer.variance).ravel(), X.var(axis=0), rtol=1e-4)


def test_rows_of_numbers_given_as_tuples_are_still_rows(numpy_backend):
    layer = gpunn.layers.Normalization()
    layer.adapt([(1.0, 2.0), (3.0, 4.0)])
    np.testing.assert_allclose(np.asarray(layer.mean).ravel(), [2.0, 3.0])


def test_batches_that_are_lists_of_arrays_are_refused_naming_what_to_pass(numpy_backend):
    layer = gpunn.layers.Normalization()
    batches = ([X[i:i + 8], Y[i:i + 8]] for i in range(0, 40, 8))
    with pytest.raises(TypeError, match=r"data: adapt\(\) takes batches of arrays, or \(x, y\) tuples.*a list of 2 "
                                        r"arrays.*TensorDataset\(x, y\).*layer.adapt\(x\)"):
        layer.adapt(batches)
    assert not layer.built
