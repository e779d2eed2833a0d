"""CPU matmuls through Intel oneMKL (gpunn/ops/mkl_gemm.py): the choice of library, the products it takes
and those it leaves to NumPy, prepared calls for replays, training through it (replay equals eager bit for
bit, no allocation, the same model as NumPy's BLAS trains to float32 rounding) and the thread pool it shares
with the compiled optimizer update. Tests needing MKL skip, saying so, where the ``mkl`` wheel is missing
(``pip install 'gpunn[mkl]'``, x86-64 only)."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import _compat
from gpunn.ops import mkl_gemm
from gpunn.ops.numpy_ops import NumpyOps

from allocations import count_step_allocations, describe
from helpers import assert_same_training

needs_mkl = pytest.mark.skipif(_compat.mkl_runtime() is None,
                               reason="Intel oneMKL is not installed (pip install 'gpunn[mkl]', x86-64)")


@pytest.fixture
def gemm():
    return mkl_gemm._process_gemm()


# ---- which library ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [(None, "auto"), ("", "auto"), ("MKL", "mkl"), (" numpy ", "numpy")])
def test_the_choice_comes_from_gpunn_cpu_blas(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("GPUNN_CPU_BLAS", raising=False)
    else:
        monkeypatch.setenv("GPUNN_CPU_BLAS", value)
    assert mkl_gemm.cpu_blas_choice() == expected


def test_an_unknown_choice_is_refused_naming_the_variable(monkeypatch):
    monkeypatch.setenv("GPUNN_CPU_BLAS", "openblas64")
    with pytest.raises(ValueError, match=r"GPUNN_CPU_BLAS: expected one of auto, mkl, numpy, got 'openblas64'"):
        NumpyOps()


def test_numpy_means_numpy_and_mkl_without_mkl_is_an_error(monkeypatch):
    monkeypatch.setenv("GPUNN_CPU_BLAS", "numpy")
    assert mkl_gemm.make() is None and NumpyOps()._mkl is None
    monkeypatch.setattr(mkl_gemm, "_process_gemm", lambda: None)  # as where the wheel is missing
    monkeypatch.setenv("GPUNN_CPU_BLAS", "auto")
    assert mkl_gemm.make() is None
    monkeypatch.setenv("GPUNN_CPU_BLAS", "mkl")
    with pytest.raises(RuntimeError, match=r"GPUNN_CPU_BLAS=mkl: Intel oneMKL is not installed"):
        mkl_gemm.make()


# ---- products -----------------------------------------------------------------------------------------------
def _operand(rng, rows, cols, dtype, transposed):
    """A (rows, cols) operand, C-contiguous or the .T view of a C-contiguous (cols, rows) array."""
    if transposed:
        return rng.standard_normal((cols, rows)).astype(dtype).T
    return rng.standard_normal((rows, cols)).astype(dtype)


@needs_mkl
@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("m, k, n", [(128, 784, 128), (65, 97, 129), (300, 1, 1000), (1, 700, 500)])
@pytest.mark.parametrize("trans_a", [False, True], ids=["a", "aT"])
@pytest.mark.parametrize("trans_b", [False, True], ids=["b", "bT"])
def test_products_equal_the_float64_reference(gemm, dtype, rtol, m, k, n, trans_a, trans_b):
    rng = np.random.default_rng(m + k + n)
    a, b = _operand(rng, m, k, dtype, trans_a), _operand(rng, k, n, dtype, trans_b)
    out = np.full((m, n), np.nan, dtype)
    assert gemm.matmul(a, b, out)
    want = a.astype(np.float64) @ b.astype(np.float64)
    scale = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)  # bounds the rounding of each sum
    assert np.all(np.abs(out - want) <= rtol * scale + 1e-30)
    # A prepared call computes the same product again, bit for bit, from its operands' current values.
    prepared = gemm.prepare(a, b, out)
    first = out.copy()
    out[:] = 0
    prepared()
    np.testing.assert_array_equal(out, first)
    b *= 2
    prepared()
    np.testing.assert_array_equal(out, first * 2)
    assert prepared.flops == 2.0 * m * n * k


@needs_mkl
def test_products_it_leaves_to_numpy_write_nothing(gemm):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((128, 256)).astype(np.float32)
    b = rng.standard_normal((256, 128)).astype(np.float32)
    out = np.zeros((128, 128), np.float32)
    square = rng.standard_normal((128, 128)).astype(np.float32)
    small = (a[:32, :32], b[:32, :32], np.zeros((32, 32), np.float32))  # 32^3 < SMALL_PRODUCT
    leaves = {
        "small": small,
        "float16": (a.astype(np.float16), b.astype(np.float16), out.astype(np.float16)),
        "int64": (a.astype(np.int64), b.astype(np.int64), out.astype(np.int64)),
        "mixed dtypes": (a, b.astype(np.float64), out),
        "strided rows": (a[:, ::2], b[::2], out),
        "strided out": (a, b, np.zeros((128, 256), np.float32)[:, ::2]),
        "out is an operand": (square, square.T, square),
        "batched": (a[None], b[None], out[None]),
        "no out": (a, b, None),
        "shapes disagree": (a, b[:200], out),
        # a leading dimension past 32-bit ints (a broadcast view: no memory behind its stride)
        "leading dimension over 2**31": (np.lib.stride_tricks.as_strided(a, strides=(2**31 * 4, 4)), b, out),
    }
    for name, (x, y, o) in leaves.items():
        before = None if o is None else o.copy()
        assert not gemm.matmul(x, y, o), name
        assert gemm.prepare(x, y, o) is None, name
        if o is not None:
            np.testing.assert_array_equal(o, before, err_msg=name)


@needs_mkl
def test_numpy_ops_matmul_gives_numpy_s_answer_either_way(monkeypatch):
    ops = NumpyOps()
    assert ops._mkl is not None
    rng = np.random.default_rng(1)
    for m, k, n in ((128, 784, 128), (8, 8, 8)):  # through MKL, and left to NumPy
        a, b = _operand(rng, m, k, np.float32, True), _operand(rng, k, n, np.float32, False)
        out = np.empty((m, n), np.float32)
        assert ops.matmul(a, b, out=out) is out
        np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(ops.matmul(a, b), a @ b, rtol=1e-5, atol=1e-4)  # no out: NumPy's own


# ---- training through MKL -----------------------------------------------------------------------------------
def _data(n=200, features=80, classes=4):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((n, features)).astype("float32")
    return x, (x[:, :classes] + 0.3 * x[:, classes:2 * classes]).argmax(axis=1)


def _model(dropout):
    # Batches of 64 x 80 features into 96 units: 491,520 multiply-adds a product, over SMALL_PRODUCT.
    layers = [gpunn.Input(shape=(80,)), gpunn.layers.Dense(96, activation="relu")]
    layers += [gpunn.layers.Dropout(0.2)] if dropout else []
    layers += [gpunn.layers.Dense(96, activation="tanh"), gpunn.layers.Dense(4, activation="softmax")]
    return gpunn.Sequential(layers)


def _train(jit, dropout=True, epochs=3):
    gpunn.utils.set_random_seed(2)
    x, y = _data()
    model = _model(dropout)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=jit)
    history = model.fit(x, y, batch_size=64, epochs=epochs, verbose=0)  # 3 full batches and one of 8
    return model, history.history


@needs_mkl
def test_replayed_steps_through_mkl_equal_eager_ones_bit_for_bit():
    with gpunn.use_backend(NumpyOps()):
        assert _compat.mkl_runtime() is not None
        eager = _train(False)
        replayed = _train(True)
    assert_same_training(eager, replayed)
    ops = replayed[0].ops
    assert isinstance(ops, NumpyOps) and ops._mkl is not None


@needs_mkl
def test_mkl_and_numpy_s_blas_train_the_same_model_to_float32_rounding(monkeypatch):
    with gpunn.use_backend(NumpyOps()):
        through_mkl, _ = _train(True, dropout=False)
    monkeypatch.setenv("GPUNN_CPU_BLAS", "numpy")
    with gpunn.use_backend(NumpyOps()):
        through_numpy, _ = _train(True, dropout=False)
    assert through_mkl.ops._mkl is not None and through_numpy.ops._mkl is None
    for a, b in zip(through_mkl.get_weights(), through_numpy.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@needs_mkl
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "replay"])
def test_steps_through_mkl_allocate_nothing_after_the_first(jit):
    with gpunn.use_backend(NumpyOps()):
        x, y = _data()
        model = _model(dropout=True)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      jit_compile=jit)
        x, y = model._prepare(x, y)
        step = model.make_train_function().prepare(True)
        slot = step.slot(64, 64, y.shape[1:], y.dtype, None)
        model.ops.upload(x[:64], slot.x)
        model.ops.upload(y[:64], slot.y)
        step(slot)
        with count_step_allocations() as events:
            for _ in range(3):
                step(slot)
    assert events == [], describe(events)


@needs_mkl
def test_the_optimizer_update_uses_the_pool_it_shares_with_mkl():
    with gpunn.use_backend(NumpyOps()):
        model, _ = _train(True, epochs=1)
    ops, gemm = model.ops, model.ops._mkl
    compiled = ops._compiled_updates()
    if compiled is None:
        pytest.skip("the compiled CPU updates are off (GPUNN_CPU_JIT=0)")
    if gemm.shares_numba_pool():
        assert compiled.pool_threads() == gemm.threads()
    else:  # MKL on another OpenMP runtime, or Numba on another layer: one thread, as with OpenBLAS
        assert compiled.pool_threads() == 1


@needs_mkl
@pytest.mark.parametrize("limit", ["gpunn.benchmarking.environment.blas_thread_limit",
                                   "gpunn.distributed.launch._share_cores"])
def test_thread_limits_cover_mkl_loaded_after_them(limit):
    """threadpoolctl limits only the libraries loaded when it runs: gpunn's own limits (``gpunn bench
    --threads``, each rank's share of the cores) load MKL first. Run in a fresh process, where nothing loaded
    MKL yet."""
    import subprocess
    import sys

    script = f"""
