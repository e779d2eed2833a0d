"""NcclCommunicator: one process per GPU, gradients summed with NCCL on the device.

Launched by ``mpiexec``/``srun``; MPI starts the ranks, gives each its node-local rank (which picks the GPU)
and carries the NCCL unique id from rank 0 to the others, then stays on for the small host collectives
(epoch-end metric sums, the model check, seeds). Device arrays never touch the host.

Gradients go in buckets (``BucketedGradientReducer``): each bucket's allreduce is queued on a side stream
as soon as backward has written it, ordered after those writes by an event, so communication overlaps the
rest of the backward pass; ``wait()`` makes the compute stream wait for the last bucket before the
optimizer update. Nothing here synchronises the host, so with NCCL >= 2.9 a recorded step's CUDA graph holds
the whole step, its allreduces included (``BucketedGradientReducer.device_only``; NCCL's "Using NCCL with CUDA
Graphs"); ``GPUNN_GRAPH_COLLECTIVES=0`` ends the graph before the reduction instead.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from .. import _compat
from .base import Communicator, GradientReducer
from .buckets import plan_buckets
from .errors import collective_timeout
from .local import LocalCommunicator
from .nccl_id import broadcast_unique_id
from .watchdog import DeviceWatchdog

DEFAULT_BUCKET_BYTES = 4 * 2**20
# NCCL operations can be captured in CUDA graphs from NCCL 2.9 (ncclGetVersion: major*10000 + minor*100 + patch
# from 2.9 on; earlier releases used major*1000 + minor*100 + patch, all below this).
GRAPH_CAPTURE_NCCL_VERSION = 20900


def collectives_in_graphs(nccl) -> bool:
    """Whether NCCL collectives may go inside a step's CUDA graph: the loaded NCCL can be captured (2.9 or
    newer) and ``$GPUNN_GRAPH_COLLECTIVES`` is not 0."""
    if os.environ.get("GPUNN_GRAPH_COLLECTIVES", "1").strip() == "0":
        return False
    try:
        version = int(nccl.get_version())
    except Exception:  # noqa: BLE001 - an NCCL that cannot say its version is treated as too old
        return False
    return version >= GRAPH_CAPTURE_NCCL_VERSION


def load_nccl():
    """(cupy, cupy.cuda.nccl), or a RuntimeError saying what is missing."""
    cp = _compat.cupy()
    if cp is None:
        raise RuntimeError(f"gpunn.distributed: NCCL needs a GPU: {_compat.cupy_unavailable_reason()}")
    nccl = _compat.nccl()
    if nccl is None:
        raise RuntimeError("gpunn.distributed: CuPy cannot load NCCL; install the NCCL wheel for your CUDA "
                           "(e.g. pip install nvidia-nccl-cu12) or use backend='mpi'")
    return cp, nccl


def nccl_dtype(nccl, dtype) -> int:
    codes = {"float16": nccl.NCCL_FLOAT16, "float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64,
             "int32": nccl.NCCL_INT32, "int64": nccl.NCCL_INT64, "uint8": nccl.NCCL_UINT8}
    name = np.dtype(dtype).name
    if name not in codes:
        raise TypeError(f"gpunn.distributed: NCCL cannot reduce {name} arrays")
    return codes[name]


def select_device(cp, local_rank: int, local_size: int) -> int:
    """Make GPU ``local_rank`` this process's current device; one process per GPU."""
    count = cp.cuda.runtime.getDeviceCount()
    if local_size > count:
        raise RuntimeError(f"gpunn.distributed: {local_size} ranks on this node but only {count} GPU(s); NCCL "
                           "needs one GPU per rank: start at most as many ranks per node as GPUs")
    cp.cuda.Device(local_rank).use()
    return local_rank


