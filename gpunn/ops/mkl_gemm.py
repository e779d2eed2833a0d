"""CPU matmuls through Intel oneMKL, sharing one OpenMP thread pool with gpunn's compiled CPU loops.

Why: where MKL is installed (``pip install 'gpunn[mkl]'``, x86-64), its sgemm runs an MLP step's matmuls
about a tenth faster than the OpenBLAS NumPy ships (``bench/results/cpu_epoch.md``). And MKL's GNU threading
layer runs on libgomp, the OpenMP runtime of Numba's 'omp' threading layer: one pool of worker threads then
serves the matmuls and the compiled optimizer update, which can use every core instead of fighting a BLAS
pool's spinning workers for them (``kernels/optimizer_updates_cpu.py``).

Which products: 2-D float32/float64, each operand C-contiguous or the transpose of a C-contiguous array
(a ``.T`` view), ``out`` C-contiguous and apart from both, and at least ``SMALL_PRODUCT`` multiply-adds.
Smaller ones stay with NumPy: OpenBLAS runs them on the calling thread (its pool never wakes) and MKL's call
costs more than such a product. The choice depends on shapes, dtypes and layouts only, so an eager step and
its replay run the same code, bit for bit.

``GPUNN_CPU_BLAS``: ``auto`` (the default: MKL when installed), ``mkl`` (an error without it), ``numpy``.
A replayed step calls MKL through ``prepare``: the call with its arguments converted once (about 1.5 us a
call, as NumPy's own matmul costs, against about 5 us converting them every time).
"""
from __future__ import annotations

import ctypes
import functools
import os
import sys

import numpy as np

from .. import _compat

CHOICES = ("auto", "mkl", "numpy")
# OpenBLAS computes a product on the calling thread below M*N*K = 4 x 65536 (its GEMM_MULTITHREAD_THRESHOLD
# times SMP_THRESHOLD_MIN): such products stay with NumPy.
SMALL_PRODUCT = 4 * 65536
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_INT32_MAX = 2**31 - 1
_MKL_THREADING_GNU = 3


def cpu_blas_choice() -> str:
    """``$GPUNN_CPU_BLAS``, checked: 'auto', 'mkl' or 'numpy'."""
    value = os.environ.get("GPUNN_CPU_BLAS", "auto").strip().lower() or "auto"
    if value not in CHOICES:
        raise ValueError(f"GPUNN_CPU_BLAS: expected one of {', '.join(CHOICES)}, got {value!r}")
    return value


def make():
    """The process's MklGemm as ``$GPUNN_CPU_BLAS`` asks, or None for NumPy's BLAS."""
    choice = cpu_blas_choice()
    if choice == "numpy":
        return None
    gemm = _process_gemm()
    if gemm is None and choice == "mkl":
        raise RuntimeError("GPUNN_CPU_BLAS=mkl: Intel oneMKL is not installed (pip install 'gpunn[mkl]', on x86-64)")
    return gemm


def load_before_thread_limits() -> None:
    """Load MKL now if gpunn will use it: threadpoolctl's limits cover only the libraries already loaded, and
    MKL would otherwise start later with a thread per core."""
    try:
        make()
    except (ValueError, RuntimeError):
        pass  # a bad GPUNN_CPU_BLAS is reported where the backend is made


@functools.lru_cache(maxsize=None)
def _process_gemm():
    lib = _compat.mkl_runtime()
    return None if lib is None else MklGemm(lib)


def _operand_layout(x):
    """(transpose flag, leading dimension) of a 2-D operand for a row-major cblas call, or None."""
    rows, cols = x.shape
    step0, step1 = x.strides
    item = x.itemsize
    if step1 == item and step0 % item == 0 and step0 >= max(1, cols) * item:
        return _NO_TRANS, step0 // item
    if step0 == item and step1 % item == 0 and step1 >= max(1, rows) * item:
        return _TRANS, step1 // item
    return None


