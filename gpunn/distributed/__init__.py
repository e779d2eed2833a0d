"""Data-parallel training: the same script under ``mpiexec -n N`` after ``gpunn.distributed.init()``.

    import gpunn
    comm = gpunn.distributed.init()      # alone: a do-nothing communicator; under mpiexec/srun: MPI or NCCL
    model = ...; model.compile(...)
    model.fit(x, y, batch_size=256)      # 256 is the global batch; each rank computes its share

Strategies, one file each: ``local`` (one process), ``mpi`` (NumPy ranks, MPI allreduce), ``nccl`` (one GPU
per process, bucketed NCCL allreduce overlapping backward), ``multi_gpu`` (one process, several GPUs, no
MPI). ``failure`` makes a failing rank stop the whole job (``failure_notices``: or every rank say why, when the
exception was caught); ``errors`` holds the timeout setting;
``agreement`` (with ``run_summary``) stops ranks that are about to run different things, before the first step.
Importing this package imports neither mpi4py nor CuPy.
"""
from __future__ import annotations

from .base import Communicator, GradientReducer
from .errors import (CollectiveTimeoutError, PeerFailedError, RanksDisagreeError, RanksOutOfStepError,
                     collective_timeout)
from .launch import init
from .local import LocalCommunicator

_current: Communicator = LocalCommunicator()


def current() -> Communicator:
    """The communicator ``fit``, ``evaluate`` and ``predict`` use (a LocalCommunicator until ``init``)."""
    return _current


def set_current(comm: Communicator) -> Communicator:
    """Make ``comm`` the communicator training uses; returns it."""
    global _current
    _current = comm
    return comm


def __getattr__(name: str):
    # The MPI and NCCL classes load on first use, so `import gpunn` stays free of mpi4py and CuPy.
    if name == "MpiCommunicator":
        from .mpi import MpiCommunicator

        return MpiCommunicator
    if name in ("NcclCommunicator", "BucketedGradientReducer"):
        from . import nccl

        return getattr(nccl, name)
    if name == "NcclDeviceGroup":
        from .multi_gpu import NcclDeviceGroup

        return NcclDeviceGroup
    raise AttributeError(f"module 'gpunn.distributed' has no attribute {name!r}")


__all__ = ["Communicator", "GradientReducer", "LocalCommunicator", "MpiCommunicator", "NcclCommunicator",
           "BucketedGradientReducer", "NcclDeviceGroup", "CollectiveTimeoutError", "RanksDisagreeError",
           "PeerFailedError", "RanksOutOfStepError", "collective_timeout", "init", "current", "set_current"]
