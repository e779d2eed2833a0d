"""The machine a benchmark runs on: BLAS threads, MPI ranks, and the facts recorded with the results
(``gpunn.machine``: collected before any case runs, never initialising MPI)."""
from __future__ import annotations

import contextlib
import os

import numpy as np

from .. import _compat
# the machine facts are gpunn.machine's; re-exported here, where the benchmark has always found them
from ..machine import (VERSIONED, blas_facts, cpu_model, facts_summary, gpu_facts, machine_facts,  # noqa: F401
                       mpi_fact, nccl_fact, usable_cpus)
from .timing import SingleProcess


def blas_threads() -> int | None:
    """Threads NumPy's BLAS uses now (threadpoolctl), None when it cannot tell."""
    try:
        from threadpoolctl import threadpool_info

        counts = [i.get("num_threads") for i in threadpool_info() if i.get("user_api") == "blas"]
        counts = [c for c in counts if c]
        return max(counts) if counts else None
    except Exception:  # an exotic BLAS build: the benchmark still runs, the count is just unknown
        return None


@contextlib.contextmanager
def blas_thread_limit(threads: int | None):
    """NumPy's BLAS (and MKL, where gpunn uses it) limited to ``threads`` inside the block (None: left as
    configured)."""
    if not threads:
        yield
        return
    from threadpoolctl import threadpool_limits

    from ..ops.mkl_gemm import load_before_thread_limits

    load_before_thread_limits()
    with threadpool_limits(limits=int(threads), user_api="blas"):
        yield


# ---- MPI ranks --------------------------------------------------------------------------------------------
_RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")


def _rank_from_environment() -> int:
    for key in _RANK_VARIABLES:
        if key in os.environ:
            try:
                return int(os.environ[key])
            except ValueError:
                pass
    return 0


class RankCollective(SingleProcess):
    """The timing loop's hooks over a gpunn communicator: barriers, rank 0's choices, the slowest rank's time."""

    def __init__(self, comm):
        self.comm, self.size = comm, comm.size

    def barrier(self) -> None:
        self.comm.barrier()

    def agree(self, value: int) -> int:
        return int(self.comm.broadcast_object(int(value)))

    def slowest(self, seconds: float) -> float:
        # allreduce_host only sums: each rank fills its own slot, the sum is every rank's time.
        slots = np.zeros(self.comm.size)
        slots[self.comm.rank] = seconds
        return float(np.max(self.comm.allreduce_host(slots)))


class Ranks:
    """The process group the gpunn contenders train over (one process unless launched under MPI)."""

    def __init__(self, comm, note: str | None = None, rank: int | None = None):
        self.comm = comm
        self.size = comm.size
        self.rank = comm.rank if rank is None else rank
        self.note = note
        self.collective = RankCollective(comm) if comm.size > 1 else SingleProcess()

    @property
    def is_chief(self) -> bool:
        return self.rank == 0


def start_ranks() -> Ranks:
    """Join the MPI job when launched by mpiexec (``gpunn.distributed.init``), else a single process.

    Without a working ``init`` every rank would benchmark alone and write the same files, so the run
    degrades to rank 0 alone; the other ranks are told to do nothing (their ``rank`` is not 0).
    """
    from .. import distributed

    if not _compat.launched_by_mpi():
        return Ranks(distributed.current())
    init = getattr(distributed, "init", None)
    if init is None:
        reason = "this gpunn has no gpunn.distributed.init"
    else:
        try:
            init()
            comm = distributed.current()
            return Ranks(comm, note=f"data-parallel over {comm.size} ranks ({comm.backend})")
        except Exception as exc:  # a broken MPI set-up must not hide the single-process figures
            reason = f"gpunn.distributed.init failed ({type(exc).__name__}: {exc})"
    from ..distributed import LocalCommunicator

    return Ranks(LocalCommunicator(), rank=_rank_from_environment(),
                 note=f"launched under MPI, but {reason}: rank 0 ran alone")
