"""The pytest-benchmark suites in bench/ (outside ``testpaths``, so a plain test run never collects them) still
run: each case once, untimed (``--benchmark-disable``), in a child pytest. An API change that breaks a suite
fails here instead of at the next measurement. The child runs as the suites are run by hand: without the CUDA
simulator this test run may have switched on (the launch suite needs the real numba-cuda); GPU cases, and cases
whose library is missing, skip with their reason, as in the suites."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SUITES = sorted(path.name for path in (REPO / "bench").glob("test_bench_*.py"))


@pytest.mark.parametrize("suite", SUITES)
def test_the_benchmark_suite_runs_each_case_once(suite):
    pytest.importorskip("pytest_benchmark")
    env = {name: value for name, value in os.environ.items() if name != "NUMBA_ENABLE_CUDASIM"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--benchmark-disable",
                          str(Path("bench") / suite)], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