class MklGemm:
    """cblas_sgemm/cblas_dgemm of one libmkl_rt, set to its GNU (libgomp) threading layer."""

    def __init__(self, lib):
        self.lib = lib
        # MKL's GNU layer where Numba can run on the same libgomp; the layer is set only before MKL's first
        # computation in the process, and the call answers the layer in force either way. Elsewhere MKL keeps
        # its own OpenMP runtime (Intel's), and the optimizer update one thread.
        # A layer the user chose (MKL_THREADING_LAYER) stays; MKL reads it itself.
        chosen = os.environ.get("MKL_THREADING_LAYER", "").strip().upper()
        if chosen:
            self.gnu_threads = chosen == "GNU" and _numba_can_share_libgomp()
        else:
            self.gnu_threads = (_numba_can_share_libgomp()
                                and lib.MKL_Set_Threading_Layer(_MKL_THREADING_GNU) == _MKL_THREADING_GNU)
        self._shares_pool = None  # whether Numba's pool is MKL's: known once Numba ran a parallel loop
        self._max_threads = lib.MKL_Get_Max_Threads
        self._max_threads.restype = ctypes.c_int
        pointer, integer = ctypes.c_void_p, ctypes.c_int
        self._gemm = {}
        for dtype, name, real in ((np.float32, "cblas_sgemm", ctypes.c_float),
                                  (np.float64, "cblas_dgemm", ctypes.c_double)):
            function = getattr(lib, name)
            function.argtypes = [integer] * 6 + [real, pointer, integer, pointer, integer, real, pointer, integer]
            function.restype = None
            self._gemm[np.dtype(dtype)] = function

    # ---- products -----------------------------------------------------------------------------------
    def _call(self, a, b, out):
        """(cblas function, its arguments) for ``out = a @ b``, or None where NumPy should do it."""
        # Cheapest test first: most products that stay with NumPy are the small ones.
        if out is None or len(a.shape) != 2 or len(b.shape) != 2:
            return None
        m, k = a.shape
        n = b.shape[1]
        if m * n * k < SMALL_PRODUCT or b.shape[0] != k or out.shape != (m, n):
            return None
        function = self._gemm.get(out.dtype)
        if function is None or a.dtype != out.dtype or b.dtype != out.dtype:
            return None
        if not (out.flags.c_contiguous and out.flags.writeable and a.flags.aligned and b.flags.aligned):
            return None
        layout_a, layout_b = _operand_layout(a), _operand_layout(b)
        if layout_a is None or layout_b is None or np.may_share_memory(out, a) or np.may_share_memory(out, b):
            return None
        if max(m, n, k, layout_a[1], layout_b[1]) > _INT32_MAX:  # libmkl_rt's default interface takes 32-bit ints
            return None
        return function, (_ROW_MAJOR, layout_a[0], layout_b[0], m, n, k, 1.0, a.ctypes.data, layout_a[1],
                          b.ctypes.data, layout_b[1], 0.0, out.ctypes.data, n)

    def matmul(self, a, b, out) -> bool:
        """``out = a @ b`` through MKL; False (nothing written) where NumPy should compute it."""
        call = self._call(a, b, out)
        if call is None:
            return False
        call[0](*call[1])
        return True

    def prepare(self, a, b, out):
        """The same product as a ``PreparedGemm`` (for a replayed step, whose buffers never move), or None
        where NumPy should compute it."""
        call = self._call(a, b, out)
        return None if call is None else PreparedGemm(*call, operands=(a, b, out))

    # ---- the shared thread pool ---------------------------------------------------------------------
    def shares_numba_pool(self) -> bool:
        """Whether MKL's workers are Numba's: MKL on libgomp, Numba on its 'omp' layer (known once Numba
        ran its first parallel loop; False before)."""
        # Asked at every optimizer update: once Numba has chosen its layer, the answer is kept.
        if self._shares_pool is None:
            self._shares_pool = self._ask_shares_pool()
        return bool(self._shares_pool)

    def _ask_shares_pool(self):
        """True or False once Numba has chosen its threading layer; None (ask again) before."""
        if not self.gnu_threads:
            return False
        numba = _compat.numba()
        if numba is None:
            return False
        try:
            return numba.threading_layer() == "omp"
        except ValueError:  # no parallel loop has run yet
            return None

    def threads(self) -> int:
        """MKL's thread count now (threadpoolctl and MKL_NUM_THREADS set it)."""
        return max(1, int(self._max_threads()))


class PreparedGemm:
    """One MKL product with its arguments converted to C once; calling it computes ``out = a @ b`` again.
    Keeps its operands alive (the call holds only their addresses)."""

    __name__ = "matmul"  # what a profile of a recorded step calls it

    def __init__(self, function, args, operands):
        self._call = functools.partial(function, *[kind(value) for kind, value in zip(function.argtypes, args)])
        self.operands = operands
        m, n, k = args[3:6]
        self.flops = 2.0 * m * n * k

    def __call__(self) -> None:
        self._call()


def _numba_can_share_libgomp() -> bool:
    """Whether Numba's parallel loops can run on libgomp, MKL's GNU threading runtime: Linux, Numba's 'omp'
    layer loadable, and no other layer chosen by the user. Asks Numba for 'omp' where it would otherwise pick
    the first layer it finds (TBB, which the mkl wheel installs, comes first)."""
    numba = _compat.numba()
    if numba is None or not sys.platform.startswith("linux"):
        return False
    chosen = str(numba.config.THREADING_LAYER).lower()
    if chosen not in ("default", "omp"):
        return False
    if not _compat.numba_omp_layer_loads():
        return False
    numba.config.THREADING_LAYER = "omp"  # no effect once Numba has run a parallel loop
    return True
