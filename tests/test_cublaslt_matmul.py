"""The cuBLASLt forward GEMM with its bias + ReLU epilogue, without a GPU: a stand-in cuBLASLt with the
library's column-major semantics (its A and B, op N / op T, leading dimensions, the bias along D's rows, ReLU
after the bias) checks the row-major translation for every operand layout a step uses, the plans (one per
shape, the bias pointer set at each call), the compute types, the alignments told to the heuristic, and the
calls it leaves to the unfused path. On a GPU, tests/test_gpu_matmul_epilogues.py runs it for real."""
from __future__ import annotations

import ctypes
import itertools

import numpy as np
import pytest
from test_cublas_matmul import _Array, _column_major, _FakeCupy, _layouts

from gpunn.ops import cublaslt_matmul as lt
from gpunn.ops.cublas_matmul import OP_N


class _FakeCublasLt:
    """The cuBLASLt entry points CublasLtMatmul calls. Descriptors are ids into Python dicts."""

    def __init__(self, algorithms: int = 1):
        self.objects: dict = {}
        self.log: list = []
        self.algorithms = algorithms
        ids = itertools.count(1000)

        def creator(kind, make):
            def create(out_ref, *args):
                handle = next(ids)
                self.objects[handle] = {"kind": kind, **make(*args)}
                out_ref._obj.value = handle
                self.log.append(("create", kind))
                return 0
            return create

        def set_attribute(obj, attribute, value_ref, size):
            self.objects[obj.value]["attrs"][attribute] = value_ref._obj.value
            return 0

        def destroy(obj):
            self.log.append(("destroy", self.objects.pop(obj.value)["kind"]))
            return 0

        def heuristic(handle, desc, a, b, c, d, preference, requested, result_ref, found_ref):
            self.log.append(("heuristic", dict(self.objects[preference.value]["attrs"])))
            found_ref._obj.value = min(requested, self.algorithms)
            result_ref._obj.state = 0
            return 0

        self.cublasLtCreate = creator("handle", lambda: {})
        self.cublasLtMatmulDescCreate = creator("desc", lambda compute, scale: {"compute": compute, "scale": scale,
                                                                              "attrs": {}})
        self.cublasLtMatrixLayoutCreate = creator("layout", lambda dtype, rows, cols, ld: {
            "dtype": dtype, "rows": rows, "cols": cols, "ld": ld})
        self.cublasLtMatmulPreferenceCreate = creator("preference", lambda: {"attrs": {}})
        self.cublasLtMatmulDescSetAttribute = set_attribute
        self.cublasLtMatmulPreferenceSetAttribute = set_attribute
        self.cublasLtMatmulDescDestroy = self.cublasLtMatrixLayoutDestroy = destroy
        self.cublasLtMatmulPreferenceDestroy = destroy
        self.cublasLtMatmulAlgoGetHeuristic = heuristic
        self.cublasLtMatmul = lambda *args: self._matmul(*args)  # a function: the engine sets its argtypes

    def _matmul(self, handle, desc, alpha, a, a_layout, b, b_layout, beta, c, c_layout, d, d_layout, algo,
                workspace, workspace_size, stream):
        op = self.objects[desc.value]
        dtype = np.float32 if op["scale"] == lt.CUDA_R_32F else np.float64
        assert c == d and c_layout.value == d_layout.value  # out is both C and D
        assert workspace_size == lt.WORKSPACE_BYTES

        def read(ptr, layout, transpose):
            shape = self.objects[layout.value]
            matrix = _column_major(ptr, shape["rows"], shape["cols"], shape["ld"], dtype)
            return matrix.T if transpose != OP_N else matrix

        alpha_v = np.frombuffer((ctypes.c_char * 8).from_address(alpha), dtype=dtype, count=1)[0]
        beta_v = np.frombuffer((ctypes.c_char * 8).from_address(beta), dtype=dtype, count=1)[0]
        assert beta_v == 0
        product = alpha_v * (read(a, a_layout, op["attrs"][lt.DESC_TRANSA]) @ read(b, b_layout,
                                                                                    op["attrs"][lt.DESC_TRANSB]))
        shape = self.objects[d_layout.value]
        out = _column_major(d, shape["rows"], shape["cols"], shape["ld"], dtype)
        epilogue = op["attrs"][lt.DESC_EPILOGUE]
        bias = np.frombuffer((ctypes.c_char * (shape["rows"] * np.dtype(dtype).itemsize)).from_address(
            op["attrs"][lt.DESC_BIAS_POINTER]), dtype=dtype)
        result = product + bias[:, None]  # the bias runs along D's rows
        out[...] = np.maximum(result, 0) if epilogue == lt.EPILOGUE_RELU_BIAS else result
        self.log.append(("matmul", op["compute"], epilogue, stream))
        return 0


