"""What a CUDA graph would freeze, found on the CPU.

On a GPU a recorded step's device runs (``recording.Tape.segments``: consecutive array primitives) are captured
as CUDA graphs: the Python of their calls runs once, at capture, and a replay launches only the kernels it
queued. Python of the user's running inside such a run (a constraint's ``__call__``, a loss function) would
compute once and be frozen into the graph, or allocate from CuPy's pool while capturing, which refuses the
capture. Likewise an allocation or a host transfer made through the Ops (``empty``, ``zeros``, ``asarray``,
``to_numpy``, ``upload``...). Such work belongs in host calls (``Ops.run_python``), between graphs.

The NumPy backend replays every call, so its results cannot show this. ``watch_device_segments`` replays the
device runs of NumPy replays under a profiler and notes every call of code from the tests' own files (the
user's code of a test) and of the Ops methods that allocate or transfer. ``conftest.py`` runs the CPU tests
under it, so every recorded step the suite trains is checked.
"""
from __future__ import annotations

import contextlib
import os
import sys

from gpunn.ops import base
from gpunn.ops.numpy_ops import NumpyOps
from gpunn.ops.recording import DEVICE

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
ALLOCATING_OR_TRANSFERRING = ("asarray", "to_numpy", "zeros", "empty", "empty_like", "copy", "upload")


def _watched_codes() -> dict:
    codes = {}
    for cls in (base.Ops, NumpyOps):
        for name in ALLOCATING_OR_TRANSFERRING:
            function = cls.__dict__.get(name)
            if function is not None:
                codes[function.__code__] = f"Ops.{name}"
    return codes


class DeviceSegmentWatch:
    """Collects (what was called, the recorded call it ran in) for every forbidden call seen inside a device
    run of a replay."""

    def __init__(self):
        self.found: list[tuple[str, str]] = []
        self._codes = _watched_codes()

    def _profile(self, recorded_call):
        def profile(frame, event, _arg):
            if event != "call":
                return
            code = frame.f_code
            watched = self._codes.get(code)
            if watched is None and code.co_filename.startswith(TESTS_DIR):
                watched = f"{code.co_name} ({os.path.basename(code.co_filename)}:{code.co_firstlineno})"
            if watched is not None:
                self.found.append((watched, _name_of(recorded_call)))
        return profile

    def run_segments(self, tape, repeats: int) -> None:
        for kind, calls in tape.segments(repeats):
            for call in calls:
                if kind != DEVICE:
                    call()
                    continue
                sys.setprofile(self._profile(call))
                try:
                    call()
                finally:
                    sys.setprofile(None)

    def compile_replays(self, ops, tape, repeats: int = 1):
        return lambda: self.run_segments(tape, repeats)

    def report(self) -> str:
        seen = sorted(set(self.found))
        return "; ".join(f"{what} inside {call}" for what, call in seen)


def _name_of(call) -> str:
    function = getattr(call, "func", call)
    return getattr(function, "__qualname__", None) or getattr(function, "__name__", None) or repr(function)


@contextlib.contextmanager
def watch_device_segments():
    """Within the block, NumPy replays of recorded steps run through a DeviceSegmentWatch (yielded)."""
    watch = DeviceSegmentWatch()
    saved = base.Ops.compile_replays
    base.Ops.compile_replays = lambda ops, tape, repeats=1: watch.compile_replays(ops, tape, repeats)
    try:
        yield watch
    finally:
        base.Ops.compile_replays = saved
