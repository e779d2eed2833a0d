"""Ranks agree on what they are about to run, before its first collective.

Each rank describes its run as a JSON-able dict (``run_summary.py``: the call, the model's definition, the
compile configuration, the data schedule). Ranks compare a digest of its canonical JSON with one small host
allreduce: the sums of each digest byte and of its square, which all ranks read alike. The digests are all
equal exactly when N * sum(d^2) == sum(d)^2 for every byte (equality in Cauchy-Schwarz); the values are
small integers, so the float64 sums are exact. Only when the digests differ do the ranks exchange the
descriptions themselves, so that every rank can name the differing settings and which ranks hold which
value, and raise the same error at once: a rank left waiting in a collective would otherwise hold the job
until the collective timeout.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np

from .errors import RanksDisagreeError

SECTIONS = {"call": "the call", "model": "the model definition", "compile": "the compile configuration",
            "data": "the data schedule"}
_SHOWN = 5  # differing settings listed with their values; then up to _NAMED more by name
_NAMED = 10
_ABSENT = "<absent>"


def check_agreement(comm, summary: dict) -> None:
    """Return when every rank holds the same ``summary``; else raise RanksDisagreeError on every rank."""
    if comm.size == 1:
        return
    summary = plain(summary)
    canonical = _canonical(summary)
    digest = np.frombuffer(hashlib.sha256(canonical.encode()).digest(), dtype=np.uint8).astype(np.float64)
    total, squares = comm.allreduce_host(np.stack([digest, digest * digest]))
    if np.array_equal(comm.size * squares, total * total):
        return
    # In insertion order, so that the first difference named is the first in the summary's logical order.
    summaries = [json.loads(text) for text in allgather_text(comm, json.dumps(summary))]
    differ = [r for r, other in enumerate(summaries) if _canonical(other) != _canonical(summaries[0])]
    raise RanksDisagreeError(describe(summaries, differ))


def _canonical(summary: dict) -> str:
    return json.dumps(summary, sort_keys=True, separators=(",", ":"))


def allgather_text(comm, text: str) -> list[str]:
    """Every rank's ``text``, in rank order, on every rank (two allgathers: the lengths, then the bytes)."""
    payload = np.frombuffer(text.encode(), dtype=np.uint8)
    lengths = comm.allgather_rows(np.array([payload.size], dtype=np.int64)).tolist()
    joined = comm.allgather_rows(payload).tobytes()
    offsets = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    return [joined[offsets[r]:offsets[r + 1]].decode() for r in range(len(lengths))]


def describe(summaries: list[dict], differ: list[int]) -> str:
    """The message for ranks holding ``summaries`` (rank order); ``differ``: the ranks unlike rank 0."""
    flat = [flatten(s) for s in summaries]
    keys = list(dict.fromkeys(key for f in flat for key in f))  # rank 0's order first, then others' extra keys
    differing = [k for k in keys if len({json.dumps(f.get(k, _ABSENT)) for f in flat}) > 1]
    section = SECTIONS.get(differing[0].split(".", 1)[0].split("[", 1)[0], "the run") if differing else "the run"
    calls = "/".join(dict.fromkeys(str(s.get("call", "training")) for s in summaries))
    lines = [f"gpunn.distributed: ranks disagree on {section}: rank(s) {differ} differ from rank 0 "
             f"(checked before {calls} started)"]
    for key in differing[:_SHOWN]:
        groups: dict = {}
        for rank, f in enumerate(flat):
            value = f.get(key, _ABSENT)
            groups.setdefault(json.dumps(value), (value, []))[1].append(rank)
        held = "; ".join(f"{_show(value)} on rank(s) {ranks}" for value, ranks in groups.values())
        lines.append(f"  {key}: {held}")
    more = differing[_SHOWN:]
    if more:
        lines.append(f"  and {len(more)} more: {', '.join(more[:_NAMED])}{', ...' if len(more) > _NAMED else ''}")
    lines.append("Every rank must run the same script with the same model, compile arguments, data sizes and "
                 "fit/evaluate/predict arguments.")
    return "\n".join(lines)


def _show(value) -> str:
    return value if value == _ABSENT else repr(value)


def flatten(value, prefix: str = "") -> dict:
    """{'model.layers[0].units': 8, ...}: every leaf of a JSON value under its path."""
    if isinstance(value, dict) and value:
        out = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


def plain(value):
    """``value`` with only JSON types: NumPy scalars as Python numbers, tuples as lists, other objects by class
    and config (never by repr, which may hold a memory address that differs between ranks)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if callable(getattr(value, "get_config", None)):
        return {"class": type(value).__name__, **plain(value.get_config())}
    return f"<{type(value).__name__}>"
