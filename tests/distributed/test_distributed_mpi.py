"""The MPI path under ``mpiexec -n 2`` on the CPU: collectives, equivalence with one process, the CLI."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import gpunn

pytestmark = pytest.mark.mpi


def test_communicator_collectives(mpirun):
    run = mpirun(2, ["worker_collectives.py"])
    assert run.returncode == 0, run.output
    assert "collectives OK on rank 0" in run.output and "collectives OK on rank 1" in run.output


@pytest.fixture(scope="module")
def reference(workers):
    """The single-process run of worker_equivalence.train, in this process."""
    spec = importlib.util.spec_from_file_location("worker_equivalence", workers / "worker_equivalence.py")
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    with gpunn.use_backend("numpy"):
        return {dtype: worker.train(dtype) for dtype in ("float64", "float32")}


@pytest.fixture(scope="module", params=[2, 3], ids=lambda n: f"{n}ranks")
def parallel(request, mpirun, tmp_path_factory):
    """Every rank's results of worker_equivalence under mpiexec -n 2 (33 = 17 + 16 rows a batch) and
    -n 3 (11 + 11 + 11, the last 1-row batch 1 + 0 + 0)."""
    ranks = request.param
    out = tmp_path_factory.mktemp(f"equivalence{ranks}")
    run = mpirun(ranks, ["worker_equivalence.py", str(out)])
    assert run.returncode == 0, run.output
    return [dict(np.load(out / f"rank{r}.npz")) for r in range(ranks)]


def test_ranks_end_with_identical_weights(parallel):
    assert int(parallel[0]["size"]) == len(parallel)
    for other in parallel[1:]:
        for key in parallel[0]:
            np.testing.assert_array_equal(parallel[0][key], other[key], err_msg=key)


@pytest.mark.parametrize("dtype, rtol, atol", [("float64", 1e-11, 1e-13), ("float32", 2e-5, 2e-6)])
def test_data_parallel_equals_one_process(parallel, reference, dtype, rtol, atol):
    """Weights, loss/metric history (train and validation), train_on_batch, evaluate and predict."""
    expected = reference[dtype]
    got = {k.split("/", 1)[1]: v for k, v in parallel[-1].items() if k.startswith(dtype + "/")}
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, rtol=rtol, atol=atol, err_msg=f"{dtype} {key}")


def test_keras_distribution_data_parallel_equals_one_process(mpirun, reference, tmp_path):
    """Keras's lines (list_devices, DataParallel(devices=...), set_distribution, initialize) join the job: two
    devices, one per rank, and the run equals one process's, as after gpunn.distributed.init()."""
    run = mpirun(2, ["worker_equivalence.py", str(tmp_path), "keras-distribution"])
    assert run.returncode == 0, run.output
    ranks = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(2)]
    for rank in ranks:
        assert rank["devices"].tolist() == ["cpu:0", "cpu:1"] and int(rank["num_processes"]) == 2
    _assert_equal_to_one_eager_process(ranks, reference)


def test_replayed_steps_per_execution_under_mpi_equal_one_eager_process(mpirun, reference, tmp_path):
    """jit_compile=True with steps_per_execution=3 on 2 ranks: each rank's replayed steps fetch their rows at
    the rank's offset in the global batch and reduce gradients over MPI between replayed runs; the result is
    the single eager process's (the 1-row last batch gives rank 1 an empty share)."""
    run = mpirun(2, ["worker_equivalence.py", str(tmp_path), "jit"])
    assert run.returncode == 0, run.output
    ranks = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(2)]
    for key in ranks[0]:
        np.testing.assert_array_equal(ranks[0][key], ranks[1][key], err_msg=key)
    for dtype, rtol, atol in (("float64", 1e-11, 1e-13), ("float32", 2e-5, 2e-6)):
        for key, value in reference[dtype].items():
            np.testing.assert_allclose(ranks[1][f"{dtype}/{key}"], value, rtol=rtol, atol=atol,
                                       err_msg=f"{dtype} {key}")


