"""Matmuls through cuBLAS on gpunn's own handle: legal inside a CUDA-graph capture.

CuPy's matmul, like every wrapper of ``cupy_backends.cuda.libs.cublas``, sets the handle's stream before
each call and refuses to while that stream is being captured ("calling cuBLAS API during stream capture is
currently unsupported"). cuBLAS itself can be captured (cuBLAS documentation, "CUDA Graphs Support") when
the handle's stream is set before the capture begins and the handle has a user workspace
(``cublasSetWorkspace``), so that cuBLAS allocates nothing inside the captured region. So gpunn keeps its
own handle, calls ``cublasSgemm``/``cublasDgemm`` through ctypes, sets the stream only when the current
stream changes (``bind_stream`` is called before a capture begins) and the math mode only when TF32 is
switched.

Row-major arrays: C (M x N) = A (M x K) @ B (K x N) is computed as the column-major product C^T = B^T A^T.
A C-contiguous X read column-major is X^T (op N, leading dimension = its row length); an F-contiguous X
(a ``.T`` view of a C-contiguous array) read column-major is X itself (op T, leading dimension = its
column length). So transposed operands reach cuBLAS without a copy, as on the CPU.
"""
from __future__ import annotations

import ctypes

import numpy

from .. import _compat

OP_N, OP_T = 0, 1
DEFAULT_MATH, TF32_TENSOR_OP_MATH = 0, 3
# NVIDIA's recommendation for Hopper (cuBLAS documentation, cublasSetWorkspace): 32 MiB.
WORKSPACE_BYTES = 32 * 1024 * 1024
_GEMM_DTYPES = (numpy.dtype(numpy.float32), numpy.dtype(numpy.float64))


class CublasError(RuntimeError):
    pass


def _operand(x):
    """(op, leading dimension) of a 2-D operand read column-major as its transpose, or None when its layout
    is neither row- nor column-contiguous (those go through CuPy)."""
    rows, cols = x.shape
    item = x.itemsize
    s0, s1 = x.strides
    if (cols == 1 or s1 == item) and s0 % item == 0 and s0 // item >= max(1, cols):
        return OP_N, max(1, s0 // item)
    if (rows == 1 or s0 == item) and s1 % item == 0 and s1 // item >= max(1, rows):
        return OP_T, max(1, s1 // item)
    return None


def gemm_operands(a, b, out) -> bool:
    """Whether ``out = a @ b`` is one GEMM for cuBLAS as called here: 2-D float32/float64 operands of one dtype,
    non-empty, each row- or column-contiguous (see ``_operand``), ``out`` C-contiguous."""
    return (out is not None and a.ndim == 2 and b.ndim == 2 and out.ndim == 2
            and a.dtype in _GEMM_DTYPES and a.dtype == b.dtype == out.dtype
            and a.shape[1] == b.shape[0] and out.shape == (a.shape[0], b.shape[1]) and min(out.shape) > 0
            and a.shape[1] > 0 and out.flags.c_contiguous
            and _operand(a) is not None and _operand(b) is not None)


class CublasMatmul:
    """``out = a @ b`` for 2-D float32/float64 CuPy arrays on the current stream; ``supports`` says which
    calls it takes (the others stay with CuPy)."""

    def __init__(self, cp, library):
        self.cp, self.lib = cp, library
        self._declare(library)
        handle = ctypes.c_void_p()
        self._check(library.cublasCreate_v2(ctypes.byref(handle)), "cublasCreate")
        self.handle = handle
        self.workspace = cp.empty(WORKSPACE_BYTES, dtype=numpy.uint8)
        self._set_workspace()
        self._stream = None
        self._math = None
        # alpha = 1, beta = 0 as host scalars (cuBLAS's default pointer mode), kept alive with the handle.
        self._scalars = {dt: (numpy.ones(1, dt), numpy.zeros(1, dt)) for dt in _GEMM_DTYPES}
        self._gemm = {numpy.dtype(numpy.float32): library.cublasSgemm_v2,
                      numpy.dtype(numpy.float64): library.cublasDgemm_v2}

    @staticmethod
    def _declare(lib) -> None:
        p, i, size = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
        lib.cublasCreate_v2.argtypes = [ctypes.POINTER(p)]
        lib.cublasSetWorkspace_v2.argtypes = [p, p, size]
        lib.cublasSetStream_v2.argtypes = [p, p]
        lib.cublasSetMathMode.argtypes = [p, i]
        for gemm in (lib.cublasSgemm_v2, lib.cublasDgemm_v2):
            gemm.argtypes = [p, i, i, i, i, i, p, p, i, p, i, p, p, i]
        for function in (lib.cublasCreate_v2, lib.cublasSetWorkspace_v2, lib.cublasSetStream_v2,
                         lib.cublasSetMathMode, lib.cublasSgemm_v2, lib.cublasDgemm_v2):
            function.restype = i

    @staticmethod
    def _check(status: int, call: str) -> None:
        if status != 0:
            raise CublasError(f"{call} failed with cuBLAS status {status}")

    def _set_workspace(self) -> None:
        self._check(self.lib.cublasSetWorkspace_v2(self.handle, ctypes.c_void_p(self.workspace.data.ptr),
                                                   ctypes.c_size_t(WORKSPACE_BYTES)), "cublasSetWorkspace")

    def bind_stream(self, stream_ptr: int) -> None:
        """Point the handle at ``stream_ptr`` (before a capture on that stream begins). cublasSetStream puts
        the handle back on cuBLAS's own workspace pool (cuBLAS documentation, cublasSetStream), which a capture
        must not use, so gpunn's workspace is set again after it (as PyTorch's CublasHandlePool does)."""
        if stream_ptr != self._stream:
            self._check(self.lib.cublasSetStream_v2(self.handle, ctypes.c_void_p(stream_ptr)), "cublasSetStream")
            self._set_workspace()
            self._stream = stream_ptr

    def supports(self, a, b, out) -> bool:
        return gemm_operands(a, b, out)

    def __call__(self, a, b, out, tf32: bool):
        self.bind_stream(self.cp.cuda.get_current_stream().ptr)
        math = TF32_TENSOR_OP_MATH if tf32 and a.dtype == numpy.float32 else DEFAULT_MATH
        if math != self._math:
            self._check(self.lib.cublasSetMathMode(self.handle, math), "cublasSetMathMode")
            self._math = math
        m_rows, k = a.shape
        n_cols = b.shape[1]
        op_b, ld_b = _operand(b)
        op_a, ld_a = _operand(a)
        alpha, beta = self._scalars[a.dtype]
        status = self._gemm[a.dtype](self.handle, op_b, op_a, n_cols, m_rows, k, alpha.ctypes.data, b.data.ptr,
                                     ld_b, a.data.ptr, ld_a, beta.ctypes.data, out.data.ptr, n_cols)
        self._check(status, "cublasSgemm" if a.dtype == numpy.float32 else "cublasDgemm")
        return out


def make(cp) -> CublasMatmul | None:
    """The GPU backend's capture-legal matmul, or None when cuBLAS cannot be opened with ctypes."""
    library = _compat.cublas_library()
    if library is None:
        return None
    try:
        return CublasMatmul(cp, library)
    except (AttributeError, CublasError):  # a cuBLAS without the _v2 entry points, or no device handle
        return None
