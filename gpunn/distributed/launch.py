"""``gpunn.distributed.init()``: join the job this process was launched in."""
from __future__ import annotations

import warnings

from .. import _compat
from .base import Communicator
from .local import LocalCommunicator

BACKENDS = ("auto", "mpi", "nccl", "local")


def init(backend: str | None = None, *, timeout: float | None = None, bucket_mb: float = 4.0,
         abort_on_error: bool = True) -> Communicator:
    """Join the data-parallel job and make its communicator the one ``fit``/``evaluate``/``predict`` use.

    Call it once, at the start of the script, before building models; after it the unchanged Keras-style
    script runs data-parallel: ``batch_size`` is the global batch, each rank computes its share, gradients
    are summed over ranks, rank 0 alone prints and writes files.

    Args:
        backend: ``None``/``"auto"``: alone (no ``mpiexec``/``srun``) a do-nothing LocalCommunicator; under a
            launcher ``"nccl"`` when the current Ops is CuPy (one GPU per process, picked by the node-local
            rank) and ``"mpi"`` when it is NumPy. ``"mpi"``, ``"nccl"`` or ``"local"`` force one; ``"mpi"``
            and ``"nccl"`` work alone too (one rank).
        timeout: seconds a collective may wait for the other ranks before the job stops with an error
            naming the rank and the operation; None reads ``$GPUNN_COLLECTIVE_TIMEOUT`` (default 300);
            0 waits forever.
        bucket_mb: NCCL gradient bucket size in MiB (smaller: more overlap with backward, more calls).
        abort_on_error: on more than one rank, an uncaught exception on any rank aborts the whole job
            (see ``gpunn.distributed.failure``) instead of leaving the others waiting.

    Returns the communicator (also ``gpunn.distributed.current()``), with ``rank``, ``size``,
    ``local_rank`` and ``backend``. Calling it again returns the same communicator.
    """
    from . import current, set_current

    name = "auto" if backend is None else str(backend).lower()
    if name not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    existing = current()
    if existing.backend != "local" and name in ("auto", existing.backend):
        return existing
    torch_job = _compat.launched_by_torchrun()
    if torch_job and not _compat.launched_by_mpi() and name != "local":
        # each process would find itself alone and train the whole model on its own, N copies writing one file
        raise RuntimeError(f"gpunn.distributed: this process was started by PyTorch's launcher (torchrun; "
                           f"WORLD_SIZE={torch_job}), which gpunn's processes cannot meet through; launch the "
                           f"script with MPI instead: mpiexec -n {torch_job} python script.py (or srun)")
    if name == "local" or (name == "auto" and not _compat.launched_by_mpi()):
        return set_current(LocalCommunicator())

    if _compat.launched_by_mpi() or name == "mpi":
        from .mpi import MpiCommunicator

        host = MpiCommunicator(timeout=timeout)
    else:  # NCCL asked for in a lone process: one rank, no MPI needed
        host = LocalCommunicator()
    if name == "auto":
        name = _auto_backend(host)
    if name == "nccl":
        from .nccl import NcclCommunicator

        comm = NcclCommunicator(host, bucket_bytes=int(bucket_mb * 2**20), timeout=timeout)
    else:
        comm = host
    _check_ops(comm)
    if comm.backend == "mpi" and comm.local_size > 1:
        _share_cores(comm.local_size)
    if abort_on_error and host.size > 1 and host.backend == "mpi":
        from . import failure

        failure.install(host)
    return set_current(comm)


def _auto_backend(host) -> str:
    """'nccl' for the CuPy backend (when NCCL loads), else 'mpi'."""
    from ..ops import get_ops

    if _compat.has_cupy_gpu():
        # Pick this rank's GPU before the Ops (and any array) touches a device.
        from .nccl import select_device

        cp = _compat.cupy()
        if host.local_size <= cp.cuda.runtime.getDeviceCount():
            select_device(cp, host.local_rank, host.local_size)
    if get_ops().name != "cupy":
        return "mpi"
    if _compat.nccl() is None:
        warnings.warn("gpunn.distributed: CuPy has no NCCL; gradients go through host memory and MPI (slow). "
                      "Install the NCCL wheel for your CUDA (e.g. nvidia-nccl-cu12).", RuntimeWarning, stacklevel=3)
        return "mpi"
    return "nccl"


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def _share_cores(ranks_on_node: int) -> None:
    """Give each CPU rank its share of the node's cores for BLAS, unless the user chose a thread count.

    Every BLAS library starts one thread per core by default; with several ranks per node they would fight
    over the cores (on a busy 2-core machine, 2 ranks x 2 threads ran 10x slower than 2 x 1)."""
    import os

    if any(v in os.environ for v in _THREAD_VARIABLES):
        return
    total = os.cpu_count() or 1
    try:
        mine = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        mine = total
    # A launcher that binds ranks to cores already gave this rank its share; otherwise split the node.
    share = mine if mine < total else total // ranks_on_node
    from threadpoolctl import threadpool_limits

    from ..ops.mkl_gemm import load_before_thread_limits

    load_before_thread_limits()

    threadpool_limits(limits=max(1, share), user_api="blas")


def _check_ops(comm) -> None:
    from ..ops import get_ops

    if comm.backend == "nccl" and get_ops().name != "cupy":
        raise RuntimeError("gpunn.distributed: backend 'nccl' sums CuPy arrays, but the current backend is "
                           f"{get_ops().name!r}; call gpunn.set_backend('cupy') first or use backend='mpi'")
