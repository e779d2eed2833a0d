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
        self.algorithms_run: list = []  # the algorithm of each matmul, by its first word
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

        def heuristic(handle, desc, a, b, c, d, preference, requested, results, found_ref):
            self.log.append(("heuristic", dict(self.objects[preference.value]["attrs"])))
            found_ref._obj.value = min(requested, self.algorithms)
            for rank in range(found_ref._obj.value):  # each algorithm told apart by its first word
                results[rank].state = 0
                results[rank].algo.data[0] = 100 + rank
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
        vector = np.frombuffer((ctypes.c_char * (shape["rows"] * np.dtype(dtype).itemsize)).from_address(
            op["attrs"][lt.DESC_BIAS_POINTER]), dtype=dtype)  # a bias, or where a bias gradient goes
        if epilogue in (lt.EPILOGUE_RELU_AUX_BIAS, lt.EPILOGUE_DRELU_BGRAD):
            bits = self._mask(op, shape["rows"], shape["cols"])
        if epilogue == lt.EPILOGUE_DRELU_BGRAD:  # ReLU's derivative from the forward's mask, the bias gradient
            gradient = product * np.unpackbits(bits, axis=0, bitorder="little")[:shape["rows"]]
            out[...] = gradient
            vector[...] = gradient.sum(axis=1)  # along D's rows: one value per unit
        else:
            result = product + vector[:, None]  # the bias runs along D's rows
            relu = epilogue in (lt.EPILOGUE_RELU_BIAS, lt.EPILOGUE_RELU_AUX_BIAS)
            out[...] = np.maximum(result, 0) if relu else result
            if epilogue == lt.EPILOGUE_RELU_AUX_BIAS:
                packed = np.packbits(result > 0, axis=0, bitorder="little")
                bits[...] = 0
                bits[:packed.shape[0]] = packed
        self.log.append(("matmul", op["compute"], epilogue, stream))
        self.algorithms_run.append(algo._obj.data[0])
        return 0

    def _mask(self, op, rows, cols):
        """The ReLU bit-mask as a (ld / 8 bytes) x cols column-major view: bit r of column c is output (r, c)."""
        ld = op["attrs"][lt.DESC_EPILOGUE_AUX_LD]
        assert ld % lt.MASK_LD_MULTIPLE == 0 and ld >= rows
        return _column_major(op["attrs"][lt.DESC_EPILOGUE_AUX_POINTER], ld // 8, cols, ld // 8, np.uint8)


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


def test_candidate_plans_are_the_heuristics_algorithms_in_its_order_and_each_computes_the_product():
    engine, lib, cp = _engine(algorithms=3)
    rng = np.random.default_rng(9)
    a, b = _aligned(rng.standard_normal((5, 7)).astype(np.float32)), _aligned(rng.standard_normal((7, 3)).astype(
        np.float32))
    bias, out = _aligned(rng.standard_normal(3).astype(np.float32)), _aligned(np.zeros((5, 3), np.float32))
    plans = engine.candidate_plans(*(_Array(x) for x in (a, b, out, bias)), "linear", tf32=False, count=8)
    assert len(plans) == 3  # what the heuristic offered, not what was asked for
    for plan in plans:
        out[...] = 0
        plan.run(a.ctypes.data, b.ctypes.data, out.ctypes.data, bias.ctypes.data, None, 7, a.dtype)
        np.testing.assert_allclose(out, _expected(a, b, bias, "linear"), rtol=1e-5)
    assert lib.algorithms_run == [100, 101, 102]
    assert engine(*(_Array(x) for x in (a, b, out, bias)), "linear", tf32=False)
    assert lib.algorithms_run[-1] == 100  # a call runs the heuristic's first
    none, _, _ = _engine(algorithms=0)
    assert none.candidate_plans(*(_Array(x) for x in (a, b, out, bias)), "linear", tf32=False, count=8) == []


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


def test_a_bias_of_another_alignment_gets_a_plan_of_its_own():
    """cuBLASLt's heuristic takes the alignment of the bias pointer set on the descriptor when it chooses: a
    bias less aligned than the one a plan was made for must not run that plan's algorithm."""
    engine, lib, _ = _engine()
    rng = np.random.default_rng(6)
    a, b = _aligned(rng.standard_normal((4, 6)).astype(np.float32)), _aligned(np.ones((6, 4), np.float32))
    store = _aligned(np.zeros(8, np.float32))
    for bias in (store[:4], store[4:]):  # 256-byte aligned, then 16 bytes past it
        out = _aligned(np.empty((4, 4), np.float32))
        assert engine(_Array(a), _Array(b), _Array(out), _Array(bias), "relu", tf32=False)
        np.testing.assert_allclose(out, _expected(a, b, bias, "relu"), rtol=1e-5)
    assert lib.log.count(("create", "desc")) == 2


def test_the_relu_mask_pair_gives_relus_derivative_and_the_bias_gradient():
    """The forward GEMM writes a ReLU mask (RELU_AUX_BIAS) beside relu(x @ w + b); the backward GEMM of the next
    layer's input gradient (DRELU_BGRAD) multiplies its product by the mask and sums the bias gradient: what
    act_backward_bias_grad does after a plain matmul. Widths that are not a multiple of the mask's 128 bits."""
    engine, lib, _ = _engine()
    rng = np.random.default_rng(8)
    rows, inputs, units, nxt = 6, 5, 130, 3
    x = _aligned(rng.standard_normal((rows, inputs)).astype(np.float32))
    w = _aligned(rng.standard_normal((inputs, units)).astype(np.float32))
    bias = _aligned(rng.standard_normal(units).astype(np.float32))
    y = _aligned(np.empty((rows, units), np.float32))
    mask = _aligned(np.full(lt.mask_bytes(rows, units), 0xAA, np.uint8))
    assert lt.mask_ld(units) == 256 and mask.size == 32 * rows
    dz_next = _aligned(rng.standard_normal((rows, nxt)).astype(np.float32))
    w_next = _aligned(rng.standard_normal((units, nxt)).astype(np.float32))
    d = _aligned(np.empty((rows, units), np.float32))
    dbias = _aligned(np.empty(units, np.float32))
    forward = (_Array(x), _Array(w), _Array(y), _Array(bias), _Array(mask))
    backward = (_Array(dz_next), _Array(w_next.T), _Array(d), _Array(dbias), _Array(mask))
    assert engine.supports_masked(*forward) and engine.supports_masked(*backward)
    assert engine.prepare(*forward, "relu_mask", tf32=False) and engine.prepare(*backward, "relu_grad", tf32=False)
    engine.run_masked(*forward, "relu_mask", tf32=False)
    engine.run_masked(*backward, "relu_grad", tf32=False)
    np.testing.assert_allclose(y, _expected(x, w, bias, "relu"), rtol=1e-5, atol=1e-6)
    expected_d = (dz_next.astype(np.float64) @ w_next.T.astype(np.float64)) * (y > 0)
    np.testing.assert_allclose(d, expected_d, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dbias, expected_d.sum(axis=0), rtol=1e-5, atol=1e-5)
    epilogues = [entry[2] for entry in lib.log if entry[0] == "matmul"]
    assert epilogues == [lt.EPILOGUE_RELU_AUX_BIAS, lt.EPILOGUE_DRELU_BGRAD]


def test_a_mask_pair_without_an_algorithm_is_refused_before_it_runs():
    engine, _, _ = _engine(algorithms=0)
    x, w, y = (_aligned(np.ones(s, np.float32)) for s in ((2, 3), (3, 4), (2, 4)))
    bias, mask = _aligned(np.zeros(4, np.float32)), _aligned(np.zeros(lt.mask_bytes(2, 4), np.uint8))
    args = (_Array(x), _Array(w), _Array(y), _Array(bias), _Array(mask))
    assert not engine.prepare(*args, "relu_mask", tf32=False)
    with pytest.raises(lt.CublasError, match="not prepared"):
        engine.run_masked(*args, "relu_mask", tf32=False)
    short = _aligned(np.zeros(lt.mask_bytes(2, 4) - 1, np.uint8))
    assert not engine.supports_masked(*args[:4], _Array(short))
