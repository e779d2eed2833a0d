"""Failure notices: how a rank that raised inside ``fit`` (and caught it) tells the others, and whether the ranks
can still work together afterwards.

Collectives match by order alone. A rank whose exception left ``fit`` halfway skipped the collectives the other
ranks are still making, so its next collective (a second ``fit``, the end of the program) would pair with one of
theirs: a sum of unrelated buffers, or a wait until the timeout. So a rank whose exception leaves a run posts a
notice to every other rank on a channel of its own (a duplicate of the MPI communicator, so notices never mix
with collectives), saying where it stood: how many collectives it had made, and whether one of them was still
waiting. A rank waiting in a collective looks for notices once the wait is no longer short, and raises
``PeerFailedError`` when one came.

Before its next collective a rank that posted a notice collects one from every other rank. When every rank
failed at the same point with nothing pending (every rank raised the same error at the same step: a bad
argument, a shape error), the ranks are still in step and go on. Otherwise they no longer are: each raises
``RanksOutOfStepError`` at that collective and at every later one, and the end of the program aborts the job
rather than wait for collectives that will never be matched.
"""
from __future__ import annotations

import json
import time

import numpy as np

from .errors import CollectiveTimeoutError, RanksOutOfStepError

_TAG = 7713  # the only tag of point-to-point messages on the channel: notices stay in order per sender


def describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:400] if text else type(exc).__name__


class FailureNotices:
    """The notice channel of one MPI communicator, and this rank's standing on it.

    ``position`` is ``(collectives made on the host, collectives queued on the device)``; a rank's notice
    records it, and whether a collective of the rank was still waiting when it raised (``pending``).
    """

    def __init__(self, MPI, mpi_comm, rank: int, size: int):
        self.MPI = MPI
        self.channel = mpi_comm.Dup()
        self.rank, self.size = rank, size
        self.mine: dict | None = None       # this rank's unresolved notice
        self.received: dict = {}            # peer rank -> its unresolved notice
        self.out_of_step: str | None = None  # set for good once the ranks cannot line up again
        self._sends: list = []

    # ---- posting and reading notices -------------------------------------------------------------
    def post(self, position, pending: bool, what: str) -> None:
        """Tell every other rank that an exception left a run here (once per failure)."""
        if self.mine is not None or self.out_of_step is not None:
            return
        self.mine = {"rank": self.rank, "position": list(position), "pending": bool(pending), "what": what}
        payload = np.frombuffer(json.dumps(self.mine).encode(), dtype=np.uint8).copy()
        # Each send keeps its payload alive until it completes (MPI reads the buffer until then).
        self._sends = [(request, buffer) for request, buffer in self._sends if not request.Test()]
        self._sends += [(self.channel.Isend(payload, dest=peer, tag=_TAG), payload)
                        for peer in range(self.size) if peer != self.rank]

    def poll(self) -> dict | None:
        """A notice that arrived from another rank, if one did (kept until resolved)."""
        status = self.MPI.Status()
        if not self.channel.Iprobe(source=self.MPI.ANY_SOURCE, tag=_TAG, status=status):
            return None
        buffer = np.empty(status.Get_count(self.MPI.BYTE), dtype=np.uint8)
        self.channel.Recv(buffer, source=status.Get_source(), tag=_TAG)
        notice = json.loads(buffer.tobytes().decode())
        self.received[int(notice["rank"])] = notice
        return notice

    # ---- after a failure -------------------------------------------------------------------------
    def resolve(self, timeout: float | None) -> None:
        """With a notice of this rank outstanding: wait for one from every other rank, then go on when all
        failed at the same point with nothing pending, else raise RanksOutOfStepError (for good)."""
        if self.out_of_step is not None:
            raise RanksOutOfStepError(self.out_of_step)
        if self.mine is None:
            return
        if self.mine["pending"] or any(n["pending"] for n in self.received.values()):
            self._give_up()  # a collective still waits somewhere: nothing can line up with it again
        deadline = None if timeout is None else time.monotonic() + timeout
        while len(self.received) < self.size - 1:
            if self.poll() is None:
                if deadline is not None and time.monotonic() >= deadline:
                    missing = sorted(set(range(self.size)) - set(self.received) - {self.rank})
                    raise CollectiveTimeoutError(
                        f"gpunn.distributed: rank {self.rank}: after {self.mine['what']} left a run here, rank(s) "
                        f"{missing} did not answer within {timeout:g} s (they are stuck in a collective)")
                time.sleep(0.001)
        notices = [self.mine] + list(self.received.values())
        if not any(n["pending"] for n in notices) and len({tuple(n["position"]) for n in notices}) == 1:
            self.mine, self.received = None, {}
            return
        self._give_up()

    def _give_up(self):
        self.out_of_step = self._out_of_step_message([self.mine] + list(self.received.values()))
        raise RanksOutOfStepError(self.out_of_step)

    def _out_of_step_message(self, notices: list) -> str:
        first = [n for n in notices if not n["pending"]] or notices
        causes = "; ".join(f"rank {n['rank']}: {n['what']}" for n in sorted(first, key=lambda n: n["rank"]))
        return (f"gpunn.distributed: the ranks no longer make the same collectives, since an exception left a "
                f"run on some of them and not at the same point on the others ({causes}). A caught exception "
                "cannot be recovered from in a data-parallel job: let it end the job, and restart it (from a "
                "checkpoint: BackupAndRestore, ModelCheckpoint).")
