"""Dense layers' GEMMs with the bias and ReLU folded in, through cuBLASLt, legal inside a CUDA-graph capture.

``out = relu(a @ b + bias)`` (or ``a @ b + bias``) in one GEMM: cuBLASLt's epilogues (``CUBLASLT_EPILOGUE_
RELU_BIAS``, ``CUBLASLT_EPILOGUE_BIAS``) apply the bias and the activation to each output tile before it is
stored, which saves the separate bias + activation pass over the output (bias_act_forward): on a 4096-wide MLP
at batch 4096, a read and a write of 64 MiB per layer.

In a recorded step a ReLU layer's backward folds in too (relu_fusion.py), as a pair: the forward GEMM also writes
a ReLU bit-mask (``RELU_AUX_BIAS``), and the next layer's input-gradient GEMM multiplies its product by ReLU's
derivative from that mask and sums the bias gradient (``DRELU_BGRAD``), which saves act_backward_bias_grad's
pass (reads of dy and y, a write of dz).

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
from .cublas_matmul import OP_N, WORKSPACE_BYTES, CublasError, _operand, gemm_operands

# cublasLt.h / cublas_api.h / library_types.h
CUDA_R_32F, CUDA_R_64F = 0, 1
COMPUTE_32F, COMPUTE_32F_FAST_TF32, COMPUTE_64F = 68, 77, 70
DESC_TRANSA, DESC_TRANSB, DESC_EPILOGUE, DESC_BIAS_POINTER = 3, 4, 7, 8
DESC_EPILOGUE_AUX_POINTER, DESC_EPILOGUE_AUX_LD = 11, 12
EPILOGUE_DEFAULT, EPILOGUE_RELU_BIAS, EPILOGUE_BIAS = 1, 6, 4
EPILOGUE_RELU_AUX_BIAS, EPILOGUE_DRELU_BGRAD = 134, 152
PREF_MAX_WORKSPACE_BYTES = 1
PREF_MIN_ALIGNMENT_A, PREF_MIN_ALIGNMENT_B, PREF_MIN_ALIGNMENT_C, PREF_MIN_ALIGNMENT_D = 5, 6, 7, 8

# The activations a plan folds into the GEMM, by gpunn's activation name.
EPILOGUES = {"relu": EPILOGUE_RELU_BIAS, "linear": EPILOGUE_BIAS}
# With a ReLU mask (a bit per output, written by the forward GEMM, read by the backward one): the forward
# product + bias + ReLU, and the backward product times ReLU's derivative with the bias gradient summed.
MASK_EPILOGUES = {"relu_mask": EPILOGUE_RELU_AUX_BIAS, "relu_grad": EPILOGUE_DRELU_BGRAD}
MASK_LD_MULTIPLE = 128  # cuBLASLt: a ReLU bit-mask's leading dimension, in bits, is a multiple of 128
_DTYPES = {numpy.dtype(numpy.float32): CUDA_R_32F, numpy.dtype(numpy.float64): CUDA_R_64F}


class _Algo(ctypes.Structure):
    _fields_ = [("data", ctypes.c_uint64 * 8)]


class _HeuristicResult(ctypes.Structure):
    _fields_ = [("algo", _Algo), ("workspaceSize", ctypes.c_size_t), ("state", ctypes.c_int),
                ("wavesCount", ctypes.c_float), ("reserved", ctypes.c_int * 4)]


def mask_ld(units: int) -> int:
    """The ReLU mask's leading dimension in bits for outputs ``units`` wide (the rows of cuBLASLt's D)."""
    return -(-units // MASK_LD_MULTIPLE) * MASK_LD_MULTIPLE


def mask_bytes(rows: int, units: int) -> int:
    """Bytes of the ReLU mask of a (rows x units) output: a bit per output, each row padded (``mask_ld``)."""
    return mask_ld(units) // 8 * rows


def _alignment(ptr: int) -> int:
    """The largest power of two up to 256 bytes that divides ``ptr``: what cuBLASLt's kernels may assume (its
    heuristic assumes 256 unless told less, and leaves out the algorithms that need more than it is told)."""
    return min(256, ptr & -ptr) if ptr else 256


class _Plan:
    """The descriptors and the chosen algorithm of one GEMM-with-epilogue; ``run`` launches it."""

    def __init__(self, engine, desc, layouts, algo):
        self.engine, self.desc, self.layouts, self.algo = engine, desc, layouts, algo
        self._pointer = ctypes.c_void_p()

    def _point(self, attribute, ptr) -> None:
        self._pointer.value = ptr
        self.engine._check(self.engine.lib.cublasLtMatmulDescSetAttribute(
            self.desc, attribute, ctypes.byref(self._pointer), ctypes.sizeof(self._pointer)),
            "cublasLtMatmulDescSetAttribute")

    def run(self, a_ptr, b_ptr, out_ptr, vector_ptr, aux_ptr, stream_ptr, dtype):
        """One launch; ``vector_ptr`` is the bias (forward) or the bias gradient (DRELU_BGRAD), ``aux_ptr`` the
        ReLU mask or None. Plans are shared by layers of one shape, so the pointers are set at each call."""
        engine, lib = self.engine, self.engine.lib
        self._point(DESC_BIAS_POINTER, vector_ptr)
        if aux_ptr is not None:
            self._point(DESC_EPILOGUE_AUX_POINTER, aux_ptr)
        alpha, beta = engine.scalars[dtype]
        lt_a, lt_b, lt_d = self.layouts
        # cuBLASLt's A is b and its B is a; C and D are both out (beta = 0: C is not read)
        engine._check(lib.cublasLtMatmul(engine.handle, self.desc, alpha.ctypes.data, b_ptr, lt_a, a_ptr, lt_b,
                                         beta.ctypes.data, out_ptr, lt_d, out_ptr, lt_d, ctypes.byref(self.algo),
                                         engine.workspace.data.ptr, WORKSPACE_BYTES, stream_ptr), "cublasLtMatmul")


class CublasLtMatmul:
    """``out = act(a @ b + bias)`` for 2-D float32/float64 CuPy arrays, act in ``EPILOGUES``; ``supports`` says
    which calls it takes, ``__call__`` returns False when cuBLASLt has no algorithm for one (the caller then
    runs the matmul and the bias + activation step apart). ``prepare`` and ``run_masked`` do the same for the
    ReLU-mask pair (``MASK_EPILOGUES``), whose two GEMMs must both have an algorithm before either runs."""

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
        return (activation in EPILOGUES and bias is not None and gemm_operands(a, b, out)
                and bias.dtype == out.dtype and bias.shape == (out.shape[1],) and bias.flags.c_contiguous
                # cuBLASLt documents no bias alignment; its epilogues are reported to fail below 16 bytes
                and bias.data.ptr % 16 == 0)

    def __call__(self, a, b, out, bias, activation: str, tf32: bool) -> bool:
        return self._launch(a, b, out, bias, None, activation, tf32)

    def supports_masked(self, a, b, out, vector, mask) -> bool:
        """The operands of a masked pair's GEMM: as ``supports``, and a uint8 mask of ``mask_bytes``."""
        return (self.supports(a, b, out, vector, "relu") and mask is not None and mask.ndim == 1
                and mask.dtype == numpy.uint8 and mask.flags.c_contiguous and mask.data.ptr % 16 == 0
                and mask.shape[0] >= mask_bytes(*out.shape))

    def prepare(self, a, b, out, vector, mask, kind: str, tf32: bool) -> bool:
        """Make the plan of one GEMM of a ReLU-mask pair (``kind`` in ``MASK_EPILOGUES``) now; False when
        cuBLASLt has no algorithm for it."""
        return self._plan_for(a, b, out, vector, mask, kind, tf32) is not False

    def run_masked(self, a, b, out, vector, mask, kind: str, tf32: bool) -> None:
        if not self._launch(a, b, out, vector, mask, kind, tf32):
            raise CublasError(f"cuBLASLt has no algorithm for this {kind} GEMM, which was not prepared")

    def _launch(self, a, b, out, vector, mask, kind, tf32) -> bool:
        plan = self._plan_for(a, b, out, vector, mask, kind, tf32)
        if plan is False:  # cuBLASLt offered no algorithm for this one
            return False
        plan.run(a.data.ptr, b.data.ptr, out.data.ptr, vector.data.ptr, None if mask is None else mask.data.ptr,
                 self.cp.cuda.get_current_stream().ptr, a.dtype)
        return True

    def _plan_for(self, a, b, out, vector, mask, kind, tf32):
        pointers = (a.data.ptr, b.data.ptr, out.data.ptr, vector.data.ptr) + (() if mask is None else (mask.data.ptr,))
        tf32 = bool(tf32 and a.dtype == numpy.float32)
        key = (a.shape, a.strides, b.shape, b.strides, out.shape, a.dtype, kind, tf32,
               tuple(_alignment(p) for p in pointers))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._plan(a, b, out, vector, mask, kind, tf32, key[8])
        return plan

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

    def _plan(self, a, b, out, vector, mask, kind, tf32, alignments):
        plans = self._plans_ranked(a, b, out, vector, mask, kind, tf32, alignments, 1)
        return plans[0] if plans else False

    def candidate_plans(self, a, b, out, vector, kind: str, tf32: bool, count: int) -> list:
        """Up to ``count`` plans for one GEMM (no mask), one per algorithm cuBLASLt's heuristic offers, in its
        order (the first is the one a call runs): for timing the algorithms against each other."""
        pointers = (a.data.ptr, b.data.ptr, out.data.ptr, vector.data.ptr)
        tf32 = bool(tf32 and a.dtype == numpy.float32)
        return self._plans_ranked(a, b, out, vector, None, kind, tf32, tuple(_alignment(p) for p in pointers), count)

    def _plans_ranked(self, a, b, out, vector, mask, kind, tf32, alignments, count: int) -> list:
        """Plans of the heuristic's first ``count`` algorithms for this GEMM (sharing its descriptors), best
        first by the heuristic's estimate; [] when it offers none."""
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
        self._set(set_desc, desc, DESC_EPILOGUE, ctypes.c_uint32({**EPILOGUES, **MASK_EPILOGUES}[kind]))
        # the pointers' values count for the heuristic (their alignment); each run sets its own
        self._set(set_desc, desc, DESC_BIAS_POINTER, ctypes.c_void_p(vector.data.ptr))
        if mask is not None:
            self._set(set_desc, desc, DESC_EPILOGUE_AUX_POINTER, ctypes.c_void_p(mask.data.ptr))
            self._set(set_desc, desc, DESC_EPILOGUE_AUX_LD, ctypes.c_int64(mask_ld(out.shape[1])))
        preference = ctypes.c_void_p()
        self._check(lib.cublasLtMatmulPreferenceCreate(ctypes.byref(preference)), "cublasLtMatmulPreferenceCreate")
        set_pref = lib.cublasLtMatmulPreferenceSetAttribute
        self._set(set_pref, preference, PREF_MAX_WORKSPACE_BYTES, ctypes.c_uint64(WORKSPACE_BYTES))
        # cuBLASLt's heuristic assumes 256-byte aligned operands unless told otherwise (its A is b, its B is a)
        # the bias's and the mask's alignments count too: the heuristic reads them from the descriptor
        align_a, align_b, align_out = alignments[:3]
        for attribute, value in ((PREF_MIN_ALIGNMENT_A, align_b), (PREF_MIN_ALIGNMENT_B, align_a),
                                 (PREF_MIN_ALIGNMENT_C, align_out), (PREF_MIN_ALIGNMENT_D, align_out)):
            self._set(set_pref, preference, attribute, ctypes.c_uint32(value))
        results, found = (_HeuristicResult * count)(), ctypes.c_int(0)
        status = lib.cublasLtMatmulAlgoGetHeuristic(self.handle, desc, lt_a, lt_b, lt_d, lt_d, preference, count,
                                                    results, ctypes.byref(found))
        lib.cublasLtMatmulPreferenceDestroy(preference)
        usable = [r for r in results[:found.value] if r.state == 0] if status == 0 else []
        if not usable:
            lib.cublasLtMatmulDescDestroy(desc)
            for layout in (lt_a, lt_b, lt_d):
                lib.cublasLtMatrixLayoutDestroy(layout)
            return []
        return [_Plan(self, desc, (lt_a, lt_b, lt_d), result.algo) for result in usable]


def make(cp) -> CublasLtMatmul | None:
    """The fused forward GEMM, or None when cuBLASLt cannot be opened with ctypes."""
    library = _compat.cublaslt_library()
    if library is None:
        return None
    try:
        return CublasLtMatmul(cp, library)
    except (AttributeError, CublasError):  # an older cuBLASLt without these entry points, or no device handle
        return None
