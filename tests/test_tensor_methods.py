"""What Keras's ops docstrings do with the arrays ops return, against Keras 3 itself: array methods
(``keras.ops.arange(6).reshape(2, 3)``, ``.transpose()``, ``.astype``, ``.sum``, ``.mean``, ``.T``), ``in_top_k``
with a target outside the classes, ``fabs`` of integers giving floats."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import run_script_both_ways

SCRIPT = r'''
import json, sys
import numpy as np

def run(keras, folder):
    ops = keras.ops
    x = ops.arange(6).reshape(2, 3) + 10
    out = {"argmax": np.asarray(ops.argmax(x, axis=0)).tolist(),
           "reshape_tuple": list(ops.arange(6).reshape((3, 2)).shape),
           "transpose": np.asarray(x.transpose()).tolist(), "T": np.asarray(x.T).tolist(),
           "astype": str(np.asarray(x.astype("float32")).dtype),
           "sum": np.asarray(x.sum(axis=1)).tolist(), "mean": float(np.asarray(x.astype("float32").mean()))}
    targets = ops.convert_to_tensor([2, 5, 3])
    predictions = ops.convert_to_tensor([[0.1, 0.4, 0.6, 0.9, 0.5], [0.1, 0.7, 0.9, 0.8, 0.3],
                                         [0.1, 0.6, 0.9, 0.9, 0.5]])
    out["in_top_k"] = np.asarray(ops.in_top_k(targets, predictions, k=3)).tolist()
    fabs = np.asarray(ops.fabs(ops.convert_to_tensor([-1, 2], dtype="int32")))
    out["fabs"] = [fabs.tolist(), str(fabs.dtype)]
    return out
'''


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    return run_script_both_ways(SCRIPT, tmp_path_factory)


@pytest.mark.parametrize("case", ["argmax", "reshape_tuple", "transpose", "T", "astype", "sum", "mean", "in_top_k",
                                  "fabs"])
def test_as_in_keras(both, case):
    ours, theirs = both
    assert ours[case] == theirs[case]


def test_the_methods_carry_gradients():
    """Inside a loss of one's own, ``y_pred.reshape(...).sum()`` is differentiated as ops.reshape and ops.sum."""
    from gpunn.autodiff import Tensor, gradients

    x = Tensor(np.arange(6.0), requires_grad=True)
    total = (x.reshape(2, 3).T * np.array([1.0, 2.0])).mean()
    (grad,) = gradients(total, [x], np.ones(()))
    np.testing.assert_allclose(grad, np.array([1, 1, 1, 2, 2, 2]) / 6.0)
