"""The device's float32 matmul peak, measured: a large square sgemm, median of a few.

It is measured at the start and again at the end of a run, and the better of the two counts: on a shared
machine a burst of someone else's work during one measurement would otherwise pass for the device's peak.

Achieved FLOP/s of a training step are reported against this figure. Each library that runs on the device
is asked (on the CPU the NumPy backend's matmul, MKL where it uses it, and PyTorch; on a GPU cuBLAS through
CuPy and PyTorch) and the device's peak is the best of them. TF32 follows ``gpunn.ops.tf32`` (GPUNN_TF32=1 or ``gpunn bench --tf32``; off by
default): by default these are true float32 peaks.

Beside it, on a GPU, the device's copy bandwidth: a large device-to-device copy (cudaMemcpy through CuPy, or
``Tensor.copy_`` in PyTorch), counted as bytes read plus bytes written per second, as NVIDIA's bandwidth test
counts it. Element-wise steps (bias, activation, the optimizer update) are bound by it, as matmuls are by the
FLOP/s peak.
"""
from __future__ import annotations

import statistics

import numpy as np

from .. import _compat
from .timing import NUMPY_POOL, TORCH_POOL, CupyEventClock, HostClock, Settler, TorchEventClock

CPU_N, CPU_N_QUICK = 2048, 1024
GPU_N, GPU_N_QUICK = 8192, 4096
COPY_BYTES, COPY_BYTES_QUICK = 1 << 30, 1 << 28  # per copy: far beyond any cache


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
    if library == "numpy":  # the NumPy backend's matmul: MKL where it uses it (gpunn/ops/mkl_gemm.py)
        from ..ops import mkl_gemm

        out = np.empty_like(a_host)
        gemm = mkl_gemm.make()
        prepared = gemm.prepare(a_host, b_host, out) if gemm is not None else None
        seconds = _time(prepared or (lambda: np.matmul(a_host, b_host, out=out)), HostClock(), repeats)
    elif library == "cupy":
        from ..ops import tf32

        cp = _compat.cupy()
        tf32.apply_to_cupy()  # the peak in the precision the contenders run
        a, b = cp.asarray(a_host), cp.asarray(b_host)
        out = cp.empty_like(a)
        seconds = _time(lambda: cp.matmul(a, b, out=out), CupyEventClock(cp), repeats)
        del a, b, out
    elif library == "torch":
        torch = _compat.torch()
        if device.startswith("cuda"):
            from ..ops import tf32

            tf32.apply_to_torch(torch)
        a, b = torch.from_numpy(a_host).to(device), torch.from_numpy(b_host).to(device)
        out = torch.empty_like(a)
        clock = TorchEventClock(torch) if device.startswith("cuda") else HostClock()
        seconds = _time(lambda: torch.matmul(a, b, out=out), clock, repeats)
        del a, b, out
    else:
        raise ValueError(f"library: expected numpy, cupy or torch, got {library!r}")
    return {"library": library, "device": device, "n": n, "median_s": seconds,
            "flops_per_s": 2.0 * n ** 3 / seconds}


def copy_bandwidth(library: str, device: str, nbytes: int, repeats: int = 5) -> dict:
    """One device-to-device copy of ``nbytes``: {'library', 'device', 'bytes', 'median_s', 'bytes_per_s'}, the
    rate counting each byte read and written (2 x nbytes per copy)."""
    count = max(1, int(nbytes) // 4)
    if library == "cupy":
        cp = _compat.cupy()
        src, dst = cp.ones(count, dtype=cp.float32), cp.empty(count, dtype=cp.float32)
        seconds = _time(lambda: dst.data.copy_from_device_async(src.data, src.nbytes), CupyEventClock(cp), repeats)
        del src, dst
    elif library == "torch":
        torch = _compat.torch()
        src = torch.ones(count, dtype=torch.float32, device=device)
        dst = torch.empty_like(src)
        clock = TorchEventClock(torch) if device.startswith("cuda") else HostClock()
        seconds = _time(lambda: dst.copy_(src), clock, repeats)
        del src, dst
    elif library == "numpy":  # host memory; the benchmark measures GPUs only, this keeps the path testable
        src, dst = np.ones(count, dtype=np.float32), np.empty(count, dtype=np.float32)
        seconds = _time(lambda: np.copyto(dst, src), HostClock(), repeats)
    else:
        raise ValueError(f"library: expected cupy, torch or numpy, got {library!r}")
    moved = 4 * count
    return {"library": library, "device": device, "bytes": moved, "median_s": seconds,
            "bytes_per_s": 2.0 * moved / seconds}


def measure_peaks(devices: dict, quick: bool = False, n: int | None = None, settler: Settler | None = None) -> dict:
    """``devices``: {device: [library, ...]} -> {device: {'peak_flops_per_s', 'measurements'}}, and on GPUs
    'copy_bytes_per_s' and 'copy_measurements' (see ``copy_bandwidth``)."""
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
        if device != "cpu":
            copies = [copy_bandwidth("cupy" if "cupy" in libraries else "torch", device,
                                     COPY_BYTES_QUICK if quick else COPY_BYTES)]
            peaks[device].update(copy_bytes_per_s=max(c["bytes_per_s"] for c in copies), copy_measurements=copies)
    return peaks


def merge_peaks(first: dict, second: dict) -> dict:
    """Two rounds of ``measure_peaks`` -> one, each device's peak (and copy rate) the better of the two, every
    measurement kept."""
    merged = {}
    for device in list(dict.fromkeys([*first, *second])):
        rounds = [r[device] for r in (first, second) if device in r]
        merged[device] = {**rounds[0], "peak_flops_per_s": max(r["peak_flops_per_s"] for r in rounds),
                          "measurements": [m for r in rounds for m in r["measurements"]]}
        copies = [m for r in rounds for m in r.get("copy_measurements", [])]
        if copies:
            merged[device].update(copy_bytes_per_s=max(c["bytes_per_s"] for c in copies), copy_measurements=copies)
    return merged