def _assert_equal_to_one_eager_process(ranks, reference):
    for key in reference["float32"]:
        np.testing.assert_array_equal(ranks[0][f"float32/{key}"], ranks[1][f"float32/{key}"], err_msg=key)
    for dtype, rtol, atol in (("float64", 1e-11, 1e-13), ("float32", 2e-5, 2e-6)):
        for key, value in reference[dtype].items():
            np.testing.assert_allclose(ranks[1][f"{dtype}/{key}"], value, rtol=rtol, atol=atol,
                                       err_msg=f"{dtype} {key}")


def test_a_reduction_declared_device_work_is_compiled_inside_the_replay(mpirun, reference, tmp_path):
    """As NCCL's reducer is captured inside the CUDA graph (NCCL >= 2.9): the whole step, reduction included,
    is one compiled replay on every rank, the reducer hears of each launch, and the result is the single
    eager process's."""
    run = mpirun(2, ["worker_equivalence.py", str(tmp_path), "graph"])
    assert run.returncode == 0, run.output
    ranks = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(2)]
    for rank in ranks:
        assert rank["captures"] > 0 and rank["graph_replays"] > 0
        assert list(rank["fallback_warnings"]) == [""]
    _assert_equal_to_one_eager_process(ranks, reference)


def test_when_one_rank_cannot_capture_every_rank_replays_call_by_call(mpirun, reference, tmp_path):
    """A graph holding collectives is launched by all ranks or none: rank 1's refusal makes rank 0 drop its
    graph too, both warn once per model (two here: float64 and float32; rank 0 saying why), and training goes
    on with the same results."""
    run = mpirun(2, ["worker_equivalence.py", str(tmp_path), "graph-refuse1"])
    assert run.returncode == 0, run.output
    ranks = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(2)]
    assert ranks[1]["captures"] == 0
    for rank in ranks:
        assert rank["graph_replays"] == 0
        assert len(rank["fallback_warnings"]) == 2
    assert all("this rank's library refused the capture" in str(m) for m in ranks[1]["fallback_warnings"])
    assert all("1 other rank(s) could not capture theirs" in str(m) for m in ranks[0]["fallback_warnings"])
    _assert_equal_to_one_eager_process(ranks, reference)


def test_gpunn_train_cli_under_mpiexec(mpirun, tmp_path):
    run = mpirun(2, ["-m", "gpunn.cli", "train", "--backend", "numpy", "--epochs", "2", "--layers", "32",
                     "--output-dir", str(tmp_path), "--verbose", "2"])
    assert run.returncode == 0, run.output
    # Rank 0 alone prints and writes files.
    assert run.output.count("test accuracy:") == 1, run.output
    assert run.output.count("| backend:") == 1, run.output
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "training_curves.png").exists()


def test_losses_a_layer_of_the_user_s_adds_sum_over_ranks_to_one_process_s(mpirun, workers, tmp_path):
    """add_loss inside a layer of the user's (a mean over the rank's rows and a weight penalty), 2 ranks of
    replayed steps: each rank's losses weighed by its share of the global batch, the result is one process's."""
    spec = importlib.util.spec_from_file_location("worker_equivalence", workers / "worker_equivalence.py")
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    with gpunn.use_backend("numpy"):
        reference = {dtype: worker.train(dtype, jit=True, user_layers=True) for dtype in ("float64", "float32")}
    run = mpirun(2, ["worker_equivalence.py", str(tmp_path), "user-layers"])
    assert run.returncode == 0, run.output
    ranks = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(2)]
    _assert_equal_to_one_eager_process(ranks, reference)


def test_accumulated_gradients_over_ranks_equal_one_process_s(mpirun, workers, tmp_path):
    """gradient_accumulation_steps=2 on 2 ranks of replayed steps: each step's gradients are summed over ranks,
    then accumulated; updates come every second step, as in one eager process."""
    spec = importlib.util.spec_from_file_location("worker_equivalence", workers / "worker_equivalence.py")
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    with gpunn.use_backend("numpy"):
        reference = {dtype: worker.train(dtype, accumulate=True) for dtype in ("float64", "float32")}
    run = mpirun(2, ["worker_equivalence.py", str(tmp_path), "accumulate"])
    assert run.returncode == 0, run.output
    ranks = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(2)]
    _assert_equal_to_one_eager_process(ranks, reference)
