"""The CPU matmul: through MKL where it is used (``mkl_gemm.py``), else NumPy's. A mixin, so that NumpyOps and
the benchmark's unfused reference (``gpunn/benchmarking/unfused.py``) multiply the same way and differ only in
what they fuse. The class using it sets ``self._mkl = mkl_gemm.make()``.
"""
from __future__ import annotations

import functools

import numpy

from .recording import primitive


class CpuMatmul:
    @primitive
    def matmul(self, a, b, out=None):
        """``a @ b``; transposed operands are passed as ``.T`` views and reach BLAS without a copy."""
        if self._mkl is not None and self._mkl.matmul(a, b, out):
            return out
        return numpy.matmul(a, b, out=out)

    def bind_for_replay(self, method, args, kwargs):
        if method.__name__ == "matmul" and self._mkl is not None:
            a, b, out = (*args, kwargs.get("out"))[:3]  # matmul(a, b, out) or matmul(a, b, out=out)
            prepared = self._mkl.prepare(a, b, out)
            # NumPy's products go straight to numpy.matmul: the replay skips asking MKL again.
            return prepared if prepared is not None else functools.partial(numpy.matmul, a, b, out=out)
        return super().bind_for_replay(method, args, kwargs)
