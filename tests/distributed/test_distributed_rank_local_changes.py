"""What one rank does alone between calls, under ``mpiexec -n 2``, against one process
(worker_rank_local_changes.py): progress shown by rank 0 alone, an empty share of a batch, a metric's own
aggregation, weights and optimizer state set by the chief after the model ran, shuffled fits going on after a
reseed on one rank, BatchNormalization's per-rank statistics, data that differs between ranks, a metric function
valued per batch, and ``summary()``."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

import gpunn

pytestmark = pytest.mark.mpi


@pytest.fixture(scope="module")
def worker(workers):
    path = workers / "worker_rank_local_changes.py"
    spec = importlib.util.spec_from_file_location("worker_rank_local_changes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def alone(worker):
    with gpunn.use_backend("numpy"):
        return json.loads(json.dumps(worker.run_all(gpunn.distributed.current())))


@pytest.fixture(scope="module")
def ranks(mpirun, tmp_path_factory):
    out = tmp_path_factory.mktemp("rank_local")
    run = mpirun(2, ["worker_rank_local_changes.py", str(out)], timeout=180)
    assert run.returncode == 0, run.output
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.mark.parametrize("case", ["evaluate_with_rank0_progress", "activity_penalty_with_an_empty_share",
                                  "user_metric_aggregation", "weights_set_by_the_chief_after_use",
                                  "optimizer_state_loaded_by_the_chief", "shuffles_going_on_across_fits"])
def test_every_rank_equals_one_process(ranks, alone, case):
    for rank, results in enumerate(ranks):
        got, expected = results[case], alone[case]
        assert got.keys() == expected.keys(), (rank, case)
        for key, value in expected.items():
            np.testing.assert_allclose(got[key], value, rtol=1e-6, atol=1e-9, err_msg=f"rank {rank} {case} {key}")


def test_the_empty_share_adds_no_nan(ranks):
    assert all(np.isfinite(results["activity_penalty_with_an_empty_share"]["loss"]).all() for results in ranks)


def test_metric_variables_combine_as_their_aggregation_says(ranks):
    # rank 0's "only_first_replica" value (1, not 2), the summed count of 20 samples
    assert ranks[0]["user_metric_aggregation"]["first_and_count"] == 1020.0


def test_predictions_after_batch_normalization_are_rank_0s_model_on_every_rank(ranks):
    chief = ranks[0]["predictions_after_batch_normalization"]
    np.testing.assert_allclose(chief["predicted"], chief["own_forward"], rtol=1e-6, atol=1e-7)
    assert ranks[1]["predictions_after_batch_normalization"]["predicted"] == chief["predicted"]


def test_data_differing_between_ranks_is_named(ranks, alone):
    assert alone["data_drawn_without_a_seed"]["message"] is None
    for results in ranks:
        message = results["data_drawn_without_a_seed"]["message"]
        assert message is not None and "data.sampled_values.x: " in message, message
    assert alone["class_weight_set_on_one_rank"]["message"] is None
    for results in ranks:  # (class weights are in the sample weights' rows)
        message = results["class_weight_set_on_one_rank"]["message"]
        assert message is not None and "data.sampled_values.sample_weight: " in message, message


def test_a_metric_valued_per_batch_is_warned_about_once_by_rank_0(ranks, alone):
    assert alone["batch_valued_metric"]["warnings"] == []
    (warning,) = ranks[0]["batch_valued_metric"]["warnings"]
    assert "metric 'batch_max'" in warning and "with 2 ranks" in warning
    assert ranks[1]["batch_valued_metric"]["warnings"] == []


def test_summary_is_printed_by_rank_0_alone(ranks, alone):
    assert alone["summary_printed_by_rank_0"]["printed"] and ranks[0]["summary_printed_by_rank_0"]["printed"]
    assert not ranks[1]["summary_printed_by_rank_0"]["printed"]
