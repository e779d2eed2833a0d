"""Ops.upload on a device backend hands CuPy's ``ndarray.set`` a C-contiguous host array of exactly the buffer's
shape and dtype (``set`` refuses any other shape: a 0-d buffer once received a 1-d copy). Checked with a stand-in
device buffer that applies ``set``'s rule, so it runs without a GPU."""
import types

import numpy as np
import pytest

from gpunn.ops.base import Ops


class _DeviceBuffer:
    """What Ops.upload needs of a CuPy array: shape, dtype, and set() with CuPy's shape check."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype, self.received = tuple(shape), np.dtype(dtype), None

    def set(self, host):
        if host.shape != self.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self.shape}, new shape: {host.shape}")
        self.received = host


@pytest.mark.parametrize("host, shape", [(np.float32(2.5), ()), (np.array(3.0), ()),
                                         (np.arange(6).reshape(2, 3).T, (3, 2))],
                         ids=["numpy-scalar", "0-d", "transposed"])
def test_upload_to_a_device_buffer_keeps_its_shape(host, shape):
    out = _DeviceBuffer(shape, np.float64)
    Ops.upload(types.SimpleNamespace(on_host=False), host, out)
    assert out.received.shape == shape and out.received.dtype == np.float64
    assert out.received.flags.c_contiguous
    np.testing.assert_array_equal(out.received, np.asarray(host, dtype=np.float64))
