"""Fixtures of the pytest-benchmark suites (``python -m pytest bench --benchmark-only``).

bench/ is outside pyproject's ``testpaths``, so a plain ``python -m pytest`` never collects these. GPU cases
run where CuPy sees a GPU and are skipped with the reason elsewhere; PyTorch cases run where it is installed.

Every benchmarked callable ends by synchronising its device (a no-op on the CPU), so pytest-benchmark's host
clock measures finished work, and is called a few times before timing starts (kernel compilation, memory
pools, BLAS thread start-up are not timed).
"""
import pytest

from gpunn import _compat
from gpunn.benchmarking.timing import Settler

WARMUP_CALLS = 3


def pytest_report_header(config):
    from gpunn.benchmarking.environment import blas_threads, cpu_model

    gpu = "CuPy GPU found" if _compat.has_cupy_gpu() else f"no GPU ({_compat.cupy_unavailable_reason()})"
    return f"gpunn bench suites: {cpu_model()}, BLAS threads {blas_threads()}, {gpu}"


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def settler():
    """Idle time between libraries with different CPU thread pools (see gpunn.benchmarking.timing)."""
    return Settler()


@pytest.fixture(scope="session")
def ops_pairs():
    """{device: (fused Ops, unfused Ops)}, created on first use."""
    cache = {}

    def get(device):
        if device not in cache:
            from gpunn.benchmarking.unfused import unfused_cupy_ops, unfused_numpy_ops

            if device == "numpy":
                from gpunn.ops import NumpyOps

                cache[device] = (NumpyOps(), unfused_numpy_ops())
            else:
                from gpunn.ops.cupy_ops import CupyOps

                cache[device] = (CupyOps(), unfused_cupy_ops())
        return cache[device]

    return get


@pytest.fixture
def run_benchmark(benchmark):
    """``run_benchmark(fn, synchronize, group)``: warm up, then time ``fn(); synchronize()`` per call."""

    def go(fn, synchronize=None, group=None):
        sync = synchronize or (lambda: None)

        def call():
            fn()
            sync()

        for _ in range(WARMUP_CALLS):
            call()
        if group:
            benchmark.group = group
        return benchmark(call)

    return go