import os
for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ.pop(name, None)
os.environ["GPUNN_CPU_BLAS"] = "mkl"
from gpunn.benchmarking.environment import blas_thread_limit
from gpunn.distributed.launch import _share_cores
if "{limit}".endswith("blas_thread_limit"):
    with blas_thread_limit(1):
        from gpunn.ops import mkl_gemm
        print(mkl_gemm.make().threads())
else:
    _share_cores(ranks_on_node=os.cpu_count() or 1)  # one core each
    from gpunn.ops import mkl_gemm
    print(mkl_gemm.make().threads())
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["1"], run.stdout + run.stderr


@needs_mkl
@pytest.mark.parametrize("layer, shares", [("INTEL", False), ("GNU", True), ("", True)])
def test_a_threading_layer_the_user_chose_stays(layer, shares):
    """MKL_THREADING_LAYER set: gpunn leaves MKL's layer alone, and shares Numba's pool only if it is GNU;
    unset (empty): gpunn chooses GNU."""
    import subprocess
    import sys

    script = """
import numpy as np
import gpunn
from gpunn.ops import mkl_gemm
gpunn.set_backend("numpy")
model = gpunn.Sequential([gpunn.Input(shape=(600,)), gpunn.layers.Dense(600, activation="relu"),
                          gpunn.layers.Dense(2, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
x = np.random.default_rng(0).standard_normal((256, 600)).astype("float32")
model.fit(x, (x[:, 0] > 0).astype("int64"), batch_size=128, epochs=1, verbose=0)
gemm = mkl_gemm.make()
print(gemm.gnu_threads, gemm.shares_numba_pool())
"""
    env = {**__import__("os").environ, "MKL_THREADING_LAYER": layer, "GPUNN_CPU_BLAS": "mkl"}
    env.pop("NUMBA_THREADING_LAYER", None)
    env.pop("GPUNN_CPU_JIT", None)  # the pool shared is the compiled steps' (Numba's)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [str(shares), str(shares)], run.stdout + run.stderr


