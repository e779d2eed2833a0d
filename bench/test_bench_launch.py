"""Host cost of one kernel launch: gpunn's own Python, and numba-cuda's launch configuration.

    python -m pytest bench/test_bench_launch.py --benchmark-only

Small MLPs are launch-bound on a GPU, so the host time of a launch decides their speed. These cases need no
GPU: every CUDA launcher runs its whole body (argument checks, CuPy -> Numba views, stream, grid, kernel
variant, configured launch) on real CuPy arrays that point at memory never touched, and the final call into
numba-cuda (``CUDADispatcher.call``: typing, argument marshalling, the driver launch) is replaced by a
counter. What is timed is therefore exactly the Python that gpunn adds in front of numba-cuda. The
``numba configure`` cases time numba-cuda's own ``kernel[grid, block, stream]``, from its cache and built
anew (what a launch pays when numba's 128-entry cache, shared by every kernel, is exceeded).

Needs the real numba-cuda (not the simulator: run without NUMBA_ENABLE_CUDASIM) and CuPy installed; skipped
with the reason otherwise. With a GPU, ``test_real_launch`` also times complete launches.
"""
from __future__ import annotations

import types

import numpy as np
import pytest

from gpunn import _compat


def _host_only_problem() -> str | None:
    if _compat.cuda_simulator_enabled():
        return "needs the real numba-cuda: NUMBA_ENABLE_CUDASIM is set"
    if _compat.numba_cuda() is None:
        return "numba-cuda is not installed"
    try:
        import cupy  # noqa: F401  (arrays only: no GPU needed)
    except Exception as exc:
        return f"CuPy does not import ({type(exc).__name__})"
    return None


HOST_ONLY = pytest.mark.skipif(_host_only_problem() is not None, reason=str(_host_only_problem()))
GPU = pytest.mark.skipif(not _compat.has_cupy_gpu(), reason=f"needs a CUDA GPU: {_compat.cupy_unavailable_reason()}")

STREAM_PTR = 0x5EED  # a non-default stream, as under CuPy's stream contexts: exercises the stream cache


def _host_only_array_type():
    import cupy

    class HostOnlyCupyArray(cupy.ndarray):
        """A CuPy array over a made-up pointer; only its interface is answered without a driver."""

        @property
        def __cuda_array_interface__(self):
            return {"version": 3, "shape": self.shape, "strides": self.strides, "typestr": self.dtype.str,
                    "data": (self.data.ptr, False), "stream": 1}

    return HostOnlyCupyArray


class HostOnlyDevice:
    """Allocates host-only CuPy arrays at distinct made-up addresses."""

    def __init__(self):
        from cupy.cuda import memory

        self._memory = memory
        self._array_type = _host_only_array_type()
        self._next_ptr = 1 << 32

    def empty(self, shape, dtype=np.float32):
        nbytes = max(1, int(np.prod(shape)) * np.dtype(dtype).itemsize)
        mem = self._memory.UnownedMemory(self._next_ptr, nbytes, None, device_id=0)
        self._next_ptr += (nbytes + 511) // 256 * 256
        return self._array_type(shape, dtype, memptr=self._memory.MemoryPointer(mem, 0))


@pytest.fixture
def host_only():
    """(device, launches): the launch path with no GPU; ``launches[0]`` counts calls into numba-cuda."""
    import numba.cuda
    from cuda.bindings import driver as binding
    from numba.cuda import dispatcher
    from numba.cuda.cudadrv import driver

    from gpunn.kernels import _launch

    launches = [0]

    def record_call(self, args, launch_config):
        launches[0] += 1

    class CurrentStream:
        ptr = STREAM_PTR

    device = HostOnlyDevice()  # also where the small buffers a launcher makes once are placed
    fake_cupy = types.SimpleNamespace(cuda=types.SimpleNamespace(get_current_stream=CurrentStream),
                                      empty=lambda shape, dtype: device.empty(shape, dtype))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_compat, "cupy", lambda: fake_cupy)
        mp.setattr(numba.cuda, "from_cuda_array_interface", lambda desc, owner=None, sync=True: object())
        mp.setattr(numba.cuda, "external_stream",
                   lambda ptr: driver.Stream(binding.CUstream(ptr), external=True))
        mp.setattr(dispatcher.CUDADispatcher, "call", record_call)
        _launch.clear_caches()
        yield device, launches
        _launch.clear_caches()


