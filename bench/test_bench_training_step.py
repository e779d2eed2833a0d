"""Whole training steps: every contender of ``gpunn bench`` on a few model sizes and batch sizes.

    python -m pytest bench/test_bench_training_step.py --benchmark-only

One benchmark is one full step (forward, softmax cross-entropy, backward, Adam) on a batch already on the
device, exactly what ``gpunn bench`` times; contenders of one case share a group. Each contender is first
checked against the NumPy backend (same initial weights, one step on the same batch) and the benchmark fails
instead of timing a wrong result.
"""
import pytest

from gpunn.benchmarking import contenders
from gpunn.benchmarking.environment import blas_threads
from gpunn.benchmarking.gpunn_step import EPSILON, LEARNING_RATE
from gpunn.benchmarking.cases import PRESETS
from gpunn.benchmarking.runner import BETA_2, initial_weights, make_batch, reference_snapshot
from gpunn.benchmarking.validation import compare
from gpunn.distributed import LocalCommunicator

SIZES = ["tiny", "small", "medium"]
BATCHES = [32, 512]


@pytest.fixture(scope="module")
def created():
    """One contender object per name, reused across cases (as gpunn bench does)."""
    return {}


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", contenders.NAMES)
def test_training_step(run_benchmark, settler, created, name, size, batch):
    spec = contenders.SPECS[name]
    reason = spec.unavailable_reason(ranks=1)
    if reason:
        pytest.skip(reason)
    if name not in created:
        created[name] = spec.create(LocalCommunicator(), blas_threads())
    contender = created[name]
    layers = PRESETS[size]
    x, y = make_batch(layers, batch, 0)
    weights = initial_weights(layers, 0)
    settler.before(contender.thread_pool)
    contender.setup(layers, x, y, weights)
    contender.validation_step()
    verdict = compare(reference_snapshot(layers, x, y, weights), contender.snapshot(), LEARNING_RATE, EPSILON,
                      BETA_2)
    assert verdict.ok, f"{name} does not match the NumPy reference: {verdict.message}"
    settler.before(contender.thread_pool)  # the reference step used NumPy's BLAS threads
    try:
        run_benchmark(contender.step, contender.synchronize, f"training step {size} batch {batch}")
    finally:
        contender.close()