class NcclCommunicator(Communicator):
    """One GPU per rank; device arrays summed with NCCL.

    Args:
        host: the communicator for host data and start-up (an MpiCommunicator under mpiexec). None means
            a single rank (a LocalCommunicator): NCCL with one member, useful to measure its overhead.
        bucket_bytes: gradient bucket size for the overlapping reducer.
        timeout: seconds a device collective may run before the watchdog aborts the job; None reads
            ``$GPUNN_COLLECTIVE_TIMEOUT`` (default 300); 0 disables the watchdog.

    Call it before building models: it makes this rank's GPU the current device, where arrays are created.
    """

    backend = "nccl"

    def __init__(self, host: Communicator | None = None, bucket_bytes: int = DEFAULT_BUCKET_BYTES,
                 timeout: float | None = None):
        cp, nccl = load_nccl()
        self.cp, self.nccl = cp, nccl
        self.host = host if host is not None else LocalCommunicator()
        self.rank, self.size = self.host.rank, self.host.size
        self.local_rank, self.local_size = self.host.local_rank, self.host.local_size
        self.device_id = select_device(cp, self.local_rank, self.local_size)
        self.bucket_bytes = int(bucket_bytes)
        uid = broadcast_unique_id(nccl, self.host, cp.__version__)
        self.comm = nccl.NcclCommunicator(self.size, uid, self.rank)
        self.device_collectives = 0  # queued so far (a graph launch counts those it replays)
        limit = collective_timeout(timeout)
        self.watchdog = None
        if limit is not None and self.size > 1:
            # The CUDA current device is per thread: the watchdog queries events from this rank's GPU.
            self.watchdog = DeviceWatchdog(limit, self._on_timeout,
                                           thread_setup=lambda: cp.cuda.Device(self.device_id).use())

    # ---- device collectives -----------------------------------------------------------------------
    def _check(self, array, what: str):
        if not isinstance(array, self.cp.ndarray) or not array.flags.c_contiguous:
            raise TypeError(f"{what}: expected a C-contiguous CuPy array, got {type(array).__name__}")
        return nccl_dtype(self.nccl, array.dtype)

    def allreduce_on(self, array, stream) -> None:
        """Queue the in-place sum of ``array`` over ranks on ``stream``."""
        dtype = self._check(array, "allreduce_sum_")
        if not stream.is_capturing():  # a captured one counts when a graph launch replays it (after_replay)
            self._next_device_collective()
        self.comm.allReduce(array.data.ptr, array.data.ptr, array.size, dtype, self.nccl.NCCL_SUM, stream.ptr)

    def allreduce_sum_(self, array) -> None:
        stream = self.cp.cuda.get_current_stream()
        self.allreduce_on(array, stream)
        self.watch(stream, f"NCCL allreduce of {array.size} {array.dtype} values")

    def broadcast_(self, array, root: int = 0) -> None:
        dtype = self._check(array, "broadcast_")
        self._next_device_collective()
        stream = self.cp.cuda.get_current_stream()
        self.comm.bcast(array.data.ptr, array.size, dtype, root, stream.ptr)
        self.watch(stream, f"NCCL broadcast of {array.size} {array.dtype} values from rank {root}")

    def _next_device_collective(self) -> None:
        if self.size > 1:  # then the host is an MpiCommunicator
            self.host.check_in_step()
        self.device_collectives += 1

    def meet(self, what: str) -> None:
        if self.size > 1:
            self.host.meet(what)

    def note_failure(self, exc: BaseException) -> None:
        if self.size > 1:
            self.host.note_failure(exc, self.device_collectives)

    def watch(self, stream, what: str) -> None:
        """Let the watchdog follow the work queued on ``stream`` so far."""
        if self.watchdog is not None:
            event = self.cp.cuda.Event(disable_timing=True)
            event.record(stream)
            self.watchdog.watch(event, what)

    def _on_timeout(self, what: str, waited: float) -> None:
        print(f"gpunn.distributed: rank {self.rank} of {self.size}: {what} did not complete within "
              f"{waited:.0f} s; another rank is stuck or gone; aborting the job", file=sys.stderr, flush=True)
        self.abort(1)

    # ---- host collectives go through the host communicator ---------------------------------------
    def allreduce_host(self, values):
        return self.host.allreduce_host(values)

    def broadcast_object(self, obj, root: int = 0):
        return self.host.broadcast_object(obj, root)

    def allgather_rows(self, rows):
        return self.host.allgather_rows(rows)

    def barrier(self) -> None:
        self.cp.cuda.get_current_stream().synchronize()
        self.host.barrier()

    def abort(self, code: int = 1) -> None:
        """Abort NCCL (frees kernels spinning on a dead peer), then the whole MPI job."""
        self.comm.abort()
        abort = getattr(self.host, "abort", None)
        if abort is not None:
            abort(code)

    def gradient_reducer(self, grads, layer_segments) -> "BucketedGradientReducer":
        return BucketedGradientReducer(self, grads, layer_segments, self.bucket_bytes)


