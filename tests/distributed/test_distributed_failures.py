"""A rank that fails stops the whole job within a bounded time, with the failing rank named; never a hang."""
from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.mpi

BOUND_S = 60


def test_rank_raising_aborts_the_job(mpirun):
    run = mpirun(2, ["worker_failure.py", "raise"], timeout=BOUND_S)
    assert run.returncode != 0, run.output
    assert "rank 1 of 2 failed with ValueError: injected failure on purpose" in run.output, run.output
    assert "finished training" not in run.output
    assert run.seconds < 30


def test_rank_killed_ends_the_job(mpirun):
    run = mpirun(2, ["worker_failure.py", "kill"], timeout=BOUND_S)
    assert run.returncode != 0, run.output
    assert "finished training" not in run.output


def test_stuck_rank_times_out_with_rank_and_operation(mpirun):
    run = mpirun(2, ["worker_failure.py", "stall"], timeout=BOUND_S, env={"GPUNN_COLLECTIVE_TIMEOUT": "2"})
    assert run.returncode != 0, run.output
    assert "CollectiveTimeoutError" in run.output, run.output
    assert ("rank 0: the check that every rank called fit too did not complete within 2 s" in run.output), \
        run.output
    assert run.seconds < 30


def test_rank_exiting_early_ends_the_job(mpirun):
    run = mpirun(2, ["worker_failure.py", "exit"], timeout=BOUND_S, env={"GPUNN_COLLECTIVE_TIMEOUT": "2"})
    assert run.returncode != 0, run.output
    assert "did not complete within 2 s" in run.output or "reached the end of the program" in run.output
    assert run.seconds < 30


@pytest.mark.parametrize("mode", ["units", "dtype"])
def test_different_models_fail_at_the_first_step(mpirun, mode):
    run = mpirun(2, ["worker_failure.py", mode], timeout=BOUND_S)
    assert run.returncode != 0, run.output
    assert "ranks disagree on the model definition: rank(s) [1] differ from rank 0" in run.output, run.output
    assert ("float64" in run.output) if mode == "dtype" else ("(9,)" in run.output)


def test_a_stop_on_one_rank_stops_every_rank(mpirun):
    run = mpirun(2, ["worker_failure.py", "stop"], timeout=BOUND_S, env={"GPUNN_COLLECTIVE_TIMEOUT": "10"})
    assert run.returncode == 0, run.output
    for rank in range(2):
        assert f"rank {rank} finished training after 1 epoch(s)" in run.output, run.output


def test_an_exception_caught_on_one_rank_stops_every_rank_with_its_cause(mpirun):
    """Rank 1's exception left fit halfway while rank 0 waited in the next gradient sum: neither may go on (rank
    1's next collective would pair with rank 0's pending one), each says why, and the job ends non-zero."""
    run = mpirun(2, ["worker_failure.py", "caught"], timeout=BOUND_S, env={"GPUNN_COLLECTIVE_TIMEOUT": "20"})
    assert run.returncode != 0, run.output
    assert "rank 1 attempt 1: ValueError: injected failure on purpose" in run.output, run.output
    assert ("rank 0 attempt 1: PeerFailedError: gpunn.distributed: rank 0: rank 1 stopped its run with ValueError: "
            "injected failure on purpose, while this rank waited for it in allreduce") in run.output, run.output
    for rank in range(2):
        assert f"rank {rank} attempt 2: RanksOutOfStepError" in run.output, run.output
    assert "rank 1: ValueError: injected failure on purpose" in run.output
    assert "out of step with the other ranks; aborting the job" in run.output, run.output
    assert "trained" not in run.output
    assert run.seconds < 40


@pytest.mark.parametrize("mode,ranks", [("everyone", 2), ("late", 4)])
def test_the_same_exception_on_every_rank_at_one_point_leaves_them_in_step(mpirun, mode, ranks):
    """With 4 ranks and rank 0 late, its notice may reach a rank before the data of a collective rank 0 made
    (relayed through another rank): that rank must not take it for a rank that left before the collective."""
    run = mpirun(ranks, ["worker_failure.py", mode], timeout=BOUND_S, env={"GPUNN_COLLECTIVE_TIMEOUT": "20"})
    assert run.returncode == 0, run.output
    for rank in range(ranks):
        assert f"rank {rank} attempt 1: ValueError: the same failure on every rank (rank {rank})" in run.output
        assert f"rank {rank} attempt 2 trained 2 epoch(s); weights equal on every rank: True" in run.output, \
            run.output


def test_a_run_on_one_rank_alone_stops_every_rank_naming_what_each_started(mpirun):
    """`if rank == 0: model.evaluate(...)`: rank 0's collectives would pair with those of the others' fit (garbage
    sums, or a wait until the timeout); the ranks meet before every run and stop at once, before any collective."""
    run = mpirun(2, ["worker_failure.py", "chief"], timeout=BOUND_S, env={"GPUNN_COLLECTIVE_TIMEOUT": "20"})
    assert run.returncode != 0, run.output
    assert ("ranks disagree on the call: rank(s) [0] called evaluate; rank(s) [1] called fit. fit, evaluate, "
            "predict, train_on_batch and test_on_batch are collective") in run.output, run.output
    assert not re.search(r"^rank 0 evaluated", run.output, re.MULTILINE), run.output
    assert run.seconds < 30


def test_a_run_on_rank_0_alone_at_the_end_of_the_program_stops_the_job(mpirun):
    run = mpirun(2, ["worker_failure.py", "last"], timeout=BOUND_S, env={"GPUNN_COLLECTIVE_TIMEOUT": "20"})
    assert run.returncode != 0, run.output
    assert ("ranks disagree on the call: rank(s) [0] called predict; rank(s) [1] reached the end of the program"
            in run.output), run.output
    assert not re.search(r"^rank 0 predicted", run.output, re.MULTILINE), run.output
    assert run.seconds < 30


def test_a_caught_error_of_a_local_call_on_one_rank_leaves_the_ranks_in_step(mpirun):
    run = mpirun(2, ["worker_failure.py", "local"], timeout=BOUND_S, env={"GPUNN_COLLECTIVE_TIMEOUT": "20"})
    assert run.returncode == 0, run.output
    assert "rank 0 caught: ValueError" in run.output
    for rank in range(2):
        assert f"rank {rank} finished training after 1 epoch(s)" in run.output, run.output


def test_sys_exit_on_rank_0_after_the_last_collective_of_a_run_ends_the_job_cleanly(mpirun):
    run = mpirun(2, ["worker_failure.py", "exitend"], timeout=BOUND_S, env={"GPUNN_COLLECTIVE_TIMEOUT": "20"})
    assert run.returncode == 0, run.output
    assert "rank 1 finished training" in run.output and "rank 0 finished training" not in run.output, run.output
