"""Workspaces: the buffers one part of a step (a layer, the loss, a metric) writes into, per batch size.

Made on first use and reused by every later step of the same batch size, as llm.c allocates its activations
once: after the first step of a given size a training step allocates no arrays, and the buffers stay where a
recorded step (``ops/recording.py``) expects them.
"""
from __future__ import annotations

import numpy as np


class Workspace:
    """Named buffers on one Ops; ``buffer(name, shape, dtype)`` returns the same array every time."""

    __slots__ = ("ops", "_buffers", "_values", "objects")

    def __init__(self, ops):
        self.ops = ops
        self._buffers: dict = {}
        self._values: dict = {}  # the host value each constant holds
        # What a host call of a step keeps for a later one (a user's activation: its computation, for backward)
        self.objects: dict = {}

    def buffer(self, name: str, shape, dtype):
        """The buffer ``name``, made (uninitialised) the first time or when its shape or dtype changes."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != tuple(shape) or buf.dtype != dtype:
            buf = self.ops.empty(tuple(shape), dtype=np.dtype(dtype))
            self._buffers[name] = buf
        return buf

    def zeros(self, name: str, shape, dtype):
        """Like ``buffer``, zeroed when made (for buffers that are only partly written, or accumulated)."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != tuple(shape) or buf.dtype != dtype:
            buf = self.ops.zeros(tuple(shape), dtype=np.dtype(dtype))
            self._buffers[name] = buf
        return buf

    def constant(self, name: str, value, dtype):
        """A 0-d array holding ``value`` (1-D for a tuple of values): ufuncs given a Python or NumPy scalar convert
        it to a small array on every call (an allocation on the CPU); a 0-d array of the operand's dtype is used
        as it is. The value is written again (from the host, no allocation on the CPU) when it changes."""
        buf = self._buffers.get(name)
        shape = (len(value),) if isinstance(value, tuple) else ()  # not np.shape: it makes an array of a scalar
        if buf is None or buf.dtype != dtype or buf.shape != shape:
            buf = self.ops.asarray(np.asarray(value, dtype=dtype))
            self._buffers[name] = buf
            self._values[name] = value
        elif self._values[name] != value:
            if buf.ndim:
                self.ops.upload(np.asarray(value, dtype=dtype), buf)
            else:
                buf.fill(value)
            self._values[name] = value
        return buf

    def __len__(self) -> int:
        return len(self._buffers)


class Workspaces:
    """One Workspace per key (a batch size, or a batch size and a mode), made on first use."""

    __slots__ = ("ops", "_by_key")

    def __init__(self, ops):
        self.ops = ops
        self._by_key: dict = {}

    def __call__(self, key) -> Workspace:
        ws = self._by_key.get(key)
        if ws is None:
            ws = self._by_key[key] = Workspace(self.ops)
        return ws

    def clear(self) -> None:
        self._by_key.clear()
