"""Running worker scripts under ``mpiexec`` for the data-parallel tests.

``mpiexec`` is looked for next to ``sys.executable`` (where the mpich wheel puts it in a virtual
environment), then on PATH. Tests using the ``mpirun`` fixture skip, with the reason, when mpi4py or
``mpiexec`` is missing; ``pip install -e '.[test]'`` installs both.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def find_mpiexec() -> str | None:
    sibling = Path(sys.executable).parent / "mpiexec"
    if sibling.exists():
        return str(sibling)
    return shutil.which("mpiexec")


@dataclasses.dataclass
class Run:
    returncode: int
    output: str       # stdout and stderr together, as a user sees them
    seconds: float


class MpiRunner:
    def __init__(self, mpiexec: str):
        self.mpiexec = mpiexec

    def __call__(self, ranks: int, args: list[str], timeout: float = 60.0, env: dict | None = None) -> Run:
        """Run ``python <args>`` on ``ranks`` ranks; a hang fails the test after ``timeout`` seconds."""
        environment = dict(os.environ)
        environment.update({
            # One BLAS thread per rank: the ranks already occupy the cores.
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "GPUNN_BACKEND": "numpy",
            "PYTHONPATH": os.pathsep.join([str(REPO), environment.get("PYTHONPATH", "")]),
        })
        environment.update(env or {})
        command = [self.mpiexec, "-n", str(ranks), sys.executable, *args]
        start = time.monotonic()
        # A session of its own, so a hung job can be killed whole (mpiexec and every rank it started).
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   env=environment, cwd=str(HERE), start_new_session=True)
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            pytest.fail(f"mpiexec -n {ranks} {' '.join(args)} hung for more than {timeout} s:\n{output}")
        return Run(process.returncode, output, time.monotonic() - start)


@pytest.fixture(scope="session")
def mpirun() -> MpiRunner:
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed (pip install 'gpunn[mpi]')")
    mpiexec = find_mpiexec()
    if mpiexec is None:
        pytest.skip("no mpiexec next to the Python interpreter or on PATH (pip install mpich)")
    return MpiRunner(mpiexec)


@pytest.fixture(scope="session")
def workers() -> Path:
    return HERE
