"""NcclDeviceGroup: one process driving several GPUs of one node, without MPI.

``fit`` runs data-parallel with one process per GPU (``mpiexec -n N`` + ``gpunn.distributed.init()``), which
is the recommended set-up: each process has its own Python interpreter, so the host work of N GPUs runs in
parallel. This class is for code that keeps one array (or one model replica) per GPU inside a single
process, e.g. a notebook or a custom loop: it creates one NCCL communicator per device with
``NcclCommunicator.initAll`` and issues a collective over all devices as one NCCL group
(``groupStart``/``groupEnd``), which a single thread must do or the per-device calls would deadlock
waiting for each other.

    group = NcclDeviceGroup([0, 1])
    group.allreduce_sum_([grads_on_gpu0, grads_on_gpu1])   # each now holds the sum, queued on each
                                                           # device's current stream

The group works on plain CuPy arrays. gpunn's fused kernels (Numba) keep one CUDA context and one cache
of device views per process, so **train models on one GPU per process**: replicas of a gpunn model on
several GPUs of one process are not supported.
"""
from __future__ import annotations

from .nccl import load_nccl, nccl_dtype


class NcclDeviceGroup:
    """NCCL collectives over several GPUs of this process.

    Args:
        devices: GPU ids, or None for every GPU CuPy sees.

    Each method takes one CuPy array per device, in the order of ``devices``, each allocated on its device,
    all of the same size and dtype. Work is queued on each device's current CuPy stream; call
    ``synchronize()`` before reading results on the host.
    """

    def __init__(self, devices=None):
        cp, nccl = load_nccl()
        self.cp, self.nccl = cp, nccl
        if devices is None:
            devices = list(range(cp.cuda.runtime.getDeviceCount()))
        self.devices = [int(d) for d in devices]
        if not self.devices or len(set(self.devices)) != len(self.devices):
            raise ValueError(f"devices: expected distinct GPU ids, got {devices!r}")
        self.comms = nccl.NcclCommunicator.initAll(self.devices)

    @property
    def size(self) -> int:
        return len(self.devices)

    def _check(self, arrays, what: str) -> int:
        arrays = list(arrays)
        if len(arrays) != self.size:
            raise ValueError(f"{what}: expected {self.size} arrays (one per device), got {len(arrays)}")
        first = arrays[0]
        for device, array in zip(self.devices, arrays):
            if not isinstance(array, self.cp.ndarray) or array.device.id != device:
                raise ValueError(f"{what}: the array for GPU {device} must be a CuPy array on that GPU")
            if array.size != first.size or array.dtype != first.dtype or not array.flags.c_contiguous:
                raise ValueError(f"{what}: arrays must be C-contiguous with the same size and dtype")
        return nccl_dtype(self.nccl, first.dtype)

    def allreduce_sum_(self, arrays) -> None:
        """Sum the arrays over devices, in place: afterwards each holds the total."""
        dtype = self._check(arrays, "allreduce_sum_")
        self.nccl.groupStart()
        try:
            for device, comm, array in zip(self.devices, self.comms, arrays):
                with self.cp.cuda.Device(device):
                    stream = self.cp.cuda.get_current_stream()
                    comm.allReduce(array.data.ptr, array.data.ptr, array.size, dtype, self.nccl.NCCL_SUM,
                                   stream.ptr)
        finally:
            self.nccl.groupEnd()

    def broadcast_(self, arrays, root: int = 0) -> None:
        """Copy the array of ``devices[root]`` into every other array, in place."""
        dtype = self._check(arrays, "broadcast_")
        self.nccl.groupStart()
        try:
            for device, comm, array in zip(self.devices, self.comms, arrays):
                with self.cp.cuda.Device(device):
                    stream = self.cp.cuda.get_current_stream()
                    comm.bcast(array.data.ptr, array.size, dtype, root, stream.ptr)
        finally:
            self.nccl.groupEnd()

    def synchronize(self) -> None:
        """Wait until every device has finished the queued collectives."""
        for device in self.devices:
            with self.cp.cuda.Device(device):
                self.cp.cuda.get_current_stream().synchronize()

    def close(self) -> None:
        """Release the NCCL communicators."""
        for comm in self.comms:
            comm.destroy()
        self.comms = []
