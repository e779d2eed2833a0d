"""Per-size batch lists (--case), the host's figures per step (visits.py), the device copy rate, the schema."""
import json

import numpy as np
import pytest

from gpunn import cli
from gpunn.benchmarking import BenchConfig, cases, peak, report, run, schema
from gpunn.benchmarking.gpunn_step import GpunnStep
from gpunn.benchmarking.runner import initial_weights, make_batch
from gpunn.benchmarking.visits import OpsCallCounter, host_visit_figures
from gpunn.distributed import LocalCommunicator
from gpunn.ops import NumpyOps


def quiet(*args, **kwargs):
    pass


def tiny(**changes):
    settings = dict(backends=["numpy", "numpy-unfused"], repeats=1, warmup=1, min_time=0.001, settle=0.0,
                    peak=False)
    settings.update(changes)
    return BenchConfig(**settings)


# ---- --case ----------------------------------------------------------------------------------------------------
def test_cases_parse_merge_and_name_the_option_in_errors():
    assert cases.parse_case("784-256-256-10:256,64,128") == ("784-256-256-10", (784, 256, 256, 10), [64, 128, 256])
    assert cases.parse_cases(["small:32", "8-16-4:4", "small:64,32"]) == [
        ("small", cases.PRESETS["small"], [32, 64]), ("8-16-4", (8, 16, 4), [4])]
    for bad, expected in (("small", "expected SIZE:B1,B2"), ("huge:32", "--case: expected a preset"),
                          ("8-16-4:0", "--case 8-16-4:0: expected positive integers"),
                          ("8-16-4:x", "--case 8-16-4:x: expected comma-separated positive integers")):
        with pytest.raises(ValueError, match=expected):
            cases.parse_case(bad)


def test_config_with_cases_runs_only_the_listed_pairs_and_repeats_them():
    config = tiny(cases=["12-32-5:4", "8-16-4:8,4"]).resolved(gpu=False)
    assert config.sizes == ["12-32-5", "8-16-4"] and config.batches == [4, 8]
    assert [(c.name, c.batch) for c in config.case_list()] == [("12-32-5", 4), ("8-16-4", 4), ("8-16-4", 8)]
    assert "--case 12-32-5:4 --case 8-16-4:4,8 --backends" in config.command_line()
    with pytest.raises(ValueError, match="--case: give batch sizes per model size with --case, or --sizes"):
        tiny(cases=["8-16-4:4"], batches=[4]).resolved(gpu=False)


def test_cli_case_option(tmp_path):
    code = cli.main(["bench", "--case", "8-16-4:4,8", "--case", "12-32-5:16", "--backends", "numpy", "--no-peak",
                     "--settle", "0", "--repeats", "1", "--min-time", "0.001", "--output", str(tmp_path),
                     "--no-plot"])
    assert code == 0
    record = json.loads((tmp_path / "bench.json").read_text())
    assert [(r["size"], r["batch"]) for r in record["results"]] == [("8-16-4", 4), ("8-16-4", 8), ("12-32-5", 16)]
    assert record["config"]["cases"] == ["8-16-4:4,8", "12-32-5:16"]
    assert cli.main(["bench", "--case", "8-16-4", "--output", str(tmp_path)]) == 2


# ---- host figures ----------------------------------------------------------------------------------------------
def _ready_step(layers, batch=4, ops=None):
    step = GpunnStep("numpy", ops or NumpyOps(), "cpu", LocalCommunicator())
    x, y = make_batch(layers, batch, 0)
    step.setup(layers, x, y, initial_weights(layers, 0))
    return step


@pytest.mark.parametrize("layers", [(8, 16, 4), (12, 32, 32, 5)])
def test_ops_calls_per_step_are_the_models_calls_into_the_backend(layers):
    step = _ready_step(layers)
    step.step()  # the first step makes the buffers (and the running sums' constants)
    before = dict(vars(step.ops))
    with OpsCallCounter(step.ops) as counter:
        step.step()
    n = len(layers) - 1
    # per Dense layer: matmul and bias+activation forward; activation+bias gradient and the kernel gradient's
    # matmul backward; the input gradient's matmul for all but the first; then the fused loss, the optimizer's
    # device state advanced (learning rate, step count), one Adam update, the loss summed and added to the
    # running total and its sample count
    assert counter.by_method == {"matmul": 3 * n - 1, "bias_act_forward": n, "act_backward_bias_grad": n,
                                 "softmax_xent": 1, "advance_optimizer_state": 1, "adam_update": 1, "sum": 1,
                                 "add": 2}
    assert counter.calls == 5 * n + 5 == step.count_ops_calls()
    assert dict(vars(step.ops)) == before  # the counting wrappers are gone


def test_calls_an_ops_method_makes_to_another_count_once():
    class Delegating(NumpyOps):
        def matmul(self, a, b, out=None):
            self.zeros(1)  # a public method called from inside one: not a call from the model
            return super().matmul(a, b, out=out)

    ops = Delegating()
    with OpsCallCounter(ops) as counter:
        ops.matmul(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32))
        ops.zeros(3)
    assert counter.by_method == {"matmul": 1, "zeros": 1}


def test_host_figures_time_the_step_and_divide_by_the_calls():
    step = _ready_step((8, 16, 4))
    figures = host_visit_figures(step, steps=3)
    assert figures["host_s_per_step"] > 0 and figures["ops_calls_per_step"] == 15
    assert figures["host_s_per_ops_call"] == pytest.approx(figures["host_s_per_step"] / 15)


