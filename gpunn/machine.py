"""Facts about this machine: versions, CPU, BLAS, GPUs, NCCL and MPI. ``gpunn info`` prints them and the
benchmarks record them with their figures.

Collecting them never initialises MPI: importing ``mpi4py.MPI`` calls MPI_Init, which a plain run (no launcher)
must not do, and which under a launcher belongs to ``gpunn.distributed.init``. The MPI library is named only
when that has already loaded it.
"""
from __future__ import annotations

import os
import platform
import sys

from . import _compat


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


VERSIONED = ("numpy", "numba", "numba-cuda", "cupy-cuda12x", "cupy-cuda13x", "mpi4py", "mpich", "mkl", "torch",
             "safetensors")


def machine_facts() -> dict:
    """Versions, CPU, BLAS, GPUs, NCCL and MPI, as ``gpunn info`` reports them, without initialising MPI."""
    import gpunn

    facts: dict = {"gpunn": gpunn.__version__, "python": sys.version.split()[0], "platform": platform.platform(),
                   "machine": platform.machine(), "processor": platform.processor() or "unknown"}
    for dist in VERSIONED:
        facts[dist] = _compat.version_of(dist) or "not installed"
    facts["cpu_matmuls"] = cpu_matmul_fact()
    facts["blas"] = blas_facts()
    facts.update(gpu_facts())
    facts["nccl"] = nccl_fact()
    facts["mpi"] = mpi_fact()
    facts["cpu_model"] = cpu_model()
    facts["cpu_count"] = os.cpu_count()
    facts["cpus_usable"] = usable_cpus()
    return facts


def cpu_matmul_fact() -> str:
    """Which library computes the CPU backend's matmuls (gpunn/ops/mkl_gemm.py), or why it could not be chosen."""
    from .ops import mkl_gemm

    try:
        gemm = mkl_gemm.make()
    except (ValueError, RuntimeError) as exc:
        return f"unusable: {exc}"
    if gemm is None:
        return f"NumPy's BLAS (GPUNN_CPU_BLAS={mkl_gemm.cpu_blas_choice()}; 'pip install gpunn[mkl]' adds MKL on x86-64)"
    pool = "GNU OpenMP, the pool Numba's parallel loops use" if gemm.gnu_threads else "its own OpenMP runtime"
    return f"Intel oneMKL ({pool}) for products of {mkl_gemm.SMALL_PRODUCT}+ multiply-adds, NumPy's BLAS below"


def blas_facts() -> list[str]:
    try:
        from threadpoolctl import threadpool_info

        return [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, {i.get('num_threads')} threads)"
                for i in threadpool_info() if i.get("user_api") == "blas"]
    except Exception as exc:  # threadpoolctl can fail on exotic BLAS builds; the facts must still come
        return [f"unknown ({exc})"]


def gpu_facts() -> dict:
    """{'backends', 'gpus'} and, with a GPU, the CUDA driver and runtime versions."""
    cp = _compat.cupy()
    if cp is None:
        return {"backends": ["numpy"], "gpus": [f"none ({_compat.cupy_unavailable_reason()})"]}
    gpus = []
    for i in range(cp.cuda.runtime.getDeviceCount()):
        p = cp.cuda.runtime.getDeviceProperties(i)
        gpus.append(f"{i}: {p['name'].decode()}, {p['totalGlobalMem'] / 2**30:.1f} GiB, "
                    f"compute capability {p['major']}.{p['minor']}")
    return {"backends": ["numpy", "cupy"], "gpus": gpus, "cuda_driver": cp.cuda.runtime.driverGetVersion(),
            "cuda_runtime": cp.cuda.runtime.runtimeGetVersion()}


def nccl_fact() -> str:
    try:
        nccl = _compat.nccl()
        return f"{nccl.get_version()}" if nccl is not None else "not available"
    except Exception as exc:  # a broken NCCL build must not stop the benchmark
        return f"unknown ({type(exc).__name__}: {exc})"


def mpi_fact() -> str:
    """The MPI library when it is already initialised; otherwise what is installed, and why it was not asked."""
    if not _compat.has_mpi():
        return "not installed (pip install 'gpunn[mpi]')"
    MPI = sys.modules.get("mpi4py.MPI")
    if MPI is not None and MPI.Is_initialized():
        return MPI.Get_library_version().strip().splitlines()[0]
    why = "no MPI launcher" if not _compat.launched_by_mpi() else "gpunn.distributed.init not called"
    return f"mpi4py {_compat.version_of('mpi4py') or '(version unknown)'}, MPI not initialised ({why})"


def facts_summary(facts: dict) -> list[str]:
    """A few lines for the log: what the figures that follow were measured on."""
    versions = ", ".join(f"{k} {facts[k]}" for k in ("gpunn", "python", "numpy", "cupy-cuda12x", "cupy-cuda13x",
                                                      "numba-cuda", "torch")
                         if facts.get(k) not in (None, "not installed"))
    return [f"machine: {facts.get('cpu_model')}, {facts.get('cpu_count')} CPUs ({facts.get('cpus_usable')} usable), "
            f"{facts.get('platform')}",
            f"GPUs: {'; '.join(facts.get('gpus', [])) or 'none'}",
            f"versions: {versions}",
            f"CPU matmuls: {facts.get('cpu_matmuls')}",
            f"BLAS: {'; '.join(facts.get('blas', []))}; MPI: {facts.get('mpi')}"]
