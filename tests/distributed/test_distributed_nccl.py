"""The NCCL paths with one GPU: one-rank communicators, the bucketed reducer on real streams, and the
single-process device group. Marked ``gpu``: they skip where CuPy has no GPU."""
from __future__ import annotations

import numpy as np
import pytest

import gpunn
from gpunn import _compat, distributed

pytestmark = pytest.mark.gpu


@pytest.fixture
def cp():
    if _compat.nccl() is None:
        pytest.skip("CuPy cannot load NCCL")
    with gpunn.use_backend("cupy"):
        yield _compat.cupy()
    distributed.set_current(distributed.LocalCommunicator())


def test_one_rank_nccl_communicator(cp):
    comm = distributed.NcclCommunicator()
    assert (comm.backend, comm.rank, comm.size) == ("nccl", 0, 1)
    a = cp.arange(10, dtype=cp.float32)
    comm.allreduce_sum_(a)
    comm.broadcast_(a)
    np.testing.assert_array_equal(cp.asnumpy(a), np.arange(10, dtype=np.float32))
    np.testing.assert_array_equal(comm.allreduce_host([1.0, 2.0]), [1.0, 2.0])
    comm.check_same("the model", "same")
    with pytest.raises(TypeError):
        comm.allreduce_sum_(np.zeros(3, dtype=np.float32))


def test_init_nccl_alone(cp):
    comm = distributed.init("nccl")
    assert comm.backend == "nccl" and comm.size == 1 and distributed.current() is comm


def test_bucketed_reducer_keeps_the_gradients_on_one_rank(cp):
    comm = distributed.NcclCommunicator(bucket_bytes=256)
    grads = cp.zeros(1000, dtype=cp.float32)
    segments = [[(0, 400)], [], [(400, 700)], [(700, 1000)]]
    reducer = comm.gradient_reducer(grads, segments)
    assert len(reducer.buckets) == 3
    for step in range(3):
        for index in reversed(range(len(segments))):
            for lo, hi in segments[index]:
                grads[lo:hi] = cp.arange(lo, hi, dtype=cp.float32) + step  # written on the compute stream
            reducer.layer_done(index)
        reducer.wait()
        grads *= 2  # after wait(), on the compute stream: must see the reduced values
        expected = (np.arange(1000, dtype=np.float32) + step) * 2
        np.testing.assert_array_equal(cp.asnumpy(grads), expected)


def test_the_bucketed_reducer_captured_in_a_cuda_graph_reduces_at_every_launch(cp):
    """What a recorded step does on NCCL >= 2.9: the gradient writes, the bucket allreduces on the side stream
    and the compute stream's wait captured in one graph (a one-rank sum leaves the values as they are), then
    the graph launched several times, each launch followed by the watchdog's event."""
    comm = distributed.NcclCommunicator(bucket_bytes=256)
    grads = cp.zeros(1000, dtype=cp.float32)
    segments = [[(0, 400)], [(400, 700)], [(700, 1000)]]
    reducer = comm.gradient_reducer(grads, segments)
    if not reducer.device_only:
        pytest.skip(f"NCCL {comm.nccl.get_version()} cannot be captured in CUDA graphs (2.9 or newer can)")
    step = cp.zeros(1, dtype=cp.float32)
    bases = {lo: cp.arange(lo, hi, dtype=cp.float32) for layer in segments for lo, hi in layer}  # no allocation
    stream = cp.cuda.Stream(non_blocking=True)                                                 # inside a capture
    with stream:
        stream.begin_capture()
        step += 1
        for index in reversed(range(len(segments))):
            for lo, hi in segments[index]:
                cp.add(bases[lo], step, out=grads[lo:hi])
            reducer.layer_done(index)
        reducer.wait()
        cp.multiply(grads, 2, out=grads)
        graph = stream.end_capture()
    for launch in range(1, 4):
        graph.launch()
        reducer.after_replay()
        expected = (np.arange(1000, dtype=np.float32) + launch) * 2
        np.testing.assert_array_equal(cp.asnumpy(grads), expected)


def test_device_group_over_every_gpu(cp):
    group = distributed.NcclDeviceGroup()
    arrays = []
    for i, device in enumerate(group.devices):
        with cp.cuda.Device(device):
            arrays.append(cp.full(16, i + 1.0, dtype=cp.float64))
    group.allreduce_sum_(arrays)
    group.synchronize()
    total = group.size * (group.size + 1) / 2
    for array in arrays:
        np.testing.assert_array_equal(cp.asnumpy(array), np.full(16, total))
    group.broadcast_(arrays, root=0)
    group.synchronize()
    group.close()
