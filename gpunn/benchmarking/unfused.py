"""The unfused contenders: what each fused kernel saves, measured on the same device.

They are the plain reference ``Ops`` (gpunn/ops/reference_steps.py): every fused step (bias + activation,
its backward with the bias gradient, softmax + cross-entropy, sigmoid + BCE, the optimizer updates) as the
obvious composition of ``xp`` array expressions, each making its own pass over memory (its own kernel launch
on a GPU). Matmuls and transfers are the same as the fused backend's, so the difference is the fusion alone.
Results agree with the fused steps to float rounding.
"""
from __future__ import annotations

from .. import _compat
from ..ops import mkl_gemm
from ..ops.base import Ops
from ..ops.cpu_matmul import CpuMatmul


class _UnfusedNumpyOps(CpuMatmul, Ops):
    """The reference steps with NumpyOps's matmuls (MKL where NumpyOps uses it)."""

    name, device_description = "numpy-unfused", "CPU (NumPy, unfused)"

    def __init__(self):
        super().__init__()
        self._mkl = mkl_gemm.make()


def unfused_numpy_ops() -> Ops:
    return _UnfusedNumpyOps()


def unfused_cupy_ops() -> Ops:
    cp = _compat.cupy()
    if cp is None:
        raise RuntimeError(f"the cupy-unfused contender needs a GPU: {_compat.cupy_unavailable_reason()}")
    ops = Ops(xp=cp)
    device = cp.cuda.Device()
    name = cp.cuda.runtime.getDeviceProperties(device.id)["name"].decode()
    ops.name, ops.device_description = "cupy-unfused", f"GPU {device.id} ({name}), unfused"
    return ops
