"""Primitives: each fused step against its unfused form, matmul, the optimizer update, allreduce.

    python -m pytest bench/test_bench_primitives.py --benchmark-only

Fused vs unfused: on the CPU the NumPy twin (gpunn's NumPy backend) against a naive NumPy expression chain;
on a GPU the Numba CUDA kernel against the same chain in CuPy (gpunn.benchmarking.unfused). Each pair shares
a benchmark group, so pytest-benchmark prints them side by side. Shapes: a launch-bound one (where per-call
overhead decides) and a bandwidth-bound one.
"""
import numpy as np
import pytest

from gpunn import _compat
from gpunn.benchmarking.timing import NUMPY_POOL, TORCH_POOL

GPU = pytest.mark.skipif(not _compat.has_cupy_gpu(), reason=f"needs a CUDA GPU: {_compat.cupy_unavailable_reason()}")
DEVICES = ["numpy", pytest.param("cupy", marks=GPU)]

ACTIVATION_SHAPES = [(64, 128), (2048, 2048)]
LOGIT_SHAPES = [(64, 10), (4096, 1000)]
FLAT_SIZES = [100_000, 4_000_000]
VARIANTS = ["fused", "unfused"]


def _arrays(ops, rng, *shapes):
    return [ops.asarray(rng.standard_normal(s).astype(np.float32)) for s in shapes]


def _ops(ops_pairs, device, variant):
    fused, unfused = ops_pairs(device)
    return fused if variant == "fused" else unfused


def _pool(device):
    return NUMPY_POOL if device == "numpy" else None


