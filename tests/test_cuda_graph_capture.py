"""The CUDA-graph capture of a recorded step without a GPU: what ``ops/cuda_graphs.py`` asks of CuPy exists in
the installed CuPy, and its control flow (device runs captured between host calls, the capture always ended,
refusals on an exception or an allocation, CuPy's CUB accelerators off while capturing and restored after)
runs against a stand-in stream that records what happens. On a GPU, tests/test_gpu_graphs.py runs it for real."""
from __future__ import annotations

import functools
import types

import pytest

from gpunn.ops import cuda_graphs
from gpunn.ops.recording import Tape


def test_the_cupy_api_the_capture_uses_exists():
    cp = pytest.importorskip("cupy", reason="CuPy is not installed: its API cannot be checked here")
    from cupy._core import _accelerator
    from cupy.cuda import graph

    for name in ("begin_capture", "end_capture", "is_capturing"):
        assert hasattr(cp.cuda.Stream, name), name
    assert hasattr(graph.Graph, "launch") and hasattr(graph.Graph, "upload")
    assert hasattr(cp.cuda.MemoryHook, "malloc_preprocess")
    for name in ("get_reduction_accelerators", "set_reduction_accelerators", "get_routine_accelerators",
                 "set_routine_accelerators"):
        assert hasattr(_accelerator, name), name


class _FakeGraph:
    def __init__(self, calls, log):
        self.calls, self.log = calls, log

    def upload(self, stream):
        self.log.append("upload")

    def launch(self):
        self.log.append("launch")
        for call in self.calls:  # what the real graph would run on the device
            call()


class _FakeStream:
    """Records what the capture does with it; calls made while capturing are kept for the graph."""

    def __init__(self, log):
        self.log, self.capturing, self.captured, self.invalidated = log, False, [], False

    def __enter__(self):
        self.log.append("enter")
        return self

    def __exit__(self, *exc):
        self.log.append("exit")
        return False

    def begin_capture(self):
        self.log.append("begin")
        self.capturing, self.captured = True, []

    def end_capture(self):
        self.log.append("end")
        self.capturing = False
        if self.invalidated:  # CUDA: a capture broken by an illegal call fails when it is ended
            self.invalidated = False
            raise RuntimeError("cudaErrorStreamCaptureInvalidated: operation failed due to a previous error "
                               "during capture")
        return _FakeGraph(self.captured, self.log)


class _FakeOps:
    """An Ops whose primitives run through the stand-in stream (as CupyOps's run on CuPy's current stream)."""

    def __init__(self, accelerators):
        self.log = []
        self.stream = _FakeStream(self.log)
        self.pool_hooks = []
        self.accelerators = accelerators

        class MemoryHook:
            def __enter__(hook):
                self.pool_hooks.append(hook)
                return hook

            def __exit__(hook, *exc):
                self.pool_hooks.remove(hook)
                return False

        self.xp = types.SimpleNamespace(cuda=types.SimpleNamespace(
            MemoryHook=MemoryHook, get_current_stream=lambda: "current"))

    def capture_stream(self):
        return self.stream

    def before_capture(self, stream):
        self.log.append("bind cublas")

    def allocate(self):
        for hook in self.pool_hooks:
            hook.malloc_preprocess(size=256)

    def primitive(self, name, effect=None):
        def run():
            if self.stream.capturing:
                # under capture a kernel is recorded, not run; the accelerators must be off by then
                self.log.append(f"captured {name} accelerators={self.accelerators.reduction}")
                self.stream.captured.append(lambda: self.log.append(f"ran {name}"))
                if effect:
                    effect()
            else:
                self.log.append(f"ran {name}")
        return run


@pytest.fixture
def accelerators(monkeypatch):
    state = types.SimpleNamespace(reduction=[1], routine=[1])
    fake = types.SimpleNamespace(
        get_reduction_accelerators=lambda: list(state.reduction),
        set_reduction_accelerators=lambda v: setattr(state, "reduction", list(v)),
        get_routine_accelerators=lambda: list(state.routine),
        set_routine_accelerators=lambda v: setattr(state, "routine", list(v)))
    monkeypatch.setattr(cuda_graphs, "_accelerator_module", lambda: fake)
    return state


def _tape(ops, *entries):
    tape = Tape()
    for kind, name in entries:
        if kind == "device":
            tape.calls.append((ops.primitive(name), "device"))
        else:
            tape.calls.append((lambda name=name: ops.log.append(f"host {name}"), "host"))
    return tape


def test_device_runs_become_graphs_and_host_calls_stay_between_them(accelerators):
    ops = _FakeOps(accelerators)
    tape = _tape(ops, ("device", "forward"), ("device", "backward"), ("host", "allreduce"), ("device", "update"))
    run = cuda_graphs.compile_replays(ops, tape, repeats=2)
    assert accelerators.reduction == [1] and accelerators.routine == [1]  # restored after capturing
    # two replays: [forward backward] host [update forward backward] host [update]: three graphs
    assert ops.log.count("begin") == ops.log.count("end") == 3
    assert all(entry == "captured forward accelerators=[]" for entry in ops.log if "captured forward" in entry)
    assert "bind cublas" in ops.log[:1]
    ops.log.clear()
    run()
    assert ops.log == ["launch", "ran forward", "ran backward", "host allreduce", "launch", "ran update",
                       "ran forward", "ran backward", "host allreduce", "launch", "ran update"]


def test_an_exception_while_capturing_ends_the_capture_and_is_refused_with_its_reason(accelerators):
    ops = _FakeOps(accelerators)

    def sync():
        ops.stream.invalidated = True  # as CUDA does to a capture when a call in it is illegal
        raise RuntimeError("cudaErrorStreamCaptureUnsupported: operation not permitted when stream is capturing")

    def softmax_xent(run):  # a named primitive, bound to its arguments as a tape binds one
        run()

    tape = Tape()
    tape.calls.append((ops.primitive("forward"), "device"))
    tape.calls.append((functools.partial(softmax_xent, ops.primitive("softmax", effect=sync)), "device"))
    # the reason is the call's own error, named, not the invalidated capture that ending it reports
    with pytest.raises(cuda_graphs.CaptureRefused,
                       match=r"^RuntimeError in .*softmax_xent: cudaErrorStreamCaptureUnsupported"):
        cuda_graphs.compile_replays(ops, tape, 1)
    assert ops.log.count("begin") == ops.log.count("end") == 1  # the stream is not left capturing
    assert not ops.stream.capturing and accelerators.reduction == [1]


def test_an_allocation_while_capturing_is_refused(accelerators):
    ops = _FakeOps(accelerators)
    tape = Tape()
    tape.calls.append((ops.primitive("forward", effect=ops.allocate), "device"))
    with pytest.raises(cuda_graphs.CaptureRefused, match="allocated device memory 1 time"):
        cuda_graphs.compile_replays(ops, tape, 1)
    assert ops.pool_hooks == []


def test_cupy_runs_its_steps_with_the_accelerators_off_as_it_captures(accelerators):
    """Eager and recorded steps run CuPy's own reduction kernels, compiled then, as its graphs will: not CUB,
    which the capture switches off."""
    from gpunn.ops.cupy_ops import CupyOps

    with CupyOps.step_conditions(types.SimpleNamespace(xp=None)):
        assert accelerators.reduction == [] and accelerators.routine == []
    assert accelerators.reduction == [1] and accelerators.routine == [1]
