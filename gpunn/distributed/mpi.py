"""MpiCommunicator: ranks started by ``mpiexec``/``srun`` summing NumPy buffers with MPI.

Model data moves through mpi4py's buffer methods (no pickling), in place. Every collective is non-blocking
and waited on against a deadline (``GPUNN_COLLECTIVE_TIMEOUT``), so a rank whose peer died raises a
``CollectiveTimeoutError`` instead of hanging. CuPy arrays are accepted too, staged through host memory: the
fallback when CuPy has no NCCL; the NCCL communicator is the fast path for GPUs.
"""
from __future__ import annotations

import functools
import json

import numpy as np

from .. import _compat
from . import run_rendezvous, waiting
from .base import Communicator
from .errors import (CollectiveTimeoutError, PeerFailedError, RanksDisagreeError, RanksOutOfStepError,
                     collective_timeout)
from .failure_notices import FailureNotices, describe


def load_mpi():
    """``mpi4py.MPI``, or a RuntimeError that says how to install it."""
    MPI = _compat.mpi4py_MPI()
    if MPI is None:
        raise RuntimeError(
            "gpunn.distributed: this process was started by an MPI launcher but mpi4py cannot be imported; "
            "install it with: pip install 'gpunn[mpi]'"
        )
    return MPI


class MpiCommunicator(Communicator):
    """One process per rank over an MPI communicator (``MPI.COMM_WORLD`` by default).

    Args:
        comm: the mpi4py communicator; default COMM_WORLD.
        timeout: seconds one collective may take before CollectiveTimeoutError; None reads
            ``$GPUNN_COLLECTIVE_TIMEOUT`` (default 300); 0 waits forever.
    """

    backend = "mpi"

    def __init__(self, comm=None, timeout: float | None = None):
        MPI = load_mpi()
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        node = self.comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank, self.local_size = node.Get_rank(), node.Get_size()
        node.Free()
        self.timeout = collective_timeout(timeout)
        self.collectives = 0  # made so far: where this rank stands, should an exception leave a run
        self.runs = 0  # fit / evaluate / predict... started so far (run_rendezvous)
        self.notices = FailureNotices(MPI, self.comm, self.rank, self.size) if self.size > 1 else None

    # ---- internals --------------------------------------------------------------------------------
    def _wait(self, start, what: str) -> None:
        """Start a collective (``start()`` returns its request) and wait for it, unless an exception that left
        a run here put this rank out of step with the others (``failure_notices``)."""
        self.check_in_step()
        self.collectives += 1
        request = start()
        if self.notices is None:
            waiting.wait(request, what, self.rank, self.timeout)
            return
        try:
            waiting.wait(request, what, self.rank, self.timeout,
                         interrupt=functools.partial(self._raise_if_peer_left, what, self.collectives))
        except BaseException as exc:
            self._left_waiting(exc)
            raise

    def meet(self, what: str) -> None:
        """Before a run's first collective (``what``: 'called fit', 'reached the end of the program'): return when
        every rank is starting the same, else raise RanksDisagreeError on every rank (``run_rendezvous``). The
        meeting counts as a collective (it is one, on the notice channel)."""
        if self.notices is None:
            return
        self.check_in_step()
        self.runs += 1
        self.collectives += 1
        try:
            run_rendezvous.meet(self.notices.channel, self.rank, self.size, {"what": what, "number": self.runs},
                                self.timeout, interrupt=functools.partial(
                                    self._raise_if_peer_left, f"the check that every rank {what} too",
                                    self.collectives))
        except RanksDisagreeError:
            raise  # raised by every rank after the meeting completed: still in step
        except BaseException as exc:
            self._left_waiting(exc)
            raise

    def _raise_if_peer_left(self, what: str, collective: int) -> None:
        """What a wait for collective number ``collective`` polls once it is no longer short: PeerFailedError when
        a rank's notice says its run stopped before it made this collective. A rank that made it and failed
        after (its notice may overtake the collective's data) is no reason to stop waiting: ours completes."""
        self.notices.poll()
        for notice in self.notices.received.values():
            made = notice["position"][0] - (1 if notice["pending"] else 0)  # a pending one may never complete
            if made < collective:
                raise PeerFailedError(
                    f"gpunn.distributed: rank {self.rank}: rank {notice['rank']} stopped its run with "
                    f"{notice['what']}, while this rank waited for it in {what}")

    def _left_waiting(self, exc: BaseException) -> None:
        """A wait that ended by an exception (a timeout, a peer's failure, an interrupt) leaves this rank's request
        unanswered for good: the other ranks are told, and no later collective can line up."""
        self.notices.post((self.collectives, 0), True, describe(exc))

    def check_in_step(self) -> None:
        """Before a collective: once an exception left a run here, wait for the other ranks' notices, and raise
        RanksOutOfStepError unless every rank stopped at this same point."""
        notices = self.notices
        if notices is not None and (notices.mine is not None or notices.out_of_step is not None):
            notices.resolve(self.timeout)

    def note_failure(self, exc: BaseException, device_collectives: int = 0) -> None:
        # (SystemExit: a rank leaving the program is what the exit check in failure.py handles; the waits' own
        # errors were posted where they were raised)
        if self.notices is not None and not isinstance(
                exc, (SystemExit, CollectiveTimeoutError, PeerFailedError, RanksOutOfStepError)):
            self.notices.post((self.collectives, device_collectives), False, describe(exc))

    @staticmethod
    def _host_view(array, what: str):
        """(host array, whether it must be copied back): NumPy arrays as they are, CuPy ones via host memory."""
        if isinstance(array, np.ndarray):
            if not array.flags.c_contiguous:
                raise ValueError(f"{what}: expected a C-contiguous array")
            return array, False
        if hasattr(array, "get") and hasattr(array, "set"):
            return array.get(), True
        raise TypeError(f"{what}: expected a NumPy or CuPy array, got {type(array).__name__}")

    # ---- Communicator -----------------------------------------------------------------------------
    def allreduce_sum_(self, array) -> None:
        host, staged = self._host_view(array, "allreduce_sum_")
        self._wait(lambda: self.comm.Iallreduce(self.MPI.IN_PLACE, host, op=self.MPI.SUM),
                   f"allreduce of {host.size} {host.dtype} values")
        if staged:
            array.set(host)

    def broadcast_(self, array, root: int = 0) -> None:
        host, staged = self._host_view(array, "broadcast_")
        self._wait(lambda: self.comm.Ibcast(host, root=root),
                   f"broadcast of {host.size} {host.dtype} values from rank {root}")
        if staged:
            array.set(host)

    def allreduce_host(self, values) -> np.ndarray:
        out = np.array(values, dtype=np.float64, copy=True).reshape(-1)
        self._wait(lambda: self.comm.Iallreduce(self.MPI.IN_PLACE, out, op=self.MPI.SUM),
                   f"allreduce of {out.size} host values")
        return out.reshape(np.shape(values))

    def broadcast_object(self, obj, root: int = 0):
        """Small JSON-able values (ints, floats, strings, tuples/lists of them): sent as JSON text, not pickled."""
        payload = json.dumps(obj).encode() if self.rank == root else b""
        length = np.array([len(payload)], dtype=np.int64)
        self._wait(lambda: self.comm.Ibcast(length, root=root), "broadcast of a value's length")
        buffer = np.frombuffer(payload, dtype=np.uint8).copy() if self.rank == root else np.empty(
            int(length[0]), dtype=np.uint8)
        self._wait(lambda: self.comm.Ibcast(buffer, root=root), "broadcast of a value")
        return obj if self.rank == root else _tuples(json.loads(buffer.tobytes().decode()))

    def allgather_rows(self, rows) -> np.ndarray:
        rows = np.ascontiguousarray(rows)
        counts = np.zeros(self.size, dtype=np.int64)
        mine = np.array([rows.shape[0]], dtype=np.int64)
        self._wait(lambda: self.comm.Iallgather(mine, counts), "allgather of row counts")
        row_size = int(np.prod(rows.shape[1:], dtype=np.int64))
        out = np.empty((int(counts.sum()),) + rows.shape[1:], dtype=rows.dtype)
        sizes = counts * row_size
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self._wait(lambda: self.comm.Iallgatherv(rows, [out, (sizes.tolist(), offsets.tolist())]),
                   f"allgather of {int(counts.sum())} rows")
        return out

    def barrier(self) -> None:
        self._wait(self.comm.Ibarrier, "barrier")

    def abort(self, code: int = 1) -> None:
        """End every rank of the job now (MPI_Abort): the way out when this rank cannot continue."""
        self.comm.Abort(code)


def _tuples(value):
    """JSON turns tuples into lists; give the caller tuples back, as it sent them."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value