@pytest.mark.parametrize("shape", ACTIVATION_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("device", DEVICES)
def test_bias_relu_forward(run_benchmark, ops_pairs, settler, rng, device, variant, shape):
    ops = _ops(ops_pairs, device, variant)
    settler.before(_pool(device))
    z, bias = _arrays(ops, rng, shape, shape[1:])
    bias *= 1e-6  # z accumulates the bias call after call; keep the drift negligible
    run_benchmark(lambda: ops.bias_act_forward(z, bias, "relu", z), ops.synchronize,
                  f"bias+relu forward {device} {shape}")


@pytest.mark.parametrize("shape", ACTIVATION_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("device", DEVICES)
def test_relu_backward_bias_grad(run_benchmark, ops_pairs, settler, rng, device, variant, shape):
    ops = _ops(ops_pairs, device, variant)
    settler.before(_pool(device))
    dy, y = _arrays(ops, rng, shape, shape)
    dz, dbias = ops.empty(shape), ops.empty(shape[1:])
    run_benchmark(lambda: ops.act_backward_bias_grad(dy, y, None, "relu", dz, dbias), ops.synchronize,
                  f"relu backward + bias grad {device} {shape}")


@pytest.mark.parametrize("shape", LOGIT_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("device", DEVICES)
def test_softmax_xent(run_benchmark, ops_pairs, settler, rng, device, variant, shape):
    ops = _ops(ops_pairs, device, variant)
    settler.before(_pool(device))
    (logits,) = _arrays(ops, rng, shape)
    labels = ops.asarray(rng.integers(0, shape[1], shape[0]))
    probs, dlogits, loss = ops.empty(shape), ops.empty(shape), ops.empty(shape[:1])
    run_benchmark(lambda: ops.softmax_xent(logits, labels, probs, dlogits, loss, 1.0 / shape[0]), ops.synchronize,
                  f"softmax + cross-entropy + grad {device} {shape}")


@pytest.mark.parametrize("size", FLAT_SIZES)
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("device", DEVICES)
def test_adam_update(run_benchmark, ops_pairs, settler, rng, device, variant, size):
    ops = _ops(ops_pairs, device, variant)
    settler.before(_pool(device))
    p, g = _arrays(ops, rng, (size,), (size,))
    m, v = ops.zeros(size), ops.zeros(size)
    state = ops.asarray(np.array([0.0, 1e-3, 0.0]))  # the optimizer's device state: step, learning rate, decay

    def step():
        ops.advance_optimizer_state(state)
        ops.adam_update(p, g, m, v, None, state, 0.9, 0.999, 1e-7)

    run_benchmark(step, ops.synchronize, f"adam update {device} {size:,} params")


@pytest.mark.parametrize("size", FLAT_SIZES)
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("device", DEVICES)
def test_schedule_free_adamw_update(run_benchmark, ops_pairs, settler, rng, device, variant, size):
    """ScheduleFreeAdamW's step (three state buffers read, three written): one pass against the expression chain."""
    ops = _ops(ops_pairs, device, variant)
    settler.before(_pool(device))
    p, g = _arrays(ops, rng, (size,), (size,))
    z, v = ops.copy(p), ops.zeros(size)
    state = ops.asarray(np.array([0.0, 1e-3, 0.0]))

    def step():
        ops.advance_optimizer_state(state)
        ops.schedule_free_adamw_update(p, g, z, v, state, 0.9, 0.999, 1e-8, 0)

    run_benchmark(step, ops.synchronize, f"schedule-free adamw update {device} {size:,} params")


@pytest.mark.parametrize("size", FLAT_SIZES)
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("device", DEVICES)
def test_ema_update(run_benchmark, ops_pairs, settler, rng, device, variant, size):
    """The weights' moving average (use_ema): one pass against the expression chain, with no overwrite."""
    ops = _ops(ops_pairs, device, variant)
    settler.before(_pool(device))
    p, average = _arrays(ops, rng, (size,), (size,))
    state = ops.asarray(np.array([5.0, 1e-3, 0.0]))
    run_benchmark(lambda: ops.ema_update(p, average, state, 0.99, 0, 0), ops.synchronize,
                  f"moving average of the weights {device} {size:,} params")


MATMUL_SHAPES = [(256, 256, 256), (512, 784, 1024), (2048, 2048, 2048)]  # (m, k, n): (m, k) @ (k, n)


@pytest.mark.parametrize("mkn", MATMUL_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("library", ["numpy", "torch-cpu",
                                     pytest.param("cupy", marks=GPU), "torch-cuda"])
def test_matmul(run_benchmark, ops_pairs, settler, rng, library, mkn):
    m, k, n = mkn
    a_host = rng.standard_normal((m, k)).astype(np.float32)
    b_host = rng.standard_normal((k, n)).astype(np.float32)
    if library.startswith("torch"):
        torch = pytest.importorskip("torch")
        device = "cuda" if library == "torch-cuda" else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            pytest.skip("PyTorch sees no CUDA GPU")
        settler.before(TORCH_POOL if device == "cpu" else None)
        a, b = torch.from_numpy(a_host).to(device), torch.from_numpy(b_host).to(device)
        out = torch.empty((m, n), device=device)
        sync = torch.cuda.synchronize if device == "cuda" else None
        fn = lambda: torch.matmul(a, b, out=out)  # noqa: E731
    else:
        ops = ops_pairs(library)[0]
        settler.before(_pool(library))
        a, b, out = ops.asarray(a_host), ops.asarray(b_host), ops.empty((m, n))
        sync = ops.synchronize
        fn = lambda: ops.matmul(a, b, out=out)  # noqa: E731
    run_benchmark(fn, sync, f"matmul {m}x{k} @ {k}x{n}")


@pytest.mark.parametrize("size", FLAT_SIZES)
@pytest.mark.parametrize("how", ["local", "mpi4py-1-rank", "gpunn-mpi-1-rank"])
def test_allreduce(run_benchmark, settler, rng, how, size):
    """Summing the gradient buffer over ranks: gpunn's single-process communicator (the identity), a plain
    in-place MPI Allreduce in a single-rank world (the fixed cost of going through MPI) and gpunn's MPI
    communicator on that world (MPI plus gpunn's own machinery around it)."""
    grads = rng.standard_normal(size).astype(np.float32)
    settler.before(None)
    if how == "local":
        from gpunn.distributed import LocalCommunicator

        comm = LocalCommunicator()
        fn = lambda: comm.allreduce_sum_(grads)  # noqa: E731
    else:
        if not _compat.has_mpi():
            pytest.skip("mpi4py is not installed")
        MPI = _compat.mpi4py_MPI()
        if MPI is None:
            pytest.skip("mpi4py could not load an MPI library")
        if how == "mpi4py-1-rank":
            world = MPI.COMM_WORLD
            fn = lambda: world.Allreduce(MPI.IN_PLACE, grads, op=MPI.SUM)  # noqa: E731
        else:
            from gpunn import distributed

            communicator_class = getattr(distributed, "MpiCommunicator", None)
            if communicator_class is None:
                pytest.skip("this gpunn has no gpunn.distributed.MpiCommunicator")
            comm = communicator_class()
            fn = lambda: comm.allreduce_sum_(grads)  # noqa: E731
    run_benchmark(fn, None, f"allreduce {size:,} floats")
