"""bench/step_overhead.py's reading of a recorded step: each call's primitive name and work measure, whatever
form the backend gave the call (a bound Ops method, NumPy's matmul, an MKL product prepared for replays)."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import bench_module

import gpunn
from gpunn.ops import mkl_gemm
from gpunn.ops.numpy_ops import NumpyOps


@pytest.fixture(scope="module")
def step_overhead():
    yield from bench_module("step_overhead")


@pytest.mark.parametrize("blas", ["numpy", "auto"])
def test_every_matmul_of_a_recorded_step_is_named_and_measured(monkeypatch, step_overhead, blas):
    """784-128-10 at batch 128: two products go to MKL where it is installed, the small ones to NumPy."""
    monkeypatch.setenv("GPUNN_CPU_BLAS", blas)
    # The benchmark's model asks for the "numpy" backend by name: a new one, made under this GPUNN_CPU_BLAS.
    monkeypatch.delitem(gpunn.ops._instances, "numpy", raising=False)
    with gpunn.use_backend(NumpyOps()):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((128, 784)).astype(np.float32)
        y = rng.integers(0, 10, 128)
        contender = step_overhead.GpunnStagedStep((784, 128, 10), 128, x, y, jit=False)
        tape = step_overhead.record_eager_step(contender)
    calls = [bound for bound, _ in tape.calls]
    names = [step_overhead.primitive_name(bound) for bound in calls]
    flops = sorted(step_overhead.matmul_flops(bound) for bound, name in zip(calls, names) if name == "matmul")
    # forward 784->128 and 128->10; backward: both weight gradients, and the input gradient of the last layer
    assert flops == sorted([2.0 * 128 * 784 * 128, 2.0 * 128 * 128 * 10, 2.0 * 128 * 128 * 10,
                            2.0 * 784 * 128 * 128, 2.0 * 128 * 10 * 128])
    prepared = [bound for bound in calls if isinstance(bound, mkl_gemm.PreparedGemm)]
    mkl_used = blas == "auto" and mkl_gemm.make() is not None
    assert (contender.model.ops._mkl is not None) == mkl_used
    assert len(prepared) == (2 if mkl_used else 0)
    for bound in calls:
        largest = step_overhead.largest_array(bound)
        assert largest is None or isinstance(largest, np.ndarray)
