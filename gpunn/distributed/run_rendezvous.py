"""Ranks meet before every collective run (``fit``, ``evaluate``, ``predict``, ``train_on_batch``,
``test_on_batch``) and at the end of the program, and check that they are all starting the same one.

Collectives match by order alone. Horovod's idiom ``if rank == 0: model.evaluate(x, y)`` (Keras's evaluate
makes no collective there) would pair rank 0's collectives with whatever the other ranks do next: a fit's
gradient sums, or their end of the program, where an MPI library may "complete" a broadcast against a barrier
and hand back garbage. So every run starts with one small allgather on a communicator of its own (the
failure-notice channel, whose only collectives are these), so they can only pair with each other: each rank
gives a code of what it is starting and how many runs it started before. When the codes differ, every rank
raises RanksDisagreeError naming what each was starting, before any collective of the run is made.
"""
from __future__ import annotations

import json
import zlib

import numpy as np

from . import waiting
from .errors import RanksDisagreeError


def meet(channel, rank: int, size: int, run: dict, timeout: float | None, interrupt=None) -> None:
    """Return when every rank announced ``run`` (``{"what": "called evaluate", "number": 12}``: what this rank is
    starting and how many runs it started before); else raise RanksDisagreeError on every rank."""
    what = f"the check that every rank {run['what']} too"
    code = np.array([zlib.crc32(run["what"].encode()), run["number"]], dtype=np.int64)
    codes = np.empty((size, 2), dtype=np.int64)
    waiting.wait(channel.Iallgather(code, codes), what, rank, timeout, interrupt)
    if (codes == codes[0]).all():
        return
    texts = _allgather_text(channel, json.dumps(run), what, rank, timeout, interrupt)
    raise RanksDisagreeError(_disagreement([json.loads(text) for text in texts]))


def _allgather_text(channel, text: str, what: str, rank: int, timeout, interrupt) -> list[str]:
    """Every rank's ``text`` in rank order (the lengths, then the bytes)."""
    payload = np.frombuffer(text.encode(), dtype=np.uint8)
    lengths = np.empty(channel.Get_size(), dtype=np.int64)
    waiting.wait(channel.Iallgather(np.array([payload.size], dtype=np.int64), lengths), what, rank, timeout,
                 interrupt)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    joined = np.empty(int(offsets[-1]), dtype=np.uint8)
    waiting.wait(channel.Iallgatherv(payload, [joined, (lengths.tolist(), offsets[:-1].tolist())]), what, rank,
                 timeout, interrupt)
    return [joined[offsets[r]:offsets[r + 1]].tobytes().decode() for r in range(len(lengths))]


def _disagreement(runs: list) -> str:
    groups: dict = {}
    for rank, run in enumerate(runs):
        groups.setdefault(run["what"], []).append(rank)
    held = "; ".join(f"rank(s) {ranks} {what}" for what, ranks in groups.items())
    if len(groups) == 1:  # the same call, but not the same count of runs before it
        counts = "; ".join(f"rank {r}: {run['number']}" for r, run in enumerate(runs))
        held += f", as different runs (run number {counts})"
    return (f"gpunn.distributed: ranks disagree on the call: {held}. fit, evaluate, predict, train_on_batch and "
            "test_on_batch are collective: call them on every rank, each computes its share and every rank gets the "
            "whole result (model.is_chief is for printing and writing files only).")

