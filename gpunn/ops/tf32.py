"""TF32 tensor-core matmuls for float32 on NVIDIA GPUs: one switch for the whole process.

cuBLAS's compute type is set in CuPy per dtype for the whole process, not per array or per Ops object, so
TF32 is a process setting and lives here, in one place: every GPU backend, the benchmark's PyTorch contender
and the matmul peak read ``tf32_enabled()``. Off by default (products keep ~10 mantissa bits instead of 23);
``GPUNN_TF32=1`` in the environment or ``set_tf32(True)`` turns it on.
"""
from __future__ import annotations

import os

import numpy

from .. import _compat

_enabled: bool | None = None  # None: not set by a call yet, so the environment decides


def environment_switch(name: str) -> bool:
    """A GPU setting switched on in the environment: ``NAME=1`` (or true/yes)."""
    return os.environ.get(name, "0").strip().lower() in ("1", "true", "yes")


def tf32_from_environment() -> bool:
    """``GPUNN_TF32=1`` (or true/yes) asks for TF32."""
    return environment_switch("GPUNN_TF32")


def tf32_enabled() -> bool:
    """Whether float32 matmuls on the GPU use TF32 in this process."""
    return tf32_from_environment() if _enabled is None else _enabled


def set_tf32(allow: bool) -> None:
    """Turn TF32 float32 matmuls on or off for the whole process (CuPy's cuBLAS compute type)."""
    global _enabled
    if not isinstance(allow, bool):
        raise TypeError(f"set_tf32: allow: expected True or False, got {allow!r}")
    _enabled = allow
    apply_to_cupy()


def apply_to_cupy() -> None:
    """Make CuPy's float32 matmuls follow ``tf32_enabled()``; nothing to do without CuPy.

    CuPy's own ``CUPY_TF32`` variable is read once, before the first matmul, so the compute type is set
    directly instead.
    """
    if _compat.cupy() is None:
        return
    from cupy._core import _routines_linalg as linalg

    linalg.set_compute_type(numpy.float32,
                            linalg.COMPUTE_TYPE_TF32 if tf32_enabled() else linalg.COMPUTE_TYPE_DEFAULT)


def apply_to_torch(torch) -> None:
    """Give PyTorch's CUDA matmuls the same precision as gpunn's (used by the benchmark contenders)."""
    torch.backends.cuda.matmul.allow_tf32 = tf32_enabled()
    torch.backends.cudnn.allow_tf32 = tf32_enabled()
