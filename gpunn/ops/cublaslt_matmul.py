"""A Dense layer's forward product with its bias and ReLU in one cuBLASLt call, legal inside a CUDA-graph capture.

``out = relu(a @ b + bias)`` (or ``a @ b + bias``) in one GEMM: cuBLASLt's epilogues (``CUBLASLT_EPILOGUE_
RELU_BIAS``, ``CUBLASLT_EPILOGUE_BIAS``) apply the bias and the activation to each output tile before it is
stored, which saves the separate bias + activation pass over the output (bias_act_forward): on a 4096-wide MLP
at batch 4096, a read and a write of 64 MiB per layer. ReLU's gradient reads the output (y > 0), so the backward
pass is unchanged.

As for gpunn's cuBLAS matmul (cublas_matmul.py), the operands are row-major and cuBLASLt is column-major: the
row-major C (M x N) = A (M x K) @ B (K x N) is the column-major C^T = B^T A^T, so cuBLASLt's "A" is ``b`` and its
"B" is ``a``; an operand passed as a ``.T`` view is read with op T and no copy. cuBLASLt's bias runs along the
rows of its D, which are the N columns of ``out``: one bias value per unit, as a Dense bias.

A plan (operation and layout descriptors, the algorithm cuBLASLt's heuristic picked for them) is made once per
shape, layout, alignment, dtype, epilogue and math mode, outside any capture; a call sets the bias pointer and
launches on CuPy's current stream with gpunn's own workspace, so nothing is allocated inside a capture (cuBLAS
documentation, "CUDA Graphs Support"). Descriptor attribute and enum values are those of cublasLt.h (CUDA 12
and 13 agree on them).
"""
from __future__ import annotations

import ctypes

import numpy

from .. import _compat
from .cublas_matmul import OP_N, WORKSPACE_BYTES, CublasError, _operand

# cublasLt.h / cublas_api.h / library_types.h
CUDA_R_32F, CUDA_R_64F = 0, 1
COMPUTE_32F, COMPUTE_32F_FAST_TF32, COMPUTE_64F = 68, 77, 70
DESC_TRANSA, DESC_TRANSB, DESC_EPILOGUE, DESC_BIAS_POINTER = 3, 4, 7, 8
EPILOGUE_DEFAULT, EPILOGUE_RELU_BIAS, EPILOGUE_BIAS = 1, 6, 4
PREF_MAX_WORKSPACE_BYTES = 1
PREF_MIN_ALIGNMENT_A, PREF_MIN_ALIGNMENT_B, PREF_MIN_ALIGNMENT_C, PREF_MIN_ALIGNMENT_D = 5, 6, 7, 8

# The activations a plan folds into the GEMM, by gpunn's activation name.
EPILOGUES = {"relu": EPILOGUE_RELU_BIAS, "linear": EPILOGUE_BIAS}
_DTYPES = {numpy.dtype(numpy.float32): CUDA_R_32F, numpy.dtype(numpy.float64): CUDA_R_64F}


class _Algo(ctypes.Structure):
    _fields_ = [("data", ctypes.c_uint64 * 8)]


class _HeuristicResult(ctypes.Structure):
    _fields_ = [("algo", _Algo), ("workspaceSize", ctypes.c_size_t), ("state", ctypes.c_int),
                ("wavesCount", ctypes.c_float), ("reserved", ctypes.c_int * 4)]


def _alignment(ptr: int) -> int:
    """The largest power of two up to 256 bytes that divides ``ptr``: what cuBLASLt's kernels may assume (its
    heuristic assumes 256 unless told less, and leaves out the algorithms that need more than it is told)."""
    return min(256, ptr & -ptr) if ptr else 256


class _Plan:
    """The descriptors and the chosen algorithm of one GEMM-with-epilogue; ``run`` launches it."""

    def __init__(self, engine, desc, layouts, algo):
        self.engine, self.desc, self.layouts, self.algo = engine, desc, layouts, algo
        self._bias = ctypes.c_void_p()

    def run(self, a_ptr, b_ptr, out_ptr, bias_ptr, stream_ptr, dtype):
        engine, lib = self.engine, self.engine.lib
        self._bias.value = bias_ptr
        engine._check(lib.cublasLtMatmulDescSetAttribute(self.desc, DESC_BIAS_POINTER, ctypes.byref(self._bias),
                                                         ctypes.sizeof(self._bias)), "cublasLtMatmulDescSetAttribute")
        alpha, beta = engine.scalars[dtype]
        lt_a, lt_b, lt_d = self.layouts
        # cuBLASLt's A is b and its B is a; C and D are both out (beta = 0: C is not read)
        engine._check(lib.cublasLtMatmul(engine.handle, self.desc, alpha.ctypes.data, b_ptr, lt_a, a_ptr, lt_b,
                                         beta.ctypes.data, out_ptr, lt_d, out_ptr, lt_d, ctypes.byref(self.algo),
                                         engine.workspace.data.ptr, WORKSPACE_BYTES, stream_ptr), "cublasLtMatmul")


