"""The device's float32 matmul peak, measured: a large square sgemm, median of a few.

It is measured at the start and again at the end of a run, and the better of the two counts: on a shared
machine a burst of someone else's work during one measurement would otherwise pass for the device's peak.

Achieved FLOP/s of a training step are reported against this figure. Each library that runs on the device
is asked (NumPy's BLAS and PyTorch on the CPU, cuBLAS through CuPy and PyTorch on a GPU) and the device's
peak is the best of them. TF32 follows GPUNN_TF32 (off by default, as in gpunn): by default these are true float32 peaks.
"""
from __future__ import annotations

import statistics

import numpy as np

from .. import _compat
from .timing import NUMPY_POOL, TORCH_POOL, CupyEventClock, HostClock, Settler, TorchEventClock

CPU_N, CPU_N_QUICK = 2048, 1024
GPU_N, GPU_N_QUICK = 8192, 4096


def _time(matmul, clock, repeats: int) -> float:
    for _ in range(2):  # warm-up: BLAS threads spin up, cuBLAS picks its kernel
        matmul()
    times = []
    for _ in range(repeats):
        clock.start()
        matmul()
        times.append(clock.stop())
    return statistics.median(times)


def matmul_peak(library: str, device: str, n: int, repeats: int = 5) -> dict:
    """One measurement: {'library', 'device', 'n', 'median_s', 'flops_per_s'}."""
    rng = np.random.default_rng(0)
    a_host = rng.standard_normal((n, n), dtype=np.float32)
    b_host = rng.standard_normal((n, n), dtype=np.float32)
    if library == "numpy":
        out = np.empty_like(a_host)
        seconds = _time(lambda: np.matmul(a_host, b_host, out=out), HostClock(), repeats)
    elif library == "cupy":
        from ..ops.cupy_ops import set_cupy_tf32, tf32_from_environment

        cp = _compat.cupy()
        set_cupy_tf32(tf32_from_environment())  # the peak in the precision the contenders run
        a, b = cp.asarray(a_host), cp.asarray(b_host)
        out = cp.empty_like(a)
        seconds = _time(lambda: cp.matmul(a, b, out=out), CupyEventClock(cp), repeats)
        del a, b, out
    elif library == "torch":
        torch = _compat.torch()
        if device.startswith("cuda"):
            from ..ops.cupy_ops import tf32_from_environment

            torch.backends.cuda.matmul.allow_tf32 = tf32_from_environment()
        a, b = torch.from_numpy(a_host).to(device), torch.from_numpy(b_host).to(device)
        out = torch.empty_like(a)
        clock = TorchEventClock(torch) if device.startswith("cuda") else HostClock()
        seconds = _time(lambda: torch.matmul(a, b, out=out), clock, repeats)
        del a, b, out
    else:
        raise ValueError(f"library: expected numpy, cupy or torch, got {library!r}")
    return {"library": library, "device": device, "n": n, "median_s": seconds,
            "flops_per_s": 2.0 * n ** 3 / seconds}


def measure_peaks(devices: dict, quick: bool = False, n: int | None = None, settler: Settler | None = None) -> dict:
    """``devices``: {device: [library, ...]} -> {device: {'peak_flops_per_s', 'measurements'}}."""
    settler = settler or Settler()
    peaks = {}
    for device, libraries in devices.items():
        size = n or ((CPU_N_QUICK if quick else CPU_N) if device == "cpu" else (GPU_N_QUICK if quick else GPU_N))
        found = []
        for lib in libraries:
            if device == "cpu":
                settler.before(TORCH_POOL if lib == "torch" else NUMPY_POOL)
            found.append(matmul_peak(lib, device, size))
        peaks[device] = {"peak_flops_per_s": max(m["flops_per_s"] for m in found), "measurements": found}
    return peaks


def merge_peaks(first: dict, second: dict) -> dict:
    """Two rounds of ``measure_peaks`` -> one, each device's peak the better of the two, every measurement kept."""
    merged = {}
    for device in list(dict.fromkeys([*first, *second])):
        rounds = [r[device] for r in (first, second) if device in r]
        merged[device] = {**rounds[0], "peak_flops_per_s": max(r["peak_flops_per_s"] for r in rounds),
                          "measurements": [m for r in rounds for m in r["measurements"]]}
    return merged
