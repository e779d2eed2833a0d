"""The machine facts a benchmark records: collected first, and without initialising MPI."""
import os
import subprocess
import sys
import textwrap

import pytest

from gpunn.benchmarking import environment

LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMIX_RANK",
                      "MPI_LOCALNRANKS", "SLURM_PROCID", "SLURM_NTASKS")


def _plain_environment() -> dict:
    """This environment as a plain run sees it: no MPI launcher."""
    return {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}


def test_facts_and_a_whole_run_leave_mpi_untouched_in_a_fresh_process():
    pytest.importorskip("mpi4py")
    script = textwrap.dedent("""
        import sys

        def mpi_state():
            mpi = sys.modules.get("mpi4py.MPI")
            return "absent" if mpi is None else ("initialised" if mpi.Is_initialized() else "loaded")

        from gpunn.benchmarking.environment import machine_facts
        facts = machine_facts()
        print("after facts:", mpi_state())
        print("mpi fact:", facts["mpi"])

        from gpunn.benchmarking import BenchConfig, run
        run(BenchConfig(sizes=["8-16-4"], batches=[4], backends=["numpy"], repeats=1, warmup=1, min_time=0.001,
                        settle=0.0, peak=False), log=lambda *a, **k: None)
        print("after run:", mpi_state())
    """)
    done = subprocess.run([sys.executable, "-c", script], env=_plain_environment(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "after facts: absent" in done.stdout and "after run: absent" in done.stdout
    assert "MPI not initialised (no MPI launcher)" in done.stdout


def test_mpi_fact_names_the_library_only_once_mpi_is_initialised(monkeypatch):
    pytest.importorskip("mpi4py")
    monkeypatch.delitem(sys.modules, "mpi4py.MPI", raising=False)
    monkeypatch.setenv("PMI_SIZE", "2")
    assert "MPI not initialised (gpunn.distributed.init not called)" in environment.mpi_fact()
    assert "mpi4py.MPI" not in sys.modules

    class InitialisedMPI:
        @staticmethod
        def Is_initialized():
            return True

        @staticmethod
        def Get_library_version():
            return "Some MPI 4.1\nbuilt somewhere\n"

    monkeypatch.setitem(sys.modules, "mpi4py.MPI", InitialisedMPI)
    assert environment.mpi_fact() == "Some MPI 4.1"


def test_facts_hold_what_gpunn_info_reports():
    facts = environment.machine_facts()
    for key in ("gpunn", "python", "platform", "numpy", "numba", "mpi4py", "torch", "blas", "backends", "gpus",
                "nccl", "mpi", "cpu_model", "cpu_count", "cpus_usable"):
        assert key in facts, key
    assert facts["backends"][0] == "numpy" and facts["cpus_usable"] >= 1
    lines = environment.facts_summary(facts)
    assert lines[0].startswith("machine: ") and f"{facts['cpu_count']} CPUs" in lines[0]