class CublasLtMatmul:
    """``out = act(a @ b + bias)`` for 2-D float32/float64 CuPy arrays, act in ``EPILOGUES``; ``supports`` says
    which calls it takes, ``__call__`` returns False when cuBLASLt has no algorithm for one (the caller then
    runs the matmul and the bias + activation step apart)."""

    def __init__(self, cp, library):
        self.cp, self.lib = cp, library
        self._declare(library)
        handle = ctypes.c_void_p()
        self._check(library.cublasLtCreate(ctypes.byref(handle)), "cublasLtCreate")
        self.handle = handle
        self.workspace = cp.empty(WORKSPACE_BYTES, dtype=numpy.uint8)
        # alpha = 1, beta = 0 as host scalars (the default pointer mode), kept alive with the engine
        self.scalars = {dt: (numpy.ones(1, dt), numpy.zeros(1, dt)) for dt in _DTYPES}
        self._plans: dict = {}

    @staticmethod
    def _declare(lib) -> None:
        p, i, u64, size = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64, ctypes.c_size_t
        lib.cublasLtCreate.argtypes = [ctypes.POINTER(p)]
        lib.cublasLtMatmulDescCreate.argtypes = [ctypes.POINTER(p), i, i]
        lib.cublasLtMatmulDescSetAttribute.argtypes = [p, i, p, size]
        lib.cublasLtMatrixLayoutCreate.argtypes = [ctypes.POINTER(p), i, u64, u64, ctypes.c_int64]
        lib.cublasLtMatmulPreferenceCreate.argtypes = [ctypes.POINTER(p)]
        lib.cublasLtMatmulPreferenceSetAttribute.argtypes = [p, i, p, size]
        lib.cublasLtMatmulPreferenceDestroy.argtypes = [p]
        lib.cublasLtMatmulDescDestroy.argtypes = [p]
        lib.cublasLtMatrixLayoutDestroy.argtypes = [p]
        lib.cublasLtMatmulAlgoGetHeuristic.argtypes = [p, p, p, p, p, p, p, i, ctypes.POINTER(_HeuristicResult),
                                                       ctypes.POINTER(i)]
        lib.cublasLtMatmul.argtypes = [p, p, p, p, p, p, p, p, p, p, p, p, ctypes.POINTER(_Algo), p, size, p]
        for name in ("cublasLtCreate", "cublasLtMatmulDescCreate", "cublasLtMatmulDescSetAttribute",
                     "cublasLtMatrixLayoutCreate", "cublasLtMatmulPreferenceCreate",
                     "cublasLtMatmulPreferenceSetAttribute", "cublasLtMatmulAlgoGetHeuristic", "cublasLtMatmul",
                     "cublasLtMatmulPreferenceDestroy", "cublasLtMatmulDescDestroy", "cublasLtMatrixLayoutDestroy"):
            getattr(lib, name).restype = i

    @staticmethod
    def _check(status: int, call: str) -> None:
        if status != 0:
            raise CublasError(f"{call} failed with cuBLAS status {status}")

    def supports(self, a, b, out, bias, activation: str) -> bool:
        return (activation in EPILOGUES and bias is not None and out is not None
                and a.ndim == 2 and b.ndim == 2 and out.ndim == 2 and bias.ndim == 1
                and a.dtype in _DTYPES and a.dtype == b.dtype == out.dtype == bias.dtype
                and a.shape[1] == b.shape[0] and out.shape == (a.shape[0], b.shape[1]) and min(out.shape) > 0
                and a.shape[1] > 0 and bias.shape == (out.shape[1],) and out.flags.c_contiguous
                # cuBLASLt documents no bias alignment; its epilogues are reported to fail below 16 bytes
                and bias.flags.c_contiguous and bias.data.ptr % 16 == 0
                and _operand(a) is not None and _operand(b) is not None)

    def __call__(self, a, b, out, bias, activation: str, tf32: bool) -> bool:
        pointers = (a.data.ptr, b.data.ptr, out.data.ptr, bias.data.ptr)
        key = (a.shape, a.strides, b.shape, b.strides, out.shape, a.dtype, activation,
               tf32 and a.dtype == numpy.float32, tuple(_alignment(p) for p in pointers[:3]))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._plan(a, b, out, bias, activation, key[7], key[8])
        if plan is False:  # cuBLASLt offered no algorithm for this one
            return False
        plan.run(*pointers, self.cp.cuda.get_current_stream().ptr, a.dtype)
        return True

    def _layout(self, x, dtype_code):
        """cuBLASLt's layout of operand ``x`` as stored (before its op): column-major, its leading dimension."""
        op, ld = _operand(x)
        rows, cols = (x.shape[1], x.shape[0]) if op == OP_N else x.shape
        layout = ctypes.c_void_p()
        self._check(self.lib.cublasLtMatrixLayoutCreate(ctypes.byref(layout), dtype_code, rows, cols, ld),
                    "cublasLtMatrixLayoutCreate")
        return op, layout

    def _set(self, setter, obj, attribute, value) -> None:
        self._check(setter(obj, attribute, ctypes.byref(value), ctypes.sizeof(value)), setter.__name__)

    def _plan(self, a, b, out, bias, activation, tf32, alignments):
        lib, dtype_code = self.lib, _DTYPES[a.dtype]
        compute = COMPUTE_64F if a.dtype == numpy.float64 else (COMPUTE_32F_FAST_TF32 if tf32 else COMPUTE_32F)
        desc = ctypes.c_void_p()
        self._check(lib.cublasLtMatmulDescCreate(ctypes.byref(desc), compute, dtype_code),
                    "cublasLtMatmulDescCreate")
        op_b, lt_a = self._layout(b, dtype_code)  # cuBLASLt's A is b (see the module's docstring)
        op_a, lt_b = self._layout(a, dtype_code)
        lt_d = ctypes.c_void_p()
        self._check(lib.cublasLtMatrixLayoutCreate(ctypes.byref(lt_d), dtype_code, out.shape[1], out.shape[0],
                                                   out.shape[1]), "cublasLtMatrixLayoutCreate")
        set_desc = lib.cublasLtMatmulDescSetAttribute
        self._set(set_desc, desc, DESC_TRANSA, ctypes.c_int32(op_b))
        self._set(set_desc, desc, DESC_TRANSB, ctypes.c_int32(op_a))
        self._set(set_desc, desc, DESC_EPILOGUE, ctypes.c_uint32(EPILOGUES[activation]))
        self._set(set_desc, desc, DESC_BIAS_POINTER, ctypes.c_void_p(bias.data.ptr))
        preference = ctypes.c_void_p()
        self._check(lib.cublasLtMatmulPreferenceCreate(ctypes.byref(preference)), "cublasLtMatmulPreferenceCreate")
        set_pref = lib.cublasLtMatmulPreferenceSetAttribute
        self._set(set_pref, preference, PREF_MAX_WORKSPACE_BYTES, ctypes.c_uint64(WORKSPACE_BYTES))
        # cuBLASLt's heuristic assumes 256-byte aligned operands unless told otherwise (its A is b, its B is a)
        align_a, align_b, align_out = alignments
        for attribute, value in ((PREF_MIN_ALIGNMENT_A, align_b), (PREF_MIN_ALIGNMENT_B, align_a),
                                 (PREF_MIN_ALIGNMENT_C, align_out), (PREF_MIN_ALIGNMENT_D, align_out)):
            self._set(set_pref, preference, attribute, ctypes.c_uint32(value))
        result, found = _HeuristicResult(), ctypes.c_int(0)
        status = lib.cublasLtMatmulAlgoGetHeuristic(self.handle, desc, lt_a, lt_b, lt_d, lt_d, preference, 1,
                                                    ctypes.byref(result), ctypes.byref(found))
        lib.cublasLtMatmulPreferenceDestroy(preference)
        if status != 0 or found.value < 1 or result.state != 0:
            lib.cublasLtMatmulDescDestroy(desc)
            for layout in (lt_a, lt_b, lt_d):
                lib.cublasLtMatrixLayoutDestroy(layout)
            return False
        return _Plan(self, desc, (lt_a, lt_b, lt_d), result.algo)


def make(cp) -> CublasLtMatmul | None:
    """The fused forward GEMM, or None when cuBLASLt cannot be opened with ctypes."""
    library = _compat.cublaslt_library()
    if library is None:
        return None
    try:
        return CublasLtMatmul(cp, library)
    except (AttributeError, CublasError):  # an older cuBLASLt without these entry points, or no device handle
        return None