def _engine(algorithms: int = 1):
    lib, cp = _FakeCublasLt(algorithms), _FakeCupy()
    return lt.CublasLtMatmul(cp, lib), lib, cp


def _expected(a, b, bias, activation):
    z = a.astype(np.float64) @ b.astype(np.float64) + bias.astype(np.float64)
    return np.maximum(z, 0) if activation == "relu" else z


@pytest.mark.parametrize("activation", ["relu", "linear"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 7, 3), (1, 4, 6), (6, 1, 2), (3, 5, 1)])
def test_every_layout_gives_the_activation_of_a_at_b_plus_bias(activation, dtype, shape):
    engine, lib, _ = _engine()
    rng = np.random.default_rng(2)
    m, k, n = shape
    bias = rng.standard_normal(n).astype(dtype)
    for name_a, a in _layouts(rng, m, k, dtype).items():
        for name_b, b in _layouts(rng, k, n, dtype).items():
            out = np.full((m, n), np.nan, dtype)
            args = (_Array(a), _Array(b), _Array(out), _Array(bias))
            assert engine.supports(*args, activation), (name_a, name_b)
            assert engine(*args, activation, tf32=False)
            np.testing.assert_allclose(out, _expected(a, b, bias, activation),
                                       rtol=1e-5 if dtype == np.float32 else 1e-12, err_msg=f"{name_a} @ {name_b}")
    assert all(entry[2] == lt.EPILOGUES[activation] for entry in lib.log if entry[0] == "matmul")


def _aligned(values):
    """A copy of ``values`` at a 256-byte aligned address, as CuPy's allocations are."""
    raw = np.empty(values.nbytes + 256, np.uint8)
    offset = -raw.ctypes.data % 256
    copy = raw[offset:offset + values.nbytes].view(values.dtype).reshape(values.shape)
    copy[...] = values
    return copy


def test_one_plan_per_shape_and_each_call_its_own_bias():
    """Two layers of one shape share a plan; each call sets its own bias pointer (a captured graph keeps it)."""
    engine, lib, cp = _engine()
    rng = np.random.default_rng(3)
    a = _aligned(rng.standard_normal((4, 6)).astype(np.float32))
    kernels = [_aligned(rng.standard_normal((6, 5)).astype(np.float32)) for _ in range(2)]
    biases = [_aligned(rng.standard_normal(5).astype(np.float32)) for _ in range(2)]
    outs = [_aligned(np.empty((4, 5), np.float32)) for _ in range(2)]
    for _ in range(2):
        for kernel, bias, out in zip(kernels, biases, outs):
            assert engine(_Array(a), _Array(kernel), _Array(out), _Array(bias), "relu", tf32=False)
    for kernel, bias, out in zip(kernels, biases, outs):
        np.testing.assert_allclose(out, _expected(a, kernel, bias, "relu"), rtol=1e-5)
    assert lib.log.count(("create", "desc")) == 1
    assert sum(entry[0] == "heuristic" for entry in lib.log) == 1
    assert lib.log.count(("destroy", "preference")) == 1  # the preference only serves the heuristic
    assert [entry[3] for entry in lib.log if entry[0] == "matmul"] == [cp.stream_ptr] * 4  # CuPy's stream


