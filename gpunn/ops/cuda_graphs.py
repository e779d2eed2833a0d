"""Recorded steps captured as CUDA graphs: one graph launch replays a whole step (or several).

A recorded step (``recording.Tape``) is a list of bound calls on static buffers, nothing computed on the host
from step to step. Its device runs (consecutive array primitives) are captured here, each into one CUDA
graph, on a non-blocking capture stream; its host calls (a gradient reducer's hook that talks MPI, or NCCL
older than 2.9) stay Python calls between graph launches, so the graph ends before such a reduction and a new
one starts after it. A reducer whose hooks only queue device work (NCCL >= 2.9) is recorded as device work and
captured with the rest. Graphs are launched on the caller's current stream, in order with everything else gpunn queues there.

A capture is refused, and the caller falls back to replaying the recording call by call, when anything
inside it would not replay correctly from a graph: an exception from CUDA or a library (a host sync, a
library that refuses capture), or a device allocation (memory the graph would keep using after the pool
handed it to someone else): a counting memory hook watches the capture. CuPy's CUB reductions need
temporary storage, so CuPy's accelerators are switched off while capturing (its own reduction kernels
write straight into ``out``), and while every training step runs, eager or recorded, so that a step computes
what its graphs compute and compiles the kernels they will hold.
"""
from __future__ import annotations

import contextlib

from .recording import HOST


class CaptureRefused(RuntimeError):
    """A step could not be captured as a CUDA graph; the message says why."""


def compile_replays(ops, tape, repeats: int):
    """A callable running ``repeats`` replays of ``tape`` as CUDA graph launches (with the tape's host calls
    between them); raises CaptureRefused when a device run cannot be captured."""
    runners = []
    for kind, calls in tape.segments(repeats):
        if kind == HOST:
            runners.extend(calls)
        else:
            runners.append(capture(ops, calls))
    if len(runners) == 1:
        return runners[0]

    def run() -> None:
        for runner in runners:
            runner()

    return run


def capture(ops, calls):
    """One CUDA graph of ``calls`` (device work only); returns its launcher (on the current stream)."""
    cp = ops.xp
    stream = ops.capture_stream()
    ops.before_capture(stream)
    allocations = _CountingHook(cp)
    graph = failure = None
    with stream, allocations, without_accelerators(cp):
        stream.begin_capture()
        call = None
        try:
            for call in calls:
                call()
        except Exception as exc:  # noqa: BLE001 - CUDA, cuBLAS, NCCL and Numba each raise their own types
            failure = (exc, call)
        # Always ended, so the stream is not left capturing; a call that broke the capture makes this raise
        # too (cudaErrorStreamCaptureInvalidated), and the call's own error is the reason worth reporting.
        try:
            graph = stream.end_capture()
        except Exception as exc:  # noqa: BLE001
            failure = failure or (exc, None)
    if failure is not None:
        exc, call = failure
        where = f" in {_call_name(call)}" if call is not None else ""
        raise CaptureRefused(f"{type(exc).__name__}{where}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
    if allocations.count:
        raise CaptureRefused(f"the step allocated device memory {allocations.count} time(s) while captured")
    graph.upload(cp.cuda.get_current_stream())
    return graph.launch


def _call_name(call) -> str:
    """A recorded call's name: the primitive or hook a tape bound (``functools.partial`` of a method)."""
    function = getattr(call, "func", call)
    return getattr(function, "__qualname__", None) or getattr(function, "__name__", None) or repr(function)


class _CountingHook:
    """Counts device allocations made through CuPy's memory pool inside the block."""

    def __init__(self, cp):
        counter = self

        class Hook(cp.cuda.MemoryHook):
            name = "gpunn-capture-allocations"

            def malloc_preprocess(self, **kwargs):
                counter.count += 1

        self.count = 0
        self._hook = Hook()

    def __enter__(self):
        self._hook.__enter__()
        return self

    def __exit__(self, *exc):
        return self._hook.__exit__(*exc)


def _accelerator_module():
    from cupy._core import _accelerator

    return _accelerator


@contextlib.contextmanager
def without_accelerators(cp):
    """CuPy's CUB reductions and routines off inside the block (they take temporary storage from the pool).
    Every training step runs this way too (``CupyOps.step_conditions``), so eager steps and graphs run the
    same kernels, compiled before any capture begins."""
    _accelerator = _accelerator_module()
    saved = (_accelerator.get_reduction_accelerators(), _accelerator.get_routine_accelerators())
    _accelerator.set_reduction_accelerators([])
    _accelerator.set_routine_accelerators([])
    try:
        yield
    finally:
        _accelerator.set_reduction_accelerators(saved[0])
        _accelerator.set_routine_accelerators(saved[1])
