"""The parts of gpunn.distributed that need neither mpiexec nor a GPU."""
from __future__ import annotations

import subprocess
import sys
import time
import types

import numpy as np
import pytest

from gpunn import distributed
from gpunn.distributed import failure, waiting
from gpunn.distributed.buckets import Bucket, plan_buckets
from gpunn.distributed.errors import CollectiveTimeoutError, collective_timeout
from gpunn.distributed.nccl import BucketedGradientReducer
from gpunn.distributed.watchdog import DeviceWatchdog
from gpunn.distributed.sharding import shard_bounds


# ---- alone ----------------------------------------------------------------------------------------
def test_init_alone_gives_the_local_communicator(monkeypatch):
    for key in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS", "SLURM_PROCID"):
        monkeypatch.delenv(key, raising=False)
    comm = distributed.init()
    assert comm is distributed.current()
    assert (comm.backend, comm.rank, comm.size, comm.local_rank, comm.is_chief) == ("local", 0, 1, 0, True)
    assert distributed.init("local").backend == "local"
    with pytest.raises(ValueError, match="backend: expected one of"):
        distributed.init("gloo")


def test_a_process_started_by_torchrun_is_told_to_use_mpiexec(monkeypatch):
    """torchrun (Keras's launcher for its torch backend) sets WORLD_SIZE/RANK/LOCAL_RANK: each process would find
    itself alone and train on its own; init() stops with the mpiexec line instead."""
    for key in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS", "SLURM_PROCID"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(distributed, "_current", distributed.LocalCommunicator())
    with pytest.raises(RuntimeError, match=r"started by PyTorch's launcher \(torchrun; WORLD_SIZE=4\).*mpiexec -n 4"):
        distributed.init()
    assert distributed.init("local").size == 1  # (asked for by name: one process, as it is)
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert distributed.init().size == 1


def test_local_communicator_is_the_identity():
    comm = distributed.LocalCommunicator()
    a = np.arange(4.0)
    comm.allreduce_sum_(a)
    comm.broadcast_(a)
    np.testing.assert_array_equal(a, np.arange(4.0))
    np.testing.assert_array_equal(comm.allreduce_host([1.0, 2.0]), [1.0, 2.0])
    assert comm.broadcast_object(("x", 1)) == ("x", 1)
    np.testing.assert_array_equal(comm.allgather_rows(np.ones((2, 3))), np.ones((2, 3)))
    comm.check_same("anything", "value")
    comm.barrier()


