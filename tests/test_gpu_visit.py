"""bench/gpu_visit.sh, the one command of a GPU visit, on a machine without a GPU: it must end within a
minute, leave at most 8 files and print every stage's result last; with a tight budget and a GPU that only
seems to be there, it must still end within its budget, failing soft."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "gpu_visit.sh"
STAGES = ("smoke", "gpu", "nccl", "bench", "kernels", "tf32", "parts")

pytestmark = pytest.mark.skipif(shutil.which("timeout") is None, reason="needs coreutils' timeout")


def _gpu_present() -> bool:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    listing = subprocess.run([smi, "-L"], capture_output=True, text=True)
    return listing.returncode == 0 and "GPU " in listing.stdout


def _visit(out: Path, extra_env: dict | None = None, timeout: float = 120):
    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable, **(extra_env or {})}
    start = time.monotonic()
    run = subprocess.run(["bash", str(SCRIPT)], cwd=str(REPO), env=env, capture_output=True, text=True,
                         timeout=timeout)
    return run, time.monotonic() - start


def _stage_rows(summary: str) -> dict:
    """{stage: the rest of its summary row} from the table the visit prints last."""
    table = summary[summary.index("stage    result"):]
    return {m.group(1): m.group(2) for m in re.finditer(r"^(\w+) +(.+)$", table, re.M) if m.group(1) in STAGES}


def _files(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if p.is_file()]


@pytest.mark.skipif(_gpu_present(), reason="a GPU is here: the visit runs for real (OUT=... bash bench/gpu_visit.sh)")
def test_visit_without_a_gpu_skips_every_gpu_stage_within_a_minute(tmp_path):
    run, seconds = _visit(tmp_path / "out")
    assert run.returncode == 0, run.stdout + run.stderr
    assert seconds < 60
    files = _files(tmp_path / "out")
    assert 0 < len(files) <= 8 and all(f.stat().st_size < 16 * 2**20 for f in files)
    summary = run.stdout[run.stdout.rindex("gpunn GPU visit: summary"):]
    rows = _stage_rows(summary)
    assert set(rows) == set(STAGES), summary
    for stage in STAGES[1:]:
        assert rows[stage].startswith("skipped: no GPU"), summary
    assert rows["smoke"].startswith("PASS"), summary
    assert (tmp_path / "out" / "summary.txt").read_text().strip().endswith(summary.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(_gpu_present(), reason="a GPU is here: the stages would run for real")
def test_visit_keeps_its_budget_when_every_stage_fails(tmp_path):
    """A GPU that nvidia-smi reports but nothing can use: every GPU stage runs and fails (or is cut off),
    and the script still ends within its budget with its summary and at most 8 files."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    smi = fake_bin / "nvidia-smi"
    smi.write_text("#!/bin/sh\n[ \"$1\" = -L ] && echo 'GPU 0: Imaginary (UUID: GPU-0)' && exit 0\n"
                   "echo 'Imaginary, 0.0, 0 MiB, 0 MHz'\n")
    smi.chmod(0o755)
    budget = 45
    env = {"PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}", "GPU_VISIT_BUDGET": str(budget)}
    run, seconds = _visit(tmp_path / "out", env, timeout=budget + 60)
    assert seconds < budget + 10, run.stdout
    assert run.returncode == 1  # stages failed: the visit says so
    files = _files(tmp_path / "out")
    assert len(files) <= 8
    summary = run.stdout[run.stdout.rindex("gpunn GPU visit: summary"):]
    rows = _stage_rows(summary)
    assert set(rows) == set(STAGES), summary
    assert any(rows[stage].startswith(("FAIL", "TIMEOUT")) for stage in STAGES[1:]), summary


LIVE_LOG_TESTS = '''
import pytest

def test_fine():
    pass

def test_wrong():
    assert 1 == 2, "one is not two"

@pytest.mark.skip(reason="not here")
def test_elsewhere():
    pass

@pytest.fixture
def broken():
    raise RuntimeError("setup broke")

def test_needs_broken(broken):
    pass
'''


def _live_log_module():
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import pytest_live_log
    finally:
        sys.path.remove(str(REPO / "bench"))
    return pytest_live_log


@pytest.mark.parametrize("workers", [0, 2])
def test_the_live_log_has_each_outcome_and_each_failures_traceback(tmp_path, workers):
    (tmp_path / "test_sample.py").write_text(LIVE_LOG_TESTS)
    live = tmp_path / "live.log"
    env = {**os.environ, "PYTHONPATH": str(REPO / "bench"), "GPUNN_LIVE_LOG": str(live)}
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "pytest_live_log",
            *(["-n", str(workers)] if workers else []), "test_sample.py"]
    run = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    text = live.read_text()
    assert text.count("start ") == text.count("end ") == 4  # the controller alone writes under xdist
    assert "one is not two" in text and "setup broke" in text
    assert _live_log_module().summarize(text) == ("1 passed, 1 failed, 1 skipped, 1 error; "
                                                  "failed: test_needs_broken, test_wrong")


def test_the_live_log_summary_names_the_tests_a_cut_off_run_was_running():
    text = ("start t.py::test_a\nstart t.py::test_b\npassed t.py::test_a 0.10s\nend t.py::test_a\n"
            "start t.py::test_c\n")
    assert _live_log_module().summarize(text) == "1 passed; cut off while running: test_b, test_c"
    assert _live_log_module().summarize("") == "no test ended"


@pytest.mark.skipif(_gpu_present(), reason="a GPU is here: tests/test_gpu_matmul_epilogues.py runs the real check")
def test_the_epilogue_check_says_it_skipped_without_a_gpu():
    """The visit times the cuBLASLt epilogue contenders only when bench/epilogue_check.py exits 0; without a GPU
    it exits 2 with one line saying so."""
    run = subprocess.run([sys.executable, str(REPO / "bench" / "epilogue_check.py")], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stdout.startswith("epilogues: skipped, no GPU"), run.stdout
