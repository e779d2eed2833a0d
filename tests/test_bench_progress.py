"""``gpunn bench`` keeps what it measured: files rewritten after every case, a time budget, interrupts, and
failures recorded with their tracebacks while the other contenders and cases go on."""
import csv
import json
import os

import pytest

from gpunn import cli
from gpunn.benchmarking import BenchConfig, report, run, runner, schema, timing
from gpunn.benchmarking.contenders import ContenderSpec
from gpunn.benchmarking.runner import BenchInterrupted
from gpunn.ops import NumpyOps

SIZES = ["8-16-4", "12-32-32-5"]
BATCHES = [4, 16]
CASES = [(s, b) for s in SIZES for b in BATCHES]


def tiny_config(**changes):
    settings = dict(sizes=SIZES, batches=BATCHES, backends=["numpy", "numpy-unfused"], repeats=2, warmup=1,
                    min_time=0.002, settle=0.0, peak=False)
    settings.update(changes)
    return BenchConfig(**settings)


def quiet(*args, **kwargs):
    pass


def read_json(directory):
    return json.loads((directory / "bench.json").read_text())


def header(size, batch):
    return f"{size} ({size}) batch {batch}:"


# ---- written as it goes ----------------------------------------------------------------------------------------
def test_files_on_disk_hold_every_finished_case_when_interrupted(tmp_path):
    on_disk_at_second_case = []

    def log(line):
        if line == header(*CASES[1]):
            on_disk_at_second_case.append(read_json(tmp_path))
            raise KeyboardInterrupt

    with pytest.raises(BenchInterrupted) as stopped:
        run(tiny_config(), log=log, output=str(tmp_path))

    seen = on_disk_at_second_case[0]  # written after the first case, before the second began
    assert [(r["size"], r["batch"], r["backend"]) for r in seen["results"]] == [
        ("8-16-4", 4, "numpy"), ("8-16-4", 4, "numpy-unfused")]
    assert seen["progress"] == {"state": "running", "cases_done": 1, "cases_total": 4}

    final = read_json(tmp_path)
    assert schema.problems(final) == []
    assert final["progress"]["state"] == "interrupted" and len(final["results"]) == 2
    assert [(c["size"], c["batch"]) for c in final["not_run"]] == CASES[1:]
    assert all("interrupted" in c["reason"] for c in final["not_run"])
    assert stopped.value.record["results"] == final["results"]
    with open(tmp_path / "bench.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 2
    assert "interrupted: 1 of 4 cases" in (tmp_path / "bench.md").read_text()
    assert not (tmp_path / "bench.png").exists()  # drawn only at the end
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_machine_facts_are_on_disk_before_the_first_case(tmp_path):
    lines = []

    def log(line):
        lines.append(line)
        if line == header(*CASES[0]):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tiny_config(), log=log, output=str(tmp_path))
    record = read_json(tmp_path)
    assert record["results"] == [] and record["progress"]["cases_done"] == 0
    assert record["machine"]["cpu_count"] >= 1 and "numpy" in record["machine"]
    assert lines[0].startswith("machine: ") and any(line.startswith("versions: ") for line in lines)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "bench.json"
    report.atomic_write_text(str(path), "old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(report.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        report.atomic_write_text(str(path), "new")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["bench.json"]


# ---- the time budget -------------------------------------------------------------------------------------------
def test_time_limit_starts_no_case_once_spent(tmp_path, monkeypatch):
    spent = [0.0]
    real_clock = runner.run_clock
    monkeypatch.setattr(runner, "run_clock", lambda: real_clock() + spent[0])

    def log(line):
        if "samples/s" in line:  # the first case's figures: from now on its budget is gone
            spent[0] = 1e6

    record = run(tiny_config(time_limit=100.0), log=log, output=str(tmp_path))
    assert [(r["size"], r["batch"]) for r in record["results"]] == [CASES[0]] * 2
    assert record["progress"] == {"state": "time limit", "cases_done": 1, "cases_total": 4}
    assert [(c["size"], c["batch"]) for c in record["not_run"]] == CASES[1:]
    assert all("time limit of 100 s" in c["reason"] for c in record["not_run"])
    assert read_json(tmp_path)["not_run"] == record["not_run"]
    assert "--time-limit 100" in record["reproduce"]
    assert "NOT RUN (the time limit" in report.format_table(record)


def test_cli_with_a_spent_time_limit_ends_normally_with_its_files(tmp_path, capsys):
    code = cli.main(["bench", "--sizes", "8-16-4", "--batches", "4,8", "--backends", "numpy", "--no-peak",
                     "--settle", "0", "--time-limit", "1e-9", "--output", str(tmp_path), "--no-plot"])
    assert code == 0
    record = read_json(tmp_path)
    assert record["results"] == [] and len(record["not_run"]) == 2 and record["progress"]["state"] == "time limit"
    assert "time limit" in capsys.readouterr().out


def test_cli_rejects_a_non_positive_time_limit(capsys):
    assert cli.main(["bench", "--time-limit", "0", "--output", "unused"]) == 2
    assert "--time-limit: expected a positive number, got 0" in capsys.readouterr().err


# ---- failures --------------------------------------------------------------------------------------------------
def _explode(reason):
    raise RuntimeError(reason)


class _BrokenMatmul(NumpyOps):
    def matmul(self, a, b, out=None):
        _explode("boom in matmul")


def _break_unfused(monkeypatch):
    make_ops = ContenderSpec._make_ops
    monkeypatch.setattr(ContenderSpec, "_make_ops",
                        lambda self: _BrokenMatmul() if self.name == "numpy-unfused" else make_ops(self))


def test_a_failing_contender_keeps_its_traceback_and_the_others_go_on(monkeypatch, capsys):
    _break_unfused(monkeypatch)
    record = run(tiny_config(), log=quiet)
    assert [(r["size"], r["batch"]) for r in record["results"]] == CASES  # numpy ran every case
    assert {r["backend"] for r in record["results"]} == {"numpy"}
    assert [(f["size"], f["batch"], f["backend"]) for f in record["failures"]] == [
        (s, b, "numpy-unfused") for s, b in CASES]
    failure = record["failures"][0]
    assert failure["stage"] == "validation" and failure["reason"] == "RuntimeError: boom in matmul"
    assert failure["traceback"].startswith("Traceback (most recent call last)")
    assert "_explode" in failure["traceback"] and "in matmul" in failure["traceback"]
    assert schema.problems(json.loads(json.dumps(record))) == []
    table = report.format_table(record)
    assert "FAILED numpy-unfused on 8-16-4 batch 4 in validation: RuntimeError: boom in matmul" in table
    assert "Traceback" not in table
    assert capsys.readouterr().err == ""  # tracebacks go to stderr only with debug


def test_debug_prints_each_traceback_to_stderr(monkeypatch, capsys, tmp_path):
    _break_unfused(monkeypatch)
    code = cli.main(["bench", "--sizes", "8-16-4", "--batches", "4", "--backends", "numpy,numpy-unfused",
                     "--no-peak", "--settle", "0", "--repeats", "2", "--min-time", "0.001", "--debug",
                     "--output", str(tmp_path), "--no-plot"])
    assert code == 1  # a failure is reported in the exit code
    captured = capsys.readouterr()
    assert "numpy-unfused failed in validation on 8-16-4 batch 4" in captured.err
    assert "Traceback (most recent call last)" in captured.err and "_explode" in captured.err
    assert "FAILED numpy-unfused" in captured.out and "Traceback" not in captured.out


def test_a_case_whose_reference_fails_does_not_stop_the_next(monkeypatch):
    reference = runner.reference_snapshot

    def failing_for_the_small_model(layers, *args, **kwargs):
        if tuple(layers) == (8, 16, 4):
            raise MemoryError("no room for the reference")
        return reference(layers, *args, **kwargs)

    monkeypatch.setattr(runner, "reference_snapshot", failing_for_the_small_model)
    record = run(tiny_config(), log=quiet)
    assert {(r["size"], r["batch"]) for r in record["results"]} == {("12-32-32-5", 4), ("12-32-32-5", 16)}
    assert len(record["failures"]) == 4 and {f["stage"] for f in record["failures"]} == {"reference"}


def test_timing_drops_a_contender_that_raises_and_times_the_rest():
    class Steady:
        thread_pool = None

        def __init__(self, name, fail_at=None):
            self.name, self.fail_at, self.steps, self.now = name, fail_at, 0, 0.0
            owner = self

            class Clock:
                def start(self):
                    self.t0 = owner.now

                def stop(self):
                    return owner.now - self.t0

            self.clock = Clock()

        def step(self):
            self.steps += 1
            if self.fail_at is not None and self.steps >= self.fail_at:
                raise MemoryError("out of device memory")
            self.now += 0.001

    good, bad = Steady("good"), Steady("bad", fail_at=15)
    failed = []
    stats = timing.measure_interleaved([good, bad], {"good": 10, "bad": 10}, repeats=4,
                                       on_error=lambda c, exc: failed.append((c.name, str(exc))))
    assert failed == [("bad", "out of device memory")]
    assert set(stats) == {"good"} and stats["good"].repeats == 4
    with pytest.raises(MemoryError):
        timing.measure_interleaved([Steady("bad", fail_at=1)], {"bad": 1}, repeats=1)


def test_an_unwritable_output_fails_first_and_a_later_write_error_does_not_stop_the_run(tmp_path, monkeypatch):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    with pytest.raises(OSError):
        run(tiny_config(), log=quiet, output=str(not_a_directory))

    write = report.write_progress
    calls = []

    def full_after_two(record, directory, name="bench"):
        calls.append(name)
        if len(calls) > 2:
            raise OSError("no space left on device")
        return write(record, directory, name)

    monkeypatch.setattr(report, "write_progress", full_after_two)
    lines = []
    record = run(tiny_config(), log=lines.append, output=str(tmp_path))
    assert len(record["results"]) == 8 and record["progress"]["state"] == "complete"
    assert any("could not write the results so far" in line and "no space left" in line for line in lines)


def test_sigterm_from_timeout_ends_the_command_with_the_finished_cases_written(tmp_path):
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import os, signal, sys
        from gpunn import cli
        from gpunn.benchmarking import runner

        say_rows = runner._say_rows

        def terminated_after_the_first_case(say, rows):
            say_rows(say, rows)
            os.kill(os.getpid(), signal.SIGTERM)  # what `timeout` sends when the time is up

        runner._say_rows = terminated_after_the_first_case
        sys.exit(cli.main(["bench", "--sizes", "8-16-4", "--batches", "4,8,16", "--backends", "numpy", "--no-peak",
                           "--settle", "0", "--repeats", "1", "--min-time", "0.001", "--output", {str(tmp_path)!r}]))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 130, done.stderr
    record = read_json(tmp_path)
    assert [(r["size"], r["batch"]) for r in record["results"]] == [("8-16-4", 4)]
    assert record["progress"]["state"] == "interrupted"
    assert [c["batch"] for c in record["not_run"]] == [8, 16]
    assert "interrupted: the 1 finished case(s) are in" in done.stderr
