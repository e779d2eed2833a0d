"""CupyOps: the Ops primitives on an NVIDIA GPU.

Generic array math comes from the base class through ``xp = cupy`` (cuBLAS for matmuls); the fused steps
run as Numba CUDA kernels from ``gpunn.kernels``, launched on CuPy's current stream through cached device
views, so no step converts arrays or synchronises the host.
"""
from __future__ import annotations

import numpy

from .. import _compat
from ..kernels import optimizer_updates
from . import tf32
from .base import Ops
from .recording import primitive


class CupyOps(Ops):
    name = "cupy"

    def __init__(self, allow_tf32: bool | None = None):
        """``allow_tf32``: None keeps the process's TF32 setting (``gpunn.ops.tf32``); a bool sets it for the
        whole process, since cuBLAS's compute type is not per backend object."""
        cp = _compat.cupy()
        if cp is None:
            raise RuntimeError(f"CupyOps needs a GPU: {_compat.cupy_unavailable_reason()}")
        self.xp = cp
        device = cp.cuda.Device()
        props = cp.cuda.runtime.getDeviceProperties(device.id)
        self.device_description = f"GPU {device.id} ({props['name'].decode()})"
        self.out_of_memory_errors = (MemoryError, cp.cuda.memory.OutOfMemoryError)
        if allow_tf32 is None:
            tf32.apply_to_cupy()
        else:
            tf32.set_tf32(bool(allow_tf32))

    @property
    def allow_tf32(self) -> bool:
        return tf32.tf32_enabled()

    def set_tf32(self, allow: bool) -> None:
        """TF32 tensor-core matmuls for float32 (faster; products keep ~10 mantissa bits): opt-in, and a
        process-wide setting (every GPU backend of this process follows it)."""
        tf32.set_tf32(bool(allow))

    # ---- memory and transfers -------------------------------------------------------------------
    def to_numpy(self, array) -> numpy.ndarray:
        return self.xp.asnumpy(array) if isinstance(array, self.xp.ndarray) else numpy.asarray(array)

    def upload(self, host_array, out) -> None:
        out.set(numpy.ascontiguousarray(host_array, dtype=out.dtype))

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

    # The CUDA updates read the learning rate, step and weight decay from the optimizer's device state
    # themselves (kernels/optimizer_updates.py): nothing is read back to the host.
    @primitive
    def sgd_update(self, p, g, velocity, state, momentum, nesterov):
        optimizer_updates.sgd_update_cuda(p, g, velocity, state, momentum, nesterov)

    @primitive
    def rmsprop_update(self, p, g, ms, mom, mg, state, rho, momentum, epsilon, centered):
        optimizer_updates.rmsprop_update_cuda(p, g, ms, mom, mg, state, rho, momentum, epsilon, centered)

    @primitive
    def adagrad_update(self, p, g, acc, state, epsilon):
        optimizer_updates.adagrad_update_cuda(p, g, acc, state, epsilon)

    @primitive
    def adam_update(self, p, g, m, v, vhat, state, beta_1, beta_2, epsilon):
        optimizer_updates.adam_update_cuda(p, g, m, v, vhat, state, beta_1, beta_2, epsilon)
