"""Gradient buckets: contiguous slices of the flat gradient buffer, each summed over ranks as one call.

Backward runs from the last layer to the first, and the flat buffer holds layers in order, so the layers
finished so far always form a suffix of the buffer. Cutting that order into buckets of about
``bucket_bytes`` lets the sum of a bucket start while the layers before it are still being differentiated.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bucket:
    start: int                  # [start, stop) of the flat gradient buffer
    stop: int
    layers: tuple[int, ...]     # the layers whose gradients must be final before the bucket is sent


def plan_buckets(layer_segments, total: int, itemsize: int, bucket_bytes: int) -> list[Bucket]:
    """Buckets in launch order (last layers first) that partition ``[0, total)`` exactly.

    ``layer_segments[i]`` lists layer i's (start, stop) slices of the buffer (empty for layers without
    weights). A bucket closes once it holds at least ``bucket_bytes``. If the layers are not laid out in
    order (never the case for a Sequential model), one bucket covering everything is returned, sent when
    backward is done.
    """
    if total == 0:
        return []
    buckets: list[Bucket] = []
    hi, lo, members = total, total, []
    for index in reversed(range(len(layer_segments))):
        segments = layer_segments[index]
        if not segments:
            continue
        if max(stop for _, stop in segments) > lo:  # out of order: no safe split
            return [Bucket(0, total, ())]
        lo = min(start for start, _ in segments)
        members.append(index)
        if (hi - lo) * itemsize >= bucket_bytes:
            buckets.append(Bucket(lo, hi, tuple(members)))
            hi, members = lo, []
    if hi > 0:  # the remaining layers, and any leading part no layer claimed
        if members or not buckets:
            buckets.append(Bucket(0, hi, tuple(members)))
        else:
            last = buckets.pop()
            buckets.append(Bucket(0, last.stop, last.layers))
    return buckets
