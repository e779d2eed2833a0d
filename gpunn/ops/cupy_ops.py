"""CupyOps: the Ops primitives on an NVIDIA GPU.

Generic array math comes from the base class through ``xp = cupy`` (cuBLAS for matmuls); the fused steps
run as Numba CUDA kernels from ``gpunn.kernels``, launched on CuPy's current stream through cached device
views, so no step converts arrays or synchronises the host.
"""
from __future__ import annotations

import os

import numpy

from .. import _compat
from ..kernels import optimizer_updates
from .base import Ops


def tf32_from_environment() -> bool:
    """``GPUNN_TF32=1`` turns TF32 matmuls on for new GPU backends (and for ``gpunn bench --tf32``)."""
    return os.environ.get("GPUNN_TF32", "0").lower() in ("1", "true", "yes")


def set_cupy_tf32(allow: bool) -> None:
    # CuPy's per-dtype cuBLAS compute type; its own CUPY_TF32 variable is read only once, before the first
    # matmul, so the compute type is set directly.
    from cupy._core import _routines_linalg as linalg

    linalg.set_compute_type(numpy.float32, linalg.COMPUTE_TYPE_TF32 if allow else linalg.COMPUTE_TYPE_DEFAULT)


class CupyOps(Ops):
    name = "cupy"

    def __init__(self, allow_tf32: bool | None = None):
        cp = _compat.cupy()
        if cp is None:
            raise RuntimeError(f"CupyOps needs a GPU: {_compat.cupy_unavailable_reason()}")
        self.xp = cp
        device = cp.cuda.Device()
        props = cp.cuda.runtime.getDeviceProperties(device.id)
        self.device_description = f"GPU {device.id} ({props['name'].decode()})"
        self.out_of_memory_errors = (MemoryError, cp.cuda.memory.OutOfMemoryError)
        self.set_tf32(tf32_from_environment() if allow_tf32 is None else allow_tf32)

    def set_tf32(self, allow: bool) -> None:
        """TF32 tensor-core matmuls for float32 (faster; products keep ~10 mantissa bits): opt-in."""
        set_cupy_tf32(allow)
        self.allow_tf32 = bool(allow)

    # ---- memory and transfers -------------------------------------------------------------------
    def to_numpy(self, array) -> numpy.ndarray:
        return self.xp.asnumpy(array) if isinstance(array, self.xp.ndarray) else numpy.asarray(array)

    def synchronize(self) -> None:
        self.xp.cuda.get_current_stream().synchronize()

    def to_float(self, scalar) -> float:
        return float(scalar.get()) if hasattr(scalar, "get") else float(scalar)

    def free_bytes(self) -> int:
        free, _total = self.xp.cuda.runtime.memGetInfo()
        pool = self.xp.get_default_memory_pool()
        return int(free + pool.free_bytes())

    # ---- fused steps: the Numba CUDA launchers in gpunn/kernels (see Ops._kernel) --------------------
    kernel_suffix = "_cuda"

    def prepare_update(self, step: str, dtype) -> None:
        pass  # the CUDA kernels compile on their first launch

    def _flat_update(self, step: str, arrays, scalars) -> None:
        # One launch over the whole flat buffer; the GPU needs no slicing or scratch.
        self._kernel(optimizer_updates, step)(*arrays, *scalars)
