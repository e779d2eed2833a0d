"""Waiting on a non-blocking MPI request with a deadline.

A blocking ``MPI_Allreduce`` whose peer died waits forever. Non-blocking requests polled against a deadline
turn that into a ``CollectiveTimeoutError`` naming the rank and the operation.
"""
from __future__ import annotations

import time

from .errors import CollectiveTimeoutError

# Spin (Test back to back) this long before sleeping between polls: MPI makes progress on a request only
# inside MPI calls, so sleeping early would slow every healthy collective; sleeping later keeps a long
# wait (a slow or stuck peer) from burning a core at full speed.
_SPIN_S = 0.5
_SLEEP_S = 0.001


def wait(request, what: str, rank: int, timeout: float | None, interrupt=None) -> None:
    """Return once ``request`` completes; raise CollectiveTimeoutError after ``timeout`` seconds (None: never).

    ``interrupt``, when given, is called at each poll once the wait is no longer short; it may raise to end the
    wait (another rank announced that it will not come)."""
    if timeout is None and interrupt is None:
        request.Wait()
        return
    wait_until(request.Test, what, rank, timeout, interrupt)


def wait_until(ready, what: str, rank: int, timeout: float | None, interrupt=None) -> None:
    """Poll ``ready()`` until it is true, as ``wait`` polls a request."""
    start = time.monotonic()
    spin_until, deadline = start + _SPIN_S, start + (float("inf") if timeout is None else timeout)
    while not ready():
        now = time.monotonic()
        if now >= deadline:
            raise CollectiveTimeoutError(
                f"gpunn.distributed: rank {rank}: {what} did not complete within {timeout:g} s; another rank "
                "is stuck, has exited, or runs a different program. Raise GPUNN_COLLECTIVE_TIMEOUT if a rank "
                "legitimately works alone that long (saving, evaluating)."
            )
        if now >= spin_until:
            if interrupt is not None:
                interrupt()
            time.sleep(_SLEEP_S)
