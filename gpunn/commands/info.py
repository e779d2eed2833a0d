"""``gpunn info``: versions, and what this machine offers: backends, GPUs, NCCL, MPI, BLAS, and the CUDA toolchain
(driver, NVVM, nvJitLink: the pieces a kernel is compiled and linked with, see gpunn.toolchain)."""
from __future__ import annotations

import platform
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="print versions and the backends, GPUs, NCCL and MPI found")
    p.set_defaults(run=run)


def collect() -> dict:
    """Everything ``gpunn info`` prints, as a dict (also recorded with benchmark results)."""
    import gpunn
    from .. import _compat

    facts: dict = {
        "gpunn": gpunn.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
    }
    for dist in ("numpy", "numba", "numba-cuda", "cupy-cuda12x", "cupy-cuda13x", "mpi4py", "mpich", "torch",
                 "safetensors"):
        facts[dist] = _compat.version_of(dist) or "not installed"
    try:
        from threadpoolctl import threadpool_info

        facts["blas"] = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, "
                         f"{i.get('num_threads')} threads)" for i in threadpool_info() if i.get("user_api") == "blas"]
    except Exception as exc:  # threadpoolctl can fail on exotic BLAS builds; info must still print
        facts["blas"] = [f"unknown ({exc})"]
    backends = ["numpy"]
    cp = _compat.cupy()
    if cp is not None:
        backends.append("cupy")
        gpus = []
        for i in range(cp.cuda.runtime.getDeviceCount()):
            p = cp.cuda.runtime.getDeviceProperties(i)
            gpus.append(f"{i}: {p['name'].decode()}, {p['totalGlobalMem'] / 2**30:.1f} GiB, "
                        f"compute capability {p['major']}.{p['minor']}")
        facts["gpus"] = gpus
        facts["cuda_driver"] = cp.cuda.runtime.driverGetVersion()
        facts["cuda_runtime"] = cp.cuda.runtime.runtimeGetVersion()
    else:
        facts["gpus"] = [f"none ({_compat.cupy_unavailable_reason()})"]
    facts["backends"] = backends
    nccl = _compat.nccl()
    facts["nccl"] = f"{nccl.get_version()}" if nccl is not None else "not available"
    if _compat.has_mpi():
        MPI = _compat.mpi4py_MPI()
        facts["mpi"] = MPI.Get_library_version().strip().splitlines()[0] if MPI else "mpi4py failed to load MPI"
    else:
        facts["mpi"] = "not installed (pip install 'gpunn[mpi]')"
    facts["toolchain"] = toolchain_lines()
    return facts


def toolchain_lines() -> list[str]:
    """gpunn.toolchain's report as lines; its probes fail soft, and so does this, so info always prints."""
    from .. import toolchain

    try:
        return toolchain.report_lines(toolchain.toolchain_report())
    except Exception as exc:
        return [f"unknown ({type(exc).__name__}: {exc})"]


def run(args) -> int:
    for key, value in collect().items():
        if isinstance(value, list):
            print(f"{key}:")
            for item in value:
                print(f"  {item}")
        else:
            print(f"{key}: {value}")
    return 0
