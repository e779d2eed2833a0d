"""The capture-legal cuBLAS matmul without a GPU: its row-major to column-major translation (operations,
leading dimensions, operand order) checked against a reference column-major GEMM that reads raw memory as
cuBLAS does, for every operand layout a step uses; which calls it takes; stream and math-mode calls made only
when something changed. On a GPU, tests/test_gpu_graphs.py runs it for real."""
from __future__ import annotations

import ctypes
import types

import numpy as np
import pytest

from gpunn.ops import cublas_matmul
from gpunn.ops.cublas_matmul import OP_N, CublasMatmul


class _Array:
    """A NumPy array dressed as a CuPy one: ``.data.ptr`` is its address."""

    def __init__(self, a):
        self.a = a
        self.data = types.SimpleNamespace(ptr=a.ctypes.data)
        for name in ("shape", "strides", "itemsize", "dtype", "ndim", "flags"):
            setattr(self, name, getattr(a, name))

    @property
    def T(self):
        return _Array(self.a.T)


def _column_major(ptr, rows, cols, ld, dtype):
    """The (rows x cols) column-major matrix at ``ptr`` with leading dimension ``ld`` (a writable view)."""
    item = np.dtype(dtype).itemsize
    buffer = (ctypes.c_char * (item * (ld * (cols - 1) + rows))).from_address(ptr)
    flat = np.frombuffer(buffer, dtype=dtype)
    return np.lib.stride_tricks.as_strided(flat, shape=(rows, cols), strides=(item, ld * item))


class _FakeCublas:
    """The handful of cuBLAS entry points CublasMatmul calls, with BLAS's column-major semantics."""

    def __init__(self):
        self.log = []

        def create(handle_ptr):
            handle_ptr._obj.value = 1234
            return 0

        def gemm(dtype):
            def run(handle, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
                alpha_v = np.frombuffer((ctypes.c_char * 8).from_address(alpha), dtype=dtype, count=1)[0]
                beta_v = np.frombuffer((ctypes.c_char * 8).from_address(beta), dtype=dtype, count=1)[0]
                op_a = _column_major(a, *((m, k) if transa == OP_N else (k, m)), lda, dtype)
                op_b = _column_major(b, *((k, n) if transb == OP_N else (n, k)), ldb, dtype)
                op_a = op_a if transa == OP_N else op_a.T
                op_b = op_b if transb == OP_N else op_b.T
                out = _column_major(c, m, n, ldc, dtype)
                # BLAS: with beta == 0, C is written without being read (NaN in it does not propagate)
                out[...] = alpha_v * (op_a @ op_b) + (beta_v * out if beta_v != 0 else 0)
                self.log.append("gemm" if self.user_workspace else "gemm on cuBLAS's own workspace pool")
                return 0
            return run

        def set_workspace(handle, ptr, size):
            self.user_workspace = True
            self.log.append(("workspace", size.value))
            return 0

        def set_stream(handle, stream):
            self.user_workspace = False  # cuBLAS: setting the stream resets the workspace to its own pool
            self.log.append(("stream", stream.value))
            return 0

        self.user_workspace = False
        self.cublasCreate_v2 = create
        self.cublasSetWorkspace_v2 = set_workspace
        self.cublasSetStream_v2 = set_stream
        self.cublasSetMathMode = lambda handle, mode: self.log.append(("math", mode)) or 0
        self.cublasSgemm_v2 = gemm(np.float32)
        self.cublasDgemm_v2 = gemm(np.float64)


class _FakeCupy:
    def __init__(self):
        self.stream_ptr = 77
        self.cuda = types.SimpleNamespace(get_current_stream=lambda: types.SimpleNamespace(ptr=self.stream_ptr))

    @staticmethod
    def empty(n, dtype):
        return _Array(np.empty(n, dtype))


def _engine():
    lib, cp = _FakeCublas(), _FakeCupy()
    return CublasMatmul(cp, lib), lib, cp


def _layouts(rng, rows, cols, dtype):
    """The same matrix as a C-contiguous array, a .T view of a C-contiguous array, and row-padded."""
    m = rng.standard_normal((rows, cols)).astype(dtype)
    padded = np.zeros((rows, cols + 3), dtype)
    padded[:, :cols] = m
    return {"C": m, "T-view": np.ascontiguousarray(m.T).T, "padded": padded[:, :cols]}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 7, 3), (1, 4, 6), (6, 1, 2), (3, 5, 1)])
def test_every_layout_gives_a_at_b(dtype, shape):
    engine, _, _ = _engine()
    rng = np.random.default_rng(1)
    m, k, n = shape
    for name_a, a in _layouts(rng, m, k, dtype).items():
        for name_b, b in _layouts(rng, k, n, dtype).items():
            out = np.full((m, n), np.nan, dtype)
            wa, wb, wout = _Array(a), _Array(b), _Array(out)
            assert engine.supports(wa, wb, wout), (name_a, name_b)
            engine(wa, wb, wout, tf32=False)
            np.testing.assert_allclose(out, a.astype(np.float64) @ b.astype(np.float64),
                                       rtol=1e-5 if dtype == np.float32 else 1e-12, err_msg=f"{name_a} @ {name_b}")


