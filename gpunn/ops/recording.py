"""Record a training step's Ops calls once, replay them afterwards.

Every array primitive of an Ops is declared with ``@primitive``. While a ``Tape`` is recording on an Ops, each
outermost primitive call is appended to it with its bound arguments (the very buffers it read and wrote) and
then executed as usual; primitives called from inside another primitive are not recorded on their own. A
replay calls the recorded functions in order on the same buffers, without the Python layer logic that chose
them, so it computes exactly what the eager step computed, bit for bit on the CPU, provided nothing that
changes from step to step reached a primitive as a host value. That is what the step keeps on the device
(iteration count, learning rate, dropout counters); the replay-equals-eager tests are what prove it.

A call that a replay cannot repeat is refused while recording: a primitive that would allocate its result
(no ``out=``) returns an array nobody would see again on replay.
"""
from __future__ import annotations

import functools
import inspect
import threading

import numpy


class NotReplayableError(RuntimeError):
    """A step did something while recording that a replay could not repeat."""


def primitive(method):
    """Mark an Ops method as a recordable array primitive (it must write into the buffers it is given)."""

    parameters = inspect.signature(method).parameters
    writes_out = "out" in parameters
    # Where ``out`` arrives when passed by position (after self); read directly, not through
    # Signature.bind, which costs tens of microseconds per recorded call.
    out_position = list(parameters).index("out") - 1 if writes_out else None
    out_default = parameters["out"].default if writes_out else None

    def out_argument(args, kwargs):
        if "out" in kwargs:
            return kwargs["out"]
        return args[out_position] if len(args) > out_position else out_default

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        tape = self._tape
        if tape is None or self._tape_thread != threading.get_ident():  # (another thread's call is not the step's)
            return method(self, *args, **kwargs)
        if writes_out and out_argument(args, kwargs) is None:
            raise NotReplayableError(f"{method.__name__} was called without out= while recording a step")
        tape.append(method, self, args, kwargs)
        self._tape = None  # primitives used inside this one run as part of it
        try:
            return method(self, *args, **kwargs)
        finally:
            self._tape = tape

    call.unrecorded = method
    return call


DEVICE, HOST = "device", "host"


class Tape:
    """The recorded calls of one step: ``(bound call, kind)``, the buffers bound. ``kind`` is DEVICE for an
    array primitive (device work only: what a CUDA graph can capture) and HOST for a call the step made
    through ``call`` (a gradient reducer's hook, a collective over MPI), unless that call says it only queues
    device work (``device=True``: NCCL collectives a graph can hold)."""

    def __init__(self):
        self.calls: list[tuple] = []

    def append(self, method, ops, args, kwargs) -> None:
        self.calls.append((ops.bind_for_replay(method, args, kwargs), DEVICE))

    def call(self, function, *args, device: bool = False):
        """Record and run a step's non-array call (a gradient reducer's hook, a collective). ``device``: the
        call only queues device work on the current stream (and streams it joins), so a CUDA graph may hold
        it; otherwise it stays a host call between graphs."""
        bound = functools.partial(function, *args)
        self.calls.append((bound, DEVICE if device else HOST))
        return bound()

    def replay(self) -> None:
        for bound, _kind in self.calls:
            bound()

    def segments(self, repeats: int = 1) -> list[tuple[str, list]]:
        """``repeats`` replays as runs of consecutive calls of one kind: [(kind, [bound calls])]."""
        runs: list[tuple[str, list]] = []
        for _ in range(repeats):
            for bound, kind in self.calls:
                if runs and runs[-1][0] == kind:
                    runs[-1][1].append(bound)
                else:
                    runs.append((kind, [bound]))
        return runs

    def __len__(self) -> int:
        return len(self.calls)


class Recording:
    """``with Recording(ops) as tape:`` records every outermost primitive called on ``ops`` in the block."""

    def __init__(self, ops):
        self.ops = ops
        self.tape = Tape()

    def __enter__(self) -> Tape:
        if self.ops._tape is not None:
            raise NotReplayableError("a step is already being recorded on this Ops")
        # The step's own thread's calls are recorded, not another thread's computing meanwhile (with arrays of
        # its own, outside the compute turn the recording step holds: compute_turns.py)
        self.ops._tape, self.ops._tape_thread = self.tape, threading.get_ident()
        return self.tape

    def __exit__(self, *exc) -> bool:
        self.ops._tape = None
        return False


@functools.lru_cache(maxsize=None)
def _signature(function) -> inspect.Signature:
    return inspect.signature(function)


def describe_call(bound) -> tuple[str | None, dict]:
    """(name, {parameter: argument}) of a recorded call: the primitive or function it calls, with what it is
    bound to (a NumPy or MKL matmul as ``matmul`` with a, b, out); (None, {}) where that cannot be told."""
    operands = getattr(bound, "operands", None)  # NumpyOps's MKL product (mkl_gemm.PreparedGemm)
    if operands is not None and getattr(bound, "__name__", None) == "matmul":
        return "matmul", dict(zip(("a", "b", "out"), operands))
    function = getattr(bound, "func", None)
    if function is None:
        return None, {}
    if function is numpy.matmul:  # NumpyOps's product where MKL does not take it
        return "matmul", {"a": bound.args[0], "b": bound.args[1], "out": bound.keywords.get("out")}
    try:
        arguments = _signature(function).bind(*bound.args, **bound.keywords)
    except (TypeError, ValueError):
        return None, {}
    arguments.apply_defaults()
    named = dict(arguments.arguments)
    named.pop("self", None)
    return getattr(function, "__name__", None), named
