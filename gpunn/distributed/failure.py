"""What happens when one rank fails: every other rank stops too, with the failing rank named.

Left alone, a rank that raises exits while its peers wait forever in the next collective. ``init`` installs
two guards:

- an ``excepthook``: an uncaught exception on any rank prints its traceback and a line naming the rank, then
  aborts the whole job (``MPI_Abort``), so ``mpiexec`` exits non-zero within seconds;
- an exit check: a rank that leaves the program (``sys.exit`` or the end of the script) first waits, with the
  collective timeout, until every rank has reached its end too; if they do not in time, the others are stuck
  in a collective this rank will never join, and the job is aborted. So is a job whose ranks a caught
  exception put out of step (``failure_notices``).
"""
from __future__ import annotations

import atexit
import sys
import time
import traceback

from .errors import CollectiveTimeoutError, PeerFailedError, RanksDisagreeError, RanksOutOfStepError

_installed: dict = {}
_GRACE_S = 1.0


def install(comm) -> None:
    """Install the excepthook and the exit check for ``comm`` (an MPI-backed communicator); idempotent."""
    if _installed.get("comm") is comm:
        return
    _installed["comm"] = comm
    if "hook" not in _installed:
        _installed["previous"] = sys.excepthook
        _installed["hook"] = _abort_on_uncaught
        sys.excepthook = _abort_on_uncaught
        atexit.register(_exit_check)


def _abort_on_uncaught(exc_type, exc, tb) -> None:
    comm = _installed.get("comm")
    previous = _installed.get("previous", sys.__excepthook__)
    if comm is None:
        previous(exc_type, exc, tb)
        return
    try:
        traceback.print_exception(exc_type, exc, tb, file=sys.stderr)
        print(f"gpunn.distributed: rank {comm.rank} of {comm.size} failed with {exc_type.__name__}: {exc}; "
              f"aborting all {comm.size} ranks", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        # The launcher forwards output through pipes and drops what is in flight when the job is killed:
        # a moment's grace lets this message (and those of ranks failing at the same time) get out.
        time.sleep(_GRACE_S)
    finally:
        comm.abort(1)


def _exit_check() -> None:
    comm = _installed.get("comm")
    if comm is None or comm.size == 1 or comm.MPI.Is_finalized():
        return
    try:
        comm.meet("reached the end of the program")  # (a collective of every rank: the barrier the end needs)
    except CollectiveTimeoutError as exc:
        print(f"{exc}\ngpunn.distributed: rank {comm.rank} of {comm.size} reached the end of the program, but other "
              f"ranks did not within {comm.timeout:g} s (they are stuck or still in a collective this rank "
              "left); aborting the job", file=sys.stderr)
        sys.stderr.flush()
        comm.abort(1)
    except (PeerFailedError, RanksOutOfStepError, RanksDisagreeError) as exc:
        # A caught exception left the ranks out of step: collectives still pending can never complete.
        print(f"{exc}\ngpunn.distributed: rank {comm.rank} of {comm.size} reached the end of the program out of "
              "step with the other ranks; aborting the job", file=sys.stderr)
        sys.stderr.flush()
        time.sleep(_GRACE_S)  # the others are saying why too (see _abort_on_uncaught)
        comm.abort(1)
