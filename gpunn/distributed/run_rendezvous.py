"""Ranks meet before every collective run (``fit``, ``evaluate``, ``predict``, ``train_on_batch``,
``test_on_batch``) and at the end of the program, and check that they are all starting the same one.

Collectives match by order alone. Horovod's idiom ``if rank == 0: model.evaluate(x, y)`` (Keras's evaluate
makes no collective there) would pair rank 0's collectives with whatever the other ranks do next: a fit's
gradient sums, or their end of the program, where an MPI library may "complete" a broadcast against a barrier
and hand back garbage. So each rank first tells rank 0 what it is starting, point to point (a message only
matches a message with its tag), and rank 0 answers every rank with the verdict: every rank then goes on, or
every rank raises RanksDisagreeError naming what each was starting, before any collective is made.
"""
from __future__ import annotations

import json

import numpy as np

from . import waiting
from .errors import RanksDisagreeError

_ANNOUNCE, _VERDICT = 7714, 7715  # tags on the failure-notice channel, which carries nothing else


def meet(MPI, channel, rank: int, size: int, run: dict, timeout: float | None, interrupt=None) -> None:
    """Return when every rank announced ``run`` (``{"what": "called evaluate", "number": 12}``: what this rank is
    starting and how many runs it started before); else raise RanksDisagreeError on every rank."""
    if rank == 0:
        announced = {0: run}
        status = MPI.Status()

        def all_heard() -> bool:
            while channel.Iprobe(source=MPI.ANY_SOURCE, tag=_ANNOUNCE, status=status):
                source = status.Get_source()
                announced[source] = _receive(channel, status, source, _ANNOUNCE, MPI)
            return len(announced) == size

        waiting.wait_until(all_heard, f"the check that every rank {run['what']} too",
                           rank, timeout, interrupt)
        runs = [announced[r] for r in range(size)]
        agree = all(other == run for other in runs)
        verdict = _payload({"runs": None if agree else runs})  # the runs themselves only to name a difference
        for peer in range(1, size):
            channel.Send(verdict, dest=peer, tag=_VERDICT)
    else:
        channel.Send(_payload(run), dest=0, tag=_ANNOUNCE)
        status = MPI.Status()
        waiting.wait_until(lambda: channel.Iprobe(source=0, tag=_VERDICT, status=status),
                           f"the check that every rank {run['what']} too (rank 0's answer)",
                           rank, timeout, interrupt)
        runs = _receive(channel, status, 0, _VERDICT, MPI)["runs"]
    if runs is not None and any(other != runs[0] for other in runs):
        raise RanksDisagreeError(_disagreement(runs))


def _payload(value) -> np.ndarray:
    return np.frombuffer(json.dumps(value).encode(), dtype=np.uint8).copy()


def _receive(channel, status, source: int, tag: int, MPI):
    buffer = np.empty(status.Get_count(MPI.BYTE), dtype=np.uint8)
    channel.Recv(buffer, source=source, tag=tag)
    return json.loads(buffer.tobytes().decode())


def _disagreement(runs: list) -> str:
    groups: dict = {}
    for rank, run in enumerate(runs):
        groups.setdefault(run["what"], []).append(rank)
    held = "; ".join(f"rank(s) {ranks} {what}" for what, ranks in groups.items())
    if len(groups) == 1:  # the same call, but not the same count of runs before it
        counts = "; ".join(f"rank {r}: {run['number']}" for r, run in enumerate(runs))
        held += f", after different numbers of runs ({counts})"
    return (f"gpunn.distributed: ranks disagree on the call: {held}. fit, evaluate, predict, train_on_batch and "
            "test_on_batch are collective: call them on every rank, each computes its share and every rank gets the "
            "whole result (model.is_chief is for printing and writing files only).")

