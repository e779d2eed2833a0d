"""NCCL collectives inside a step's CUDA graph, checked without a GPU: which NCCL allows it and how a
reducer's calls are recorded. The bucketed reducer under capture is in test_distributed_local.py, replays
holding the reduction against eager training under MPI in test_distributed_mpi.py, the real capture (one GPU)
in the gpu-marked test_distributed_nccl.py."""
from __future__ import annotations

import types

import pytest

from gpunn.distributed.base import GradientReducer
from gpunn.distributed.nccl import collectives_in_graphs
from gpunn.ops.recording import DEVICE, HOST, Tape


def _nccl(version):
    def get_version():
        if isinstance(version, Exception):
            raise version
        return version

    return types.SimpleNamespace(get_version=get_version)


@pytest.mark.parametrize("version, allowed", [
    (2804, False),     # NCCL 2.8.4, the old version code
    (2999, False),     # no 2.x release before 2.9 reached this, and it is still the old code
    (20900, True),     # NCCL 2.9.0, the first that can be captured
    (22703, True),     # NCCL 2.27.3
    (0, False),        # CuPy's answer when ncclGetVersion is missing (before 2.3.4)
    (RuntimeError("no NCCL"), False),
])
def test_collectives_go_inside_graphs_from_nccl_2_9(monkeypatch, version, allowed):
    monkeypatch.delenv("GPUNN_GRAPH_COLLECTIVES", raising=False)
    assert collectives_in_graphs(_nccl(version)) is allowed


def test_graph_collectives_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("GPUNN_GRAPH_COLLECTIVES", "0")
    assert collectives_in_graphs(_nccl(22703)) is False
    monkeypatch.setenv("GPUNN_GRAPH_COLLECTIVES", "1")
    assert collectives_in_graphs(_nccl(22703)) is True


def test_a_call_declared_device_work_joins_the_device_run_of_the_tape():
    tape, log = Tape(), []
    tape.calls.append((lambda: log.append("forward"), DEVICE))
    assert tape.call(log.append, "reduce on the device", device=True) is None
    assert tape.call(log.append, "reduce on the host") is None
    assert [kind for _, kind in tape.calls] == [DEVICE, DEVICE, HOST]
    assert [kind for kind, _ in tape.segments(2)] == [DEVICE, HOST, DEVICE, HOST]
    assert log == ["reduce on the device", "reduce on the host"]  # run once while recorded
    tape.replay()
    assert log[2:] == ["forward", "reduce on the device", "reduce on the host"]


def test_reducers_are_host_work_unless_they_say_otherwise():
    reducer = GradientReducer(comm=None, grads=None)
    assert reducer.device_only is False
    assert reducer.after_replay() is None
