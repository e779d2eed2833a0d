"""The contenders a benchmark can time, and which of them this machine can run.

    numpy           gpunn's NumPy backend (fused NumPy twins)                    cpu
    numpy-jit       the NumPy backend with jit_compile=True (a recorded step)    cpu
    numpy-unfused   the NumPy backend with naive expression chains (unfused.py)  cpu
    cupy            gpunn's CuPy backend (Numba CUDA kernels)                    cuda
    cupy-cub        cupy, CuPy's CUB reductions on in its steps (cub_steps.py)  cuda
    cupy-graph      the CuPy backend with jit_compile=True (a CUDA graph)        cuda
    cupy-unfused    the CuPy backend with CuPy expression chains                 cuda
    numpy-jit16     numpy-jit, 16 steps per replay (steps_per_execution=16)      cpu
    cupy-graph16    cupy-graph, 16 steps per graph launch                        cuda
    cupy-graph-lt   cupy-graph, Dense's bias + ReLU in cuBLASLt's GEMM epilogue   cuda
    torch-cpu       PyTorch, the reference on the CPU                            cpu
    torch-cuda      PyTorch, the reference on the GPU                            cuda
    torch-cuda-compiled  PyTorch's forward and backward under torch.compile(mode="reduce-overhead") (CUDA graphs)  cuda
    torch-cuda-graph     PyTorch's whole step (forward, backward, capturable Adam) captured as one CUDA graph     cuda

Aliases: ``all`` (every one), ``gpunn``, ``torch``, ``cpu``, ``gpu``. Under MPI the gpunn contenders train
data-parallel over all ranks; PyTorch (single-process here) is left out.
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import _compat

NAMES = ("numpy", "numpy-jit", "numpy-jit16", "numpy-unfused", "cupy", "cupy-cub", "cupy-graph", "cupy-graph16",
         "cupy-graph-lt", "cupy-unfused", "torch-cpu", "torch-cuda", "torch-cuda-compiled", "torch-cuda-graph")
ALIASES = {
    "all": NAMES,
    "auto": NAMES,
    "gpunn": ("numpy", "numpy-jit", "numpy-jit16", "numpy-unfused", "cupy", "cupy-cub", "cupy-graph", "cupy-graph16",
              "cupy-graph-lt", "cupy-unfused"),
    "jit": ("numpy-jit", "numpy-jit16", "cupy-graph", "cupy-graph16", "cupy-graph-lt"),
    "torch": ("torch-cpu", "torch-cuda", "torch-cuda-compiled", "torch-cuda-graph"),
    "pytorch": ("torch-cpu", "torch-cuda", "torch-cuda-compiled", "torch-cuda-graph"),
    "cpu": ("numpy", "numpy-jit", "numpy-jit16", "numpy-unfused", "torch-cpu"),
    "gpu": ("cupy", "cupy-cub", "cupy-graph", "cupy-graph16", "cupy-graph-lt", "cupy-unfused", "torch-cuda",
            "torch-cuda-compiled", "torch-cuda-graph"),
}
# gpunn contenders trained with jit_compile=True, and the steps each of their calls makes (steps_per_execution)
JIT_STEPS = {"numpy-jit": 1, "numpy-jit16": 16, "cupy-graph": 1, "cupy-graph16": 16, "cupy-graph-lt": 1}
# PyTorch contenders run other than eagerly (torch_step.TorchStep's modes)
TORCH_MODES = {"torch-cuda-compiled": "compiled", "torch-cuda-graph": "graph"}
CPU_NAMES = ("numpy", "numpy-jit", "numpy-jit16", "numpy-unfused", "torch-cpu")
QUICK_BACKENDS = ("numpy", "cupy", "torch")


@dataclass(frozen=True)
class ContenderSpec:
    name: str
    library: str   # "gpunn" or "torch"
    device: str    # "cpu" or "cuda"

    def unavailable_reason(self, ranks: int) -> str | None:
        """Why this contender cannot run here (None: it can)."""
        if self.library == "torch":
            if ranks > 1:
                return "the PyTorch reference runs single-process; run without mpiexec to compare with it"
            torch = _compat.torch()
            if torch is None:
                return "PyTorch is not installed"
            if self.device == "cuda" and not torch.cuda.is_available():
                return "PyTorch sees no CUDA GPU"
            return None
        if self.device == "cuda" and not _compat.has_cupy_gpu():
            return _compat.cupy_unavailable_reason()
        return None

    def create(self, comm, threads: int | None):
        """The contender object (see gpunn_step.GpunnStep and torch_step.TorchStep)."""
        if self.library == "torch":
            from .torch_step import TorchStep

            torch = _compat.torch()
            device = f"cuda:{torch.cuda.current_device()}" if self.device == "cuda" else "cpu"
            return TorchStep(self.name, torch, device, threads, mode=TORCH_MODES.get(self.name, "eager"))
        from .gpunn_step import GpunnStep, limit_update_threads

        ops = self._make_ops()
        step = GpunnStep(self.name, ops, self.device_name(), comm, jit=self.name in JIT_STEPS,
                         steps_per_call=JIT_STEPS.get(self.name, 1))
        step.update_threads = limit_update_threads(ops, threads) if self.device == "cpu" else None
        return step

    def device_name(self) -> str:
        if self.device == "cpu":
            return "cpu"
        cp = _compat.cupy()
        return f"cuda:{cp.cuda.Device().id}" if cp is not None else "cuda"

    def _make_ops(self):
        from .cub_steps import cub_cupy_ops
        from .unfused import unfused_cupy_ops, unfused_numpy_ops

        if self.name in ("numpy", "numpy-jit", "numpy-jit16"):
            from ..ops import NumpyOps

            return NumpyOps()
        if self.name in ("cupy", "cupy-graph", "cupy-graph16", "cupy-graph-lt"):
            from ..ops.cupy_ops import CupyOps

            # the same backend with and without epilogues, side by side in one run
            return CupyOps(matmul_epilogues=self.name == "cupy-graph-lt")
        if self.name == "cupy-cub":
            return cub_cupy_ops()
        return unfused_numpy_ops() if self.name == "numpy-unfused" else unfused_cupy_ops()


SPECS = {name: ContenderSpec(name, "torch" if name.startswith("torch") else "gpunn",
                             "cpu" if name in CPU_NAMES else "cuda")
         for name in NAMES}


def expand(backends) -> list[str]:
    """Names and aliases (a comma-separated string or a list) -> contender names, in the canonical order."""
    if isinstance(backends, str):
        backends = [b for b in backends.split(",") if b.strip()]
    chosen = set()
    for item in backends:
        key = item.strip().lower()
        if key in ALIASES:
            chosen.update(ALIASES[key])
        elif key in SPECS:
            chosen.add(key)
        else:
            raise ValueError(f"--backends: unknown {item!r}; expected some of {', '.join(NAMES)} "
                             f"or {', '.join(ALIASES)}")
    if not chosen:
        raise ValueError("--backends: no backend given")
    return [name for name in NAMES if name in chosen]


def resolve(backends, ranks: int = 1) -> tuple[list[ContenderSpec], list[dict]]:
    """(the specs that can run here, [{'backend', 'reason'}] for those that cannot)."""
    runnable, skipped = [], []
    for name in expand(backends):
        reason = SPECS[name].unavailable_reason(ranks)
        if reason is None:
            runnable.append(SPECS[name])
        else:
            skipped.append({"backend": name, "reason": reason})
    return runnable, skipped
