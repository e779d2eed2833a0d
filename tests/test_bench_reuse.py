"""One model per size and contender, reused across batch sizes, each case starting from the same state."""
import numpy as np
import pytest

from gpunn.benchmarking import BenchConfig, gpunn_step, run
from gpunn.benchmarking.gpunn_step import GpunnStep
from gpunn.benchmarking.runner import initial_weights, make_batch
from gpunn.distributed import LocalCommunicator
from gpunn.ops import NumpyOps

SIZES = ["8-16-4", "12-32-32-5"]
BATCHES = [4, 8, 16]


def test_each_contender_builds_one_model_per_size(monkeypatch):
    builds: dict = {}
    build = gpunn_step.build_mlp

    def counted(layers, ops):
        key = (type(ops).__name__, id(ops), tuple(layers))
        builds[key] = builds.get(key, 0) + 1
        return build(layers, ops)

    monkeypatch.setattr(gpunn_step, "build_mlp", counted)
    record = run(BenchConfig(sizes=SIZES, batches=BATCHES, backends=["numpy", "numpy-unfused"], repeats=1,
                             warmup=1, min_time=0.001, settle=0.0, peak=False), log=lambda *a, **k: None)
    assert not record["failures"]
    assert len(record["results"]) == len(SIZES) * len(BATCHES) * 2
    assert all(r["validation"]["ok"] for r in record["results"])  # every case still matches the reference
    # numpy, numpy-unfused and the NumPy reference: one build each per size, whatever the batch sizes
    assert sorted(builds.values()) == [1] * (3 * len(SIZES))
    assert {layers for _, _, layers in builds} == {(8, 16, 4), (12, 32, 32, 5)}


def _snapshot_after_one_step(step, layers, batch):
    x, y = make_batch(layers, batch, 0)
    step.setup(layers, x, y, initial_weights(layers, 0))
    step.step()
    return step.snapshot()


def test_a_reused_model_starts_each_case_from_the_same_state():
    layers = (12, 32, 32, 5)
    reused = GpunnStep("numpy", NumpyOps(), "cpu", LocalCommunicator())
    x, y = make_batch(layers, 4, 0)
    start = initial_weights(layers, 0)
    reused.setup(layers, x, y, start)
    for _ in range(5):  # weights, Adam's moments and its step count (its bias correction) move on
        reused.step()
    assert not np.array_equal(reused.model.get_weights()[0], start[0])
    got = _snapshot_after_one_step(reused, layers, 16)
    fresh = _snapshot_after_one_step(GpunnStep("numpy", NumpyOps(), "cpu", LocalCommunicator()), layers, 16)
    assert reused.builds == 1
    assert got.loss == fresh.loss
    for a, b in zip(got.grads + got.params, fresh.grads + fresh.params):
        np.testing.assert_array_equal(a, b)


def test_a_new_size_builds_a_new_model_and_release_drops_it():
    step = GpunnStep("numpy", NumpyOps(), "cpu", LocalCommunicator())
    _snapshot_after_one_step(step, (8, 16, 4), 4)
    first = step.model
    _snapshot_after_one_step(step, (8, 16, 4), 8)
    assert step.model is first and step.builds == 1
    _snapshot_after_one_step(step, (12, 32, 5), 4)
    assert step.model is not first and step.builds == 2
    step.close()
    assert step.model is not None and step.slot is None  # close: the batch goes, the model stays
    step.release()
    assert step.model is None and step.layers is None


def test_torch_reference_reuses_its_modules():
    torch = pytest.importorskip("torch")
    from gpunn.benchmarking.torch_step import TorchStep

    layers = (12, 32, 32, 5)
    step = TorchStep("torch-cpu", torch, "cpu", threads=1)
    x, y = make_batch(layers, 4, 0)
    step.setup(layers, x, y, initial_weights(layers, 0))
    for _ in range(3):
        step.step()
    got = _snapshot_after_one_step(step, layers, 16)
    fresh = _snapshot_after_one_step(TorchStep("torch-cpu", torch, "cpu", threads=1), layers, 16)
    assert step.builds == 1
    for a, b in zip(got.grads + got.params, fresh.grads + fresh.params):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("steps_per_call", [1, 4])
def test_a_graph_contender_whose_capture_is_refused_fails_with_the_reason(monkeypatch, steps_per_call):
    """cupy-graph timing call-by-call replays would be mislabelled figures: its first replay fails instead,
    naming why the capture was refused (the runner records it as the contender's failure)."""
    from gpunn.ops.cuda_graphs import CaptureRefused

    ops = NumpyOps()

    def refuse(tape, repeats):
        raise CaptureRefused("cuBLAS could not be opened for calls inside a capture")

    monkeypatch.setattr(ops, "compile_replays", refuse)
    layers = [8, 16, 4]
    x, y = make_batch(layers, 8, 0)
    step = GpunnStep("cupy-graph", ops, "cpu", LocalCommunicator(), jit=True, steps_per_call=steps_per_call)
    step.setup(layers, x, y, initial_weights(layers, 0))
    step._capture_unchecked = True  # what setup sets on a GPU backend
    if steps_per_call == 1:
        step.step()  # records the step; the next call replays it
    with pytest.raises(RuntimeError, match=r"^cupy-graph: .*could not be captured as a CUDA graph \(cuBLAS could not"):
        step.step()
    step.step()  # checked once per setup; later calls replay call by call without asking again


def test_a_graph_contender_whose_capture_works_times_as_usual(monkeypatch):
    ops = NumpyOps()
    layers = [8, 16, 4]
    x, y = make_batch(layers, 8, 0)
    step = GpunnStep("cupy-graph", ops, "cpu", LocalCommunicator(), jit=True)
    step.setup(layers, x, y, initial_weights(layers, 0))
    step._capture_unchecked = True
    step.validation_step()
    step.step()
    step.step()
    assert not step._capture_unchecked and step.model.optimizer.iterations == 3
