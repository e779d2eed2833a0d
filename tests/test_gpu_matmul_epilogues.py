"""Dense's forward GEMM with cuBLASLt's bias + ReLU epilogue (``CupyOps(matmul_epilogues=True)``,
``GPUNN_MATMUL_EPILOGUES=1``) on the GPU: the GEMM against NumPy for every operand layout, and training with it
equal to training without, eager and captured as a CUDA graph. Needs a GPU (tests/test_cublaslt_matmul.py and
tests/test_matmul_bias_act.py check the same on the CPU against a stand-in cuBLASLt)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import gpunn
from gpunn import _compat, layers
from gpunn.trainer.train_step import GraphFallbackWarning

pytestmark = pytest.mark.gpu


def _ops(epilogues: bool):
    from gpunn.ops.cupy_ops import CupyOps

    return CupyOps(matmul_epilogues=epilogues)


@pytest.mark.parametrize("activation", ["relu", "linear"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_fused_gemm_matches_numpy_for_every_layout(dtype, activation):
    cp = _compat.cupy()
    ops = _ops(True)
    assert ops.fuses_bias_act_into_matmul(activation, dtype), "cuBLASLt could not be opened with ctypes"
    rng = np.random.default_rng(4)
    a = rng.standard_normal((33, 17)).astype(dtype)
    b = rng.standard_normal((17, 9)).astype(dtype)
    bias = rng.standard_normal(9).astype(dtype)
    expected = a.astype(np.float64) @ b.astype(np.float64) + bias
    expected = np.maximum(expected, 0) if activation == "relu" else expected
    for left in (cp.asarray(a), cp.asarray(np.ascontiguousarray(a.T)).T):
        for right in (cp.asarray(b), cp.asarray(np.ascontiguousarray(b.T)).T):
            out = cp.full((33, 9), cp.nan, dtype)
            ops.matmul_bias_act(left, right, cp.asarray(bias), activation, out)
            np.testing.assert_allclose(cp.asnumpy(out), expected, rtol=1e-5 if dtype == "float32" else 1e-12,
                                       atol=1e-5 if dtype == "float32" else 1e-12)
    engine = ops._epilogue_engine()
    assert any(plan is not False for plan in engine._plans.values()), "cuBLASLt found no algorithm: nothing fused"


def test_every_algorithm_the_heuristic_offers_computes_the_product():
    """The candidates ``bench/step_parts.py`` times (and a choice by timing would pick from) are all correct."""
    cp = _compat.cupy()
    engine = _ops(True)._epilogue_engine()
    assert engine is not None, "cuBLASLt could not be opened with ctypes"
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((257, 96)).astype("float32"), rng.standard_normal((96, 130)).astype("float32")
    bias = rng.standard_normal(130).astype("float32")
    da, db, dbias = cp.asarray(a), cp.asarray(b), cp.asarray(bias)
    out = cp.empty((257, 130), "float32")
    plans = engine.candidate_plans(da, db, out, dbias, "linear", False, 8)
    assert plans, "cuBLASLt offered no algorithm"
    for plan in plans:
        out.fill(cp.nan)
        plan.run(da.data.ptr, db.data.ptr, out.data.ptr, dbias.data.ptr, None, cp.cuda.get_current_stream().ptr,
                 da.dtype)
        np.testing.assert_allclose(cp.asnumpy(out), a.astype(np.float64) @ b + bias, rtol=1e-4, atol=1e-4)


def _train(epilogues: bool, jit: bool):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((50 * 16 + 7, 12)).astype("float32"), rng.integers(0, 4, 50 * 16 + 7)
    with gpunn.use_backend(_ops(epilogues)):
        gpunn.utils.set_random_seed(1)
        model = gpunn.Sequential([gpunn.Input(shape=(12,)), layers.Dense(64, activation="relu", name="relu_1"),
                                  layers.Dense(32, activation="relu", name="relu_2"),
                                  layers.Dense(4, activation="softmax", name="probabilities")])
        model.compile(optimizer=gpunn.optimizers.SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy",
                      jit_compile=jit)
        with warnings.catch_warnings():
            warnings.simplefilter("error", GraphFallbackWarning)
            history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    return model, history.history["loss"]


def _recorded_names(model) -> list:
    from gpunn.ops.recording import describe_call

    recordings = [r for state in model.train_function._states.values() for r in state.recordings.values()]
    return [describe_call(bound)[0] for recording in recordings for bound, _ in recording.tape.calls]


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "graph"])
def test_training_with_the_epilogue_equals_training_without(jit):
    """Eager: the forward GEMMs with bias + ReLU. Graph: also both ReLU layers' backward in the GEMM before it
    (relu_fusion.py: RELU_AUX_BIAS writes the mask, DRELU_BGRAD reads it and sums the bias gradient)."""
    plain_model, plain_loss = _train(False, jit)
    fused_model, fused_loss = _train(True, jit)
    if jit:
        names = _recorded_names(fused_model)
        assert names.count("matmul_bias_relu_mask") == 2 and names.count("matmul_relu_backward") == 2, names
    plain_weights, fused_weights = plain_model.get_weights(), fused_model.get_weights()
    # another GEMM kernel sums in another order: equal to float32 rounding, amplified a little over 50 steps
    np.testing.assert_allclose(fused_loss, plain_loss, rtol=1e-4)
    for fused, plain in zip(fused_weights, plain_weights):
        np.testing.assert_allclose(fused, plain, rtol=1e-3, atol=1e-4)


def test_the_visits_epilogue_check_passes():
    """bench/epilogue_check.py gates the epilogue contenders in a GPU visit: on a GPU it must pass."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "bench" / "epilogue_check.py"
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
