"""Helpers shared by the kernel tests: where arrays live, tolerances, comparisons."""
from __future__ import annotations

import numpy as np

from gpunn import _compat

FLOATS = (np.float32, np.float64)


class Device:
    """to_device(ndarray) -> array the CUDA launchers accept; to_host(array) -> a NumPy copy.

    With a GPU, arrays go to the device as CuPy arrays (the engine's own array type) or, without
    CuPy, as Numba device arrays; under Numba's CUDA simulator the launchers take NumPy arrays.
    """

    def __init__(self):
        self.cp = _compat.cupy()
        self.simulated = _compat.cuda_simulator_enabled()

    def to_device(self, a):
        if a is None:
            return None
        if self.simulated:
            return np.array(a, copy=True)
        if self.cp is not None:
            return self.cp.asarray(a)
        return _compat.numba_cuda().to_device(a)

    def to_host(self, a):
        if a is None:
            return None
        if self.simulated:
            return np.array(a, copy=True)
        if self.cp is not None:
            return self.cp.asnumpy(a)  # waits for the stream the kernels ran on
        return a.copy_to_host()


def tol(dtype):
    """(rtol, atol) for a CUDA result against its NumPy twin: a few ulps of the dtype."""
    return (3e-6, 3e-7) if np.dtype(dtype) == np.float32 else (1e-13, 1e-14)


def assert_close(actual, expected, dtype, scale=1.0, err_msg=""):
    rtol, atol = tol(dtype)
    np.testing.assert_allclose(actual, expected, rtol=rtol * scale, atol=atol * scale, err_msg=err_msg)