def test_the_unfused_benchmark_contender_multiplies_as_numpy_ops_does():
    """``gpunn bench``'s numpy-unfused differs from numpy in what it fuses, not in its matmul library."""
    from gpunn.benchmarking.unfused import unfused_numpy_ops

    unfused, fused = unfused_numpy_ops(), NumpyOps()
    assert unfused.name == "numpy-unfused" and unfused._mkl is fused._mkl
    rng = np.random.default_rng(3)
    a, b = _operand(rng, 128, 784, np.float32, True), _operand(rng, 784, 128, np.float32, False)
    out_a, out_b = np.empty((128, 128), np.float32), np.empty((128, 128), np.float32)
    unfused.matmul(a, b, out=out_a)
    fused.matmul(a, b, out=out_b)
    np.testing.assert_array_equal(out_a, out_b)


@needs_mkl
def test_the_cpu_matmul_peak_is_measured_through_the_backend_s_library(monkeypatch):
    from gpunn.benchmarking import peak

    calls = []
    real = mkl_gemm.PreparedGemm.__call__
    monkeypatch.setattr(mkl_gemm.PreparedGemm, "__call__", lambda self: (calls.append(1), real(self)))
    measured = peak.matmul_peak("numpy", "cpu", n=256, repeats=2)
    assert measured["flops_per_s"] > 0 and len(calls) == 4  # 2 warm-up calls and 2 timed, all through MKL