def test_compute_type_follows_tf32_for_float32_only():
    engine, lib, _ = _engine()
    for dtype, tf32 in ((np.float32, False), (np.float32, True), (np.float64, True)):
        a, b, out = (_Array(np.ones(s, dtype)) for s in ((2, 3), (3, 4), (2, 4)))
        assert engine(a, b, out, _Array(np.zeros(4, dtype)), "relu", tf32=tf32)
    computes = [entry[1] for entry in lib.log if entry[0] == "matmul"]
    assert computes == [lt.COMPUTE_32F, lt.COMPUTE_32F_FAST_TF32, lt.COMPUTE_64F]


def test_the_heuristic_is_told_each_operands_alignment():
    """cuBLASLt assumes 256-byte aligned operands unless told: a view at an odd element offset gets a plan of
    its own, made for 4-byte alignment, and an aligned one is told its full alignment, up to 256 bytes
    (cuBLASLt's A is the row-major b, its B the row-major a)."""
    engine, lib, _ = _engine()
    store = np.zeros(1 + 3 * 6 + 1 + 6 * 4, np.float32)
    store_ptr = store.ctypes.data
    assert store_ptr % 16 == 0
    a = store[1:19].reshape(3, 6)  # 4 bytes past a 16-byte boundary
    b = store[20:44].reshape(6, 4)  # 80 bytes in: 16-byte aligned
    out, bias = np.empty((3, 4), np.float32), np.zeros(4, np.float32)
    assert engine(_Array(a), _Array(b), _Array(out), _Array(bias), "linear", tf32=False)
    preferences = [entry[1] for entry in lib.log if entry[0] == "heuristic"][-1]
    b_ptr = b.ctypes.data
    assert preferences[lt.PREF_MIN_ALIGNMENT_B] == 4
    assert preferences[lt.PREF_MIN_ALIGNMENT_A] == min(256, b_ptr & -b_ptr) >= 16
    assert preferences[lt.PREF_MAX_WORKSPACE_BYTES] == lt.WORKSPACE_BYTES
    np.testing.assert_allclose(out, _expected(a, b, bias, "linear"), rtol=1e-5)


def test_no_algorithm_means_the_caller_runs_the_two_steps():
    engine, lib, _ = _engine(algorithms=0)
    a, b, out = (_Array(np.ones(s, np.float32)) for s in ((2, 3), (3, 4), (2, 4)))
    bias = _Array(np.zeros(4, np.float32))
    assert engine(a, b, out, bias, "relu", tf32=False) is False
    assert engine(a, b, out, bias, "relu", tf32=False) is False  # remembered: the heuristic is asked once
    assert sum(entry[0] == "heuristic" for entry in lib.log) == 1
    assert not any(entry[0] == "matmul" for entry in lib.log)
    assert lib.log.count(("destroy", "layout")) == 3 and lib.log.count(("destroy", "desc")) == 1


def test_calls_it_leaves_to_the_unfused_path():
    engine, _, _ = _engine()
    a, b, out = np.ones((4, 3), np.float32), np.ones((3, 2), np.float32), np.zeros((4, 2), np.float32)
    bias = np.zeros(2, np.float32)
    wrapped = (_Array(a), _Array(b), _Array(out))
    assert engine.supports(*wrapped, _Array(bias), "relu")
    assert not engine.supports(*wrapped, None, "relu")  # no bias: the plain matmul
    assert not engine.supports(*wrapped, _Array(bias), "gelu")  # gelu's gradient reads the pre-activation
    assert not engine.supports(*wrapped, _Array(bias.astype(np.float64)), "relu")
    assert not engine.supports(*wrapped, _Array(np.zeros(3, np.float32)), "relu")  # not one value per unit
    misaligned = np.zeros(3, np.float32)[1:]
    assert misaligned.ctypes.data % 16 != 0
    assert not engine.supports(*wrapped, _Array(misaligned), "relu")
    assert not engine.supports(_Array(a), _Array(b), _Array(np.zeros((2, 4), np.float32).T), _Array(bias), "relu")
    wide = np.ones((4, 6), np.float32)
    assert not engine.supports(_Array(wide[:, ::2]), _Array(b), _Array(out), _Array(bias), "relu")


def test_make_without_a_gpu_backend_is_none():
    if lt._compat.cupy() is not None:
        pytest.skip("this machine has a CuPy GPU backend; tests/test_gpu_matmul_epilogues.py covers make() there")
    assert lt.make(_FakeCupy()) is None
