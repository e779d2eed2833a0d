"""Communicator: what data-parallel training needs from a process group.

Strategies (one file each): ``local`` (one process, nothing to do), ``mpi`` (NumPy ranks), ``nccl`` (one GPU
per process). ``fit`` uses exactly these methods; every one is collective (all ranks call it in order).
"""
from __future__ import annotations

import numpy as np


class Communicator:
    backend = "base"
    rank = 0
    size = 1
    local_rank = 0   # rank among the processes of this node (picks the GPU)
    local_size = 1

    @property
    def is_chief(self) -> bool:
        """Rank 0: the one process that prints progress and writes files."""
        return self.rank == 0

    def allreduce_sum_(self, array) -> None:
        """Sum ``array`` (a device array of the model's Ops) over ranks, in place."""
        raise NotImplementedError

    def broadcast_(self, array, root: int = 0) -> None:
        """Overwrite ``array`` on every rank with root's, in place."""
        raise NotImplementedError

    def allreduce_host(self, values: np.ndarray) -> np.ndarray:
        """Sum a small host array over ranks (losses, metric sums, counts)."""
        raise NotImplementedError

    def broadcast_object(self, obj, root: int = 0):
        """A small picklable-free value (int, str, tuple of them) from root to every rank."""
        raise NotImplementedError

    def allgather_rows(self, rows: np.ndarray) -> np.ndarray:
        """Every rank's host array joined along axis 0 in rank order, on every rank (``predict``'s gather).

        The arrays may differ in length (even be empty) but must agree in dtype and trailing shape."""
        raise NotImplementedError

    def check_same(self, what: str, value: str) -> None:
        """Fail on every rank, naming ``what`` and the ranks that differ, when ranks disagree on ``value``."""
        root_value = self.broadcast_object(value)
        differs = np.zeros(self.size)
        differs[self.rank] = 0.0 if value == root_value else 1.0
        differs = self.allreduce_host(differs)
        bad = [r for r in range(self.size) if differs[r] > 0]
        if bad:
            mine = f"; rank {self.rank} has {value!r}" if self.rank in bad else ""
            raise RuntimeError(
                f"gpunn.distributed: ranks disagree on {what}: rank(s) {bad} differ from rank 0, which has "
                f"{root_value!r}{mine}. Every rank must run the same script with the same model and dtype."
            )

    def gradient_reducer(self, grads, layer_segments) -> "GradientReducer":
        """A reducer for one model's flat gradient buffer; ``layer_segments[i]`` lists layer i's
        (start, stop) slices of it. This one sums the whole buffer once backward is done; NCCL overrides it
        with buckets launched as layers finish."""
        return GradientReducer(self, grads)

    def barrier(self) -> None:
        pass

    def meet(self, what: str) -> None:
        """Before a run's first collective (``what``: 'called fit'): every rank must be starting the same
        (``run_rendezvous``). Nothing to check for one process."""

    def note_failure(self, exc: BaseException) -> None:
        """An exception is leaving ``fit`` / ``evaluate`` / ``predict`` on this rank: tell the other ranks,
        which may be waiting for it in a collective (``failure_notices``). Nothing to do for one process."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} rank {self.rank}/{self.size} backend={self.backend}>"


class GradientReducer:
    """Sums the gradient buffer over ranks. ``layer_done(i)`` is called in backward order as each layer's
    gradients become final; ``wait()`` returns once the whole buffer holds the sum.

    ``device_only``: the two hooks only queue device work on the current stream (and streams joined to it),
    never wait for it on the host, so a recorded step's CUDA graph can hold them (NCCL >= 2.9); then
    ``after_replay()`` is called after each launch of such a graph. False here: an MPI sum is host work, and a
    graph ends before it.
    """

    device_only = False

    def __init__(self, comm: Communicator, grads):
        self.comm, self.grads = comm, grads

    def after_replay(self, repeats: int = 1) -> None:
        """After a launch of a CUDA graph that holds this reducer's collectives (``device_only``) for ``repeats``
        steps."""

    def layer_done(self, index: int) -> None:
        pass

    def wait(self) -> None:
        self.comm.allreduce_sum_(self.grads)