def test_every_result_carries_host_figures_and_gpu_tables_show_them():
    record = run(tiny(sizes=["8-16-4"], batches=[4]), log=quiet)
    for row in record["results"]:
        assert row["host_s_per_step"] > 0 and row["ops_calls_per_step"] == 15
    table = report.format_table(record)
    assert "host ms" not in table  # a CPU-only run: the host time is the step time
    gpu = json.loads(json.dumps(record))
    gpu["results"][0]["device"] = "cuda:0"
    row = gpu["results"][0]
    lines = report.format_table(gpu).splitlines()
    assert lines[0].split()[-5:] == ["host", "ms", "ops", "calls", "us/call"]
    assert lines[2].split()[-2:] == ["15", f"{row['host_s_per_ops_call'] * 1e6:.3g}"]
    assert "| host ms | ops calls | us/call |" in report.format_markdown_table(gpu)
    assert schema.problems(gpu) == []


def test_host_figures_failing_keep_the_timed_result(monkeypatch):
    from gpunn.benchmarking import runner

    def broken(contender, steps):
        raise RuntimeError("no counter here")

    monkeypatch.setattr(runner, "host_visit_figures", broken)
    record = run(tiny(sizes=["8-16-4"], batches=[4], backends=["numpy"]), log=quiet)
    (row,) = record["results"]
    assert row["samples_per_s"] > 0 and row["host_s_per_step"] is None and row["ops_calls_per_step"] is None
    (failure,) = record["failures"]
    assert failure["stage"] == "host figures" and "no counter here" in failure["traceback"]


# ---- device copy rate ------------------------------------------------------------------------------------------
def test_copy_bandwidth_counts_bytes_read_and_written():
    m = peak.copy_bandwidth("numpy", "cpu", 1 << 20, repeats=3)
    assert m["bytes"] == 1 << 20 and m["bytes_per_s"] == pytest.approx(2 * m["bytes"] / m["median_s"])
    with pytest.raises(ValueError, match="library: expected cupy, torch or numpy, got 'jax'"):
        peak.copy_bandwidth("jax", "cpu", 1024)


def test_merged_peaks_keep_the_better_copy_rate():
    def round_of(flops, copy):
        return {"cuda:0": {"peak_flops_per_s": flops, "measurements": [{"flops_per_s": flops}],
                           "copy_bytes_per_s": copy, "copy_measurements": [{"bytes_per_s": copy, "bytes": 8}]}}

    merged = peak.merge_peaks(round_of(10.0, 5.0), round_of(8.0, 7.0))["cuda:0"]
    assert merged["peak_flops_per_s"] == 10.0 and merged["copy_bytes_per_s"] == 7.0
    assert len(merged["copy_measurements"]) == 2


# ---- the schema ------------------------------------------------------------------------------------------------
def test_schema_checks_the_new_fields_when_present():
    record = json.loads(json.dumps(run(tiny(sizes=["8-16-4"], batches=[4], backends=["numpy"]), log=quiet)))
    assert schema.problems(record) == []
    old = json.loads(json.dumps(record))  # a record from before these fields still checks
    for key in ("progress", "not_run"):
        del old[key]
    for key in ("host_s_per_step", "ops_calls_per_step", "host_s_per_ops_call"):
        del old["results"][0][key]
    assert schema.problems(old) == []
    record["results"][0]["ops_calls_per_step"] = "many"
    record["progress"]["state"] = "done"
    record["not_run"] = [{"size": "8-16-4", "batch": "4", "reason": "time limit"}]
    record["failures"] = [{"backend": "numpy", "reason": "x", "traceback": 3}]
    record["peaks"] = {"cuda:0": {"peak_flops_per_s": 1.0, "measurements": [], "copy_bytes_per_s": "fast"}}
    found = "\n".join(schema.problems(record))
    for expected in ("results[0].ops_calls_per_step", "progress.state", "not_run[0].batch",
                     "failures[0].traceback", "copy_bytes_per_s"):
        assert expected in found


# ---- jit contenders ---------------------------------------------------------------------------------------------
def test_jit_contenders_validate_and_time_per_step(tmp_path):
    """numpy-jit (a recorded step) and numpy-jit16 (16 steps per replay) validate one step against the
    reference, and their figures are per training step, not per call of 16."""
    from gpunn.benchmarking import contenders

    result = run(tiny(backends=["numpy", "numpy-jit", "numpy-jit16"], cases=["8-16-4:4"]),
                 log=quiet)
    rows = {r["backend"]: r for r in result["results"]}
    assert set(rows) == {"numpy", "numpy-jit", "numpy-jit16"}
    assert all(r["validation"]["ok"] for r in rows.values())
    spec = contenders.SPECS["numpy-jit16"].create(LocalCommunicator(), threads=None)
    assert spec.steps_per_call == 16 and spec.jit
    # A repeat's time is divided by the steps it made, not the calls: checked on a clock that reports a fixed
    # time, since a few-microsecond step on a shared machine is too noisy for a ratio of two timings.
    from types import SimpleNamespace

    from gpunn.benchmarking import timing

    calls = []
    contender = SimpleNamespace(steps_per_call=16, step=lambda: calls.append(1), thread_pool=None,
                                clock=SimpleNamespace(start=lambda: None, stop=lambda: 1.6))
    assert timing._timed_repeat(contender, 5, timing.SingleProcess(), None) == pytest.approx(1.6 / (5 * 16))
    assert len(calls) == 5
