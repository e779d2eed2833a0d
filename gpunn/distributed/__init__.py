"""Data-parallel training: the same script under ``mpiexec -n N`` after ``gpunn.distributed.init()``."""
from __future__ import annotations

from .base import Communicator
from .local import LocalCommunicator

_current: Communicator = LocalCommunicator()


def current() -> Communicator:
    """The communicator ``fit``, ``evaluate`` and ``predict`` use (a LocalCommunicator until ``init``)."""
    return _current


def set_current(comm: Communicator) -> Communicator:
    global _current
    _current = comm
    return comm


__all__ = ["Communicator", "LocalCommunicator", "current", "set_current"]