def test_calls_it_leaves_to_cupy():
    engine, _, _ = _engine()
    a, b = np.ones((4, 3), np.float32), np.ones((3, 2), np.float32)
    out = np.zeros((4, 2), np.float32)
    assert engine.supports(_Array(a), _Array(b), _Array(out))
    assert not engine.supports(_Array(a), _Array(b), None)  # no out
    assert not engine.supports(_Array(a.astype(np.float16)), _Array(b.astype(np.float16)),
                               _Array(out.astype(np.float16)))
    assert not engine.supports(_Array(a), _Array(b.astype(np.float64)), _Array(out))  # mixed dtypes
    assert engine.supports(_Array(a[::2]), _Array(b), _Array(np.zeros((2, 2), np.float32)))  # every 2nd row: ld 6
    wide = np.ones((4, 6), np.float32)
    assert not engine.supports(_Array(wide[:, ::2]), _Array(b), _Array(out))  # every 2nd column: no BLAS layout
    assert not engine.supports(_Array(a), _Array(b), _Array(np.zeros((2, 4), np.float32).T))  # out not C-order
    assert not engine.supports(_Array(np.ones((2, 3, 4), np.float32)), _Array(np.ones((4, 2), np.float32)),
                               _Array(np.zeros((2, 3, 2), np.float32)))


def test_stream_and_math_mode_are_set_only_when_they_change():
    engine, lib, cp = _engine()
    assert lib.log == [("workspace", cublas_matmul.WORKSPACE_BYTES)]
    a, b, out = (_Array(np.ones(s, np.float32)) for s in ((2, 3), (3, 2), (2, 2)))
    engine(a, b, out, tf32=False)
    engine(a, b, out, tf32=False)
    engine(a, b, out, tf32=True)
    cp.stream_ptr = 99
    engine(a, b, out, tf32=True)
    engine.bind_stream(99)  # already bound: nothing to do (a capture on that stream may be running)
    workspace = ("workspace", cublas_matmul.WORKSPACE_BYTES)
    assert lib.log[1:] == [("stream", 77), workspace, ("math", 0), "gemm", "gemm", ("math", 3), "gemm",
                           ("stream", 99), workspace, "gemm"]


def test_every_gemm_uses_gpunns_workspace_whatever_the_stream():
    """A captured GEMM must not take memory from cuBLAS's pool: the workspace is set again after each stream
    change (cublasSetStream resets it), the capture stream's binding included."""
    engine, lib, cp = _engine()
    a, b, out = (_Array(np.ones(s, np.float32)) for s in ((2, 3), (3, 2), (2, 2)))
    for stream in (77, 5, 77):
        cp.stream_ptr = stream
        engine(a, b, out, tf32=False)
        engine.bind_stream(stream + 1)  # before a capture on another stream
        cp.stream_ptr = stream + 1
        engine(a, b, out, tf32=False)
    assert lib.log.count("gemm") == 6 and all(not isinstance(e, str) or e == "gemm" for e in lib.log), lib.log


def test_tf32_applies_to_float32_only():
    engine, lib, _ = _engine()
    a, b, out = (_Array(np.ones(s, np.float64)) for s in ((2, 3), (3, 2), (2, 2)))
    engine(a, b, out, tf32=True)
    assert ("math", 0) in lib.log and ("math", 3) not in lib.log


def test_make_without_a_gpu_backend_is_none():
    if cublas_matmul._compat.cupy() is not None:
        pytest.skip("this machine has a CuPy GPU backend; tests/test_gpu_graphs.py covers make() there")
    assert cublas_matmul.make(_FakeCupy()) is None  # the library is not even looked for without a GPU backend


class _FakeCupyDevices:
    """CuPy's device calls as CupyOps makes them, with a current device that can change."""

    def __init__(self):
        self.current = 0
        runtime = types.SimpleNamespace(getDevice=lambda: self.current,
                                        getDeviceProperties=lambda device: {"name": f"Fake GPU {device}".encode()})
        self.cuda = types.SimpleNamespace(
            runtime=runtime, memory=types.SimpleNamespace(OutOfMemoryError=MemoryError),
            Stream=lambda non_blocking: types.SimpleNamespace(device=self.current, non_blocking=non_blocking))
        self.__name__ = "cupy"


def test_each_device_has_its_own_cublas_handle_and_capture_stream(monkeypatch):
    """A cuBLAS handle and a stream belong to the device current when they were made, and a process may make
    its GPU backend before distributed.init() picks its GPU (gpunn train does): so CupyOps keeps one of each
    per device, and names the current one."""
    from gpunn.ops import cupy_ops

    fake, made = _FakeCupyDevices(), []
    monkeypatch.setattr(cupy_ops._compat, "cupy", lambda: fake)
    monkeypatch.setattr(cupy_ops.tf32, "apply_to_cupy", lambda: None)
    monkeypatch.setattr(cupy_ops.cublas_matmul, "make", lambda cp: made.append(cp.current) or object())
    ops = cupy_ops.CupyOps()
    on_zero = (ops._matmul_engine(), ops.capture_stream(), ops.device_description)
    fake.current = 1  # what distributed.init() does on the second rank of a node
    on_one = (ops._matmul_engine(), ops.capture_stream(), ops.device_description)
    assert made == [0, 1] and on_one[0] is not on_zero[0]
    assert (on_zero[1].device, on_one[1].device) == (0, 1) and on_one[1].non_blocking
    assert (on_zero[2], on_one[2]) == ("GPU 0 (Fake GPU 0)", "GPU 1 (Fake GPU 1)")
    fake.current = 0
    assert (ops._matmul_engine(), ops.capture_stream()) == on_zero[:2] and made == [0, 1]
