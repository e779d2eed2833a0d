"""Ranks that are about to run different things stop before the first step, all of them, within seconds,
with a message naming the differing setting and which ranks hold which value (worker_agreement.py)."""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.mpi

BOUND_S = 10  # the whole job, mpiexec start-up included
# The loop job also trains after recovering, which compiles the CPU kernels on a fresh checkout (Numba's cache
# is empty there): its bound only guards against a hang; each mismatch's own time is measured inside it.
LOOP_BOUND_S = 120

# kind -> (what the ranks disagree on, the setting named first, rank 0's value, rank 1's value)
EXPECTED = {
    "activation": ("the model definition", "model.layers[0].activation", "'relu'", "'tanh'"),
    "units": ("the model definition", "model.layers[0].units", "8", "9"),
    "learning_rate": ("the compile configuration", "compile.optimizer.learning_rate", "0.01", "0.02"),
    "loss": ("the compile configuration", "compile.loss.class", "'MeanSquaredError'", "'MeanAbsoluteError'"),
    "batch_size": ("the data schedule", "data.batch_size", "16", "32"),
    "samples": ("the data schedule", "data.samples", "64", "48"),
    "epochs": ("the data schedule", "data.epochs", "2", "3"),
    "shuffle": ("the data schedule", "data.shuffle", "True", "False"),
    "evaluate_samples": ("the data schedule", "data.samples", "64", "48"),
    "predict_batch_size": ("the data schedule", "data.batch_size", "16", "32"),
    "call": ("the call", "call", "'fit'", "'predict'"),
}


@pytest.fixture(scope="module")
def loop_results(mpirun, tmp_path_factory):
    """Every kind of mismatch in one job (the ranks recover after each), as each rank saw it."""
    out = tmp_path_factory.mktemp("agreement")
    run = mpirun(2, ["worker_agreement.py", "loop", str(out)], timeout=LOOP_BOUND_S)
    assert run.returncode == 0, run.output
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_every_rank_names_the_difference_and_the_ranks(loop_results, kind):
    section, key, rank0_value, rank1_value = EXPECTED[kind]
    for rank, results in enumerate(loop_results):
        message = results[kind]["message"]
        assert message is not None, f"rank {rank}: no error for {kind}"
        if kind == "call":  # the ranks meet before a run, point to point (run_rendezvous.py)
            assert message.startswith("gpunn.distributed: ranks disagree on the call: rank(s) [0] called fit; "
                                      "rank(s) [1] called predict. fit, evaluate, predict"), message
            continue
        assert f"ranks disagree on {section}: rank(s) [1] differ from rank 0" in message, message
        # The first listed setting is the one that differs, with each rank's value.
        first = message.splitlines()[1]
        assert first == f"  {key}: {rank0_value} on rank(s) [0]; {rank1_value} on rank(s) [1]", message
        assert results[kind]["seconds"] < 5, (kind, results[kind]["seconds"])
    assert loop_results[0][kind]["message"] == loop_results[1][kind]["message"]


def test_ranks_recover_after_a_caught_mismatch(loop_results):
    assert all(results["recovered"] for results in loop_results)


@pytest.mark.parametrize("kind", ["activation", "batch_size"])
def test_an_uncaught_mismatch_ends_the_job_in_seconds(mpirun, kind):
    run = mpirun(2, ["worker_agreement.py", "uncaught", kind], timeout=BOUND_S)
    assert run.returncode != 0, run.output
    assert "RanksDisagreeError" in run.output and "no error raised" not in run.output, run.output
    section, key, rank0_value, rank1_value = EXPECTED[kind]
    assert f"{key}: {rank0_value} on rank(s) [0]; {rank1_value} on rank(s) [1]" in run.output, run.output
    for rank in range(2):
        assert f"rank {rank} of 2 failed with RanksDisagreeError" in run.output, run.output
    assert run.seconds < BOUND_S