def test_import_gpunn_loads_neither_mpi4py_nor_cupy():
    code = ("import sys, gpunn; gpunn.distributed.current(); "
            "assert not {'mpi4py', 'cupy'} & {m.split('.')[0] for m in sys.modules}, 'imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ---- the batch rule -------------------------------------------------------------------------------
@pytest.mark.parametrize("n, size", [(10, 4), (33, 2), (1, 3), (64, 8), (7, 7), (5, 1)])
def test_shard_bounds_contiguous_shares_differing_by_one_lower_ranks_first(n, size):
    bounds = [shard_bounds(100, 100 + n, r, size) for r in range(size)]
    assert bounds[0][0] == 100 and bounds[-1][1] == 100 + n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    sizes = [hi - lo for lo, hi in bounds]
    assert sizes == sorted(sizes, reverse=True) and max(sizes) - min(sizes) <= 1
    assert sizes == [n // size + (1 if r < n % size else 0) for r in range(size)]


# ---- timeouts -------------------------------------------------------------------------------------
def test_collective_timeout_setting(monkeypatch):
    monkeypatch.delenv("GPUNN_COLLECTIVE_TIMEOUT", raising=False)
    assert collective_timeout() == 300.0
    monkeypatch.setenv("GPUNN_COLLECTIVE_TIMEOUT", "12.5")
    assert collective_timeout() == 12.5
    assert collective_timeout(3) == 3.0
    monkeypatch.setenv("GPUNN_COLLECTIVE_TIMEOUT", "0")
    assert collective_timeout() is None
    monkeypatch.setenv("GPUNN_COLLECTIVE_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="GPUNN_COLLECTIVE_TIMEOUT"):
        collective_timeout()


class FakeRequest:
    def __init__(self, done_after: int | None):
        self.tests, self.done_after, self.waited = 0, done_after, False

    def Test(self):
        self.tests += 1
        return self.done_after is not None and self.tests >= self.done_after

    def Wait(self):
        self.waited = True


def test_wait_returns_when_the_request_completes():
    request = FakeRequest(done_after=5)
    waiting.wait(request, "allreduce", rank=0, timeout=10)
    assert request.tests == 5
    request = FakeRequest(done_after=None)
    waiting.wait(request, "allreduce", rank=0, timeout=None)
    assert request.waited


def test_wait_raises_a_timeout_naming_rank_and_operation():
    start = time.monotonic()
    with pytest.raises(CollectiveTimeoutError, match=r"rank 3: allreduce of 10 float32 values did not complete "
                                                     r"within 0.2 s"):
        waiting.wait(FakeRequest(done_after=None), "allreduce of 10 float32 values", rank=3, timeout=0.2)
    assert time.monotonic() - start < 5
    assert issubclass(CollectiveTimeoutError, TimeoutError)


# ---- failure handling -----------------------------------------------------------------------------
class FakeComm:
    rank, size = 1, 4

    def __init__(self):
        self.aborted = None

    def abort(self, code):
        self.aborted = code


def test_uncaught_exception_prints_the_rank_and_aborts(monkeypatch, capsys):
    comm = FakeComm()
    monkeypatch.setattr(failure, "_installed", {"comm": comm, "previous": sys.__excepthook__})
    monkeypatch.setattr(failure, "_GRACE_S", 0.0)
    try:
        raise KeyError("lost")
    except KeyError as exc:
        failure._abort_on_uncaught(type(exc), exc, exc.__traceback__)
    assert comm.aborted == 1
    err = capsys.readouterr().err
    assert "rank 1 of 4 failed with KeyError: 'lost'; aborting all 4 ranks" in err and "Traceback" in err


# ---- buckets --------------------------------------------------------------------------------------
# A model as the reducer sees it: layer 0 (weights 0..40), layer 1 (no weights), layer 2 (40..60),
# layer 3 (60..100).
SEGMENTS = [[(0, 30), (30, 40)], [], [(40, 50), (50, 60)], [(60, 90), (90, 100)]]


def covers(buckets, total) -> bool:
    """The buckets tile [0, total) without gaps or overlaps."""
    edges = sorted((b.start, b.stop) for b in buckets)
    return edges[0][0] == 0 and edges[-1][1] == total and all(a[1] == b[0] for a, b in zip(edges, edges[1:]))


def test_buckets_partition_the_buffer_last_layers_first():
    per_layer = plan_buckets(SEGMENTS, 100, 4, bucket_bytes=1)
    assert per_layer == [Bucket(60, 100, (3,)), Bucket(40, 60, (2,)), Bucket(0, 40, (0,))]
    grouped = plan_buckets(SEGMENTS, 100, 4, bucket_bytes=200)  # 50 values a bucket
    assert grouped == [Bucket(40, 100, (3, 2)), Bucket(0, 40, (0,))]
    assert plan_buckets(SEGMENTS, 100, 4, bucket_bytes=10**9) == [Bucket(0, 100, (3, 2, 0))]
    for buckets in (per_layer, grouped):
        assert covers(buckets, 100)


def test_buckets_edge_cases():
    assert plan_buckets([[], []], 0, 4, 1) == []
    out_of_order = [[(50, 100)], [(0, 50)]]
    assert plan_buckets(out_of_order, 100, 4, 1) == [Bucket(0, 100, ())]
    # a leading part no layer claims goes to the last bucket
    assert plan_buckets([[(10, 20)], [(20, 30)]], 30, 4, 1) == [Bucket(20, 30, (1,)), Bucket(0, 20, (0,))]


class FakeCupy:
    """Just enough of CuPy's stream/event API to record what the reducer queues, in order."""

    def __init__(self):
        self.log = []
        self.capturing = False  # whether the streams are being captured into a CUDA graph
        fake = self

        class Stream:
            def __init__(self, non_blocking=False, name="side"):
                self.name = name

            def wait_event(self, event):
                fake.log.append(("wait", self.name, event.name))

            def is_capturing(self):
                return fake.capturing

        class Event:
            count = 0

            def __init__(self, disable_timing=True):
                Event.count += 1
                self.name = f"event{Event.count}"

            def record(self, stream):
                fake.log.append(("record", stream.name, self.name))

        self.compute = Stream(name="compute")
        self.cuda = type("cuda", (), {"Stream": Stream, "Event": Event,
                                      "get_current_stream": staticmethod(lambda: fake.compute)})


class FakeNccl:
    watchdog = None
    device_collectives = 0  # NcclCommunicator's count; a graph launch adds the allreduces it replays

    def __init__(self, version=22703, others_cannot_capture=0):
        self.cp = FakeCupy()
        self.nccl = types.SimpleNamespace(get_version=lambda: version)
        self.watched = []
        self.size = 2
        self.others_cannot_capture = others_cannot_capture  # other ranks' votes in the capture agreement

    def allreduce_host(self, values):
        return np.asarray(values) + self.others_cannot_capture

    def allreduce_on(self, array, stream):
        self.cp.log.append(("allreduce", stream.name, array.size))

    def watch(self, stream, what):
        self.watched.append((stream.name, what))


def test_bucketed_reducer_launches_each_bucket_once_its_layers_are_done():
    comm = FakeNccl()
    grads = np.zeros(100, dtype="float32")
    reducer = BucketedGradientReducer(comm, grads, SEGMENTS, bucket_bytes=1)
    log = comm.cp.log
    for step in range(2):  # the same sequence every step
        log.clear()
        reducer.layer_done(3)
        assert [e[0] for e in log] == ["record", "wait", "allreduce"] and log[2] == ("allreduce", "side", 40)
        assert log[0][1] == "compute" and log[1][1:] == ("side", log[0][2])  # side waits for the writes
        reducer.layer_done(2)
        reducer.layer_done(1)  # no weights: nothing to send
        assert [e for e in log if e[0] == "allreduce"] == [("allreduce", "side", 40), ("allreduce", "side", 20)]
        reducer.layer_done(0)
        reducer.wait()
        assert [e[2] for e in log if e[0] == "allreduce"] == [40, 20, 40]
        # wait(): an event after the last bucket on the side stream, and the compute stream waits on it
        assert log[-2][:2] == ("record", "side") and log[-1] == ("wait", "compute", log[-2][2])


def test_the_bucketed_reducer_is_device_work_where_nccl_can_be_captured(monkeypatch):
    monkeypatch.delenv("GPUNN_GRAPH_COLLECTIVES", raising=False)
    grads = np.zeros(100, dtype="float32")
    assert BucketedGradientReducer(FakeNccl(22703), grads, SEGMENTS, bucket_bytes=1).device_only is True
    assert BucketedGradientReducer(FakeNccl(2804), grads, SEGMENTS, bucket_bytes=1).device_only is False
    # Every rank or none: one rank with an older NCCL (or GPUNN_GRAPH_COLLECTIVES=0) keeps them all outside.
    assert BucketedGradientReducer(FakeNccl(22703, others_cannot_capture=1), grads, SEGMENTS,
                                   bucket_bytes=1).device_only is False


@pytest.mark.parametrize("capturing", [False, True], ids=["eager", "captured"])
def test_the_bucketed_reducer_queues_the_same_work_captured_and_the_watchdog_follows_launches(capturing):
    """Under capture the same records, waits and allreduces build the graph (the side stream joins the capture
    through the first event and is joined back by the last). An event recorded inside a capture is no real
    event: the watchdog gets one per graph launch instead (``after_replay``)."""
    comm = FakeNccl()
    watched_events = []
    comm.watchdog = types.SimpleNamespace(watch=lambda event, what: watched_events.append(what))
    reducer = BucketedGradientReducer(comm, np.zeros(100, dtype="float32"), SEGMENTS, bucket_bytes=1)
    comm.cp.capturing = capturing
    for index in reversed(range(len(SEGMENTS))):
        reducer.layer_done(index)
    reducer.wait()
    assert [e[0] for e in comm.cp.log] == ["record", "wait", "allreduce"] * 3 + ["record", "wait"]
    if capturing:
        assert watched_events == []
        reducer.after_replay()
        assert comm.watched == [("compute", "CUDA graph replaying NCCL gradient allreduces (100 values)")]
        assert comm.device_collectives == len(reducer.buckets) == 3
    else:
        assert watched_events == ["NCCL gradient allreduce (100 values)"]


# ---- the watchdog ---------------------------------------------------------------------------------
class FakeEvent:
    """What the watchdog reads of a ``cupy.cuda.Event``: the ``done`` property, and nothing else."""

    __slots__ = ("done",)

    def __init__(self, done):
        self.done = done


def test_watchdog_reports_an_unfinished_collective_once():
    fired = []
    dog = DeviceWatchdog(timeout=0.3, on_timeout=lambda what, s: fired.append((what, s)), poll_s=0.05)
    dog.watch(FakeEvent(True), "finished allreduce")
    dog.watch(FakeEvent(False), "stuck allreduce")
    deadline = time.monotonic() + 5
    while not fired and time.monotonic() < deadline:
        time.sleep(0.05)
    dog.stop()
    assert len(fired) == 1 and fired[0][0] == "stuck allreduce" and fired[0][1] >= 0.3


def test_watchdog_stays_quiet_when_collectives_finish():
    fired = []
    dog = DeviceWatchdog(timeout=0.1, on_timeout=lambda what, s: fired.append(what), poll_s=0.02)
    for _ in range(5):
        dog.watch(FakeEvent(True), "allreduce")
    time.sleep(0.3)
    dog.stop()
    assert fired == []


def test_watchdog_runs_its_setup_in_its_thread():
    import threading

    seen = []
    dog = DeviceWatchdog(timeout=10, on_timeout=lambda *a: None, poll_s=0.01,
                         thread_setup=lambda: seen.append(threading.current_thread().name))
    time.sleep(0.1)
    dog.stop()
    assert seen == ["gpunn-collective-watchdog"]


# ---- failure notices --------------------------------------------------------------------------------------
class FakeMpi:
    """The part of mpi4py ``FailureNotices`` uses, for ranks of one process sharing a mailbox."""

    ANY_SOURCE, BYTE = -1, "byte"

    def __init__(self):
        self.mailbox: dict = {}  # destination rank -> [(source, bytes)] in sending order

    class Status:
        def Get_count(self, _datatype):
            return len(self.payload)

        def Get_source(self):
            return self.source

    def channel(self, rank):
        mpi = self

        class Channel:
            def Dup(self):
                return self

            def Isend(self, payload, dest, tag):
                mpi.mailbox.setdefault(dest, []).append((rank, bytes(payload)))
                return types.SimpleNamespace(Test=lambda: True)

            def Iprobe(self, source, tag, status):
                waiting = mpi.mailbox.get(rank, [])
                if waiting:
                    status.source, status.payload = waiting[0]
                return bool(waiting)

            def Recv(self, buffer, source, tag):
                buffer[:] = np.frombuffer(mpi.mailbox[rank].pop(0)[1], dtype=np.uint8)

        return Channel()


def _notices(size):
    from gpunn.distributed.failure_notices import FailureNotices

    mpi = FakeMpi()
    return [FailureNotices(mpi, mpi.channel(rank), rank, size) for rank in range(size)]


def test_ranks_failing_at_one_point_with_nothing_pending_are_still_in_step():
    ranks = _notices(3)
    for notices in ranks:
        notices.post((12, 4), False, "ValueError: bad shape")
    for notices in ranks:
        notices.resolve(timeout=1.0)
        assert notices.mine is None and notices.received == {} and notices.out_of_step is None


@pytest.mark.parametrize("other", [((13, 4), False), ((12, 4), True), ((12, 5), False)],
                         ids=["host-later", "pending", "device-later"])
def test_ranks_failing_at_different_points_are_out_of_step_for_good(other):
    from gpunn.distributed import RanksOutOfStepError

    ranks = _notices(2)
    ranks[0].post((12, 4), False, "ValueError: injected")
    if other[1]:  # rank 1 raised PeerFailedError on seeing rank 0's notice while it waited in a collective
        assert ranks[1].poll()["what"] == "ValueError: injected"
    ranks[1].post(other[0], other[1], "PeerFailedError: rank 0 stopped")
    for notices in ranks:
        with pytest.raises(RanksOutOfStepError, match=r"\(rank 0: ValueError: injected[;)]"):
            notices.resolve(timeout=1.0)
        with pytest.raises(RanksOutOfStepError, match="restart it"):  # and at every later collective
            notices.resolve(timeout=1.0)


def test_a_rank_that_never_answers_is_a_timeout_naming_it():
    from gpunn.distributed import CollectiveTimeoutError

    ranks = _notices(3)
    ranks[0].post((3, 0), False, "ValueError: injected")
    ranks[2].post((3, 0), False, "ValueError: injected")
    with pytest.raises(CollectiveTimeoutError, match=r"rank\(s\) \[1\] did not answer within 0.05 s"):
        ranks[0].resolve(timeout=0.05)