class BucketedGradientReducer(GradientReducer):
    """Sums the flat gradient buffer bucket by bucket on a side stream while backward continues.

    Per step: ``layer_done(i)`` for each layer in backward order; a bucket whose layers are all done is
    launched: an event recorded on the compute stream (after the gradient writes), the side stream made to
    wait on it, then the NCCL allreduce on the side stream. ``wait()`` launches anything left, records an
    event on the side stream and makes the compute stream wait on it. Launch order is the same on every
    rank, as NCCL requires, because backward runs the same layers in the same order everywhere.

    Under stream capture the same calls build the graph: the side stream joins the capture through the first
    event and is joined back by the last, and every allreduce becomes a node. A graph launch then replays the
    reductions; ``after_replay`` gives the watchdog an event after the launch (one recorded inside the
    capture is not a real event the host could query).
    """

    def __init__(self, comm: NcclCommunicator, grads, layer_segments, bucket_bytes: int):
        super().__init__(comm, grads)
        cp = comm.cp
        self.cp = cp
        self.buckets = plan_buckets(layer_segments, grads.size, grads.itemsize, bucket_bytes)
        self._bucket_of = {layer: b for b, bucket in enumerate(self.buckets) for layer in bucket.layers}
        self._side = cp.cuda.Stream(non_blocking=True)
        # Re-recording an event is safe once the waits on its last record have been queued, so one per bucket.
        self._ready = [cp.cuda.Event(disable_timing=True) for _ in self.buckets]
        self.device_only = self._every_rank_captures(collectives_in_graphs(comm.nccl))
        self._reset()

    def _every_rank_captures(self, here: bool) -> bool:
        """Whether every rank can capture its collectives (ranks may differ in NCCL or in
        ``$GPUNN_GRAPH_COLLECTIVES``); a step's collectives are captured everywhere or nowhere."""
        if self.comm.size == 1:
            return here
        return int(np.asarray(self.comm.allreduce_host(np.array([int(not here)])))[0]) == 0

    def _reset(self) -> None:
        self._remaining = [len(bucket.layers) for bucket in self.buckets]
        self._next = 0  # buckets launch strictly in order, so every rank issues the same sequence

    def _launch_ready(self, force: bool = False) -> None:
        compute = self.cp.cuda.get_current_stream()
        while self._next < len(self.buckets) and (force or self._remaining[self._next] == 0):
            bucket, event = self.buckets[self._next], self._ready[self._next]
            event.record(compute)
            self._side.wait_event(event)
            self.comm.allreduce_on(self.grads[bucket.start:bucket.stop], self._side)
            self._next += 1

    def layer_done(self, index: int) -> None:
        bucket = self._bucket_of.get(index)
        if bucket is None:
            return
        self._remaining[bucket] -= 1
        if self._remaining[bucket] == 0:
            self._launch_ready()

    def wait(self) -> None:
        self._launch_ready(force=True)
        done = self.cp.cuda.Event(disable_timing=True)
        done.record(self._side)
        compute = self.cp.cuda.get_current_stream()
        compute.wait_event(done)
        if self.comm.watchdog is not None and not compute.is_capturing():
            self.comm.watchdog.watch(done, f"NCCL gradient allreduce ({self.grads.size} values)")
        self._reset()

    def after_replay(self, repeats: int = 1) -> None:
        self.comm.device_collectives += len(self.buckets) * repeats
        self.comm.watch(self.cp.cuda.get_current_stream(),
                        f"CUDA graph replaying NCCL gradient allreduces ({self.grads.size} values)")