def _cases(dev):
    """{name: zero-argument call of one launcher}, shaped like a small MLP's step (batch 64)."""
    from gpunn.kernels import bias_act, dropout, optimizer_updates as opt, sigmoid_bce, softmax_xent, weight_average

    z, out, dy, y, dz = (dev.empty((64, 128)) for _ in range(5))
    bias, dbias = dev.empty((128,)), dev.empty((128,))
    logits, probs, dlogits, targets = (dev.empty((64, 10)) for _ in range(4))
    labels, loss = dev.empty((64,), np.int64), dev.empty((64,))
    mask = dev.empty((64, 128), np.uint8)
    p, g, m, v = (dev.empty((100_000,)) for _ in range(4))
    counter, state = dev.empty((1,), np.int64), dev.empty((3,), np.float64)  # device counter, optimizer state
    return {
        "bias+relu forward": lambda: bias_act.bias_act_forward_cuda(z, bias, "relu", z),
        "bias+gelu forward": lambda: bias_act.bias_act_forward_cuda(z, bias, "gelu", out),
        "relu backward+dbias": lambda: bias_act.act_backward_bias_grad_cuda(dy, y, None, "relu", dz, dbias),
        "softmax xent sparse": lambda: softmax_xent.softmax_xent_cuda(logits, labels, probs, dlogits, loss,
                                                                      1 / 64),
        "softmax": lambda: softmax_xent.softmax_cuda(logits, probs),
        "sigmoid bce": lambda: sigmoid_bce.sigmoid_bce_cuda(logits, targets, probs, dlogits, loss, 1 / 64),
        "dropout forward": lambda: dropout.dropout_forward_cuda(z, 0.5, 7, counter, out, mask),
        "dropout backward": lambda: dropout.dropout_backward_cuda(dy, mask, 0.5, dz),
        "adam": lambda: opt.adam_update_cuda(p, g, m, v, None, state, 0.9, 0.999, 1e-7),
        "sgd momentum": lambda: opt.sgd_update_cuda(p, g, m, state, 0.9, False),
        "moving average": lambda: weight_average.ema_update_cuda(p, m, state, 0.99, 0, 0),
    }


# Launches into numba-cuda per call, where more than one: the optimizer's step scalars, then its pass.
LAUNCHES = {"adam": 2, "sgd momentum": 2, "moving average": 2}


CASE_NAMES = ["bias+relu forward", "bias+gelu forward", "relu backward+dbias", "softmax xent sparse", "softmax",
              "sigmoid bce", "dropout forward", "dropout backward", "adam", "sgd momentum", "moving average"]


@HOST_ONLY
@pytest.mark.parametrize("case", CASE_NAMES)
def test_launcher_host_path(benchmark, host_only, case):
    """gpunn's Python per launch, from the launcher's entry to the call into numba-cuda."""
    dev, launches = host_only
    call = _cases(dev)[case]
    call()  # first launch: kernel variant, views, checks and configuration are made here
    before = launches[0]
    call()
    expected = LAUNCHES.get(case, 1)
    assert launches[0] == before + expected, f"the launcher must reach numba-cuda {expected} time(s) per call"
    benchmark.group = "gpunn launcher host path (no GPU)"
    benchmark(call)


def _configure_target():
    from numba import cuda
    from numba.cuda import dispatcher
    from numba.cuda.cudadrv import driver
    from cuda.bindings import driver as binding

    from gpunn.kernels import _launch

    _launch.bind_numba_cuda({})  # silences numba's low-occupancy warning, as the launchers do

    @cuda.jit
    def kernel(a):
        pass

    stream = driver.Stream(binding.CUstream(STREAM_PTR), external=True)
    return kernel, stream, dispatcher.CUDADispatcher.configure.__wrapped__


@HOST_ONLY
@pytest.mark.parametrize("how", ["numba cached", "numba new configuration"])
def test_numba_configure(benchmark, how):
    """numba-cuda's ``kernel[grid, block, stream]``: its lru_cache hit, and a new _LaunchConfiguration."""
    kernel, stream, build = _configure_target()
    benchmark.group = "numba-cuda configure (no GPU)"
    if how == "numba cached":
        benchmark(lambda: kernel[(4, 8), (32, 8), stream])
    else:
        benchmark(lambda: build(kernel, (4, 8), (32, 8), stream))


@HOST_ONLY
def test_gpunn_configured_launch_lookup(benchmark):
    """The configured-launch cache that launchers use instead of ``kernel[grid, block, stream]``."""
    from gpunn.kernels import _launch

    kernel, stream, _ = _configure_target()
    _launch.configured(kernel, (4, 8), (32, 8), stream)
    benchmark.group = "numba-cuda configure (no GPU)"
    benchmark(lambda: _launch.configured(kernel, (4, 8), (32, 8), stream))


@GPU
def test_real_launch(benchmark):
    """Complete launches (host time, the GPU catching up at the end of each round) of the smallest forward."""
    import cupy as cp

    from gpunn.kernels import bias_act

    z = cp.zeros((64, 128), cp.float32)
    bias = cp.zeros((128,), cp.float32)

    def launch_100():
        for _ in range(100):
            bias_act.bias_act_forward_cuda(z, bias, "relu", z)
        cp.cuda.get_current_stream().synchronize()

    launch_100()
    benchmark.group = "complete launch x100 (GPU)"
    benchmark(launch_100)
